"""Which shell servers this user runs: one small JSON file per server.

``listen`` writes ``<runtime_dir>/servers/<pid>.json`` (socket path, node, start
time) and removes it on exit; ``list-sessions`` shows the ones whose socket
still answers, and removes the files of servers that died without cleaning up.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["register", "unregister", "live_sessions", "print_sessions", "default_socket_path", "socket_is_live"]


def _registry() -> Path:
    from deployer.paths import runtime_dir

    path = runtime_dir() / "servers"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def default_socket_path() -> str:
    """``<runtime_dir>/deployer-<pid>.sock``."""
    from deployer.paths import runtime_dir

    return str(runtime_dir() / ("deployer-%d.sock" % os.getpid()))


def socket_is_live(path: str, timeout: float = 1.0) -> bool:
    """True when a server accepts connections on the unix socket ``path``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def register(socket_path: str, root: str) -> Path:
    """Record this process's server; returns the file to pass to :func:`unregister`."""
    entry = _registry() / ("%d.json" % os.getpid())
    tmp = entry.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "socket": os.path.abspath(socket_path), "root": root,
                               "started": time.time()}))
    os.replace(tmp, entry)
    return entry


def unregister(entry: Path) -> None:
    try:
        entry.unlink()
    except FileNotFoundError:
        pass


def live_sessions() -> list[dict[str, Any]]:
    """The servers of this user that answer, oldest first (stale entries are removed)."""
    found = []
    for entry in sorted(_registry().glob("*.json")):
        try:
            info = json.loads(entry.read_text())
            pid, sock = int(info["pid"]), str(info["socket"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _pid_alive(pid) and socket_is_live(sock):
            found.append(info)
        elif not _pid_alive(pid):
            unregister(entry)
    return sorted(found, key=lambda i: i.get("started", 0))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def print_sessions(out: IO[str]) -> int:
    """``list-sessions``: one line per live server."""
    sessions = live_sessions()
    if not sessions:
        out.write("No running deployer servers.\n")
        return 0
    for info in sessions:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
        out.write("%s  pid %s  started %s  %s\n" % (info["socket"], info["pid"], started, info.get("root", "")))
    return 0
