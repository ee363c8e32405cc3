"""The one interface a transport implements for a running command."""
from __future__ import annotations

import abc

__all__ = ["Process"]


class Process(abc.ABC):
    """A command started by a transport. The base class drives it; transports implement it."""

    @abc.abstractmethod
    def fileno(self) -> int:
        """A descriptor that ``select`` reports readable when output or end-of-output is there."""
        raise NotImplementedError

    @abc.abstractmethod
    def read(self) -> bytes | None:
        """Output available now: ``b''`` at end of output, ``None`` when nothing was ready."""
        raise NotImplementedError

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Send input to the command."""
        raise NotImplementedError

    @abc.abstractmethod
    def close_stdin(self) -> None:
        """Signal end of input."""
        raise NotImplementedError

    @abc.abstractmethod
    def wait(self, timeout: float | None) -> int | None:
        """The exit status (None when killed by a signal); ``TimeoutError`` after ``timeout``."""
        raise NotImplementedError

    @abc.abstractmethod
    def kill(self) -> None:
        """Stop the command (and what it started) now."""
        raise NotImplementedError

    def resize(self, rows: int, cols: int) -> None:
        """Resize the command's pty."""

    def close(self) -> None:
        """Release the process's resources (always called, after wait or kill)."""
