"""Node trees for the Ctrl-C tests (loaded in a child process as ``file.py:Name``).

No tests in here. ``LocalFan`` runs a ParallelNode on three LocalHost slugs;
``SSHFan`` on the loopback SSH hosts described by ``DEPLOYER_TEST_SSH`` (JSON
list of SSHHost attribute dicts, as in ``shell_trees.py``).
"""
from __future__ import annotations

import json
import os

from deployer.host import LocalHost, SSHHost
from deployer.node import Node, ParallelNode


class LocalA(LocalHost):
    slug = "loc-a"


class LocalB(LocalHost):
    slug = "loc-b"


class LocalC(LocalHost):
    slug = "loc-c"


def _ssh_hosts() -> list[type]:
    specs = json.loads(os.environ.get("DEPLOYER_TEST_SSH", "[]"))
    return [type("FanHost%d" % i, (SSHHost,), dict(spec)) for i, spec in enumerate(specs)]


class _Sleeper(ParallelNode):
    """``sleep SECONDS`` in every cell; ``piped`` without a pty; ``twice`` sleeps, then sleeps again."""

    def sleep(self, seconds="30"):
        self.host.run("sleep %s" % float(seconds))
        return "slept"

    def piped(self, seconds="30"):
        self.host.run("sleep %s" % float(seconds), interactive=False)
        return "slept"

    def mark_and_sleep(self, directory, seconds="30"):
        """Leave a file named after the cell's host in ``directory``, then sleep."""
        self.host.run("touch %s/started-%s" % (directory, self.host.slug), interactive=False)
        self.host.run("sleep %s" % float(seconds))
        return "slept"

    def twice(self, seconds="30"):
        self.host.run("sleep %s" % float(seconds))
        self.host.run("sleep %s" % (float(seconds) + 1))
        return "slept twice"


class LocalFan(Node):
    def hello(self):
        return "hello"

    class Cells(_Sleeper):
        class Hosts:
            host = [LocalA, LocalB, LocalC]


class SSHFan(Node):
    def hello(self):
        return "hello"

    class Cells(_Sleeper):
        class Hosts:
            host = _ssh_hosts()
