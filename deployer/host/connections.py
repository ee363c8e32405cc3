"""The process-wide connection cache: one connection per host class per process.

Every instance of a host class (and every thread using one) shares the cached
connection; a dead one is replaced on the next use. Connecting happens under a
per-key lock, so two threads never open two connections to one host, while
different hosts connect in parallel. This is the one piece of global state the
host layer keeps (see docs/architecture.md).
"""
from __future__ import annotations

import atexit
import os
import threading
from typing import Any, Callable, Hashable, TypeVar

__all__ = ["ConnectionCache", "cache"]

T = TypeVar("T")


class ConnectionCache:
    """Maps a key (a host class) to its live connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[int, Any]] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, connect: Callable[[], T], alive: Callable[[T], bool]) -> T:
        """The cached connection for ``key``, made with ``connect()`` when missing or dead."""
        pid = os.getpid()
        entry = self._entries.get(key)
        # Fast path: no lock when the connection is there and well.
        if entry is not None and entry[0] == pid and alive(entry[1]):
            return entry[1]
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == pid and alive(entry[1]):
                return entry[1]
            if entry is not None and entry[0] == pid:
                _close(entry[1])
            # An entry from before a fork belongs to the parent: leave its socket alone.
            conn = connect()
            self._entries[key] = (pid, conn)
            return conn

    def peek(self, key: Hashable) -> Any | None:
        """The cached connection for ``key`` (alive or not), or None."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[0] == os.getpid() else None

    def discard(self, key: Hashable, conn: Any = None) -> None:
        """Forget (and close) the connection for ``key`` — only ``conn``, if given."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (conn is not None and entry[1] is not conn):
                return
            del self._entries[key]
        if entry[0] == os.getpid():
            _close(entry[1])

    def close_all(self) -> None:
        """Close every connection of this process."""
        with self._lock:
            entries, self._entries = self._entries, {}
        for pid, conn in entries.values():
            if pid == os.getpid():
                _close(conn)

    def __len__(self) -> int:
        return sum(1 for pid, _ in self._entries.values() if pid == os.getpid())


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:
        pass  # closing a broken connection may fail; it is gone either way


#: The process-wide cache.
cache = ConnectionCache()
atexit.register(cache.close_all)
