"""Run history: every action run is recorded (see docs/runs.md and docs/architecture.md).

``recorder_from_environment()`` is the entry point the tree (``Env``) uses:

=====================  =============================================================
``DEPLOYER_RUNS_URL``  where runs are stored (``sqlite:///…``, ``postgresql://…``,
                       ``json:///…``); default: ``runs.db`` in the state directory
``DEPLOYER_RECORD=0``  record nothing
``DEPLOYER_RUN_ID``    the id the next outermost action takes (set for background runs):
                       it adopts that record only while it is ``INIT``, so the id
                       is used once, however many Envs the process creates
``DEPLOYER_RUNS_HEARTBEAT``  seconds between two heartbeats of a running run (default 5)
``DEPLOYER_RUNS_STALE_AFTER``  seconds without a heartbeat after which another machine's
                       run reads as INTERRUPTED (default 15)
=====================  =============================================================
"""
from __future__ import annotations

import os
from typing import MutableMapping, Optional

from deployer.runs.errors import NotFoundError, RunNotFound, RunRequestError, RunStoreError
from deployer.runs.model import (FAILED, INIT, INTERRUPTED, STARTED, SUCCESS, CommandRecord, HistoryEntry,
                                 RunRecord)

__all__ = ["recorder_from_environment", "recording_enabled", "RunStoreError", "RunNotFound", "NotFoundError",
           "RunRequestError", "RunRecord", "HistoryEntry", "CommandRecord",
           "INIT", "STARTED", "SUCCESS", "FAILED", "INTERRUPTED"]


def recording_enabled(environ: Optional[MutableMapping[str, str]] = None) -> bool:
    """False when ``DEPLOYER_RECORD`` is ``0``/``no``/``false``/``off``."""
    env = os.environ if environ is None else environ
    return env.get("DEPLOYER_RECORD", "1").strip().lower() not in ("0", "no", "false", "off")


def recorder_from_environment(environ: Optional[MutableMapping[str, str]] = None):
    """The run recorder configured by the environment, or None when recording is off.

    Opens the store now, so that a store that cannot be used stops the run before
    anything runs: raises :class:`RunStoreError` saying which store and why.
    """
    env = os.environ if environ is None else environ
    if not recording_enabled(env):
        return None
    from deployer.runs.recorder import RunRecorder
    from deployer.runs.stores import open_store, store_url_from_environment

    interval = _heartbeat_interval(env)
    store = open_store(store_url_from_environment(env))
    # Not removed from the environment: a process may create several Envs (the shell
    # does) before one runs an action. Only a record still INIT is adopted (atomically),
    # so the first outermost action takes the id and later ones get new ids.
    run_id = env.get("DEPLOYER_RUN_ID") or None
    return RunRecorder(store, run_id=run_id, heartbeat_interval=interval)


def _heartbeat_interval(env: MutableMapping[str, str]) -> float:
    from deployer.runs.model import HEARTBEAT_INTERVAL
    from deployer.runs.stores.base import mask_url
    from deployer.runs.stores import store_url_from_environment

    text = env.get("DEPLOYER_RUNS_HEARTBEAT", "").strip()
    if not text:
        return HEARTBEAT_INTERVAL
    try:
        value = float(text)
        if not value > 0:
            raise ValueError
    except ValueError:
        raise RunStoreError(mask_url(store_url_from_environment(env)),
                            "DEPLOYER_RUNS_HEARTBEAT must be a positive number of seconds, got %r" % text) from None
    return value
