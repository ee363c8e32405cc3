"""A bounded worker pool for running one task per host.

500 hosts must not mean 500 threads: at most ``max_workers`` tasks run at once
(``Env(max_workers=...)``, else ``$DEPLOYER_MAX_WORKERS``, else
:data:`DEFAULT_MAX_WORKERS`). One failing task never stops the others.
"""
from __future__ import annotations

import os
import threading
import time
import traceback as _traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from deployer.execution import cancel as cancel_module
from deployer.execution.cancel import ActionCancelled, CancelScope
from deployer.execution.output import COLORS, prefixed_pty
from deployer.pseudo_terminal import Pty

__all__ = ["Outcome", "run_tasks", "resolve_max_workers", "DEFAULT_MAX_WORKERS"]

DEFAULT_MAX_WORKERS = 32
#: Seconds the pool waits for interrupted cells to stop before passing the interrupt on.
CANCEL_GRACE = 10.0
#: How often a waiting thread other than the main one wakes up so that an
#: asynchronous interrupt (a shell server's Ctrl-C) can land.
WAKE_INTERVAL = 0.25


@dataclass
class Outcome:
    """What one task did: its value, or the exception it raised (with traceback text)."""
    value: Any = None
    error: Optional[BaseException] = None
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def resolve_max_workers(explicit: Optional[int] = None) -> int:
    """The worker limit: ``explicit``, else ``$DEPLOYER_MAX_WORKERS``, else the default."""
    value: Any = explicit
    source = "max_workers"
    if value is None:
        value = os.environ.get("DEPLOYER_MAX_WORKERS") or DEFAULT_MAX_WORKERS
        source = "DEPLOYER_MAX_WORKERS"
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a positive integer, got %r" % (source, value)) from None
    if limit < 1:
        raise ValueError("%s must be a positive integer, got %r" % (source, value))
    return limit


def _capture(task: Callable[[Pty], Any], pty: Pty, everything: bool = False) -> Outcome:
    """Run the task; its exception becomes the outcome. ``everything``: also
    KeyboardInterrupt/SystemExit (in a worker thread, where nobody else would see them)."""
    try:
        return Outcome(value=task(pty))
    except Exception as e:  # noqa: BLE001 -- a cell's failure is data, reported after all cells end
        return Outcome(error=e, traceback=_traceback.format_exc())
    except BaseException as e:
        if not everything:
            raise
        return Outcome(error=e, traceback=_traceback.format_exc())


def _uses_auxiliary_ptys(pty: Pty) -> bool:
    # The base Pty runs "auxiliary" callbacks one after the other on itself;
    # only a terminal that overrides it (the shell servers) gives real windows.
    return type(pty).run_in_auxiliary_ptys is not Pty.run_in_auxiliary_ptys


def _wait_interruptibly(done: threading.Event, timeout: Optional[float] = None) -> bool:
    """Wait for ``done``; an interrupt of the waiting thread (Ctrl-C) lands promptly.

    The main thread gets SIGINT inside the wait. Another thread (a shell server's
    session) is interrupted by an asynchronous exception, which only lands when
    Python code runs: there the wait wakes up every :data:`WAKE_INTERVAL`.
    """
    in_main = threading.current_thread() is threading.main_thread()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = None if in_main else WAKE_INTERVAL
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return done.is_set()
            step = left if step is None else min(step, left)
        if done.wait(step):
            return True


def _finish(outcomes: list[Optional[Outcome]], scope: CancelScope) -> list[Outcome]:
    if scope.cancelled:
        # A parent scope was cancelled (nested parallel actions): stop here too.
        raise ActionCancelled("the parallel action was interrupted")
    result = [o if o is not None else Outcome(error=ActionCancelled("not started")) for o in outcomes]
    for outcome in result:
        # Exit requests (SystemExit, KeyboardInterrupt) are not a cell's failure: pass them on.
        if outcome.error is not None and not isinstance(outcome.error, Exception):
            raise outcome.error
    return result


def run_tasks(tasks: Sequence[Callable[[Pty], Any]], labels: Sequence[str], pty: Pty,
              max_workers: Optional[int] = None, color: Optional[bool] = None) -> list[Outcome]:
    """Run every ``task(pty)`` and return their outcomes in order.

    - one task: runs in this thread on ``pty`` itself (nothing to interleave);
    - a terminal that opens auxiliary windows: each task gets its own window;
    - otherwise: at most ``max_workers`` threads; each task writes to ``pty``
      through a line writer prefixed with its label (coloured when ``color`` is
      True, or when None and the terminal is a tty). These cells share the
      terminal's input, so their commands get none of it.

    When the calling thread is interrupted (KeyboardInterrupt) while it waits,
    the cells are cancelled (:mod:`deployer.execution.cancel`): queued ones never
    start, running commands are killed (remote processes included), and the
    interrupt is re-raised once every cell stopped (or after
    :data:`CANCEL_GRACE` seconds).
    """
    if len(tasks) != len(labels):
        raise ValueError("run_tasks: %d tasks but %d labels" % (len(tasks), len(labels)))
    if not tasks:
        return []
    if len(tasks) == 1:
        return [_capture(tasks[0], pty)]
    parent = cancel_module.current()
    if _uses_auxiliary_ptys(pty):
        return _run_in_windows(tasks, pty, parent)

    limit = min(resolve_max_workers(max_workers), len(tasks))
    use_color = pty.isatty() if color is None else color
    width = max(len(label) for label in labels)
    scope = CancelScope(parent, shares_input=True)
    outcomes: list[Optional[Outcome]] = [None] * len(tasks)
    lock = threading.Lock()
    all_done = threading.Event()
    state = {"next": 0, "live": limit}

    def run_one(index: int) -> Outcome:
        cell_pty, writer = prefixed_pty(pty, labels[index], COLORS[index % len(COLORS)] if use_color else None,
                                        width)
        try:
            with scope.entered():
                return _capture(tasks[index], cell_pty, everything=True)
        finally:
            writer.close()

    def worker() -> None:
        try:
            while True:
                with lock:
                    index = state["next"]
                    if scope.cancelled or index >= len(tasks):
                        return
                    state["next"] = index + 1
                outcomes[index] = run_one(index)
        finally:
            with lock:
                state["live"] -= 1
                if not state["live"]:
                    all_done.set()

    # Daemon threads: a cell stuck in user code past the grace period must not
    # keep the process from exiting after Ctrl-C.
    for n in range(limit):
        threading.Thread(target=worker, name="deployer-cell-%d" % n, daemon=True).start()
    try:
        _wait_interruptibly(all_done)
    except BaseException:
        scope.cancel()
        if _wait_interruptibly(all_done, CANCEL_GRACE):
            scope.close()
        raise
    scope.close()
    return _finish(outcomes, scope)


def _run_in_windows(tasks: Sequence[Callable[[Pty], Any]], pty: Pty, parent: Optional[CancelScope]) -> list[Outcome]:
    # Each cell has a terminal of its own: its commands may take their input from it.
    scope = CancelScope(parent, shares_input=False)

    def in_scope(task: Callable[[Pty], Any]) -> Callable[[Pty], Outcome]:
        def run(aux: Pty) -> Outcome:
            with scope.entered():
                return _capture(task, aux, everything=True)
        return run

    try:
        outcomes = list(pty.run_in_auxiliary_ptys([in_scope(t) for t in tasks]))
    except BaseException:
        scope.cancel()
        raise
    scope.close()
    return _finish(outcomes, scope)
