"""Small node trees run by the run-history tests (in background processes and over HTTP)."""
import os
import signal
import time

from deployer.host import LocalHost
from deployer.node import Node


class Web(Node):
    def deploy(self, version="1.0"):
        """Deploy a version."""
        self.host.run("echo deploying %s" % version, interactive=False)


class Root(Node):
    class Hosts:
        host = LocalHost

    web = Web

    def ok(self, text="hi"):
        self.host.run("echo %s" % text, interactive=False)

    def fail(self):
        self.host.run("echo going wrong; exit 7", interactive=False)

    def slow(self, seconds="1"):
        for i in range(int(float(seconds) * 10)):
            self.host.run("echo tick %d" % i, interactive=False)
            time.sleep(0.1)

    def wait_for(self, path):
        """Say so, then wait until ``path`` exists (tests release it)."""
        self.host.run("echo waiting", interactive=False)
        self.host.run("while [ ! -e '%s' ]; do sleep 0.05; done" % path.replace("'", "'\\''"), interactive=False)

    def crash(self):
        self.host.run("echo about to die", interactive=False)
        # A hard crash loses what the recorder's writer thread has not written yet (at most
        # one batch interval): die once the command is in the store.
        from deployer.runs.stores import open_store
        store = open_store(os.environ["DEPLOYER_RUNS_URL"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            commands = store.get_run(os.environ["DEPLOYER_RUN_ID"]).commands
            if commands and not commands[0].running:
                break
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGKILL)
