"""The store interface (the reference's ``IStore``), shared by every backend.

A backend implements a handful of primitive operations, each atomic (one
transaction or one atomic file replace), and :meth:`RunStore.batch`, which makes
several of them one transaction (group commit: the run recorder writes a run's
events that way). This base class adds what every backend needs the same way:
:meth:`RunStore.apply` on top of ``batch``, and telling a crashed run from a
running one, by its owner process on this machine, or by its heartbeat for a
run of another machine.

    >>> store = open_store('sqlite:///tmp/runs.db')          # doctest: +SKIP
    >>> store.list_runs(status='FAILED', limit=10)           # doctest: +SKIP
    >>> store.apply([Write("add_history", run_id, entry),    # doctest: +SKIP
    ...              Write("upsert_command", run_id, command)])
"""
from __future__ import annotations

import abc
import os
import re
import time
from typing import Any, ContextManager, Iterable, Optional, Sequence

from deployer.runs.model import (ACTIVE_STATES, FAILED, HEARTBEAT_STALE_AFTER, INIT, INTERRUPTED, KIND_RUN,
                                 STARTED, CommandRecord, HistoryEntry, RunRecord)

#: Fields of a run that :meth:`RunStore.update_run` may change.
UPDATABLE_FIELDS = ("node_path", "action", "args", "kwargs", "user", "hosts", "sandbox", "start",
                    "owner", "log_path", "error")


_MAX_ROWS = 2 ** 62

#: The write primitives a :class:`Write` may name.
WRITE_METHODS = frozenset({"create_run", "update_run", "add_history", "upsert_command", "heartbeat", "transition"})


class Write:
    """One write of a batch for :meth:`RunStore.apply`: a write primitive's name and its arguments.

        >>> Write("transition", "r1", entry, expect_status=("STARTED",))     # doctest: +SKIP
    """

    __slots__ = ("method", "args", "kwargs")

    def __init__(self, method: str, *args: Any, **kwargs: Any) -> None:
        if method not in WRITE_METHODS:
            raise ValueError("not a store write: %r" % method)
        self.method = method
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return "Write(%r, %s)" % (self.method, ", ".join([repr(a) for a in self.args] +
                                                         ["%s=%r" % kv for kv in self.kwargs.items()]))


class RunStore(abc.ABC):
    """Where run records live. Safe to share between threads; safe with several processes."""

    #: The URL this store was opened with, password masked (for messages).
    url: str = ""
    #: Seconds without a heartbeat after which a STARTED run of another machine reads as INTERRUPTED.
    stale_after: float = HEARTBEAT_STALE_AFTER

    # -- primitives every backend implements -------------------------------------------

    @abc.abstractmethod
    def create_run(self, run: RunRecord) -> None:
        """Insert a new run (with any history it already holds). Fails if the id exists."""

    @abc.abstractmethod
    def update_run(self, run_id: str, **fields: Any) -> None:
        """Change some of :data:`UPDATABLE_FIELDS` of a run."""

    @abc.abstractmethod
    def add_history(self, run_id: str, entry: HistoryEntry) -> None:
        """Append a history entry (its ``seq`` is assigned by the store)."""

    @abc.abstractmethod
    def upsert_command(self, run_id: str, command: CommandRecord) -> None:
        """Insert or update (by ``command_id``) a command of a run."""

    @abc.abstractmethod
    def heartbeat(self, run_id: str) -> bool:
        """Set ``heartbeat_at`` of a STARTED run to now (:meth:`now`); False when it is not STARTED (or not there)."""

    @abc.abstractmethod
    def transition(self, run_id: str, entry: HistoryEntry, *, end: Optional[float] = None,
                   error: Optional[str] = None, expect_status: Iterable[str] = (),
                   expect_owner_pid: Optional[int] = None,
                   expect_heartbeat_before: Optional[float] = None) -> bool:
        """Atomically set the run's status to ``entry.status`` and append ``entry``.

        With ``expect_status`` (``expect_owner_pid``, ``expect_heartbeat_before``),
        only when the run is still in one of those states (owned by that pid, with a
        heartbeat older than that); returns whether it changed. This is what keeps
        a late writer from undoing a final state, and a run that just sent a
        heartbeat from being ended.
        """

    @abc.abstractmethod
    def batch(self) -> ContextManager[None]:
        """A context in which this thread's writes are one transaction: all of them or none.

        Readers see the store as before the batch until it ends, then all of it
        (JSON: each run's file is replaced once, atomically, per batch). Other
        threads' calls on this store wait for the end of the batch. An exception
        inside undoes the whole batch; a ``batch()`` inside another joins it.
        """

    def apply(self, writes: Sequence[Write]) -> list[Any]:
        """Make ``writes`` in their order as one transaction (:meth:`batch`); each one's result.

        On an error nothing of the batch is written and the error is raised.
        """
        if not writes:
            return []
        with self.batch():
            return [getattr(self, w.method)(*w.args, **w.kwargs) for w in writes]

    def now(self) -> float:
        """The store's clock (seconds since the epoch): heartbeats are written and judged by it,
        so that machines sharing a store need not agree on the time."""
        return time.time()

    @abc.abstractmethod
    def _get(self, run_id: str) -> RunRecord:
        """The full record, as stored. Raises RunNotFound."""

    @abc.abstractmethod
    def _list(self, status: Optional[str], node: Optional[str], since: Optional[float],
              limit: Optional[int], offset: int) -> list[RunRecord]:
        """Summaries (no history/commands), newest first."""

    @abc.abstractmethod
    def _active(self) -> list[RunRecord]:
        """Summaries of the runs in INIT or STARTED."""

    def close(self) -> None:
        """Release connections for good."""

    def release(self) -> None:
        """Drop idle connections; the next call opens them again.

        A recorder calls this between runs, so a library process that keeps an
        ``Env`` holds no database connection while nothing runs.
        """

    # -- what users call ---------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        """The full record of a run (a run whose process died reads as INTERRUPTED)."""
        run = self._get(run_id)
        if run.status in ACTIVE_STATES and self._reconcile(run):
            run = self._get(run_id)
        return run

    def list_runs(self, status: Optional[str] = None, node: Optional[str] = None,
                  since: Optional[float] = None, limit: Optional[int] = None,
                  offset: int = 0) -> list[RunRecord]:
        """Run summaries, newest first, filtered by status, node path (prefix) and start time."""
        for run in self._active():
            self._reconcile(run)
        # SQL LIMIT/OFFSET are 64-bit: a larger number would be an error, not an empty page.
        offset = min(max(0, int(offset)), _MAX_ROWS)
        limit = None if limit is None else min(max(0, int(limit)), _MAX_ROWS)
        return self._list(status, node, since, limit, offset)

    def _reconcile(self, run: RunRecord) -> bool:
        """End a run whose owner process is gone. True if it changed.

        STARTED: ``INTERRUPTED`` (it crashed or was killed mid-run). INIT: ``FAILED``
        (nothing ran: a background process that could not start its action),
        with the end of its log. The owner is checked directly on this machine
        (a live local owner keeps its run, even stopped with Ctrl-Z); a STARTED
        run of another machine is INTERRUPTED when its heartbeat is older than
        :attr:`stale_after` (one without any heartbeat, from a deployer that
        wrote none, is left as it is).
        """
        alive = run.owner.is_alive() if run.owner is not None else None
        if alive is None:
            return self._reconcile_by_heartbeat(run)
        if alive:
            return False
        if run.status == INIT:
            detail = "process %d on %s exited before the action started" % (run.owner.pid, run.owner.hostname)
            if run.log_path:
                detail += " (log %s):\n%s" % (run.log_path, log_tail(run.log_path))
            entry = HistoryEntry(time=time.time(), status=FAILED, kind=KIND_RUN, detail=detail)
        else:
            entry = HistoryEntry(time=time.time(), status=INTERRUPTED, kind=KIND_RUN,
                                 detail="process %d on %s ended without finishing the run"
                                        % (run.owner.pid, run.owner.hostname))
        return self.transition(run.id, entry, end=entry.time, error=run.error or entry.detail,
                               expect_status=ACTIVE_STATES, expect_owner_pid=run.owner.pid)

    def _reconcile_by_heartbeat(self, run: RunRecord) -> bool:
        if run.status != STARTED or run.heartbeat_at is None:
            return False
        now = self.now()
        bound = now - self.stale_after
        if run.heartbeat_at >= bound:
            return False
        where = ("process %d on %s" % (run.owner.pid, run.owner.hostname)) if run.owner else "its process"
        entry = HistoryEntry(time=now, status=INTERRUPTED, kind=KIND_RUN,
                             detail="no heartbeat from %s for %.0f s (more than %g s): it ended without "
                                    "finishing the run" % (where, now - run.heartbeat_at, self.stale_after))
        return self.transition(run.id, entry, end=now, error=run.error or entry.detail, expect_status=(STARTED,),
                               expect_heartbeat_before=bound)

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mask_url(url: str) -> str:
    """``url`` with any password replaced, for messages."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1********@", url)


def check_fields(fields: dict[str, Any]) -> None:
    bad = set(fields) - set(UPDATABLE_FIELDS)
    if bad:
        raise ValueError("cannot update run fields %s" % ", ".join(sorted(bad)))


def log_tail(path: str, lines: int = 15) -> str:
    """The last ``lines`` lines of a (background run's) log file."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])
