"""Node trees that the shell tests load in a child process (``file.py:Name``).

No tests in here. ``Root`` runs on LocalHost; ``SSHRoot`` on the loopback SSH
bed described by ``DEPLOYER_TEST_SSH`` (JSON: a list of SSHHost attribute
dicts, set by the tests from the ``ssh_bed`` fixture).
"""
from __future__ import annotations

import json
import os

from deployer.groups import production, staging
from deployer.host import LocalHost, SSHHost
from deployer.node import Node, ParallelNode, suppress_action_result
from deployer.utils import esc1


class LocalOne(LocalHost):
    slug = "local1"


class LocalTwo(LocalHost):
    slug = "local2"


class Root(Node):
    """An example-like tree on the local machine."""

    class Hosts:
        host = LocalOne

    def hello(self):
        self.hosts.run("echo hello world")

    def echo(self, text="nothing"):
        return self.hosts.run("echo '%s'" % esc1(text), interactive=False)[0].strip()

    def fail(self):
        self.hosts.run("echo about to fail; false")

    def bug(self):
        raise ValueError("broken action")

    def sleep(self, seconds="30"):
        self.hosts.run("sleep %s" % float(seconds))
        return "slept"

    def ask(self):
        name = self.console.input("Your name")
        return "Hello %s" % name

    @suppress_action_result
    def quiet(self):
        return "this result is suppressed"

    def data(self):
        return {"answer": 42}

    @production
    class Prod(Node):
        class Hosts:
            host = LocalOne

        def deploy(self, version="1"):
            return "deployed %s" % version

        class Database(Node):
            def migrate(self):
                return "migrated"

    @staging
    class Staging(Node):
        class Hosts:
            host = LocalOne

        def deploy(self):
            return "staging deployed"

    class Web(ParallelNode):
        class Hosts:
            host = [LocalOne, LocalTwo]

        def who(self):
            return self.host.slug

        def sleep(self, seconds="30"):
            self.host.run("sleep %s" % float(seconds))

    class TwoHosts(Node):
        class Hosts:
            host = [LocalOne, LocalTwo]

    class _Private(Node):
        def secret(self):
            return "private"


def _ssh_hosts() -> list[type]:
    specs = json.loads(os.environ.get("DEPLOYER_TEST_SSH", "[]"))
    return [type("Bed%dHost" % i, (SSHHost,), dict(spec)) for i, spec in enumerate(specs)]


_SSH = _ssh_hosts()


class SSHRoot(Node):
    """The same kind of tree on loopback SSH hosts."""

    class Hosts:
        host = _SSH[:1]

    def hostname(self):
        return self.hosts.run("echo ssh-$USER", interactive=False)[0].strip()

    def fail(self):
        self.hosts.run("false")

    def sleep(self, seconds="30"):
        self.hosts.run("sleep %s" % float(seconds))

    class All(ParallelNode):
        class Hosts:
            host = _SSH

        def addr(self):
            return self.host.run("echo $SSH_CONNECTION", interactive=False).split()[2]
