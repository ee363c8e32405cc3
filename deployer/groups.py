"""Groups put nodes in categories (production, staging, ...); the shell colours them.

Groups are classes; a node class carries its group in the class attribute
``node_group``::

    from deployer.groups import production, set_group, Staging

    class N(Node):
        @production
        class Child(Node):
            pass

        @set_group(Staging)
        class Other(Node):
            pass
"""
from __future__ import annotations

from typing import Callable, TypeVar

__all__ = ["Group", "Production", "Staging", "Beta", "Alpha", "Local", "Other",
           "set_group", "production", "staging", "beta", "alpha", "local", "other"]

T = TypeVar("T", bound=type)


class Group:
    """Group to which a node belongs. Subclass it to make a new group.

    ``name`` defaults to the class name in lower case.
    """

    #: Colour for this group's nodes in the shell, one of termcolor's colours:
    #: grey, red, green, yellow, blue, magenta, cyan, white (None: no colour).
    color: str | None = None

    #: Name of the group, e.g. ``'production'``.
    name: str = "group"

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()


def set_group(group: type[Group]) -> Callable[[T], T]:
    """Set the group for this node (a class decorator).

    ::

        @set_group(Staging)
        class MyNode(Node):
            pass
    """
    if not (isinstance(group, type) and issubclass(group, Group)):
        raise TypeError("set_group() expects a deployer.groups.Group subclass, got %r" % (group,))

    def decorator(node_class: T) -> T:
        if not isinstance(node_class, type):
            raise TypeError("@%s decorates a Node class, not %r" % (group.name, node_class))
        node_class.node_group = group
        return node_class

    return decorator


class Production(Group):
    """Live systems."""
    color = "red"


class Staging(Group):
    """Systems that mirror production, for the last checks."""
    color = "yellow"


class Beta(Group):
    """Systems for early users."""
    color = "green"


class Alpha(Group):
    """Systems for the first tests."""
    color = "cyan"


class Local(Group):
    """The operator's own machine."""
    color = "blue"


class Other(Group):
    """The default group of a node that is in none of the above."""
    color = None


production = set_group(Production)
staging = set_group(Staging)
beta = set_group(Beta)
alpha = set_group(Alpha)
local = set_group(Local)
other = set_group(Other)
