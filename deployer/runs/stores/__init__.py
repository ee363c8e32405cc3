"""Run stores, chosen by one URL.

=====================================  ==============================================
``sqlite:///abs/path/runs.db``         SQLite file (the default, in the state dir)
``postgresql://user:pw@host/db``       PostgreSQL (``?schema=NAME`` for own schema)
``json:///abs/path/dir``               one ``run_<id>.json`` per run
=====================================  ==============================================

``DEPLOYER_RUNS_STALE_AFTER`` (seconds, default 15: three heartbeats) is how long a
STARTED run of another machine may go without a heartbeat before it reads as
INTERRUPTED.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping, Optional

from deployer.runs.errors import RunStoreError
from deployer.runs.stores.base import RunStore, Write, mask_url

if TYPE_CHECKING:
    from deployer.runs.stores.jsondir import JSONDirStore
    from deployer.runs.stores.sql import PostgresStore, SQLiteStore

__all__ = ["RunStore", "Write", "SQLiteStore", "PostgresStore", "JSONDirStore", "open_store", "default_store_url",
           "store_url_from_environment"]

#: Backend classes, imported when first used: a process imports only its own store's
#: module (the run recorder is set up on a deployment's first action).
_BACKENDS = {"SQLiteStore": "sql", "PostgresStore": "sql", "JSONDirStore": "jsondir"}


def __getattr__(name: str) -> Any:
    if name in _BACKENDS:
        import importlib
        return getattr(importlib.import_module("deployer.runs.stores." + _BACKENDS[name]), name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def default_store_url() -> str:
    """The SQLite file in the user's state directory."""
    from deployer.paths import state_dir
    return "sqlite://" + str(state_dir() / "runs.db")


def store_url_from_environment(environ: Optional[Mapping[str, str]] = None) -> str:
    """``DEPLOYER_RUNS_URL`` or the default."""
    env = os.environ if environ is None else environ
    return env.get("DEPLOYER_RUNS_URL") or default_store_url()


def stale_after_from_environment(environ: Optional[Mapping[str, str]] = None) -> Optional[float]:
    """``DEPLOYER_RUNS_STALE_AFTER`` in seconds, or None when unset; raise ValueError when not a positive number."""
    env = os.environ if environ is None else environ
    text = env.get("DEPLOYER_RUNS_STALE_AFTER", "").strip()
    if not text:
        return None
    value = float(text)
    if not value > 0:
        raise ValueError("DEPLOYER_RUNS_STALE_AFTER must be a positive number of seconds, got %r" % text)
    return value


def open_store(url: Optional[str] = None, stale_after: Optional[float] = None) -> RunStore:
    """Open (and create if needed) the store at ``url``; raise :class:`RunStoreError` saying why not.

    ``stale_after``: see :attr:`RunStore.stale_after` (default: ``DEPLOYER_RUNS_STALE_AFTER`` or 15 s).
    """
    url = url or store_url_from_environment()
    try:
        stale_after = stale_after if stale_after is not None else stale_after_from_environment()
    except ValueError as e:
        raise RunStoreError(mask_url(url), str(e)) from None
    store = _open(url)
    if stale_after is not None:
        store.stale_after = float(stale_after)
    return store


def _open(url: str) -> RunStore:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise RunStoreError(mask_url(url), "expected sqlite:///PATH, postgresql://... or json:///DIR")
    scheme = scheme.lower()
    if scheme in ("sqlite", "json"):
        path = "/" + rest.lstrip("/") if rest.startswith("/") else rest
        if not path or not path.startswith("/"):
            raise RunStoreError(url, "the path must be absolute: %s:///abs/path" % scheme)
        if scheme == "sqlite":
            from deployer.runs.stores.sql import SQLiteStore
            return SQLiteStore(path)
        from deployer.runs.stores.jsondir import JSONDirStore
        return JSONDirStore(path)
    if scheme in ("postgresql", "postgres"):
        from deployer.runs.stores.sql import PostgresStore
        return PostgresStore(url)
    raise RunStoreError(mask_url(url), "unknown store scheme %r (sqlite, postgresql or json)" % scheme)
