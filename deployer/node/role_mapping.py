"""Role mapping: how a child node gets its hosts from its parent.

A node nested in another node sees the hosts of its parent, unless a mapping
says otherwise::

    class WebSystem(Node):
        @map_roles(host='cache')                 # parent's 'cache' -> child's 'host'
        class Cache(Node): ...

        @map_roles(master='master_db', slave='slave_db')
        class Database(Node): ...

        @map_roles(host=ALL_HOSTS)               # every host of the parent
        class Monitoring(Node): ...

A mapping on a child wins over a ``Hosts`` class defined in that same child
(the decorator is applied after the class body); a ``Hosts`` class in a subclass
of a mapped class wins over the inherited mapping.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["ALL_HOSTS", "RoleMapping", "map_roles", "DefaultRoleMapping", "HostsDict"]

#: role name -> host classes, in a stable order.
HostsDict = dict  # dict[str, tuple[type, ...]]


class _AllHosts:
    """Constant to indicate in a role mapping that all hosts of the parent should be mapped to this role."""

    _instance = None

    def __new__(cls) -> "_AllHosts":
        # A singleton so that `value is ALL_HOSTS` works after copies/pickles.
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ALL_HOSTS"

    def __reduce__(self):
        return (_AllHosts, ())


ALL_HOSTS = _AllHosts()


def _unique(hosts: Iterable[type]) -> tuple[type, ...]:
    seen: dict[type, None] = {}
    for h in hosts:
        seen.setdefault(h, None)
    return tuple(seen)


def all_hosts_of(roles: Mapping[str, Iterable[type]]) -> tuple[type, ...]:
    """Every host class in ``roles``, each once, in order of first appearance."""
    return _unique(h for hosts in roles.values() for h in hosts)


class RoleMapping:
    """Map roles of the parent node onto roles of a child node (a class decorator).

    Keyword arguments: ``child_role=parent_role`` where the value is a role name,
    a list/tuple/set of role names or :data:`ALL_HOSTS`. Positional arguments are
    parent roles that map onto the child's role ``host``::

        @map_roles('web', 'queue')      # same as map_roles(host=['web', 'queue'])
        class Git(Node): ...

    Roles missing in the parent map to no hosts.
    """

    def __init__(self, *host_mapping: Any, **mappings: Any) -> None:
        self._mappings: dict[str, Any] = {}
        if host_mapping:
            self._mappings["host"] = ALL_HOSTS if ALL_HOSTS in host_mapping else list(host_mapping)
        for role, value in mappings.items():
            if not (value is ALL_HOSTS or isinstance(value, (str, list, tuple, set, frozenset))):
                raise TypeError("map_roles(%s=%r): expected a role name, a list of role names or ALL_HOSTS"
                                % (role, value))
            self._mappings[role] = value

    @property
    def mappings(self) -> dict[str, Any]:
        """``{child_role: parent role(s) or ALL_HOSTS}``."""
        return dict(self._mappings)

    def __call__(self, node_class: type) -> type:
        """Decorate a node class: returns a subclass that carries this mapping.

        A subclass (rather than changing ``node_class`` in place) keeps a class
        that is reused elsewhere free of the mapping.
        """
        from deployer.node.base import Node
        if not (isinstance(node_class, type) and issubclass(node_class, Node)):
            raise TypeError("%s can only decorate Node classes, not %r" % (type(self).__name__, node_class))
        namespace = {
            "_node_role_mapping": self,
            "__module__": node_class.__module__,
            "__qualname__": node_class.__qualname__,
            "__doc__": node_class.__doc__,
        }
        return type(node_class)(node_class.__name__, (node_class,), namespace)

    def apply(self, parent_roles: Mapping[str, tuple[type, ...]]) -> HostsDict:
        """The child's roles, given the parent's ``{role: host classes}``."""
        result: HostsDict = {}
        for role, source in self._mappings.items():
            result[role] = self._resolve(source, parent_roles)
        return result

    @staticmethod
    def _resolve(source: Any, parent_roles: Mapping[str, tuple[type, ...]]) -> tuple[type, ...]:
        if source is ALL_HOSTS:
            return all_hosts_of(parent_roles)
        names = [source] if isinstance(source, str) else list(source)
        if ALL_HOSTS in names:
            return all_hosts_of(parent_roles)
        return _unique(h for name in names for h in parent_roles.get(name, ()))

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % kv for kv in self._mappings.items()))


#: The documented name of the decorator.
map_roles = RoleMapping


class DefaultRoleMapping(RoleMapping):
    """Default mapping: take the hosts of the parent, role by role.

    Extra arguments add (or replace) roles, as with :class:`RoleMapping`.
    """

    def apply(self, parent_roles: Mapping[str, tuple[type, ...]]) -> HostsDict:
        result: HostsDict = {role: tuple(hosts) for role, hosts in parent_roles.items()}
        result.update(super().apply(parent_roles))
        return result
