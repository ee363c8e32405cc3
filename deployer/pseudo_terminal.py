"""Terminal abstraction around a stdin/stdout pair.

A :class:`Pty` is what actions, hosts and the console read from and write to. It
may wrap the process's own terminal, a pty created with ``openpty`` (the shell
servers), or in-memory streams (:class:`DummyPty`, for tests and for runs that
nobody watches).
"""
from __future__ import annotations

import errno
import fcntl
import io
import os
import re
import select as _select
import struct
import sys
import termios
import threading
from typing import IO, Any, Callable, Sequence

__all__ = ["Pty", "DummyPty", "select"]

# SGR sequences only: cursor movement (progress bars) stays.
_ANSI_COLOR = re.compile(r"\x1b\[[0-9;]*m")


class Pty:
    """Terminal abstraction around a stdin/stdout pair.

    :param stdin: the input stream (``sys.__stdin__`` by default).
    :param stdout: the output stream (``sys.__stdout__`` by default).
    :param interactive: when False, never ask for input; choose defaults.
    :param term_var: the ``TERM`` of the attached terminal ('' means: ours).
    :param colors: keep ANSI colours in :meth:`write`; ``None``: only when the
        output is a terminal (so ``deployer run ... | less`` gets plain text).
    """

    def __init__(self, stdin: IO | None = None, stdout: IO | None = None,
                 interactive: bool = True, term_var: str = "", colors: bool | None = None) -> None:
        self._stdin = stdin if stdin is not None else sys.__stdin__
        self._stdout = stdout if stdout is not None else sys.__stdout__
        self.interactive = interactive
        self.term_var = term_var or os.environ.get("TERM", "xterm")
        self._size: tuple[int, int] | None = None
        self.colors = colors
        # Lines written by concurrent cells must not interleave mid-line.
        self.write_lock = threading.RLock()
        # One question at a time: parallel cells share the input.
        self.input_lock = threading.RLock()

    @property
    def stdin(self) -> IO:
        """The input file object."""
        return self._stdin

    @property
    def stdout(self) -> IO:
        """The output file object."""
        return self._stdout

    def isatty(self) -> bool:
        """True when input and output are a real terminal."""
        try:
            return bool(self._stdin.isatty() and self._stdout.isatty())
        except (AttributeError, ValueError):
            return False

    def _stdout_is_terminal(self) -> bool:
        try:
            return bool(self._stdout.isatty())
        except (AttributeError, ValueError):
            return False

    def fileno(self) -> int:
        """File descriptor of stdin (for ``select``)."""
        return self._stdin.fileno()

    def get_size(self) -> tuple[int, int]:
        """Get the size of this pseudo terminal as a ``(rows, cols)`` tuple."""
        if self._size is not None:
            return self._size
        for stream in (self._stdout, self._stdin):
            try:
                packed = fcntl.ioctl(stream.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
                rows, cols = struct.unpack("hhhh", packed)[:2]
                if rows > 0 and cols > 0:
                    return rows, cols
            except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
                continue
        return 24, 80

    def get_width(self) -> int:
        """Return the width."""
        return self.get_size()[1]

    def get_height(self) -> int:
        """Return the height."""
        return self.get_size()[0]

    def set_size(self, rows: int, cols: int) -> None:
        """Set the terminal size.

        Needed where the process that owns the pty is not the one attached to
        the window (telnet, unix socket): sizes are synced by hand.
        """
        self._size = (rows, cols)
        for stream in (self._stdout, self._stdin):
            try:
                fcntl.ioctl(stream.fileno(), termios.TIOCSWINSZ, struct.pack("hhhh", rows, cols, 0, 0))
                self._size = None
                return
            except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
                continue

    def write(self, data: str) -> None:
        """Write text to stdout and flush, under the write lock.

        Colour codes are dropped when :attr:`colors` is off (auto: not a terminal).
        """
        if self.colors is None:
            self.colors = self._stdout_is_terminal()
        if not self.colors:
            data = _ANSI_COLOR.sub("", data)
        with self.write_lock:
            self._stdout.write(data)
            self._stdout.flush()

    def run_in_auxiliary_ptys(self, callbacks: Sequence[Callable[["Pty"], Any]]) -> list[Any]:
        """Call each callback with a terminal of its own; return their results.

        The default runs them one after the other on this pty; a shell server
        overrides this to open one window per callback and run them in parallel.
        """
        return [callback(self) for callback in callbacks]

    def copy(self, stdout: IO | None = None) -> "Pty":
        """A pty sharing this one's input and settings, optionally with other output."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        if stdout is not None:
            # The new output (a per-host line writer) ends up on our terminal.
            clone.colors = self.colors if self.colors is not None else self._stdout_is_terminal()
            clone._stdout = stdout
        return clone


class DummyPty(Pty):
    """A :class:`Pty` on in-memory streams, not attached to any terminal.

    >>> pty = DummyPty('yes\\n')
    >>> pty.stdin.readline()
    'yes\\n'
    >>> pty.write('hello'); pty.get_output()
    'hello'
    """

    def __init__(self, input_data: str = "", interactive: bool = True) -> None:
        # Colours are kept: tests see the text a user's terminal would get.
        super().__init__(io.StringIO(input_data), io.StringIO(), interactive=interactive, term_var="dumb",
                         colors=True)
        self._size = (40, 80)

    def get_output(self) -> str:
        """Everything written to this pty so far."""
        return self._stdout.getvalue()

    def isatty(self) -> bool:
        return False

    def set_size(self, rows: int, cols: int) -> None:
        self._size = (rows, cols)


def select(*args: Any, **kwargs: Any):
    """``select.select`` that retries when a signal (SIGWINCH) interrupts it."""
    while True:
        try:
            return _select.select(*args, **kwargs)
        except InterruptedError:
            continue
        except OSError as e:
            if e.errno != errno.EINTR:
                raise
