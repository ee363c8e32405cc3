"""Background runs: start an action in a detached process and return its run id at once.

    >>> run_id = start_background('deploy.py:Root', 'web', 'deploy', ['v1.2'])   # doctest: +SKIP
    >>> # later: deployer runs follow RUN_ID

The record is created (``INIT``, parameters masked) before the process starts,
owned by this process and then by the child. The child is
``python -m deployer.runs.child RUN_ID``: it reads the spec, node path, action
and parameters as JSON on its stdin (a pipe only this user can read; never on
its command line, which ``ps`` shows to everyone) and runs
``deployer run SPEC --non-interactive [--path PATH] -- [sandbox] ACTION PARAM...``
in-process, with ``DEPLOYER_RUN_ID`` (its recorder adopts the record) and
``DEPLOYER_RUNS_URL`` (the same store) in its environment, output to
``run-logs/run_<id>.log`` next to the store. If the child dies before it finishes, the record reads as
``INTERRUPTED``; if it exits before the action even started (a bad spec, path
or action), as ``FAILED`` with the log's last lines (see ``RunStore._reconcile``).
"""
from __future__ import annotations

import getpass
import inspect
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from deployer.loggers.masking import MASK, is_secret_name

from deployer.runs.child import encode_request
from deployer.runs.errors import BackgroundRunError
from deployer.runs.model import (ACTIVE_STATES, FAILED, INIT, KIND_RUN, HistoryEntry, Owner, RunRecord,
                                 new_run_id)
from deployer.runs.stores import open_store, store_url_from_environment
from deployer.runs.stores.base import RunStore

__all__ = ["start_background", "spawn_background", "background_command", "background_request", "log_dir_for",
           "parameter_names", "masked_parameters"]


def background_command(run_id: str) -> list[str]:
    """The command line of a background run's process: no spec, action or parameter in it."""
    return [sys.executable, "-m", "deployer.runs.child", run_id]


def background_request(spec: str, path: str, action: str, params: Sequence[str], sandbox: bool = False) -> bytes:
    """What the process reads on its stdin: the ``deployer run`` it is to do."""
    return encode_request(_absolute_spec(spec), path, action, params, sandbox)


def parameter_names(func: Callable[..., Any]) -> list[str]:
    """The positional parameter names of an action (``self`` left out; ``*rest`` as ``*rest``)."""
    try:
        params = list(inspect.signature(func).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names += ["*" + p.name for p in params if p.kind == p.VAR_POSITIONAL]
    return names


def masked_parameters(params: Sequence[str], names: Optional[Sequence[str]]) -> list[str]:
    """``params`` as a record may hold them: secret-looking names masked.

    Without ``names`` every value is masked (the child's recorder writes the
    real masking when the action starts, knowing the signature).
    """
    if names is None:
        return [MASK for _ in params]
    positional = [n for n in names if not n.startswith("*")]
    rest = next((n[1:] for n in names if n.startswith("*")), "")
    out = []
    for i, value in enumerate(params):
        name = positional[i] if i < len(positional) else rest
        out.append(MASK if not name or is_secret_name(name) else str(value))
    return out


def log_dir_for(store_url: str) -> Path:
    """Where background run logs go: next to a file store, else in the state directory."""
    scheme, _, rest = store_url.partition("://")
    if scheme == "sqlite":
        base = Path("/" + rest.lstrip("/")).parent
    elif scheme == "json":
        base = Path("/" + rest.lstrip("/"))
    else:
        from deployer.paths import state_dir
        base = state_dir()
    d = base / "run-logs"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def start_background(spec: str, path: str, action: str, params: Sequence[str], sandbox: bool = False,
                     store_url: Optional[str] = None, param_names: Optional[Sequence[str]] = None) -> str:
    """Record a run (``INIT``), start it in a detached process, return its id.

    Raises :class:`~deployer.runs.errors.RunStoreError` when the store cannot be
    used (then nothing is started), :class:`~deployer.runs.errors.BackgroundRunError`
    when the process cannot be started (the record then ends ``FAILED``).
    ``param_names``: the action's :func:`parameter_names`, so that the ``INIT``
    record shows the parameters that are not secrets (without: all masked).
    """
    run_id, _proc = spawn_background(spec, path, action, params, sandbox=sandbox, store_url=store_url,
                                     param_names=param_names)
    return run_id


def spawn_background(spec: str, path: str, action: str, params: Sequence[str], sandbox: bool = False,
                     store_url: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
                     watch: bool = True, param_names: Optional[Sequence[str]] = None
                     ) -> tuple[str, subprocess.Popen]:
    """Like :func:`start_background`, also returning the process.

    ``watch``: a daemon thread reaps the process (a long-lived caller, like the
    REST service, wants this; a short-lived one exits and leaves it to init).
    """
    env = dict(os.environ if environ is None else environ)
    url = store_url or store_url_from_environment(env)
    store = open_store(url)
    try:
        run_id = new_run_id()
        log_path = log_dir_for(url) / ("run_%s.log" % run_id)
        now = time.time()
        store.create_run(RunRecord(
            id=run_id, node_path=_node_path(spec, path), action=action, start=now, status=INIT,
            args=masked_parameters(params, param_names),
            user=_user(), sandbox=sandbox, owner=Owner.of_process(), log_path=str(log_path),
            history=[HistoryEntry(time=now, status=INIT, kind=KIND_RUN, detail="background run queued")]))
        env.update(DEPLOYER_RUN_ID=run_id, DEPLOYER_RUNS_URL=url, DEPLOYER_RECORD="1")
        env.pop("DEPLOYER_SANDBOX", None)
        cmd = background_command(run_id)
        request = background_request(spec, path, action, params, sandbox)
        try:
            with open(log_path, "ab") as log:
                os.chmod(log_path, 0o600)
                log.write(("$ %s  (%s.%s, parameters on stdin)\n"
                           % (" ".join(cmd), _node_path(spec, path), action)).encode())
                log.flush()
                # A new session: the run survives the terminal (and Ctrl-C) of whoever started it.
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                        env=env, start_new_session=True, close_fds=True)
        except OSError as e:
            _fail(store, run_id, "could not start the background process: %s" % e)
            raise BackgroundRunError("run %s not started: could not start %s: %s" % (run_id, cmd[0], e)) from e
        try:
            # The request goes through a pipe: only this user can read it (/proc/PID/fd is
            # private), and it is gone once read, whereas argv is public and a file lingers.
            proc.stdin.write(request)
            proc.stdin.close()
        except OSError as e:
            proc.kill()
            proc.wait()
            _fail(store, run_id, "could not pass the run request to the background process: %s" % e)
            raise BackgroundRunError("run %s not started: could not pass its request to process %d: %s"
                                     % (run_id, proc.pid, e)) from e
        store.update_run(run_id, owner=Owner.of_process(proc.pid))
    finally:
        store.close()
    if watch:
        threading.Thread(target=_watch, args=(proc,), daemon=True,
                         name="deployer-run-%s" % run_id).start()
    return run_id, proc


def _watch(proc: subprocess.Popen) -> None:
    # Reap the child (a long-lived caller would collect zombies otherwise). The record
    # needs nothing from us: a run whose process is gone is ended when next read.
    proc.wait()


def _fail(store: RunStore, run_id: str, message: str) -> None:
    now = time.time()
    store.transition(run_id, HistoryEntry(time=now, status=FAILED, kind=KIND_RUN, detail=message),
                     end=now, error=message, expect_status=ACTIVE_STATES)


def _node_path(spec: str, path: str) -> str:
    # As the tree names it (deployer.node.base.node_path): the root's class name first.
    root = spec.rpartition(":")[2].rpartition(".")[2]
    return ".".join(p for p in [root, *path.split(".")] if p)


def _absolute_spec(spec: str) -> str:
    # The child may run in another directory: a relative FILE.py must not depend on ours.
    target, sep, name = spec.rpartition(":")
    if sep and (target.endswith(".py") or os.sep in target) and not os.path.isabs(target):
        return "%s:%s" % (os.path.abspath(target), name)
    return spec


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())
