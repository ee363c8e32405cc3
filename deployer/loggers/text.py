"""A logger that prints what happens, for the person watching the terminal.

::

    >>> import io
    >>> from deployer.loggers.events import ActionStarted, ActionFinished
    >>> out = io.StringIO()
    >>> logger = TextLogger(out)
    >>> logger.emit(ActionStarted('c1', None, 'Root.web', 'deploy', ('v1',), {'password': '********'}, time=0))
    >>> logger.emit(ActionFinished('c1', 'SUCCESS', time=1.5))
    >>> print(out.getvalue(), end='')
    Root.web> deploy('v1', password='********')
    Root.web> deploy('v1', password='********'): SUCCESS (1.50s)
"""
from __future__ import annotations

import threading
from typing import Any

from termcolor import colored

from deployer.loggers.base import Logger
from deployer.loggers.events import (ActionFinished, ActionStarted, CommandFinished, CommandStarted, Event,
                                     FileTransferred, StatusChanged)
from deployer.loggers.masking import mask_secret_assignments

__all__ = ["TextLogger", "format_call", "error_summary"]


def error_summary(error: str) -> str:
    """The one line of an error text that says what went wrong.

    Errors are ``Type: message`` with details (a command's output, one line per
    failed host) below, so that is the first line; for a traceback it is the last.

    >>> error_summary("ExecCommandFailed: ... exit status 1: make\\n  output (last lines):\\n    oops")
    'ExecCommandFailed: ... exit status 1: make'
    >>> error_summary("Traceback (most recent call last):\\n  ...\\nValueError: bad")
    'ValueError: bad'
    """
    lines = [l for l in error.strip().splitlines() if l.strip()]
    if not lines:
        return ""
    return lines[-1].strip() if lines[0].startswith("Traceback") else lines[0].strip()


def format_call(action: str, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None) -> str:
    """``action(arg, key=value)``, with secret assignments masked."""
    parts = [repr(a) for a in args] + ["%s=%r" % item for item in (kwargs or {}).items()]
    return mask_secret_assignments("%s(%s)" % (action, ", ".join(parts)))


class TextLogger(Logger):
    """Print action starts and ends (and, when verbose, each command) to a pty or stream.

    :param pty_or_stream: a :class:`deployer.pseudo_terminal.Pty` or a text stream.
    :param verbose: also print every command, file transfer and status change.

    Nested actions are indented under their caller. Events arrive from
    several threads at once (parallel cells): each is printed as whole lines.
    """

    def __init__(self, pty_or_stream: Any, verbose: bool = False) -> None:
        self.out = pty_or_stream
        self.verbose = verbose
        self._lock = threading.Lock()
        # call_id -> (label, start time, depth); entries leave when the call ends.
        self._calls: dict[str, tuple[str, float, int]] = {}
        try:
            self._color = bool(pty_or_stream.isatty())
        except (AttributeError, ValueError):
            self._color = False

    def emit(self, event: Event) -> None:
        try:
            line = self._format(event)
            if line is not None:
                self._write(line + "\n")
        except Exception:  # a log sink must never fail a deployment
            pass

    def _format(self, event: Event) -> str | None:
        with self._lock:
            if isinstance(event, ActionStarted):
                depth = self._calls[event.parent_id][2] + 1 if event.parent_id in self._calls else 0
                label = "%s> %s" % (event.node_path, format_call(event.action, event.args, event.kwargs))
                if event.sandbox:
                    label += " [sandbox]"
                self._calls[event.call_id] = (label, event.time, depth)
                return "  " * depth + self._paint(label, attrs=["bold"])
            if isinstance(event, ActionFinished):
                label, start, depth = self._calls.pop(event.call_id, ("? (call %s)" % event.call_id, event.time, 0))
                ok = event.status == "SUCCESS"
                outcome = self._paint(event.status, "green" if ok else "red", ["bold"])
                if event.error:
                    outcome += ": " + mask_secret_assignments(error_summary(event.error))
                return "%s%s: %s (%.2fs)" % ("  " * depth, label, outcome, event.time - start)
        if not self.verbose:
            return None
        if isinstance(event, CommandStarted):
            how = "sudo " if event.use_sudo else ""
            sandbox = " [sandbox]" if event.sandbox else ""
            return "%s %s$ %s%s" % (self._slug(event.host), how, mask_secret_assignments(event.command), sandbox)
        if isinstance(event, CommandFinished):
            if event.exit_code == 0 and not event.error:
                return None
            status = "exit status %s" % event.exit_code if event.exit_code is not None else "no exit status"
            if event.error:
                status += ": " + mask_secret_assignments(error_summary(event.error))
            return "%s %s (%.2fs): %s" % (self._slug(event.host), self._paint(status, "red"), event.duration,
                                          mask_secret_assignments(event.command))
        if isinstance(event, FileTransferred):
            local = " <-> %s" % event.local_path if event.local_path else ""
            return "%s %s %s%s" % (self._slug(event.host), event.direction, event.remote_path, local)
        if isinstance(event, StatusChanged):
            where = self._slug(event.host) + " " if event.host else ""
            return "%s%s %s" % (where, event.status, mask_secret_assignments(event.detail))
        return None

    def _slug(self, slug: str) -> str:
        return self._paint("[%s]" % slug, _slug_color(slug))

    def _paint(self, text: str, color: str | None = None, attrs: list[str] | None = None) -> str:
        return colored(text, color, attrs=attrs, force_color=True) if self._color else text

    def _write(self, text: str) -> None:
        write_lock = getattr(self.out, "write_lock", None)
        if write_lock is not None:  # a Pty: it flushes under its own lock
            self.out.write(text)
            return
        with self._lock:
            self.out.write(text)
            flush = getattr(self.out, "flush", None)
            if flush is not None:
                flush()


_SLUG_COLORS = ("cyan", "magenta", "blue", "green", "yellow")


def _slug_color(slug: str) -> str:
    """A stable colour per host, so the eye can follow one host in parallel output."""
    return _SLUG_COLORS[sum(slug.encode()) % len(_SLUG_COLORS)]
