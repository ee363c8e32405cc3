"""The events that hosts and actions emit while they run.

One mechanism serves logging, the run history and live following: hosts and
``Env`` emit these events to a :class:`~deployer.loggers.base.Logger`; a text
logger prints them, the run recorder (``deployer.runs``) stores them.

Events never carry secrets: commands are what the user wrote (sudo passwords are
fed on stdin, never on the command line), parameters are masked with
:func:`deployer.loggers.masking.mask_params` before they are put into an event.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Union


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class ActionStarted:
    """An action was called. ``parent_id`` is None for the outermost call of a run."""
    call_id: str
    parent_id: str | None
    node_path: str              # e.g. "RootNode.web.Git" ('' parts joined by '.')
    action: str
    args: tuple[Any, ...] = ()  # already masked
    kwargs: dict[str, Any] = field(default_factory=dict)  # already masked
    sandbox: bool = False
    hosts: tuple[str, ...] = ()  # slugs
    user: str = ""
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class ActionFinished:
    """An action returned (``SUCCESS``) or raised (``FAILED``, with the error text)."""
    call_id: str
    status: str                  # "SUCCESS" | "FAILED"
    error: str | None = None
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class CommandStarted:
    """A command started on a host (``call_id`` is filled in by a bound logger)."""
    command_id: str
    host: str                    # slug
    command: str
    use_sudo: bool = False
    sandbox: bool = False
    call_id: str | None = None
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class CommandOutput:
    """A chunk of a running command's output, for live following."""
    command_id: str
    host: str
    data: str
    call_id: str | None = None
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class CommandFinished:
    """A command ended. ``exit_code`` is None when it never got one (lost connection, timeout)."""
    command_id: str
    host: str
    command: str
    exit_code: int | None
    duration: float
    output_tail: str = ""        # the last lines of its output, secrets masked
    error: str | None = None
    use_sudo: bool = False
    sandbox: bool = False
    call_id: str | None = None
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class FileTransferred:
    """A file was opened, uploaded or downloaded on a host."""
    host: str
    direction: str               # "put" | "get" | "open"
    remote_path: str
    local_path: str = ""
    mode: str = ""
    sandbox: bool = False
    call_id: str | None = None
    time: float = field(default_factory=_now)


@dataclass(frozen=True)
class StatusChanged:
    """A named status of a run or of one host in it (batch steps: COPY, UNPACK, ...)."""
    status: str
    host: str | None = None
    detail: str = ""
    call_id: str | None = None
    time: float = field(default_factory=_now)


Event = Union[ActionStarted, ActionFinished, CommandStarted, CommandOutput,
              CommandFinished, FileTransferred, StatusChanged]
