"""Keeping the output of concurrent cells readable.

Each cell writes to a :class:`LinePrefixWriter`; it buffers partial lines and
writes whole lines, prefixed with the host's slug, to the shared terminal under
the terminal's ``write_lock``. Lines of two hosts never mix within a line.
"""
from __future__ import annotations

import threading
from typing import IO, Optional

import termcolor

from deployer.pseudo_terminal import Pty

__all__ = ["LinePrefixWriter", "prefixed_pty", "COLORS"]

#: Colours for host prefixes, picked by position so neighbours differ.
COLORS = ("cyan", "green", "yellow", "magenta", "blue", "red", "light_cyan", "light_green",
          "light_yellow", "light_magenta", "light_blue", "light_red")


class LinePrefixWriter:
    """A write-only text stream that forwards whole lines with a prefix.

    >>> from deployer.pseudo_terminal import DummyPty
    >>> pty = DummyPty()
    >>> w = LinePrefixWriter(pty, 'web1', color=None)
    >>> w.write('hel'); w.write('lo\\nwor'); w.close()
    >>> pty.get_output()
    'web1 | hello\\nweb1 | wor\\n'
    """

    def __init__(self, target: Pty, label: str, color: Optional[str] = None, width: int = 0) -> None:
        self._target = target
        text = label.ljust(width) + " | "
        self._prefix = termcolor.colored(text, color, force_color=True) if color else text
        self._buffer = ""
        self._lock = threading.Lock()
        self.closed = False

    def write(self, data: str) -> int:
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        with self._lock:
            self._buffer += data
            if "\n" not in self._buffer:
                return len(data)
            complete, _, self._buffer = self._buffer.rpartition("\n")
        self._emit(complete.split("\n"))
        return len(data)

    def _emit(self, lines: list[str]) -> None:
        # Carriage returns (progress bars, CRLF from remote ptys) would move the
        # cursor over the prefix: keep only what the line finally shows.
        text = "".join(self._prefix + line.rstrip("\r").rpartition("\r")[2] + "\n" for line in lines)
        out: IO = self._target.stdout
        with self._target.write_lock:
            out.write(text)
            out.flush()

    def flush(self) -> None:
        """Whole lines are written as they complete; a partial line waits for its end."""

    def close(self) -> None:
        """Write what is left of a last, unterminated line."""
        with self._lock:
            rest, self._buffer = self._buffer, ""
            self.closed = True
        if rest:
            self._emit([rest])

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        # Hosts may select() on output; the target terminal's descriptor is the honest answer.
        return self._target.stdout.fileno()


def prefixed_pty(target: Pty, label: str, color: Optional[str], width: int = 0) -> tuple[Pty, LinePrefixWriter]:
    """A copy of ``target`` whose output goes through a :class:`LinePrefixWriter`.

    The copy does not ask questions (``interactive`` is False): several cells
    reading one keyboard at once would each get random keystrokes.
    """
    writer = LinePrefixWriter(target, label, color, width)
    pty = target.copy(stdout=writer)
    pty.interactive = False
    return pty, writer
