"""Where deployer keeps its files for this user.

Everything is overridable by environment, so tests and libraries never touch the
real home directory: ``DEPLOYER_STATE_DIR`` and ``DEPLOYER_RUNTIME_DIR``.
"""
from __future__ import annotations

import os
from pathlib import Path


def _private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed and refuse one that others can enter."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if st.st_uid != os.getuid():
        raise PermissionError("%s is not owned by this user (uid %s)" % (path, os.getuid()))
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def state_dir() -> Path:
    """Persistent per-user state: run history, shell history (XDG_STATE_HOME)."""
    env = os.environ.get("DEPLOYER_STATE_DIR")
    if env:
        return _private_dir(Path(env).expanduser())
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return _private_dir(Path(base) / "deployer")


def runtime_dir() -> Path:
    """Per-user runtime files: unix sockets of shell servers (XDG_RUNTIME_DIR)."""
    env = os.environ.get("DEPLOYER_RUNTIME_DIR")
    if env:
        return _private_dir(Path(env).expanduser())
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return _private_dir(Path(base) / "deployer")
    return _private_dir(Path("/tmp") / ("deployer-%d" % os.getuid()))
