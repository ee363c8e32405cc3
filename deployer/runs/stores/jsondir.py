"""A directory of JSON files: one ``run_<id>.json`` per run (the reference's file store).

Each change reads, modifies and rewrites one file under an exclusive ``flock``
on the directory's ``.lock`` file (so several processes and threads can write),
through a temp file and ``os.replace`` (so a reader or a crash never sees half
a file). Only final states are fsynced: a process crash loses nothing, and a
long run does not pay an fsync per history entry.
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
            fd = os.open(os.path.join(self.directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)          # also releases the flock

    def _read(self, run_id: str) -> dict[str, Any]:
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

    def _modify(self, run_id: str, change: Callable[[dict[str, Any]], bool]) -> bool:
        with self._locked():
            data = self._read(run_id)
            if not change(data):
                return False
            self._write(data, durable=data.get("status") in FINAL_STATES)
            return True

    # -- primitives --------------------------------------------------------------------

    def create_run(self, run: RunRecord) -> None:
        data = run.to_dict()
        for i, h in enumerate(data["history"], 1):
            h["seq"] = i
        for i, c in enumerate(data["commands"], 1):
            c["seq"] = i
        with self._locked():
            if os.path.exists(self._path(run.id)):
                raise RunStoreError(self.url, "run %s exists already" % run.id)
            self._write(data, durable=True)

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
            row = command.to_dict()
            for i, c in enumerate(commands):
                if c["command_id"] == command.command_id:
                    row["seq"] = c["seq"]
                    commands[i] = row
                    return True
            row["seq"] = len(commands) + 1
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
        return RunRecord.from_dict(self._read(run_id))

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
