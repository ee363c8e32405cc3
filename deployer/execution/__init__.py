"""How actions run: a bounded worker pool for parallel cells, per-host output
prefixing, and per-host results. :class:`deployer.node.env.Env` drives it."""
from deployer.execution.output import LinePrefixWriter, prefixed_pty
from deployer.execution.pool import DEFAULT_MAX_WORKERS, Outcome, resolve_max_workers, run_tasks
from deployer.execution.results import (ActionFailed, ParallelActionFailed, ParallelActionResult,
                                        ParallelCommandFailed)

__all__ = ["run_tasks", "Outcome", "resolve_max_workers", "DEFAULT_MAX_WORKERS", "LinePrefixWriter",
           "prefixed_pty", "ParallelActionResult", "ParallelActionFailed", "ParallelCommandFailed",
           "ActionFailed"]
