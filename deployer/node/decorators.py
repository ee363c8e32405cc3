"""Decorators for node actions.

They only mark the function; :class:`deployer.node.env.Env` and the inspector
read the marks. They can be stacked in any order.
"""
from __future__ import annotations

from typing import Callable, TypeVar

__all__ = ["suppress_action_result", "dont_isolate_yet", "isolate_one_only", "alias"]

F = TypeVar("F", bound=Callable)


def _func(action):
    # Accept a function, or an _ActionDescriptor when used on a class attribute later.
    return getattr(action, "func", action)


def suppress_action_result(action: F) -> F:
    """Don't print the returned result in the deployment shell.

    For actions that print their own output but whose result is still useful
    for a caller::

        @suppress_action_result
        def status(self):
            return self.hosts.run('uptime')
    """
    _func(action)._node_suppress_result = True
    return action


def dont_isolate_yet(func: F) -> F:
    """On a ParallelNode array, run this action once instead of once per host.

    Useful to ask a question (which commit?) before forking into per-host
    cells: calling another action of ``self`` from inside still runs it on every
    host. Inside a cell it has no effect.
    """
    _func(func)._node_dont_isolate_yet = True
    return func


def isolate_one_only(func: F) -> F:
    """On a ParallelNode array, run this action on one cell only (the first host).

    For instance a database client: there is no point in opening it on every
    host that has database access.
    """
    _func(func)._node_isolate_one_only = True
    return func


def alias(name: str) -> Callable[[F], F]:
    """Give the action another name, e.g. one with a dot that Python does not allow::

        @alias('restart.all')
        def restart_all(self): ...
    """
    if not isinstance(name, str) or not name:
        raise TypeError("alias() needs a non-empty name, got %r" % (name,))

    def decorator(func: F) -> F:
        f = _func(func)
        f._node_aliases = tuple(getattr(f, "_node_aliases", ())) + (name,)
        return func
    return decorator
