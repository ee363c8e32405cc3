"""Short, readable error text for what goes wrong in the shell."""
from __future__ import annotations

import traceback
from typing import Any

__all__ = ["unwrap", "describe_error", "ShellCommandError"]


class ShellCommandError(Exception):
    """A shell command was wrong (unknown command, missing node, bad argument)."""


def unwrap(exc: BaseException) -> BaseException:
    """The innermost cause of nested ``ActionException`` wrappers."""
    from deployer.exceptions import ActionException

    seen = 0
    while isinstance(exc, ActionException) and exc.inner_exception is not None and seen < 50:
        exc = exc.inner_exception
        seen += 1
    return exc


def describe_error(exc: BaseException, with_traceback: bool = True) -> str:
    """One paragraph naming what failed: node, action, host and command.

    Deployer's own exceptions carry complete messages; a bug in an action (any
    other exception) also gets its traceback, since that is what the user needs.
    """
    from deployer.exceptions import ActionException, DeployerException

    inner = unwrap(exc)
    if isinstance(exc, DeployerException) and str(exc):
        text = str(exc)
    elif str(inner):
        text = "%s: %s" % (type(inner).__name__, inner) if not isinstance(inner, DeployerException) else str(inner)
    else:
        text = type(inner).__name__
    causes = list(getattr(exc, "failures", {}).values()) or [inner]
    if with_traceback and any(not isinstance(c, DeployerException) for c in causes):
        tb = getattr(exc, "traceback", "") if isinstance(exc, ActionException) else ""
        tb = tb or "".join(traceback.format_exception(type(inner), inner, inner.__traceback__))
        text = tb.rstrip() + "\n" + text
    return text


def failing_commands(exc: BaseException) -> list[Any]:
    """Every ``ExecCommandFailed`` found in ``exc`` (nested or aggregated)."""
    from deployer.exceptions import ExecCommandFailed

    found: list[Any] = []
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ExecCommandFailed):
            found.append(e)
        for attr in ("inner_exception", "__cause__", "__context__"):
            inner = getattr(e, attr, None)
            if isinstance(inner, BaseException):
                stack.append(inner)
        for attr in ("exceptions", "errors", "failures"):
            many = getattr(e, attr, None)
            if isinstance(many, dict):
                many = list(many.values())
            if isinstance(many, (list, tuple)):
                stack.extend(x for x in many if isinstance(x, BaseException))
    return found
