"""Filters for :meth:`Inspector.walk <deployer.inspection.inspector.Inspector.walk>`.

Filters combine with ``&``, ``|`` and ``~``::

    from deployer.inspection.filters import HasAction, PublicOnly, InGroup
    Inspector(node).walk(HasAction('my_action') & PublicOnly & ~ InGroup(Staging))
"""
from __future__ import annotations

import abc

from typing import Any

__all__ = ["Filter", "PublicOnly", "PrivateOnly", "IsInstance", "HasAction", "InGroup"]


class Filter(abc.ABC):
    """Base class for Inspector.walk filters: subclasses implement :meth:`matches`."""

    @abc.abstractmethod
    def matches(self, node: Any) -> bool:
        """True when ``node`` (a Node or an Env) passes this filter."""
        raise NotImplementedError

    def _matches(self, node: Any) -> bool:
        return self.matches(getattr(node, "_env_node", node))

    def __and__(self, other: "Filter") -> "Filter":
        return _And(self, _as_filter(other))

    def __or__(self, other: "Filter") -> "Filter":
        return _Or(self, _as_filter(other))

    def __invert__(self) -> "Filter":
        return _Not(self)

    def __call__(self, node: Any) -> bool:
        return self._matches(node)


def _as_filter(value: Any) -> Filter:
    if not isinstance(value, Filter):
        raise TypeError("expected a Filter, got %r" % (value,))
    return value


class _And(Filter):
    def __init__(self, left: Filter, right: Filter) -> None:
        self.left, self.right = left, right

    def matches(self, node: Any) -> bool:
        return self.left.matches(node) and self.right.matches(node)

    def __repr__(self) -> str:
        return "(%r & %r)" % (self.left, self.right)


class _Or(Filter):
    def __init__(self, left: Filter, right: Filter) -> None:
        self.left, self.right = left, right

    def matches(self, node: Any) -> bool:
        return self.left.matches(node) or self.right.matches(node)

    def __repr__(self) -> str:
        return "(%r | %r)" % (self.left, self.right)


class _Not(Filter):
    def __init__(self, inner: Filter) -> None:
        self.inner = inner

    def matches(self, node: Any) -> bool:
        return not self.inner.matches(node)

    def __repr__(self) -> str:
        return "~%r" % (self.inner,)


def _name(node: Any) -> str:
    from deployer.inspection.inspector import Inspector
    return Inspector(node).get_name()


class _PublicOnly(Filter):
    """Filter on public nodes (whose name does not start with an underscore)."""

    def matches(self, node: Any) -> bool:
        return not _name(node).startswith("_")

    def __repr__(self) -> str:
        return "PublicOnly"


class _PrivateOnly(Filter):
    """Filter on private nodes (whose name starts with an underscore)."""

    def matches(self, node: Any) -> bool:
        return _name(node).startswith("_")

    def __repr__(self) -> str:
        return "PrivateOnly"


#: Filter on public nodes.
PublicOnly = _PublicOnly()
#: Filter on private nodes.
PrivateOnly = _PrivateOnly()


class IsInstance(Filter):
    """Filter on the nodes which are an instance of this Node class."""

    def __init__(self, node_class: type) -> None:
        self.node_class = node_class

    def matches(self, node: Any) -> bool:
        return isinstance(node, self.node_class)

    def __repr__(self) -> str:
        return "IsInstance(%s)" % self.node_class.__name__


class HasAction(Filter):
    """Filter on the nodes which implement this action."""

    def __init__(self, action_name: str) -> None:
        self.action_name = action_name

    def matches(self, node: Any) -> bool:
        from deployer.inspection.inspector import Inspector
        return Inspector(node).has_action(self.action_name)

    def __repr__(self) -> str:
        return "HasAction(%r)" % self.action_name


class InGroup(Filter):
    """Filter nodes that are in this group (a :class:`deployer.groups.Group`)."""

    def __init__(self, group: Any) -> None:
        self.group = group

    def matches(self, node: Any) -> bool:
        from deployer.inspection.inspector import Inspector
        group = Inspector(node).get_group()
        if group is self.group or group == self.group:
            return True
        if not isinstance(self.group, type):
            return False
        # Groups may be stored as classes or as instances of a Group class.
        return (isinstance(group, type) and issubclass(group, self.group)) or isinstance(group, self.group)

    def __repr__(self) -> str:
        return "InGroup(%r)" % (self.group,)
