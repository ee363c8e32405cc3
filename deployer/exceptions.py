"""Exceptions raised by deployer.

Every message names the host (and node, where known), the command and the cause,
so that a failure in a fleet of hosts can be read without a traceback.
"""
from __future__ import annotations

from typing import Any


class DeployerException(Exception):
    """Base exception class."""


class ExecCommandFailed(DeployerException):
    """A ``run()`` or ``sudo()`` call on a host exited with a non-zero status.

    >>> raise ExecCommandFailed('false', 'web1', False, 1, '')
    Traceback (most recent call last):
    ...
    deployer.exceptions.ExecCommandFailed: Command on host 'web1' failed with exit status 1: false
    """

    def __init__(self, command: str, host: Any, use_sudo: bool, status_code: int | None,
                 result: str | None = None) -> None:
        self.command = command
        self.host = host
        self.use_sudo = use_sudo
        self.status_code = status_code
        self.result = result
        super().__init__(self._message())

    def _message(self) -> str:
        how = "Sudo command" if self.use_sudo else "Command"
        status = "was interrupted" if self.status_code is None else \
            "failed with exit status %s" % self.status_code
        msg = "%s on host %r %s: %s" % (how, _host_name(self.host), status, self.command)
        tail = (self.result or "").strip().splitlines()[-5:]
        if tail:
            msg += "\n  output (last lines):\n" + "\n".join("    " + l for l in tail)
        return msg

    def __reduce__(self):
        return (type(self), (self.command, self.host if isinstance(self.host, str) else _host_name(self.host),
                             self.use_sudo, self.status_code, self.result))


class ConnectionFailedException(DeployerException):
    """Connecting to a host failed (unreachable, refused, timed out, host key)."""

    def __init__(self, host: Any = None, cause: str = "") -> None:
        self.host = host
        self.cause = cause
        if host is None and not cause:
            super().__init__()
        else:
            super().__init__("Connecting to host %r failed: %s" % (_host_name(host), cause))

    def __reduce__(self):
        return (type(self), (_host_name(self.host) if self.host is not None else None, self.cause))


class AuthenticationFailedException(ConnectionFailedException):
    """The host refused our credentials (key, password or agent)."""


class HostKeyMismatchException(ConnectionFailedException):
    """The host's key is unknown or differs from the one in known_hosts."""


class SudoPasswordException(DeployerException):
    """sudo asked for a password and the one we have is missing or wrong.

    The password itself never appears in the message.
    """

    def __init__(self, host: Any, command: str, cause: str) -> None:
        self.host = host
        self.command = command
        self.cause = cause
        super().__init__("sudo on host %r refused: %s (command: %s)" % (_host_name(host), cause, command))

    def __reduce__(self):
        return (type(self), (_host_name(self.host), self.command, self.cause))


class CommandTimeoutException(DeployerException):
    """A command did not finish within its timeout; the remote process was stopped."""

    def __init__(self, host: Any, command: str, timeout: float) -> None:
        self.host = host
        self.command = command
        self.timeout = timeout
        super().__init__("Command on host %r did not finish within %ss: %s" % (_host_name(host), timeout, command))

    def __reduce__(self):
        return (type(self), (_host_name(self.host), self.command, self.timeout))


class ActionException(DeployerException):
    """An action failed; wraps the exception raised inside it."""

    def __init__(self, inner_exception: BaseException, traceback: str = "") -> None:
        self.inner_exception = inner_exception
        self.traceback = traceback
        super().__init__(str(inner_exception))


class QueryException(DeployerException):
    """Resolving a ``Q`` object in a node failed."""

    def __init__(self, node: Any, attr_name: str, query: Any, inner_exception: BaseException) -> None:
        self.node = node
        self.attr_name = attr_name
        self.query = query
        self.inner_exception = inner_exception
        super().__init__("Resolving query %r for attribute %r of node %r failed: %s: %s" % (
            query, attr_name, node, type(inner_exception).__name__, inner_exception))


class RequiredPropertyException(DeployerException, AttributeError):
    """A ``required_property`` was read but never filled in by a subclass."""


class NoInput(DeployerException):
    """A question could not be answered: not interactive, or the input ended.

    >>> str(NoInput('Deploy now?'))
    "No answer to 'Deploy now?': the console is not interactive and the question has no default"
    """

    def __init__(self, question: str, reason: str = "the console is not interactive and the question has no default") -> None:
        self.question = question
        self.reason = reason
        super().__init__("No answer to %r: %s" % (question, reason))

    def __reduce__(self):
        return (type(self), (self.question, self.reason))


def _host_name(host: Any) -> str:
    """The most readable name for a host class, instance or string."""
    if host is None:
        return "?"
    if isinstance(host, str):
        return host
    slug = getattr(host, "slug", None)
    if slug:
        return str(slug)
    address = getattr(host, "address", None)
    if address:
        return str(address)
    return getattr(host, "__name__", type(host).__name__)
