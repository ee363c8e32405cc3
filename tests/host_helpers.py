"""Helpers shared by the host tests: an event recorder and a real pty driver."""
from __future__ import annotations

import os
import threading
import time

from deployer.loggers.base import Logger
from deployer.pseudo_terminal import Pty


class Recorder(Logger):
    """Keeps every event it receives."""

    def __init__(self) -> None:
        self.events: list = []
        self._lock = threading.Lock()

    def emit(self, event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


class RealPty:
    """A Pty on the slave end of ``os.openpty()``; the test types on the master end."""

    def __init__(self, rows: int = 24, cols: int = 80) -> None:
        self.master, slave = os.openpty()
        self.stdin = os.fdopen(slave, "rb", buffering=0)
        self.stdout = os.fdopen(os.dup(slave), "w")
        self.pty = Pty(stdin=self.stdin, stdout=self.stdout, term_var="xterm")
        self.pty.set_size(rows, cols)
        self.seen = b""
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                data = b""
            with self._cond:
                if not data:
                    self._cond.notify_all()
                    return
                self.seen += data
                self._cond.notify_all()

    def wait_for(self, needle: bytes, timeout: float = 10) -> bool:
        """Block until ``needle`` was shown on the terminal (what the user would see)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while needle not in self.seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def type(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        # Closing the slave ends makes the reader see EIO and stop; only then may
        # the master fd be closed (a reader left behind would read whatever pty
        # reuses that fd number next).
        for f in (self.stdin, self.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._reader.join(5)
        os.close(self.master)
