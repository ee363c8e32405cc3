"""Helpers shared by the run-history tests (store URLs for every backend, event sequences)."""
from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path

from deployer.loggers.events import (ActionFinished, ActionStarted, CommandFinished, CommandOutput,
                                     CommandStarted, StatusChanged)

BACKENDS = ["sqlite", "postgresql", "json"]


def make_store_url(backend: str, tmp_path: Path, request) -> str:
    """A fresh, empty store of ``backend`` (PostgreSQL: a new schema in the session's server)."""
    if backend == "sqlite":
        return "sqlite://%s" % (tmp_path / "runs.db")
    if backend == "json":
        return "json://%s" % (tmp_path / "runs")
    pg_url = request.getfixturevalue("pg_url")
    return "%s?schema=t_%s" % (pg_url, uuid.uuid4().hex[:12])


def run_events(call_id: str = "c1", node_path: str = "Root.web", action: str = "deploy",
               host: str = "web1", fail: bool = False, t0: float = 1000.0):
    """A realistic event sequence of one run: a nested action, a command with output, statuses."""
    yield ActionStarted(call_id=call_id, parent_id=None, node_path=node_path, action=action,
                        args=("v1",), kwargs={"password": "********"}, hosts=(host,), user="alice", time=t0)
    yield ActionStarted(call_id=call_id + ".n", parent_id=call_id, node_path=node_path + ".git",
                        action="checkout", time=t0 + 1)
    yield CommandStarted(command_id=call_id + ".cmd1", host=host, command="git pull", call_id=call_id + ".n",
                         time=t0 + 1.5)
    yield CommandOutput(command_id=call_id + ".cmd1", host=host, data="Already up to date.\n",
                        call_id=call_id + ".n", time=t0 + 1.6)
    yield CommandFinished(command_id=call_id + ".cmd1", host=host, command="git pull",
                          exit_code=1 if fail else 0, duration=0.5, call_id=call_id + ".n", time=t0 + 2)
    yield ActionFinished(call_id=call_id + ".n", status="FAILED" if fail else "SUCCESS",
                         error="boom" if fail else None, time=t0 + 2.1)
    yield StatusChanged(status="UNPACK", host=host, detail="tar xzf", call_id=call_id, time=t0 + 3)
    yield ActionFinished(call_id=call_id, status="FAILED" if fail else "SUCCESS",
                         error="boom" if fail else None, time=t0 + 4)


SECRET_TREE = """
import hashlib, os, time
from deployer.host import LocalHost
from deployer.node import Node

DIR = %r


class Root(Node):
    class Hosts:
        host = LocalHost

    def login(self, user, password):
        \"\"\"Writes a hash of the password, then waits for the test's release file.\"\"\"
        with open(os.path.join(DIR, "hash.tmp"), "w") as f:
            f.write(hashlib.sha256(password.encode()).hexdigest())
        os.rename(os.path.join(DIR, "hash.tmp"), os.path.join(DIR, "hash"))
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(DIR, "release")) and time.monotonic() < deadline:
            self.host.run("sleep 0.1", interactive=False)
"""


def write_secret_tree(directory: Path) -> str:
    """A tree whose action ``login(user, password)`` records sha256(password) in ``directory/hash``
    and keeps running (so its process can be inspected) until ``directory/release`` exists.
    Returns its spec."""
    directory.mkdir(parents=True, exist_ok=True)
    f = directory / "secret_tree.py"
    f.write_text(SECRET_TREE % str(directory))
    return "%s:Root" % f


def wait_for_file(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "%s did not appear" % path
        time.sleep(0.05)


def all_command_lines() -> dict[int, bytes]:
    """Every process's /proc/PID/cmdline that can be read (what ``ps`` shows any user)."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    out[int(name)] = f.read()
            except OSError:
                continue        # gone meanwhile
    return out


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
