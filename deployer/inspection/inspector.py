"""Introspection of a node tree, from inside an action or from outside::

    from deployer.inspection import Inspector

    insp = Inspector(setup)
    print(insp.get_actions())
    print(insp.get_childnodes())

The shell uses it for navigation, completion and ``--inspect``.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Iterable, Iterator, Optional

from deployer.node.base import Action, Node, ParallelNode, _ActionDescriptor, _ChildNodeDescriptor, node_path

__all__ = ["Inspector", "PathType", "NodeIterator"]


_FRAMEWORK_CLASSES = (object, Node, ParallelNode)


class PathType:
    """How :meth:`Inspector.get_path` describes the address of a node."""

    #: A list of names.
    NAME_ONLY = "NAME_ONLY"
    #: A list of (Node, name) tuples.
    NODE_AND_NAME = "NODE_AND_NAME"
    #: A list of nodes.
    NODE_ONLY = "NODE_ONLY"


def _query_class() -> Any:
    module = sys.modules.get("deployer.query")
    return getattr(module, "Query", None) if module is not None else None


class NodeIterator:
    """What :meth:`Inspector.walk` returns: an iterable of nodes that can be filtered again::

        for node in Inspector(root).walk().filter(HasAction('deploy')):
            ...
    """

    def __init__(self, node_iterator: Callable[[], Iterable[Any]]) -> None:
        self._node_iterator = node_iterator

    def __iter__(self) -> Iterator[Any]:
        return iter(self._node_iterator())

    def filter(self, filter: Any) -> "NodeIterator":
        """Only the nodes that pass ``filter`` (a :class:`~deployer.inspection.filters.Filter`)."""
        source = self._node_iterator
        return NodeIterator(lambda: (n for n in source() if filter._matches(n)))

    def __repr__(self) -> str:
        return "<NodeIterator>"


class Inspector:
    """Introspection of a Node instance (or of the node an Env wraps).

    Results that are nodes are Envs when the inspector was given an Env, so
    that their actions can be called.
    """

    def __init__(self, node: Any) -> None:
        self.env = node if hasattr(node, "_env_node") else None
        self.node: Node = getattr(node, "_env_node", node)
        if not isinstance(self.node, Node):
            raise TypeError("Inspector needs a Node or an Env, got %r" % (node,))

    def __repr__(self) -> str:
        return "Inspector(%r)" % self.node

    def _wrap(self, node: Node) -> Any:
        return self.env._env_wrap(node) if self.env is not None else node

    def _members(self) -> Iterator[tuple[str, Any]]:
        """(name, class attribute) of the node's class, base classes first, each name once."""
        seen: dict[str, Any] = {}
        for klass in reversed(type(self.node).__mro__):
            if klass in _FRAMEWORK_CLASSES:
                continue
            for name, value in vars(klass).items():
                seen[name] = value   # an override keeps the position of the first definition
        return iter(seen.items())

    # -- actions ---------------------------------------------------------------------

    def get_actions(self, include_private: bool = True) -> list[Action]:
        """Return a list of Action instances for the actions in this node.

        :param include_private: include actions starting with an underscore.
        """
        return [Action(name, self.node, value.func) for name, value in self._members()
                if isinstance(value, _ActionDescriptor) and name != "__call__"
                and (include_private or not name.startswith("_"))]

    def get_action(self, name: str) -> Action:
        """Return the Action with this name (or one of its aliases) or raise AttributeError."""
        for action in self.get_actions():
            if action.name == name or name in action.aliases:
                return action
        raise AttributeError("%s has no action %r" % (self._where(), name))

    def has_action(self, name: str) -> bool:
        """True when this node has an action called ``name`` (aliases included)."""
        try:
            self.get_action(name)
            return True
        except AttributeError:
            return False

    def suppress_result_for_action(self, name: str) -> bool:
        """True when :func:`~deployer.node.suppress_action_result` was applied to this action."""
        return self.get_action(name).suppress_result

    def is_callable(self) -> bool:
        """True when this node implements ``__call__``."""
        return any(name == "__call__" and isinstance(value, _ActionDescriptor) for name, value in self._members())

    # -- child nodes -------------------------------------------------------------------

    def get_childnodes(self, include_private: bool = True, verify_parent: bool = True) -> list[Any]:
        """Return the child nodes, in definition order.

        :param include_private: include names starting with an underscore.
        :param verify_parent: only nodes whose parent is this node (not references
            to nodes elsewhere in the tree).
        """
        result = []
        for name, value in self._members():
            if not include_private and name.startswith("_"):
                continue
            if isinstance(value, _ChildNodeDescriptor):
                child = value.__get__(self.node, type(self.node))
            elif isinstance(value, Node) and not verify_parent:
                child = value
            else:
                continue
            if verify_parent and child.parent is not self.node:
                continue
            result.append(self._wrap(child))
        return result

    def get_childnode(self, name: str) -> Any:
        """Return the child node with this name or raise AttributeError."""
        for child in self.get_childnodes():
            if Inspector(child).get_name() == name:
                return child
        raise AttributeError("%s has no child node %r" % (self._where(), name))

    def has_childnode(self, name: str) -> bool:
        """True when this node has a child node called ``name``."""
        try:
            self.get_childnode(name)
            return True
        except AttributeError:
            return False

    # -- properties and queries ---------------------------------------------------------

    def get_properties(self, include_private: bool = True) -> list[Action]:
        """The members that are ``@property``, as Action instances (``is_property=True``)."""
        return [Action(name, self.node, value.fget, is_property=True) for name, value in self._members()
                if isinstance(value, property) and (include_private or not name.startswith("_"))
                ]

    def get_property(self, name: str) -> Action:
        """The property with this name as an Action, or raise AttributeError."""
        for p in self.get_properties():
            if p.name == name:
                return p
        raise AttributeError("%s has no property %r" % (self._where(), name))

    def has_property(self, name: str) -> bool:
        """True when the attribute ``name`` is a ``@property``."""
        return any(p.name == name for p in self.get_properties())

    def get_queries(self, include_private: bool = True) -> list[Action]:
        """The members that are :class:`deployer.query.Query` instances, as Actions (``is_query=True``)."""
        query_class = _query_class()
        if query_class is None:
            return []
        return [Action(name, self.node, None, is_query=True, query=value) for name, value in self._members()
                if isinstance(value, query_class) and (include_private or not name.startswith("_"))]

    def get_query(self, name: str) -> Action:
        """The Action wrapping the Query with this name, or raise AttributeError."""
        for q in self.get_queries():
            if q.name == name:
                return q
        raise AttributeError("%s has no query %r" % (self._where(), name))

    def has_query(self, name: str) -> bool:
        """True when the attribute ``name`` of this node is a Query."""
        return any(q.name == name for q in self.get_queries())

    # -- place in the tree -------------------------------------------------------------

    def get_name(self) -> str:
        """The name of this node: its attribute name in the parent (the class name at the root)."""
        return self.node._node_name or type(self.node).__name__

    def get_parent(self) -> Any:
        """Return the parent node or raise AttributeError (at the root)."""
        if self.node.parent is None:
            raise AttributeError("%s is the root: it has no parent" % self._where())
        return self._wrap(self.node.parent)

    def get_root(self) -> Any:
        """Return the root node of the tree."""
        node = self.node
        while node.parent is not None:
            node = node.parent
        return self._wrap(node)

    def get_path(self, path_type: str = PathType.NAME_ONLY) -> tuple:
        """The path from the root until here: names, nodes, or (node, name) tuples."""
        names = node_path(self.node)
        nodes = []
        node: Optional[Node] = self.node
        while node is not None:
            nodes.append(self._wrap(node))
            node = node.parent
        nodes.reverse()
        if path_type == PathType.NAME_ONLY:
            return tuple(names)
        if path_type == PathType.NODE_ONLY:
            return tuple(nodes)
        if path_type == PathType.NODE_AND_NAME:
            return tuple(zip(nodes, names))
        raise ValueError("unknown path_type %r" % (path_type,))

    def get_group(self) -> Any:
        """The :class:`deployer.groups.Group` of this node: its own, else its parent's, else ``Other``."""
        node: Optional[Node] = self.node
        while node is not None:
            group = getattr(type(node), "node_group", None)
            if group is not None:
                return group
            node = node.parent
        from deployer.groups import Other
        return Other

    def get_isolations(self, identifier_type: str = "INT_TUPLES") -> list[tuple[tuple, Any]]:
        """``(index, node)`` for each cell of a ParallelNode array (see :func:`~deployer.node.iter_isolations`)."""
        from deployer.node.base import iter_isolations
        return list(iter_isolations(self.env if self.env is not None else self.node, identifier_type))

    def walk(self, filter: Any = None) -> NodeIterator:
        """Walk top-down through this node and all nodes below it.

        ParallelNode arrays are not split into cells.

        :param filter: a :class:`~deployer.inspection.filters.Filter`.
        :returns: a :class:`NodeIterator`.
        """
        def walk_from(node: Any) -> Iterator[Any]:
            yield node
            for child in Inspector(node).get_childnodes():
                yield from walk_from(child)

        start = self.env if self.env is not None else self.node
        iterator = NodeIterator(lambda: walk_from(start))
        return iterator.filter(filter) if filter is not None else iterator

    def _where(self) -> str:
        return "node %s" % ".".join(node_path(self.node))
