"""Background runs: start an action in a detached process and return its run id at once.

    >>> run_id = start_background('deploy.py:Root', 'web', 'deploy', ['v1.2'])   # doctest: +SKIP
    >>> # later: deployer runs follow RUN_ID

The record is created (``INIT``) before the process starts, owned by this
process and then by the child; the child runs::

    python -m deployer.cli run SPEC --non-interactive [--path PATH] -- [sandbox] ACTION PARAM...

with ``DEPLOYER_RUN_ID`` (its recorder adopts the record) and ``DEPLOYER_RUNS_URL``
(the same store) in its environment, output to ``run-logs/run_<id>.log`` next
to the store. If the child dies before it finishes, the record reads as
``INTERRUPTED``; if it exits before the action even started (a bad spec, path
or action), as ``FAILED`` with the log's last lines (see ``RunStore._reconcile``).
"""
from __future__ import annotations

import getpass
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

from deployer.runs.errors import BackgroundRunError
from deployer.runs.model import (ACTIVE_STATES, FAILED, INIT, KIND_RUN, HistoryEntry, Owner, RunRecord,
                                 new_run_id)
from deployer.runs.stores import open_store, store_url_from_environment
from deployer.runs.stores.base import RunStore

__all__ = ["start_background", "spawn_background", "background_command", "log_dir_for"]

def background_command(spec: str, path: str, action: str, params: Sequence[str], sandbox: bool = False) -> list[str]:
    """The command line of a background run (the ``deployer run`` of the shell layer)."""
    cmd = [sys.executable, "-m", "deployer.cli", "run", _absolute_spec(spec), "--non-interactive"]
    if path:
        cmd += ["--path", path]
    return cmd + ["--"] + (["sandbox"] if sandbox else []) + [action, *[str(p) for p in params]]


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
                     store_url: Optional[str] = None) -> str:
    """Record a run (``INIT``), start it in a detached process, return its id.

    Raises :class:`~deployer.runs.errors.RunStoreError` when the store cannot be
    used (then nothing is started), :class:`~deployer.runs.errors.BackgroundRunError`
    when the process cannot be started (the record then ends ``FAILED``).
    """
    run_id, _proc = spawn_background(spec, path, action, params, sandbox=sandbox, store_url=store_url)
    return run_id


def spawn_background(spec: str, path: str, action: str, params: Sequence[str], sandbox: bool = False,
                     store_url: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
                     watch: bool = True) -> tuple[str, subprocess.Popen]:
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
            id=run_id, node_path=_node_path(spec, path), action=action, start=now, status=INIT, args=list(params),
            user=_user(), sandbox=sandbox, owner=Owner.of_process(), log_path=str(log_path),
            history=[HistoryEntry(time=now, status=INIT, kind=KIND_RUN, detail="background run queued")]))
        env.update(DEPLOYER_RUN_ID=run_id, DEPLOYER_RUNS_URL=url, DEPLOYER_RECORD="1")
        env.pop("DEPLOYER_SANDBOX", None)
        cmd = background_command(spec, path, action, params, sandbox)
        try:
            with open(log_path, "ab") as log:
                os.chmod(log_path, 0o600)
                log.write(("$ %s\n" % " ".join(cmd)).encode())
                log.flush()
                # A new session: the run survives the terminal (and Ctrl-C) of whoever started it.
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        env=env, start_new_session=True, close_fds=True)
        except OSError as e:
            _fail(store, run_id, "could not start the background process: %s" % e)
            raise BackgroundRunError("run %s not started: could not start %s: %s" % (run_id, cmd[0], e)) from e
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
