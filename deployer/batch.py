"""Batches: a series of shell commands, each with the status it reaches on success.

The reference's ``Batch``/``BatchProcess``, running on any host (local or SSH)
instead of a local ``subprocess``, with a timeout per step::

    batch = Batch('/srv/app')
    batch.add('UNPACK', ['tar', 'xzf', 'app.tar.gz'])
    batch.add('REMOVED', 'rm -rf old', accept_error=True)
    batch.add('DEPLOYED', './install.sh', timeout=300)

    process = BatchProcess(batch, set_status=print, host=self.host)
    ok = process.execute()          # STARTED, UNPACK, REMOVED, DEPLOYED, SUCCESS

Every status is also emitted as a :class:`~deployer.loggers.events.StatusChanged`
event to the host's logger, so the run record shows each step, per host, with
its time (see docs/runs.md).
"""
from __future__ import annotations

import shlex
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

from deployer.exceptions import CommandTimeoutException, DeployerException, ExecCommandFailed
from deployer.loggers.events import ActionFinished, ActionStarted, StatusChanged

__all__ = ["Batch", "BatchStep", "BatchProcess", "StepResult", "BatchFailed", "SUCCESS", "FAILED", "STARTED"]

STARTED = "STARTED"
SUCCESS = "SUCCESS"
FAILED = "FAILED"

Command = Union[str, Sequence[str]]

# Step outcomes.
PENDING, OK, ACCEPTED, FAILED_EXIT, TIMED_OUT, ERROR = "pending", "ok", "accepted", "failed", "timeout", "error"


def command_text(command: Command) -> str:
    """A shell command line: strings as written, lists with each argument quoted."""
    if isinstance(command, str):
        return command
    return shlex.join([str(part) for part in command])


@dataclass(frozen=True)
class BatchStep:
    """One command of a batch and the status it reaches on success."""
    status: str
    command: str
    accept_error: bool = False
    description: str = ""
    timeout: Optional[float] = None


@dataclass
class StepResult:
    """What one step did on one host."""
    step: BatchStep
    outcome: str = PENDING         # ok | accepted | failed | timeout | error | pending (not run)
    exit_code: Optional[int] = None
    duration: Optional[float] = None
    output: str = ""
    error: Optional[str] = None

    @property
    def succeeded(self) -> bool:
        return self.outcome in (OK, ACCEPTED)


class BatchFailed(DeployerException):
    """A step of a batch failed (``BatchProcess.execute(raise_on_failure=True)``)."""

    def __init__(self, host: str, result: StepResult) -> None:
        self.host = host
        self.result = result
        step = result.step
        if result.outcome == TIMED_OUT:
            why = "did not finish within %ss" % step.timeout
        elif result.exit_code is not None:
            why = "failed with exit status %d" % result.exit_code
        else:
            why = "failed: %s" % (result.error or "no exit status")
        msg = "Batch step %s on host %r %s: %s" % (step.status, host, why, step.command)
        lines = result.output.strip().splitlines()[-5:]
        if lines:
            msg += "\n  output (last lines):\n" + "\n".join("    " + l for l in lines)
        super().__init__(msg)

    def __reduce__(self):
        return (type(self), (self.host, self.result))


class Batch:
    """A series of shell commands run in ``cwd`` (on the host: ``~`` is expanded there).

    ``timeout``: the default timeout of each step, in seconds (None: none).
    """

    def __init__(self, cwd: Optional[str] = None, timeout: Optional[float] = None) -> None:
        self.cwd = cwd
        self.timeout = timeout
        self.steps: list[BatchStep] = []

    def add(self, status: str, command: Command, accept_error: bool = False, description: str = "",
            timeout: Optional[float] = None) -> BatchStep:
        """Add a command that sets ``status`` on success.

        ``accept_error``: a non-zero exit status does not stop the batch (a timeout still does).
        ``command``: a shell string, or a list of arguments (each quoted).
        """
        if not status:
            raise ValueError("a batch step needs a status")
        step = BatchStep(status=status, command=command_text(command), accept_error=accept_error,
                         description=description, timeout=self.timeout if timeout is None else timeout)
        self.steps.append(step)
        return step

    def clear(self) -> None:
        """Remove all steps."""
        self.steps = []

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):
        return iter(list(self.steps))


class BatchProcess:
    """Runs a :class:`Batch` on one host, in order, stopping at the first failure.

    :param set_status: called with each status (``STARTED``, each step's status,
        ``SUCCESS`` or ``FAILED``); may be None. The reference's ``IStatus`` hook.
    :param host: a :class:`~deployer.host.base.Host` or a node's ``self.host``
        (default: a new ``LocalHost``).
    :param sandbox: pass ``sandbox`` to every command (a node's host container
        applies its own sandbox mode anyway).
    :param silent: keep the commands' output off the terminal.
    """

    def __init__(self, batch: Batch, set_status: Optional[Callable[[str], Any]] = None, host: Any = None,
                 sandbox: bool = False, silent: bool = True) -> None:
        if host is None:
            from deployer.host import LocalHost
            host = LocalHost()
        self.batch = batch
        self.steps = list(batch.steps)      # later changes to the batch don't affect this process
        self.set_status_func = set_status
        self.host = host
        self.sandbox = sandbox
        self.silent = silent
        self.started = False
        self.success = False
        self.results: list[StepResult] = [StepResult(step) for step in self.steps]
        self.status: Optional[str] = None

    @property
    def host_slug(self) -> str:
        return str(getattr(self.host, "slug", "") or type(self.host).__name__)

    @property
    def failed_step(self) -> Optional[StepResult]:
        """The step that stopped the batch, if any."""
        for r in self.results:
            if r.outcome in (FAILED_EXIT, TIMED_OUT, ERROR):
                return r
        return None

    def set_status(self, status: str, detail: str = "") -> None:
        """Record a status: the ``set_status`` hook, and a StatusChanged event to the host's logger."""
        self.status = status
        logger = getattr(self.host, "logger", None)
        if logger is not None:
            logger.emit(StatusChanged(status=status, host=self.host_slug, detail=detail))
        if self.set_status_func is not None:
            self.set_status_func(status)

    def execute(self, raise_on_failure: bool = False) -> bool:
        """Run the steps; True when the batch ends ``SUCCESS``.

        ``raise_on_failure``: raise :class:`BatchFailed` (after ``FAILED`` is set)
        instead of returning False, so that an action fails with the step's output.

        Inside an action the steps land in that action's run record. A batch run
        on its own (a host whose logger is not bound to an action call) is a run
        of its own: recorded as action ``batch`` (unless recording is off); a run
        store that cannot be used raises ``RunStoreError`` before any step runs.
        """
        if self.started:
            raise DeployerException("this BatchProcess was started already; create a new one")
        self.started = True
        standalone = self._open_standalone_run()
        if standalone is None:
            return self._execute(raise_on_failure)
        recorder, call_id, host = standalone
        original, self.host = self.host, host
        error: Optional[str] = None
        try:
            ok = self._execute(raise_on_failure)
            if not ok:
                failed = self.failed_step
                error = str(BatchFailed(self.host_slug, failed)) if failed is not None else "batch failed"
            return ok
        except BaseException as e:
            error = "%s: %s" % (type(e).__name__, e)
            raise
        finally:
            self.host = original
            recorder.emit(ActionFinished(call_id=call_id, status=FAILED if error else SUCCESS, error=error))
            recorder.close()

    def _open_standalone_run(self) -> Optional[tuple[Any, str, Any]]:
        """``(recorder, call_id, host copy)`` when this batch runs outside any action, else None."""
        from deployer.host.base import Host
        from deployer.loggers.base import BoundLogger, MultiLogger

        logger = getattr(self.host, "logger", None)
        if not isinstance(self.host, Host) or (isinstance(logger, BoundLogger) and logger.call_id):
            return None           # in an action (or a host container): that run records it
        from deployer.runs import recorder_from_environment

        recorder = recorder_from_environment()
        if recorder is None:
            return None
        call_id = uuid.uuid4().hex
        recorder.emit(ActionStarted(call_id=call_id, parent_id=None, node_path="", action="batch",
                                    args=(self.batch.cwd or "~",), sandbox=self.sandbox, hosts=(self.host_slug,)))
        host = self.host.copy(logger=MultiLogger([logger, recorder]).bind(call_id))
        return recorder, call_id, host

    def _execute(self, raise_on_failure: bool) -> bool:
        self.set_status(STARTED, detail="%d steps in %s" % (len(self.steps), self.batch.cwd or "~"))
        failed: Optional[StepResult] = None
        try:
            for result in self.results:
                self._run_step(result)
                if not result.succeeded:
                    failed = result
                    break
                self.set_status(result.step.status, detail=_step_detail(result))
        except BaseException as e:
            # Interrupted (Ctrl-C, a bug): the batch still ends FAILED, then the error goes on.
            self.set_status(FAILED, detail="%s: %s" % (type(e).__name__, e))
            raise
        if failed is not None:
            self.set_status(FAILED, detail=str(BatchFailed(self.host_slug, failed)))
            if raise_on_failure:
                raise BatchFailed(self.host_slug, failed)
            return False
        self.success = True
        self.set_status(SUCCESS)
        return True

    def _run_step(self, result: StepResult) -> None:
        step = result.step
        kwargs: dict[str, Any] = dict(interactive=False, silent=self.silent, ignore_exit_status=False,
                                      timeout=step.timeout)
        if self.sandbox:
            kwargs["sandbox"] = True
        started = time.monotonic()
        try:
            if self.batch.cwd:
                with self.host.cd(self.batch.cwd, expand=self.batch.cwd.startswith("~")):
                    result.output = self.host.run(step.command, **kwargs)
            else:
                result.output = self.host.run(step.command, **kwargs)
            result.exit_code = 0
            result.outcome = OK
        except ExecCommandFailed as e:
            result.exit_code = e.status_code
            result.output = e.result or ""
            result.outcome = ACCEPTED if step.accept_error and e.status_code is not None else FAILED_EXIT
        except CommandTimeoutException as e:
            result.outcome = TIMED_OUT
            result.error = str(e)
        except DeployerException as e:      # connection lost, sudo refused, ...
            result.outcome = ERROR
            result.error = "%s: %s" % (type(e).__name__, e)
        finally:
            result.duration = time.monotonic() - started


def _step_detail(result: StepResult) -> str:
    text = result.step.description or result.step.command
    if result.outcome == ACCEPTED:
        text += " (exit %s accepted)" % result.exit_code
    return text
