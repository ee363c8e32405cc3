"""The run recorder: a :class:`~deployer.loggers.base.Logger` that writes runs to a store.

Each outermost ``ActionStarted`` (``parent_id`` None) opens a run; everything
emitted under its call id (nested actions, commands, files, batch statuses)
goes into that run's record; the outermost ``ActionFinished`` closes it::

    >>> from deployer.runs.stores import open_store
    >>> recorder = RunRecorder(open_store('sqlite:///tmp/runs.db'))     # doctest: +SKIP
    >>> env = Env(MyNode(), logger=recorder)                            # doctest: +SKIP

Recording is cheap: one small transaction per action, command and status;
command output is kept in memory and only its tail is written, at most once per
``output_flush_interval`` per running command (so ``follow`` sees it live).

While a run is open, a daemon thread refreshes its ``heartbeat_at`` every
``heartbeat_interval`` seconds: that is how a reader on another machine tells a
long run from a dead one (:meth:`RunStore._reconcile`). The thread exists only
while the recorder has a run open.
"""
from __future__ import annotations

import getpass
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Optional, TextIO

from deployer.loggers.base import Logger
from deployer.loggers.events import (ActionFinished, ActionStarted, CommandFinished, CommandOutput,
                                     CommandStarted, Event, FileTransferred, StatusChanged)
from deployer.runs.errors import RunNotFound
from deployer.runs.model import (ACTIVE_STATES, FAILED, HEARTBEAT_INTERVAL, INIT, KIND_ACTION, KIND_FILE,
                                 KIND_RUN, KIND_STEP, OUTPUT_TAIL_CHARS, STARTED, SUCCESS, CommandRecord, HistoryEntry, Owner,
                                 RunRecord, new_run_id, tail)
from deployer.runs.stores.base import RunStore


@dataclass
class _Command:
    run_id: str
    record: CommandRecord
    output: list[str] = field(default_factory=list)
    size: int = 0
    last_flush: float = 0.0
    dirty: bool = False

    def append(self, data: str) -> None:
        self.output.append(data)
        self.size += len(data)
        if self.size > 2 * OUTPUT_TAIL_CHARS:
            # Keep memory bounded for commands that print a lot.
            joined = tail("".join(self.output))
            self.output, self.size = [joined], len(joined)
        self.dirty = True

    def text(self) -> str:
        return tail("".join(self.output))


class RunRecorder(Logger):
    """Records every run it sees into ``store``.

    ``run_id``: the id the next outermost action takes (a background run whose
    record was created before its process started). ``owns_store``: close the
    store on :meth:`close`. ``heartbeat_interval``: seconds between two heartbeats
    of an open run (0: none; keep it well under the readers' ``stale_after``).
    """

    def __init__(self, store: RunStore, run_id: Optional[str] = None, owns_store: bool = True,
                 output_flush_interval: float = 1.0, stderr: Optional[TextIO] = None,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL) -> None:
        self.store = store
        self.owns_store = owns_store
        self.output_flush_interval = output_flush_interval
        self.heartbeat_interval = heartbeat_interval
        self._beat_stop: Optional[threading.Event] = None     # set: the heartbeat thread ends
        self._beat_thread: Optional[threading.Thread] = None
        self._beat_warned: set[str] = set()
        self.errors: list[str] = []
        self._pending_id = run_id
        self._stderr = stderr
        self._lock = threading.RLock()
        self._call_run: dict[str, str] = {}        # any call id -> its run id
        self._call_name: dict[str, str] = {}       # nested call id -> "node.action(...)"
        self._outermost: dict[str, str] = {}       # outermost call id -> run id
        self._commands: dict[str, _Command] = {}
        self._closed = False

    # -- Logger ------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        with self._lock:
            try:
                self._handle(event)
            except Exception as e:          # a logger must not fail the deployment
                self._report(event, e)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            beater = self._beat_thread
            self._stop_heartbeat()
            self._closed = True
        if beater is not None:
            # After close() no heartbeat is written (it may be in a store call now).
            beater.join(30)
        with self._lock:
            for cmd in list(self._commands.values()):
                self._flush(cmd, force=True)
            if self.owns_store:
                self.store.close()

    @property
    def active_runs(self) -> list[str]:
        """Ids of the runs this recorder has open."""
        with self._lock:
            return list(self._outermost.values())

    # -- events ------------------------------------------------------------------------

    def _handle(self, event: Event) -> None:
        if isinstance(event, ActionStarted):
            if event.parent_id is not None and event.parent_id in self._call_run:
                run_id = self._call_run[event.parent_id]
                self._call_run[event.call_id] = run_id
                self._call_name[event.call_id] = _call_text(event)
                self.store.add_history(run_id, HistoryEntry(
                    time=event.time, status=STARTED, kind=KIND_ACTION, detail=self._call_name[event.call_id]))
            else:
                self._start_run(event)
        elif isinstance(event, ActionFinished):
            run_id = self._call_run.pop(event.call_id, None)
            if run_id is None:
                return
            if self._outermost.get(event.call_id) == run_id:
                del self._outermost[event.call_id]
                self._finish_run(run_id, event)
            else:
                self.store.add_history(run_id, HistoryEntry(
                    time=event.time, status=event.status, kind=KIND_ACTION,
                    detail=_with_error(self._call_name.pop(event.call_id, event.call_id), event.error)))
        elif isinstance(event, CommandStarted):
            run_id = self._run_for(event.call_id)
            if run_id is None:
                return
            cmd = _Command(run_id, CommandRecord(
                command_id=event.command_id, host=event.host, command=event.command, start=event.time,
                use_sudo=event.use_sudo, sandbox=event.sandbox), last_flush=time.monotonic())
            self._commands[event.command_id] = cmd
            self.store.upsert_command(run_id, cmd.record)
        elif isinstance(event, CommandOutput):
            cmd = self._commands.get(event.command_id)
            if cmd is not None:
                cmd.append(event.data)
                self._flush(cmd)
        elif isinstance(event, CommandFinished):
            self._finish_command(event)
        elif isinstance(event, StatusChanged):
            run_id = self._run_for(event.call_id)
            if run_id is not None:
                self.store.add_history(run_id, HistoryEntry(
                    time=event.time, status=event.status, kind=KIND_STEP, host=event.host, detail=event.detail))
        elif isinstance(event, FileTransferred):
            run_id = self._run_for(event.call_id)
            if run_id is not None:
                self.store.add_history(run_id, HistoryEntry(
                    time=event.time, status=event.direction.upper(), kind=KIND_FILE, host=event.host,
                    detail=event.remote_path + (" (sandbox)" if event.sandbox else "")))

    def _run_for(self, call_id: Optional[str]) -> Optional[str]:
        if call_id is not None:
            return self._call_run.get(call_id)
        # Unbound events (a host used without a bound logger): only unambiguous with one run open.
        runs = set(self._outermost.values())
        return runs.pop() if len(runs) == 1 else None

    def _start_run(self, event: ActionStarted) -> None:
        run_id, self._pending_id = self._pending_id, None
        fields = dict(node_path=event.node_path, action=event.action, args=list(event.args),
                      kwargs=dict(event.kwargs), user=event.user or _current_user(), hosts=list(event.hosts),
                      sandbox=event.sandbox, owner=Owner.of_process())
        started = HistoryEntry(time=event.time, status=STARTED, kind=KIND_RUN)
        adopted = False
        if run_id is not None:
            # A background run: its record was created (INIT) before this process started.
            try:
                existing = self.store.get_run(run_id)
            except RunNotFound:
                existing = None
            if existing is not None:
                if existing.status == INIT:
                    # Claim it first (atomic INIT -> STARTED): of two Envs only one wins.
                    adopted = self.store.transition(run_id, started, expect_status=(INIT,))
                    if adopted:
                        self.store.update_run(run_id, **fields)
                if not adopted:
                    run_id = None       # taken already (another Env of this process): a new run
        if not adopted:
            run_id = run_id or new_run_id()
            self.store.create_run(RunRecord(
                id=run_id, start=event.time, status=STARTED, **fields,
                history=[HistoryEntry(time=event.time, status=INIT, kind=KIND_RUN), started]))
        self._call_run[event.call_id] = run_id
        self._outermost[event.call_id] = run_id
        self.store.heartbeat(run_id)
        self._start_heartbeat()

    def _finish_run(self, run_id: str, event: ActionFinished) -> None:
        if not self._outermost:
            self._stop_heartbeat()
        for cmd in [c for c in self._commands.values() if c.run_id == run_id]:
            # A command that never reported its end (the run is ending anyway).
            self._flush(cmd, force=True)
            del self._commands[cmd.record.command_id]
        status = SUCCESS if event.status == SUCCESS else FAILED
        self.store.transition(run_id, HistoryEntry(time=event.time, status=status, kind=KIND_RUN,
                                                   detail=event.error or ""),
                              end=event.time, error=event.error, expect_status=ACTIVE_STATES)
        if not self._outermost and self.owns_store:
            # Between runs hold no connection (a library process may keep its Env for long).
            self.store.release()

    def _finish_command(self, event: CommandFinished) -> None:
        cmd = self._commands.pop(event.command_id, None)
        if cmd is None:
            run_id = self._run_for(event.call_id)
            if run_id is None:
                return
            cmd = _Command(run_id, CommandRecord(command_id=event.command_id, host=event.host,
                                                 command=event.command, start=event.time - event.duration))
        rec = cmd.record
        rec.end = event.time
        rec.exit_code = event.exit_code
        rec.duration = event.duration
        rec.error = event.error
        rec.use_sudo = rec.use_sudo or event.use_sudo
        rec.sandbox = rec.sandbox or event.sandbox
        rec.output_tail = tail(event.output_tail) if event.output_tail else cmd.text()
        self.store.upsert_command(cmd.run_id, rec)

    def _flush(self, cmd: _Command, force: bool = False) -> None:
        now = time.monotonic()
        if cmd.dirty and (force or now - cmd.last_flush >= self.output_flush_interval):
            cmd.record.output_tail = cmd.text()
            cmd.last_flush = now
            cmd.dirty = False
            self.store.upsert_command(cmd.run_id, cmd.record)

    # -- heartbeat ---------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        # Called with self._lock held, like _stop_heartbeat: one thread at most.
        if self.heartbeat_interval <= 0 or self._beat_stop is not None or self._closed:
            return
        stop = self._beat_stop = threading.Event()
        self._beat_thread = threading.Thread(target=self._beat, args=(stop,), daemon=True,
                                             name="deployer-run-heartbeat")
        self._beat_thread.start()

    def _stop_heartbeat(self) -> None:
        if self._beat_stop is not None:
            self._beat_stop.set()
            self._beat_stop = self._beat_thread = None

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_interval):
            with self._lock:
                runs = sorted(set(self._outermost.values()))
            for run_id in runs:
                # Outside the lock: a slow store must not hold up the events of the run.
                try:
                    alive = self.store.heartbeat(run_id)
                except Exception as e:
                    if not stop.is_set():
                        self._warn("heartbeat of run %s failed: %s: %s" % (run_id, type(e).__name__, e))
                    continue
                if not alive and not stop.is_set():
                    with self._lock:
                        warn = run_id in self._outermost.values() and run_id not in self._beat_warned
                        self._beat_warned.add(run_id)
                    if warn:
                        self._warn("run %s is no longer STARTED in the store (ended by a reader that saw "
                                   "no heartbeat for too long?)" % run_id)

    # -- errors ------------------------------------------------------------------------

    def _report(self, event: Event, error: Exception) -> None:
        self._warn("recording %s failed: %s: %s" % (type(event).__name__, type(error).__name__, error))

    def _warn(self, message: str) -> None:
        self.errors.append(message)
        if len(self.errors) <= 3:       # say it, without flooding a terminal
            (self._stderr or sys.stderr).write("deployer: run history (%s): %s\n" % (self.store.url, message))


def _call_text(event: ActionStarted) -> str:
    name = "%s.%s" % (event.node_path, event.action) if event.node_path else event.action
    params = [repr(a) for a in event.args] + ["%s=%r" % kv for kv in event.kwargs.items()]
    return "%s(%s)" % (name, ", ".join(params))


def _with_error(call: str, error: Optional[str]) -> str:
    return call + ((": " + error) if error else "")


def _current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())
