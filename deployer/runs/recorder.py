"""The run recorder: a :class:`~deployer.loggers.base.Logger` that writes runs to a store.

Each outermost ``ActionStarted`` (``parent_id`` None) opens a run; everything
emitted under its call id (nested actions, commands, files, batch statuses)
goes into that run's record; the outermost ``ActionFinished`` closes it::

    >>> from deployer.runs.stores import open_store
    >>> recorder = RunRecorder(open_store('sqlite:///tmp/runs.db'))     # doctest: +SKIP
    >>> env = Env(MyNode(), logger=recorder)                            # doctest: +SKIP

Recording stays off the deployment's hot path. Opening a run (``INIT``,
``STARTED``, adopting ``DEPLOYER_RUN_ID``) and ending it (``SUCCESS``/``FAILED``)
are written at once, in the thread that emits them; everything in between
(command rows, nested actions, statuses, files, output tails) is only queued by
:meth:`RunRecorder.emit`. One writer thread per recorder writes what is queued,
in order, as one transaction per batch (group commit), within
``batch_interval`` (0.1 s) of being queued, so ``follow`` sees a run live. The
run's end is written together with everything still queued, so it is never
visible before its commands. A hard crash loses at most the last batch interval
of events; the run still reads as INTERRUPTED (its owner is gone, or its
heartbeats stop). Command output is kept in memory and only its tail is queued,
at most once per ``output_flush_interval`` per running command.

While a run is open, the same thread refreshes its ``heartbeat_at`` every
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
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, TextIO

from deployer.loggers.base import Logger
from deployer.loggers.events import (ActionFinished, ActionStarted, CommandFinished, CommandOutput,
                                     CommandStarted, Event, FileTransferred, StatusChanged)
from deployer.runs.errors import RunNotFound
from deployer.runs.model import (ACTIVE_STATES, FAILED, HEARTBEAT_INTERVAL, INIT, KIND_ACTION, KIND_FILE,
                                 KIND_RUN, KIND_STEP, OUTPUT_TAIL_CHARS, STARTED, SUCCESS, CommandRecord, HistoryEntry, Owner,
                                 RunRecord, new_run_id, tail)
from deployer.runs.stores.base import RunStore, Write

#: Seconds a queued write waits at most before the writer thread writes it (and its batch).
BATCH_INTERVAL = 0.1


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


class _BatchWriter:
    """Writes what a recorder queues: in queue order, one transaction per batch, from one thread.

    The thread runs while runs are open (:meth:`open_run` / :meth:`end_run`); it
    wakes when writes are queued and writes them at most every ``interval``
    seconds, along with the open runs' heartbeats when they are due. Whoever
    writes holds ``_write_lock``, so batches reach the store in queue order.
    Errors are passed to ``warn`` (once per batch) and never raised.
    """

    def __init__(self, store: RunStore, interval: float, heartbeat_interval: float,
                 warn: Callable[[str], None]) -> None:
        self.store = store
        self.interval = interval
        self.heartbeat_interval = heartbeat_interval
        self._warn = warn
        self._cond = threading.Condition(threading.Lock())     # guards everything below but _write_lock
        self._pending: list[tuple[Write, str]] = []             # (write, what it records, for messages)
        self._command_at: dict[tuple[str, str], int] = {}       # queued upsert of (run, command) -> index
        self._runs: set[str] = set()                            # open runs: they get heartbeats
        self._stop: Optional[threading.Event] = None            # the running thread's; set: it ends
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        self._write_lock = threading.Lock()
        self._beat_warned: set[str] = set()

    def put(self, write: Write, what: str) -> None:
        """Queue ``write``; after :meth:`close`, write it at once."""
        with self._cond:
            if not self._closed:
                if write.method == "upsert_command":
                    # A newer state of a queued command replaces it (in its place: its row's seq).
                    key = (write.args[0], write.args[1].command_id)
                    at = self._command_at.get(key)
                    if at is not None:
                        self._pending[at] = (write, what)
                        return
                    self._command_at[key] = len(self._pending)
                self._pending.append((write, what))
                if len(self._pending) == 1:
                    self._cond.notify()
                return
        with self._write_lock:
            self._write([(write, what)])

    def open_run(self, run_id: str) -> None:
        """Heartbeats for ``run_id`` from now on; start the thread if needed."""
        with self._cond:
            self._runs.add(run_id)
            if self._closed or self._stop is not None:
                return
            stop = self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(stop,), daemon=True,
                                            name="deployer-run-writer")
            self._thread.start()

    def end_run(self, run_id: str, final: Write, what: str, release: bool) -> None:
        """Write everything queued, then ``final``, as one transaction, now, in this thread.

        With no run left, the thread ends and (``release``) the store drops its connection.
        """
        with self._write_lock:
            with self._cond:
                self._runs.discard(run_id)
                self._beat_warned.discard(run_id)
                last = not self._runs
                if last:
                    self._stop_thread()
            self._write(self._take() + [(final, what)])
            if last and release:
                # Between runs hold no connection (a library process may keep its Env for long).
                self.store.release()

    def close(self) -> None:
        """Write everything queued; stop the thread (waits for it). Later writes are written at once."""
        with self._cond:
            self._closed = True
            self._runs.clear()
            thread = self._thread
            self._stop_thread()
        with self._write_lock:
            self._write(self._take())
        if thread is not None:
            thread.join(30)

    def _stop_thread(self) -> None:
        # With _cond held. The thread checks its event under _write_lock before it writes.
        if self._stop is not None:
            self._stop.set()
            self._stop = self._thread = None
            self._cond.notify_all()

    def _take(self) -> list[tuple[Write, str]]:
        with self._cond:
            batch, self._pending = self._pending, []
            self._command_at = {}
        return batch

    def _loop(self, stop: threading.Event) -> None:
        last = time.monotonic()
        beat_every = self.heartbeat_interval if self.heartbeat_interval > 0 else None
        next_beat = last + beat_every if beat_every else float("inf")
        while True:
            with self._cond:
                while True:
                    if stop.is_set():
                        return
                    now = time.monotonic()
                    due = min(next_beat, last + self.interval) if self._pending else next_beat
                    if due <= now:
                        break
                    self._cond.wait(None if due == float("inf") else due - now)
            with self._write_lock:
                if stop.is_set():
                    return          # who stopped it wrote what was queued
                beats = sorted(self._runs) if beat_every and time.monotonic() >= next_beat else []
                batch = self._take()
                results = self._write(batch + [(Write("heartbeat", r), "the heartbeat of run %s" % r) for r in beats])
            for run_id, alive in zip(beats, results[len(batch):]):
                if alive is False:
                    with self._cond:
                        warn = run_id in self._runs and run_id not in self._beat_warned
                        self._beat_warned.add(run_id)
                    if warn:
                        self._warn("run %s is no longer STARTED in the store (ended by a reader that saw "
                                   "no heartbeat for too long?)" % run_id)
            last = time.monotonic()
            if beats:
                next_beat = last + beat_every      # type: ignore[operator]

    def _write(self, batch: list[tuple[Write, str]]) -> list[Any]:
        """One transaction; if it fails, each write alone (so one bad write loses only itself). Results."""
        if not batch:
            return []
        try:
            return self.store.apply([w for w, _ in batch])
        except Exception:
            pass
        results: list[Any] = []
        lost: list[tuple[str, Exception]] = []
        for w, what in batch:
            try:
                results += self.store.apply([w])
            except Exception as e:
                results.append(None)
                lost.append((what, e))
        if lost:
            what, e = lost[0]
            more = " (and %d more writes of its batch)" % (len(lost) - 1) if len(lost) > 1 else ""
            self._warn("recording %s failed: %s: %s%s" % (what, type(e).__name__, e, more))
        return results


class RunRecorder(Logger):
    """Records every run it sees into ``store``.

    ``run_id``: the id the next outermost action takes (a background run whose
    record was created before its process started). ``owns_store``: close the
    store on :meth:`close`. ``heartbeat_interval``: seconds between two heartbeats
    of an open run (0: none; keep it well under the readers' ``stale_after``).
    ``batch_interval``: seconds a queued event waits at most before it is written.
    """

    def __init__(self, store: RunStore, run_id: Optional[str] = None, owns_store: bool = True,
                 output_flush_interval: float = 1.0, stderr: Optional[TextIO] = None,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL, batch_interval: float = BATCH_INTERVAL) -> None:
        self.store = store
        self.owns_store = owns_store
        self.output_flush_interval = output_flush_interval
        self.heartbeat_interval = heartbeat_interval
        self.batch_interval = batch_interval
        self.errors: list[str] = []
        self._pending_id = run_id
        self._stderr = stderr
        self._lock = threading.RLock()
        self._call_run: dict[str, str] = {}        # any call id -> its run id
        self._call_name: dict[str, str] = {}       # nested call id -> "node.action(...)"
        self._outermost: dict[str, str] = {}       # outermost call id -> run id
        self._commands: dict[str, _Command] = {}
        self._closed = False
        self._writer = _BatchWriter(store, batch_interval, heartbeat_interval, self._warn)

    # -- Logger ------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        with self._lock:
            try:
                self._handle(event)
            except Exception as e:          # a logger must not fail the deployment
                self._report(event, e)

    def close(self) -> None:
        """Write everything queued (and the output of commands still running), stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for cmd in list(self._commands.values()):
                self._flush(cmd, force=True)
        self._writer.close()
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
                self._put("ActionStarted", "add_history", run_id, HistoryEntry(
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
                self._put("ActionFinished", "add_history", run_id, HistoryEntry(
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
            self._put("CommandStarted", "upsert_command", run_id, replace(cmd.record))
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
                self._put("StatusChanged", "add_history", run_id, HistoryEntry(
                    time=event.time, status=event.status, kind=KIND_STEP, host=event.host, detail=event.detail))
        elif isinstance(event, FileTransferred):
            run_id = self._run_for(event.call_id)
            if run_id is not None:
                self._put("FileTransferred", "add_history", run_id, HistoryEntry(
                    time=event.time, status=event.direction.upper(), kind=KIND_FILE, host=event.host,
                    detail=event.remote_path + (" (sandbox)" if event.sandbox else "")))

    def _put(self, what: str, method: str, run_id: str, item: Any) -> None:
        # Queued, not written: the writer thread (or the run's end) writes it.
        self._writer.put(Write(method, run_id, item), "%s of run %s" % (what, run_id))

    def _run_for(self, call_id: Optional[str]) -> Optional[str]:
        if call_id is not None:
            return self._call_run.get(call_id)
        # Unbound events (a host used without a bound logger): only unambiguous with one run open.
        runs = set(self._outermost.values())
        return runs.pop() if len(runs) == 1 else None

    def _start_run(self, event: ActionStarted) -> None:
        # Written at once (not queued): the run exists, and DEPLOYER_RUN_ID is adopted or not,
        # before the action's first step.
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
                        self.store.apply([Write("update_run", run_id, **fields), Write("heartbeat", run_id)])
                if not adopted:
                    run_id = None       # taken already (another Env of this process): a new run
        if not adopted:
            run_id = run_id or new_run_id()
            self.store.apply([
                Write("create_run", RunRecord(
                    id=run_id, start=event.time, status=STARTED, **fields,
                    history=[HistoryEntry(time=event.time, status=INIT, kind=KIND_RUN), started])),
                Write("heartbeat", run_id)])
        self._call_run[event.call_id] = run_id
        self._outermost[event.call_id] = run_id
        self._writer.open_run(run_id)

    def _finish_run(self, run_id: str, event: ActionFinished) -> None:
        for cmd in [c for c in self._commands.values() if c.run_id == run_id]:
            # A command that never reported its end (the run is ending anyway).
            self._flush(cmd, force=True)
            del self._commands[cmd.record.command_id]
        status = SUCCESS if event.status == SUCCESS else FAILED
        # Written at once, after everything queued and in the same transaction: when the
        # outermost action returns, its record is complete, and never ends before its commands.
        self._writer.end_run(run_id, Write("transition", run_id, HistoryEntry(
            time=event.time, status=status, kind=KIND_RUN, detail=event.error or ""),
            end=event.time, error=event.error, expect_status=ACTIVE_STATES),
            "the end of run %s" % run_id, release=self.owns_store and not self._outermost)

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
        self._put("CommandFinished", "upsert_command", cmd.run_id, rec)      # no longer changed: no copy

    def _flush(self, cmd: _Command, force: bool = False) -> None:
        now = time.monotonic()
        if cmd.dirty and (force or now - cmd.last_flush >= self.output_flush_interval):
            cmd.record.output_tail = cmd.text()
            cmd.last_flush = now
            cmd.dirty = False
            self._put("CommandOutput", "upsert_command", cmd.run_id, replace(cmd.record))

    # -- errors ------------------------------------------------------------------------

    def _report(self, event: Event, error: Exception) -> None:
        self._warn("recording %s failed: %s: %s" % (type(event).__name__, type(error).__name__, error))

    def _warn(self, message: str) -> None:
        # From emitting threads and the writer thread (list.append is atomic).
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
