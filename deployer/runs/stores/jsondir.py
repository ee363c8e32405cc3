"""A directory of JSON files: one ``run_<id>.json`` per run (the reference's file store).

Each change reads, modifies and rewrites one file under an exclusive ``flock``
on the directory's ``.lock`` file (so several processes and threads can write),
through a temp file and ``os.replace`` (so a reader or a crash never sees half
a file). Only final states are fsynced: a process crash loses nothing, and a
long run does not pay an fsync per history entry.

A :meth:`~JSONDirStore.batch` holds the lock for all its writes, keeps the
changed runs in memory and rewrites each changed file once at its end: a run's
file goes from before the batch to after it in one ``os.replace``.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Optional

from deployer.runs.errors import RunNotFound, RunStoreError
from deployer.runs.model import ACTIVE_STATES, FINAL_STATES, STARTED, CommandRecord, HistoryEntry, RunRecord
from deployer.runs.stores.base import RunStore, check_fields

_NAME = re.compile(r"^run_(.+)\.json$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")


class JSONDirStore(RunStore):
    """Runs as ``run_<id>.json`` files in ``directory``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.url = "json://" + directory
        self._thread_lock = threading.RLock()
        self._closed = False
        # The open batch (only the thread holding _thread_lock has one): run id -> [data, durable].
        self._batch: Optional[dict[str, list[Any]]] = None
        self._batch_thread: Optional[int] = None
        self._batch_commands: dict[str, dict[str, int]] = {}    # in a batch: run -> command id -> index
        try:
            os.makedirs(directory, exist_ok=True, mode=0o700)
            with self._locked():
                pass
        except OSError as e:
            raise RunStoreError(self.url, str(e)) from e

    def _path(self, run_id: str) -> str:
        if not _SAFE_ID.match(run_id) or run_id.startswith("."):
            # Ids become file names: nothing may escape the directory.
            raise RunNotFound(run_id)
        return os.path.join(self.directory, "run_%s.json" % run_id)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            if self._closed:
                raise RunStoreError(self.url, "the store was closed")
            if self._batch is not None:
                yield           # inside this thread's batch: it holds the flock already
                return
            fd = os.open(os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)          # also releases the flock

    @contextmanager
    def batch(self) -> Iterator[None]:
        with self._locked():
            if self._batch is not None:
                yield
                return
            self._batch, self._batch_thread = {}, threading.get_ident()
            try:
                yield
                changed = self._batch
            finally:
                self._batch = self._batch_thread = None
                self._batch_commands = {}
            for data, durable in changed.values():
                if data is not None:
                    self._write(data, durable=durable or data.get("status") in FINAL_STATES)

    def _in_batch(self) -> bool:
        return self._batch is not None and self._batch_thread == threading.get_ident()

    def _read(self, run_id: str) -> dict[str, Any]:
        if self._in_batch():
            changed = self._batch.get(run_id)      # type: ignore[union-attr]
            if changed is not None:
                return changed[0]
        try:
            with open(self._path(run_id), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            raise RunNotFound(run_id) from None

    def _write(self, data: dict[str, Any], durable: bool = False) -> None:
        path = self._path(data["id"])
        fd, tmp = tempfile.mkstemp(prefix=".tmp_run_", suffix=".json", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, sort_keys=True, default=str)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _save(self, data: dict[str, Any], durable: bool = False) -> None:
        """Write a run now, or at the end of this thread's batch."""
        if self._batch is None:
            self._write(data, durable=durable or data.get("status") in FINAL_STATES)
            return
        entry = self._batch.get(data["id"])
        self._batch[data["id"]] = [data, durable or bool(entry and entry[1])]

    def _modify(self, run_id: str, change: Callable[[dict[str, Any]], bool]) -> bool:
        with self._locked():
            data = self._read(run_id)
            if not change(data):        # (a change that refuses leaves data as it was)
                return False
            self._save(data)
            return True

    # -- primitives --------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        data = run.to_dict()
        for i, h in enumerate(data["history"], 1):
            h["seq"] = i
        for i, c in enumerate(data["commands"], 1):
            c["seq"] = i
        with self._locked():
            if os.path.exists(self._path(run.id)) or (self._batch is not None and run.id in self._batch):
                raise RunStoreError(self.url, "run %s exists already" % run.id)
            self._save(data, durable=True)

    def update_run(self, run_id: str, **fields: Any) -> None:
        check_fields(fields)

        def change(data: dict[str, Any]) -> bool:
            for name, value in fields.items():
                data[name] = value.to_dict() if name == "owner" and value is not None else value
            return True
        self._modify(run_id, change)

    def add_history(self, run_id: str, entry: HistoryEntry) -> None:
        def change(data: dict[str, Any]) -> bool:
            _append_history(data, entry)
            return True
        self._modify(run_id, change)

    def upsert_command(self, run_id: str, command: CommandRecord) -> None:
        def change(data: dict[str, Any]) -> bool:
            commands = data.setdefault("commands", [])
            # In a batch the run's data stays in memory: keep its index (a batch of n commands
            # costs O(n), not O(n * commands)).
            index = self._batch_commands.get(run_id) if self._batch is not None else None
            if index is None:
                index = {c["command_id"]: i for i, c in enumerate(commands)}
                if self._batch is not None:
                    self._batch_commands[run_id] = index
            row = command.to_dict()
            at = index.get(command.command_id)
            if at is not None:
                row["seq"] = commands[at]["seq"]
                commands[at] = row
            else:
                row["seq"] = len(commands) + 1
                index[command.command_id] = len(commands)
                commands.append(row)
            return True
        self._modify(run_id, change)

    def heartbeat(self, run_id: str) -> bool:
        def change(data: dict[str, Any]) -> bool:
            if data.get("status") != STARTED:
                return False
            data["heartbeat_at"] = time.time()
            return True
        try:
            return self._modify(run_id, change)
        except RunNotFound:
            return False

    def transition(self, run_id: str, entry: HistoryEntry, *, end: Optional[float] = None,
                   error: Optional[str] = None, expect_status: Iterable[str] = (),
                   expect_owner_pid: Optional[int] = None,
                   expect_heartbeat_before: Optional[float] = None) -> bool:
        expect = tuple(expect_status)

        def change(data: dict[str, Any]) -> bool:
            if expect and data.get("status") not in expect:
                return False
            if expect_owner_pid is not None and (data.get("owner") or {}).get("pid") != expect_owner_pid:
                return False
            beat = data.get("heartbeat_at")
            if expect_heartbeat_before is not None and (beat is None or beat >= expect_heartbeat_before):
                return False
            data["status"] = entry.status
            if end is not None:
                data["end"] = end
            if error is not None:
                data["error"] = error
            _append_history(data, entry)
            return True
        return self._modify(run_id, change)

    def _get(self, run_id: str) -> RunRecord:
        if self._closed:
            raise RunStoreError(self.url, "the store was closed")
        data = self._read(run_id)
        # A copy: inside a batch, _read gives the batch's own dict.
        return RunRecord.from_dict(json.loads(json.dumps(data, default=str)) if self._in_batch() else data)

    def close(self) -> None:
        self._closed = True

    def _all(self) -> list[RunRecord]:
        runs = []
        for name in os.listdir(self.directory):
            m = _NAME.match(name)
            if not m:
                continue
            try:
                runs.append(self._get(m.group(1)))
            except (RunNotFound, ValueError, KeyError):
                continue      # removed meanwhile, or not one of ours
        return runs

    def _list(self, status: Optional[str], node: Optional[str], since: Optional[float],
              limit: Optional[int], offset: int) -> list[RunRecord]:
        runs = [r for r in self._all()
                if (not status or r.status == status)
                and (not node or r.node_path == node or r.node_path.startswith(node + "."))
                and (since is None or r.start >= since)]
        runs.sort(key=lambda r: (r.start, r.id), reverse=True)
        runs = runs[offset:] if limit is None else runs[offset:offset + max(0, limit)]
        for r in runs:
            r.history, r.commands = [], []
        return runs

    def _active(self) -> list[RunRecord]:
        return [r for r in self._all() if r.status in ACTIVE_STATES]


def _append_history(data: dict[str, Any], entry: HistoryEntry) -> None:
    history = data.setdefault("history", [])
    row = entry.to_dict()
    row["seq"] = len(history) + 1
    history.append(row)
