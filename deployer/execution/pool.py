"""A bounded worker pool for running one task per host.

500 hosts must not mean 500 threads: at most ``max_workers`` tasks run at once
(``Env(max_workers=...)``, else ``$DEPLOYER_MAX_WORKERS``, else
:data:`DEFAULT_MAX_WORKERS`). One failing task never stops the others.
"""
from __future__ import annotations

import os
import traceback as _traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from deployer.execution.output import COLORS, prefixed_pty
from deployer.pseudo_terminal import Pty

__all__ = ["Outcome", "run_tasks", "resolve_max_workers", "DEFAULT_MAX_WORKERS"]

DEFAULT_MAX_WORKERS = 32


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


def _capture(task: Callable[[Pty], Any], pty: Pty) -> Outcome:
    try:
        return Outcome(value=task(pty))
    except Exception as e:  # noqa: BLE001 -- a cell's failure is data, reported after all cells end
        return Outcome(error=e, traceback=_traceback.format_exc())


def _uses_auxiliary_ptys(pty: Pty) -> bool:
    # The base Pty runs "auxiliary" callbacks one after the other on itself;
    # only a terminal that overrides it (the shell servers) gives real windows.
    return type(pty).run_in_auxiliary_ptys is not Pty.run_in_auxiliary_ptys


def run_tasks(tasks: Sequence[Callable[[Pty], Any]], labels: Sequence[str], pty: Pty,
              max_workers: Optional[int] = None, color: Optional[bool] = None) -> list[Outcome]:
    """Run every ``task(pty)`` and return their outcomes in order.

    - one task: runs in this thread on ``pty`` itself (nothing to interleave);
    - a terminal that opens auxiliary windows: each task gets its own window;
    - otherwise: a pool of at most ``max_workers`` threads; each task writes to
      ``pty`` through a line writer prefixed with its label (coloured when
      ``color`` is True, or when None and the terminal is a tty).
    """
    if len(tasks) != len(labels):
        raise ValueError("run_tasks: %d tasks but %d labels" % (len(tasks), len(labels)))
    if not tasks:
        return []
    if len(tasks) == 1:
        return [_capture(tasks[0], pty)]
    if _uses_auxiliary_ptys(pty):
        return list(pty.run_in_auxiliary_ptys([
            (lambda task: (lambda aux: _capture(task, aux)))(t) for t in tasks]))

    limit = min(resolve_max_workers(max_workers), len(tasks))
    use_color = pty.isatty() if color is None else color
    width = max(len(label) for label in labels)

    def run_one(index: int) -> Outcome:
        cell_pty, writer = prefixed_pty(pty, labels[index], COLORS[index % len(COLORS)] if use_color else None,
                                        width)
        try:
            return _capture(tasks[index], cell_pty)
        finally:
            writer.close()

    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix="deployer-cell") as pool:
        return list(pool.map(run_one, range(len(tasks))))
