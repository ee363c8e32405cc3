"""Introspection of the deployment tree: :class:`Inspector`, :class:`PathType` and the
filters of :meth:`Inspector.walk` (:mod:`deployer.inspection.filters`)."""
from deployer.inspection.filters import Filter, HasAction, InGroup, IsInstance, PrivateOnly, PublicOnly
from deployer.inspection.inspector import Inspector, NodeIterator, PathType

__all__ = ["Inspector", "PathType", "NodeIterator", "Filter", "PublicOnly", "PrivateOnly", "IsInstance",
           "HasAction", "InGroup"]
