"""The node tree: deployment code is written as :class:`Node` classes.

See :mod:`deployer.node.base` (nodes), :mod:`deployer.node.env` (running them),
:mod:`deployer.node.role_mapping` and :mod:`deployer.node.decorators`.
"""
from deployer.execution.results import ActionFailed, ParallelActionFailed, ParallelCommandFailed
from deployer.host_container import UnmappedRolesError
from deployer.node.base import (Action, Env, EnvAction, IsolationIdentifierType, Node, NodeBase, NodeError,
                                ParallelActionResult, ParallelNode, ParallelNodeBase, SimpleNode, SimpleNodeBase,
                                iter_isolations, required_property)
from deployer.node.decorators import alias, dont_isolate_yet, isolate_one_only, suppress_action_result
from deployer.node.role_mapping import ALL_HOSTS, DefaultRoleMapping, RoleMapping, map_roles

__all__ = ["Node", "NodeBase", "ParallelNode", "ParallelNodeBase", "SimpleNode", "SimpleNodeBase", "Env",
           "EnvAction", "Action", "map_roles", "RoleMapping", "DefaultRoleMapping", "ALL_HOSTS",
           "required_property", "suppress_action_result", "dont_isolate_yet", "isolate_one_only", "alias",
           "iter_isolations", "IsolationIdentifierType", "ParallelActionResult", "ParallelActionFailed",
           "ParallelCommandFailed", "ActionFailed", "UnmappedRolesError", "NodeError"]
