"""The default logger: one line per action call and per command, to Python's ``logging``.

Lines go to the ``logging`` logger named ``deployer`` (or the one given); the
shell's ``--log LOGFILE`` attaches a ``FileHandler`` to it::

    >>> import logging, io
    >>> from deployer.loggers.events import ActionStarted, ActionFinished, CommandStarted, CommandFinished
    >>> stream = io.StringIO()
    >>> log = logging.getLogger('deployer.doctest')
    >>> log.addHandler(logging.StreamHandler(stream)); log.setLevel(logging.INFO)
    >>> logger = DefaultLogger(log)
    >>> logger.emit(ActionStarted('c1', None, 'Root.web', 'deploy', hosts=('web1',), time=10))
    >>> logger.emit(CommandFinished('k1', 'web1', 'echo hi', 0, 0.25, call_id='c1'))
    >>> logger.emit(ActionFinished('c1', 'SUCCESS', time=12))
    >>> print(stream.getvalue(), end='')
    command node=Root.web host=web1 exit=0 duration=0.250s: echo hi
    action node=Root.web call=deploy() hosts=web1 outcome=SUCCESS duration=2.000s id=c1

Each record carries the event in ``record.deployer_event`` for handlers that
want the structured data.
"""
from __future__ import annotations

import logging
import threading

from deployer.loggers.base import Logger
from deployer.loggers.events import (ActionFinished, ActionStarted, CommandFinished, CommandStarted, Event,
                                     FileTransferred, StatusChanged)
from deployer.loggers.masking import mask_secret_assignments
from deployer.loggers.text import error_summary, format_call

__all__ = ["DefaultLogger", "LOGGER_NAME"]

#: Name of the ``logging`` logger that :class:`DefaultLogger` writes to by default.
LOGGER_NAME = "deployer"


class DefaultLogger(Logger):
    """Write each action call and each command as one line to a ``logging.Logger``.

    Levels: INFO for what succeeded, WARNING for a command with a non-zero
    exit status, ERROR for a failed action or a command without an exit
    status; starts are logged at DEBUG.

    :param logger: the ``logging.Logger`` to write to (default: ``deployer``).
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger(LOGGER_NAME)
        self._lock = threading.Lock()
        # call_id -> ActionStarted, so command lines carry the node path and
        # the finish line carries the call; entries leave when the call ends.
        self._calls: dict[str, ActionStarted] = {}

    def emit(self, event: Event) -> None:
        try:
            self._emit(event)
        except Exception:  # a log sink must never fail a deployment
            pass

    def _node_path(self, call_id: str | None) -> str:
        with self._lock:
            started = self._calls.get(call_id) if call_id else None
        return started.node_path if started is not None else "-"

    def _emit(self, event: Event) -> None:
        if isinstance(event, ActionStarted):
            with self._lock:
                self._calls[event.call_id] = event
            self._log(logging.DEBUG, event, "action started node=%s call=%s hosts=%s%s id=%s parent=%s",
                      event.node_path, format_call(event.action, event.args, event.kwargs),
                      ",".join(event.hosts) or "-", " sandbox" if event.sandbox else "",
                      event.call_id, event.parent_id or "-")
        elif isinstance(event, ActionFinished):
            with self._lock:
                started = self._calls.pop(event.call_id, None)
            if started is None:
                path, call, hosts, duration, sandbox = "-", "?", "-", "?", ""
            else:
                path, call = started.node_path, format_call(started.action, started.args, started.kwargs)
                hosts = ",".join(started.hosts) or "-"
                duration = "%.3fs" % (event.time - started.time)
                sandbox = " sandbox" if started.sandbox else ""
            ok = event.status == "SUCCESS"
            error = ""
            if event.error:
                error = " error=%s" % mask_secret_assignments(error_summary(event.error))
            self._log(logging.INFO if ok else logging.ERROR, event,
                      "action node=%s call=%s hosts=%s%s outcome=%s duration=%s id=%s%s",
                      path, call, hosts, sandbox, event.status, duration, event.call_id, error)
        elif isinstance(event, CommandStarted):
            self._log(logging.DEBUG, event, "command started node=%s host=%s%s%s: %s",
                      self._node_path(event.call_id), event.host, " sudo" if event.use_sudo else "",
                      " sandbox" if event.sandbox else "", mask_secret_assignments(event.command))
        elif isinstance(event, CommandFinished):
            if event.exit_code is None:
                level = logging.ERROR
            else:
                level = logging.INFO if event.exit_code == 0 else logging.WARNING
            error = " error=%s" % mask_secret_assignments(error_summary(event.error)) if event.error else ""
            self._log(level, event, "command node=%s host=%s%s%s exit=%s duration=%.3fs%s: %s",
                      self._node_path(event.call_id), event.host, " sudo" if event.use_sudo else "",
                      " sandbox" if event.sandbox else "",
                      "-" if event.exit_code is None else event.exit_code, event.duration, error,
                      mask_secret_assignments(event.command))
        elif isinstance(event, FileTransferred):
            self._log(logging.INFO, event, "file node=%s host=%s %s %s%s%s",
                      self._node_path(event.call_id), event.host, event.direction, event.remote_path,
                      " local=%s" % event.local_path if event.local_path else "",
                      " sandbox" if event.sandbox else "")
        elif isinstance(event, StatusChanged):
            self._log(logging.INFO, event, "status node=%s host=%s %s %s", self._node_path(event.call_id),
                      event.host or "-", event.status, mask_secret_assignments(event.detail))
        # CommandOutput is for live following only: it would flood a log file.

    def _log(self, level: int, event: Event, msg: str, *args) -> None:
        if self.logger.isEnabledFor(level):
            self.logger.log(level, msg, *args, extra={"deployer_event": event})
