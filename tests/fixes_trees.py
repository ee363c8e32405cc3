"""Node trees for tests/test_fixes_tree.py that run in a child process (``file.py:Name``).

No tests in here. ``HostsFan`` runs one command on three LocalHost slugs through
``self.hosts.run`` (a plain Node, not a ParallelNode).
"""
from __future__ import annotations

from deployer.host import LocalHost
from deployer.node import Node


class FanA(LocalHost):
    slug = "fan-a"


class FanB(LocalHost):
    slug = "fan-b"


class FanC(LocalHost):
    slug = "fan-c"


class HostsFan(Node):
    class Hosts:
        host = [FanA, FanB, FanC]

    def hello(self):
        return "hello"

    def sleep(self, seconds="30"):
        """``sleep SECONDS`` on every host at once (with a pty)."""
        self.hosts.run("sleep %s" % float(seconds))
        return "slept"

    def piped(self, seconds="30"):
        """``sleep SECONDS`` on every host at once (no pty)."""
        self.hosts.run("sleep %s" % float(seconds), interactive=False)
        return "slept"
