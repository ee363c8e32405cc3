"""The node classes: :class:`Node`, :class:`ParallelNode` and their metaclass.

A node is a static description: which hosts play which role, which actions
exist, which child nodes are nested. Running an action needs an
:class:`~deployer.node.env.Env` around the node::

    class SayHello(Node):
        class Hosts:
            host = LocalHost

        def hello(self):                  # `self` is the Env, not the node
            self.hosts.run('echo hello world')

    Env.default_from_node(SayHello()).hello()

The metaclass :class:`NodeBase` turns the class body into descriptors:

- plain functions become actions (a bare node gives :class:`Action`
  objects for inspection; an Env calls them);
- nested node classes become child nodes, created on first access with
  ``parent`` set (so creating a tree of 1,000 nodes costs nothing up front);
- ``A__B__name = value`` overrides ``name`` in the nested class ``A.B``
  (double underscore expansion; functions too).
"""
from __future__ import annotations

import types
from typing import Any, Iterator, Optional

from deployer.exceptions import DeployerException, RequiredPropertyException
from deployer.execution.results import ParallelActionResult
from deployer.host_container import HostsContainer, host_slug, roles_from_definition
from deployer.node.role_mapping import ALL_HOSTS, DefaultRoleMapping, RoleMapping, all_hosts_of

__all__ = ["Node", "NodeBase", "ParallelNode", "ParallelNodeBase", "SimpleNode", "SimpleNodeBase",
           "Action", "Env", "EnvAction", "required_property", "iter_isolations", "IsolationIdentifierType",
           "ParallelActionResult", "NodeError", "node_path"]


class NodeError(DeployerException):
    """A node is used in a way its hosts do not allow (e.g. ``self.host`` with three hosts)."""


class IsolationIdentifierType:
    """Manners of identifying a cell in an array of nodes (for :func:`iter_isolations`)."""

    #: Use a tuple of Host slugs
    HOSTS_SLUG = "HOSTS_SLUG"
    #: Use a tuple of Host classes
    HOST_TUPLES = "HOST_TUPLES"
    #: Use a tuple of integers
    INT_TUPLES = "INT_TUPLES"


class required_property:
    """Placeholder for a property that subclasses must fill in::

        class MyNode(Node):
            name = required_property('The name of the service')

            def method(self):
                print(self.name)     # raises, unless a subclass set `name`

    Reading it unset raises :class:`~deployer.exceptions.RequiredPropertyException`
    naming the node class, the property and the description.
    """

    def __init__(self, description: str = "") -> None:
        self.description = description
        self.name: Optional[str] = None

    def __set_name__(self, owner: type, name: str) -> None:
        if self.name is None:
            self.name = name

    def error(self, node_class: type) -> RequiredPropertyException:
        """The exception for reading this property on an instance of ``node_class``."""
        msg = "Required property %r of node %s.%s is not set" % (
            self.name or "?", node_class.__module__, node_class.__qualname__)
        if self.description:
            msg += ": %s" % self.description
        return RequiredPropertyException(msg)

    def __get__(self, instance: Any, owner: Optional[type] = None) -> Any:
        if instance is None:
            return self
        node = getattr(instance, "_env_node", instance)
        raise self.error(type(node))

    def __repr__(self) -> str:
        return "required_property(%r)" % self.description


class Action:
    """A node action, as seen on a bare node (by :class:`~deployer.inspection.Inspector`).

    Calling it needs an Env: ``Env(node).name(...)``. Properties and queries
    of a node are described by the same class (``is_property``, ``is_query``).
    """

    def __init__(self, attr_name: str, node_instance: Any, func: Any, is_property: bool = False,
                 is_query: bool = False, query: Any = None) -> None:
        self.name = attr_name
        self.node = node_instance
        self.func = func
        self.is_property = is_property
        self.is_query = is_query
        self.query = query
        self.__doc__ = getattr(func, "__doc__", None) if func is not None else None

    @property
    def _func(self) -> Any:
        return self.func

    @property
    def suppress_result(self) -> bool:
        """True when :func:`~deployer.node.decorators.suppress_action_result` was applied."""
        return bool(getattr(self.func, "_node_suppress_result", False))

    @property
    def dont_isolate_yet(self) -> bool:
        return bool(getattr(self.func, "_node_dont_isolate_yet", False))

    @property
    def isolate_one_only(self) -> bool:
        return bool(getattr(self.func, "_node_isolate_one_only", False))

    @property
    def aliases(self) -> tuple[str, ...]:
        """Other names given with :func:`~deployer.node.decorators.alias`."""
        return tuple(getattr(self.func, "_node_aliases", ()))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from deployer.node.env import Env, EnvAction
        if isinstance(self.node, Env):
            return EnvAction(self.node, self)(*args, **kwargs)
        raise TypeError("Action %r of %r can't run on a bare node: wrap the node in an Env first, "
                        "e.g. Env.default_from_node(node).%s(...)" % (self.name, self.node, self.name))

    def __repr__(self) -> str:
        kind = "property" if self.is_property else "query" if self.is_query else "action"
        return "<Action %s %r of %r>" % (kind, self.name, self.node)


class _ActionDescriptor:
    """Class attribute that holds an action function."""

    __slots__ = ("name", "func")

    def __init__(self, name: str, func: types.FunctionType) -> None:
        self.name = name
        self.func = func

    def __get__(self, instance: Any, owner: Optional[type] = None) -> Any:
        if instance is None:
            # `Base.action(self, ...)` and `inspect.getsource` get the plain function.
            return self.func
        if isinstance(type(instance), NodeBase):
            return Action(self.name, instance, self.func)
        # An Env reached through super() inside an action: call the parent's
        # implementation as part of the running action.
        return types.MethodType(self.func, instance)


class _ChildNodeDescriptor:
    """Class attribute that holds a nested node class; instances get a child node."""

    __slots__ = ("name", "node_class")

    def __init__(self, name: str, node_class: type) -> None:
        self.name = name
        self.node_class = node_class

    def __get__(self, instance: Any, owner: Optional[type] = None) -> Any:
        if instance is None:
            return self.node_class
        if isinstance(type(instance), NodeBase):
            return instance._node_child(self.name, self.node_class)
        return getattr(instance, self.name)   # an Env via super(): the Env wraps the child


def _is_node_class(value: Any) -> bool:
    return isinstance(value, NodeBase)


def _lookup_nested(name: str, namespace: dict, bases: tuple) -> Any:
    value = namespace.get(name)
    if _is_node_class(value):
        return value
    for base in bases:
        value = getattr(base, name, None)
        if _is_node_class(value):
            return value
    return None


def _expand_double_underscores(namespace: dict, bases: tuple, qualname: str) -> None:
    """Rewrite ``A__B__c = v`` into a subclass of the nested class ``A`` with ``B__c = v``.

    The subclass is built by the metaclass again, so deeper levels expand recursively.
    """
    groups: dict[str, dict[str, Any]] = {}
    for key in list(namespace):
        if key.startswith("__"):
            continue
        head, sep, rest = key.partition("__")
        if not sep or not head or not rest or _lookup_nested(head, namespace, bases) is None:
            continue
        value = namespace.pop(key)
        if isinstance(value, types.FunctionType):
            value.__name__ = rest
        groups.setdefault(head, {})[rest] = value
    for head, members in groups.items():
        target = _lookup_nested(head, namespace, bases)
        members.setdefault("__module__", namespace.get("__module__", target.__module__))
        members.setdefault("__qualname__", "%s.%s" % (qualname, head))
        members.setdefault("__doc__", target.__doc__)
        namespace[head] = type(target)(target.__name__, (target,), members)


class NodeBase(type):
    """Metaclass for :class:`Node`: wraps members into descriptors (actions, child
    nodes) and expands double underscores. See the module documentation."""

    def __new__(mcs, name: str, bases: tuple, namespace: dict, **kwargs: Any) -> "NodeBase":
        namespace = dict(namespace)
        internal = namespace.pop("_node_internal_class", False)
        _expand_double_underscores(namespace, bases, namespace.get("__qualname__", name))
        if not internal:
            for key, value in list(namespace.items()):
                if _is_node_class(value):
                    namespace[key] = _ChildNodeDescriptor(key, value)
                elif isinstance(value, types.FunctionType) and (not key.startswith("__") or key == "__call__"):
                    namespace[key] = _ActionDescriptor(key, value)
        return super().__new__(mcs, name, bases, namespace, **kwargs)


def _host_declaration(cls: type, with_mapping: bool) -> tuple[str, Any] | None:
    """The most derived ``Hosts`` class or role mapping in the class hierarchy."""
    for klass in cls.__mro__:
        d = klass.__dict__
        mapping = d.get("_node_role_mapping")
        if with_mapping and isinstance(mapping, RoleMapping):
            return ("mapping", mapping)
        hosts = d.get("Hosts")
        if hosts is not None:
            return ("hosts", hosts)
    return None


def node_path(node: Any) -> tuple[str, ...]:
    """Names from the root to ``node`` (the root's name is its class name)."""
    node = getattr(node, "_env_node", node)
    names = []
    while node is not None:
        names.append(node._node_name or type(node).__name__)
        node = node.parent
    return tuple(reversed(names))


class Node(metaclass=NodeBase):
    """The base class for any deployment node.

    :param parent: the parent node (passed by the framework when a nested
        node is accessed; you never pass it yourself).
    """
    _node_internal_class = True

    #: ``None``, or a class mapping roles to host classes::
    #:
    #:     class MyNode(Node):
    #:         class Hosts:
    #:             role1 = [ LocalHost ]
    #:             role2 = [ SSHHost1, SSHHost2 ]
    Hosts: Any = None

    #: The :class:`deployer.groups.Group` of this node (``None``: the parent's, else ``Other``).
    node_group: Any = None

    #: 'array' / 'just_one' for ``ParallelNode.Array`` / ``.JustOne`` classes.
    _node_array_kind: Optional[str] = None

    def __init__(self, parent: Optional["Node"] = None) -> None:
        #: Reference to the parent Node (None for the root).
        self.parent = parent
        self._node_name: Optional[str] = None
        self._node_children: dict[str, Node] = {}
        self._node_roles_cache: Optional[dict[str, tuple]] = None
        self._node_unmapped_cache: Optional[dict[str, str]] = None
        # Set on the cells of a ParallelNode array only.
        self._node_isolated_host: Any = None
        self._node_isolation_of: Optional[Node] = None
        self._node_cells: dict[Any, Node] = {}

    # -- tree ------------------------------------------------------------------------

    def _node_child(self, name: str, node_class: type) -> "Node":
        child = self._node_children.get(name)
        if child is None:
            child = node_class(parent=self)
            child._node_name = name
            # setdefault: two threads may create the same child; both get one instance.
            child = self._node_children.setdefault(name, child)
        return child

    # -- hosts -----------------------------------------------------------------------

    def _node_roles(self) -> dict[str, tuple]:
        """``{role: host classes}`` of this node (computed once, then cached)."""
        roles = self._node_roles_cache
        if roles is None:
            roles = self._node_compute_roles()
            self._node_roles_cache = roles
        return roles

    def _node_compute_roles(self) -> dict[str, tuple]:
        if self._node_isolation_of is not None:
            roles = dict(self._node_isolation_of._node_roles())
            roles["host"] = (self._node_isolated_host,)
            return roles
        parent = self.parent
        decl = _host_declaration(type(self), with_mapping=parent is not None)
        if decl is not None and decl[0] == "mapping":
            return decl[1].apply(parent._node_roles())
        if decl is not None:
            return roles_from_definition(decl[1])
        if parent is not None:
            roles = DefaultRoleMapping().apply(parent._node_roles())
            if isinstance(self, ParallelNode) and "host" not in roles:
                # A parallel child of a node without a 'host' role isolates per host of the parent.
                roles["host"] = all_hosts_of(roles)
            return roles
        return {}

    def _node_unmapped(self) -> dict[str, str]:
        """``{role: why}`` for the roles that are empty because a role mapping (here or
        in an ancestor) names parent roles that do not exist.

        Not an error by itself: an abstract node (``WebSystem`` in the tutorial)
        has no hosts until it is subclassed. Commands on such an empty role raise
        (:class:`~deployer.host_container.UnmappedRolesError`).
        """
        unmapped = self._node_unmapped_cache
        if unmapped is None:
            unmapped = self._node_unmapped_cache = self._node_compute_unmapped()
        return unmapped

    def _node_compute_unmapped(self) -> dict[str, str]:
        if self._node_isolation_of is not None:
            return self._node_isolation_of._node_unmapped()
        parent = self.parent
        if parent is None:
            return {}
        roles = self._node_roles()
        decl = _host_declaration(type(self), with_mapping=True)
        parent_unmapped = parent._node_unmapped()
        result: dict[str, str] = {}
        if decl is not None and decl[0] == "mapping":
            parent_roles = parent._node_roles()
            for role, source in decl[1].mappings.items():
                names = [source] if isinstance(source, str) else \
                    [] if source is ALL_HOSTS else list(source)
                if roles.get(role) or ALL_HOSTS in names:
                    continue
                missing = [n for n in names if n not in parent_roles]
                if missing:
                    result[role] = "role %r is mapped from %s, which %s does not have (its roles: %s)" % (
                        role, ", ".join(repr(n) for n in missing), ".".join(node_path(parent)),
                        ", ".join(parent_roles) or "none")
                else:
                    # The parent's roles exist but are empty for the same reason.
                    why = [parent_unmapped[n] for n in names if n in parent_unmapped]
                    if why:
                        result[role] = why[0]
            return result
        if decl is not None:
            return {}
        # Default mapping: the parent's roles, with their reasons.
        for role, why in parent_unmapped.items():
            if not roles.get(role):
                result[role] = why
        if "host" in roles and not roles["host"] and "host" not in result and parent_unmapped \
                and isinstance(self, ParallelNode):
            result["host"] = next(iter(parent_unmapped.values()))
        return result

    @property
    def hosts(self) -> HostsContainer:
        """The hosts of this node, by role (host classes; use an Env to run commands)."""
        return HostsContainer(self._node_roles())

    # -- isolation (ParallelNode) ------------------------------------------------------

    def _node_isolation_host(self) -> Any:
        """The host this node is isolated on, or None when it is not a single cell."""
        return self._node_isolated_host

    def __repr__(self) -> str:
        cell = self._node_isolated_host
        return "<%s %s%s>" % (type(self).__name__, ".".join(node_path(self)),
                              "[%s]" % host_slug(cell) if cell is not None else "")


class ParallelNodeBase(NodeBase):
    """Metaclass for :class:`ParallelNode`: adds ``.Array`` and ``.JustOne``."""

    def _node_variant(cls, kind: str, suffix: str) -> type:
        attr = "_node_%s_class" % kind
        variant = cls.__dict__.get(attr)
        if variant is None:
            variant = type(cls)(cls.__name__, (cls,), {
                "_node_array_kind": kind, "__module__": cls.__module__,
                "__qualname__": "%s.%s" % (cls.__qualname__, suffix), "__doc__": cls.__doc__})
            type.__setattr__(cls, attr, variant)
        return variant

    @property
    def Array(cls) -> type:
        """This node as an array of isolated cells, one per host (for nesting in a Node)."""
        return cls._node_variant("array", "Array")

    @property
    def JustOne(cls) -> type:
        """This node with exactly one host: one cell, no array (an error otherwise)."""
        return cls._node_variant("just_one", "JustOne")


class ParallelNode(Node, metaclass=ParallelNodeBase):
    """A node whose hosts in role ``host`` are isolated from each other.

    Calling an action on it runs the action once per host, concurrently, each
    cell with ``self.host`` being its own host; the result is a
    :class:`ParallelActionResult`. ``node[Host1]`` (or a slug, or an index) is
    one cell. Hosts of other roles are visible in every cell.
    """
    _node_internal_class = True

    def _node_hosts_to_isolate(self) -> tuple:
        return tuple(self._node_roles().get("host", ()))

    def _node_isolation_host(self) -> Any:
        if self._node_isolated_host is not None:
            return self._node_isolated_host
        hosts = self._node_hosts_to_isolate()
        if self._node_array_kind == "just_one":
            if len(hosts) != 1:
                raise NodeError("%s is a JustOne node but has %d hosts in role 'host'%s" % (
                    ".".join(node_path(self)), len(hosts),
                    (": " + ", ".join(host_slug(h) for h in hosts)) if hosts else ""))
            return hosts[0]
        if len(hosts) == 1 and self._node_in_isolated_context():
            return hosts[0]
        return None

    def _node_in_isolated_context(self) -> bool:
        # Inside a cell, a nested ParallelNode that sees the cell's one host is that cell too.
        node = self.parent
        while node is not None:
            if node._node_isolation_host() is not None:
                return True
            node = node.parent
        return False

    def _node_cell(self, key: Any) -> "ParallelNode":
        """The cell for a host class, slug or index."""
        hosts = self._node_hosts_to_isolate()
        host = _find_host(hosts, key, self)
        isolated = self._node_isolation_host()
        if isolated is not None:
            if host is not isolated:
                raise KeyError("%s is the cell of host %r; it has no cell %r"
                               % (".".join(node_path(self)), host_slug(isolated), key))
            return self
        cell = self._node_cells.get(host)
        if cell is None:
            cell = type(self)(parent=self.parent)
            cell._node_name = self._node_name
            cell._node_isolated_host = host
            cell._node_isolation_of = self
            cell = self._node_cells.setdefault(host, cell)
        return cell

    def __getitem__(self, key: Any) -> "ParallelNode":
        """One cell of the array: ``node[Host1]``, ``node['web1']`` or ``node[0]``."""
        return self._node_cell(key)

    def _node_isolations(self) -> list[tuple[int, Any, "ParallelNode"]]:
        """``(index, host class, cell)`` for every cell (just this node when isolated)."""
        isolated = self._node_isolation_host()
        if isolated is not None:
            return [(0, isolated, self)]
        return [(i, h, self._node_cell(h)) for i, h in enumerate(self._node_hosts_to_isolate())]


def _find_host(hosts: tuple, key: Any, node: Any) -> Any:
    if isinstance(key, int) and not isinstance(key, bool):
        if -len(hosts) <= key < len(hosts):
            return hosts[key]
    else:
        for h in hosts:
            if h is key or (isinstance(key, str) and host_slug(h) == key):
                return h
    raise KeyError("%s has no cell %r; hosts in role 'host': %s" % (
        ".".join(node_path(node)), key, ", ".join(host_slug(h) for h in hosts) or "(none)"))


#: Deprecated alias for ParallelNode
SimpleNode = ParallelNode
#: Deprecated alias for ParallelNodeBase
SimpleNodeBase = ParallelNodeBase


def iter_isolations(node: Any, identifier_type: str = IsolationIdentifierType.INT_TUPLES
                    ) -> Iterator[tuple[tuple, Any]]:
    """Yield ``(index, node)`` for each isolation (cell) of this node.

    ``index`` is a 1-tuple: ``(0,)``, ``('web1',)`` or ``(Web1,)`` depending on
    ``identifier_type``. A normal node, or a node that is already one cell,
    yields ``((), node)``. Given an Env, yields Envs.
    """
    from deployer.node.env import Env
    env = node if isinstance(node, Env) else None
    bare = node._env_node if env is not None else node
    if not isinstance(bare, ParallelNode) or bare._node_isolated_host is not None:
        yield (), node
        return
    for i, host, cell in bare._node_isolations():
        if identifier_type == IsolationIdentifierType.INT_TUPLES:
            key: tuple = (i,)
        elif identifier_type == IsolationIdentifierType.HOSTS_SLUG:
            key = (host_slug(host),)
        elif identifier_type == IsolationIdentifierType.HOST_TUPLES:
            key = (host,)
        else:
            raise ValueError("unknown identifier_type %r" % (identifier_type,))
        yield key, (env._env_wrap(cell) if env is not None else cell)


# The Env lives in its own module (it drives execution); the documented path
# deployer.node.base.Env must keep working.
from deployer.node.env import Env, EnvAction  # noqa: E402  (circular by design)
