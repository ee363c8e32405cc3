"""Stopping running work: the cancel scope of a parallel cell.

The worker pool (:mod:`deployer.execution.pool`) runs every cell of a parallel
action inside a :class:`CancelScope`. When the thread that waits on the pool is
interrupted (Ctrl-C), it cancels the scope: cells not started yet never start,
and a host command running in a cell wakes up at once, kills its process (the
remote one included) and raises :class:`ActionCancelled`.

The host layer asks :func:`current` for the scope of the calling thread. The
scope's :meth:`~CancelScope.fileno` becomes readable when it is cancelled, so a
host waiting in ``select`` on its command's output wakes up without polling::

    scope = CancelScope()
    with scope.entered():           # in the cell's thread
        host.run('sleep 30')        # raises ActionCancelled soon after...
    scope.cancel()                  # ...this, called from another thread
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator, Optional

__all__ = ["ActionCancelled", "CancelScope", "current"]


class ActionCancelled(KeyboardInterrupt):
    """The cell's work was stopped because its parallel action was interrupted.

    A :class:`KeyboardInterrupt`: like Ctrl-C, it is not caught by
    ``except Exception`` in user actions.
    """


class CancelScope:
    """A cancellation flag that threads can wait on with ``select``.

    :param parent: cancelling the parent cancels this scope too (nested
        parallel actions).
    :param shares_input: True when the cells of this scope share one terminal's
        input: then no cell forwards keys to its command (nor takes raw mode).
    """

    def __init__(self, parent: Optional["CancelScope"] = None, shares_input: bool = True) -> None:
        self.shares_input = shares_input
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._pipe: Optional[tuple[int, int]] = None
        self._children: list[CancelScope] = []
        self._parent = parent
        if parent is not None:
            parent._adopt(self)

    def _adopt(self, child: "CancelScope") -> None:
        with self._lock:
            self._children.append(child)
            cancelled = self._event.is_set()
        if cancelled:
            child.cancel()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called (here or on a parent)."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Cancel this scope and its children; wakes every thread waiting on :meth:`fileno`."""
        with self._lock:
            self._event.set()
            children = list(self._children)
            if self._pipe is not None:
                try:
                    os.write(self._pipe[1], b"x")
                except OSError:
                    pass  # pipe full: already readable
        for child in children:
            child.cancel()

    def fileno(self) -> int:
        """A descriptor that is readable once the scope is cancelled (created on first use)."""
        with self._lock:
            if self._pipe is None:
                read_fd, write_fd = os.pipe()
                os.set_blocking(write_fd, False)
                self._pipe = (read_fd, write_fd)
                if self._event.is_set():
                    os.write(write_fd, b"x")
            return self._pipe[0]

    def check(self) -> None:
        """Raise :class:`ActionCancelled` when the scope is cancelled."""
        if self._event.is_set():
            raise ActionCancelled("the parallel action was interrupted")

    def close(self) -> None:
        """Release the pipe (after every thread stopped using the scope)."""
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is not None:
            for fd in pipe:
                try:
                    os.close(fd)
                except OSError:
                    pass
        parent = self._parent
        if parent is not None:
            with parent._lock:
                try:
                    parent._children.remove(self)
                except ValueError:
                    pass

    @contextlib.contextmanager
    def entered(self) -> Iterator["CancelScope"]:
        """Make this the calling thread's :func:`current` scope while the block runs."""
        stack = _stack()
        stack.append(self)
        try:
            yield self
        finally:
            stack.pop()


_local = threading.local()


def _stack() -> list[CancelScope]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current() -> Optional[CancelScope]:
    """The cancel scope of the cell this thread runs, or None outside parallel cells."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None
