"""ParallelNode: isolation per host, arrays, results per host, failures, the bounded
worker pool and output that does not interleave; on LocalHost and on loopback SSH."""
from __future__ import annotations

import re
import threading
import time

import pytest

from deployer.exceptions import ActionException, ConnectionFailedException, ExecCommandFailed
from deployer.execution import LinePrefixWriter, ParallelActionFailed, ParallelActionResult, run_tasks
from deployer.host import LocalHost
from deployer.loggers import Logger
from deployer.node import (Env, IsolationIdentifierType, Node, NodeError, ParallelNode, dont_isolate_yet,
                           isolate_one_only, iter_isolations, map_roles)
from deployer.pseudo_terminal import DummyPty

pytestmark = pytest.mark.timeout(120)


def make_hosts(n, prefix="host", start=0):
    return [type("%s%d" % (prefix.capitalize(), i), (LocalHost,), {"slug": "%s%d" % (prefix, i)})
            for i in range(start, start + n)]


Host1, Host2, Host3, Host4 = make_hosts(4, start=1)
DB = make_hosts(1, "db", start=1)[0]


class WebSystem(ParallelNode):
    class Hosts:
        host = {Host1, Host2, Host3, Host4}
        database = DB

    def checkout_git(self, commit):
        return "checkout %s on %s" % (commit, self.host.slug)

    def restart(self):
        return self.host.run("echo restarted", interactive=False).strip()

    def deploy(self, commit):
        # Inside a cell, calling another action is a plain call (no new fan-out).
        return [self.checkout_git(commit), self.restart()]

    def same_host(self):
        return self.host == self.hosts.filter("host"), self.hosts.filter("database").get_host_slugs()


def env_for(node, **kw):
    kw.setdefault("pty", DummyPty())
    kw.setdefault("logger", Logger())
    return Env(node, **kw)


def test_indexing_a_cell_by_host_class_slug_or_int():
    websystem = env_for(WebSystem())
    assert websystem[Host1].deploy("abc") == ["checkout abc on host1", "restarted"]
    assert websystem["host2"].restart() == "restarted"
    assert websystem[2].checkout_git("x") == "checkout x on host3"
    node = WebSystem()
    assert node[Host3] is node[Host3], "cells are created once"
    assert node[Host3][Host3] is node[Host3]
    with pytest.raises(KeyError, match="host1, host2, host3"):
        node["nope"]
    with pytest.raises(KeyError):
        node[Host3][Host1]


def test_calling_on_the_array_runs_every_cell_and_returns_a_result_per_host():
    websystem = env_for(WebSystem())
    result = websystem.deploy("abcde6565eee")
    assert isinstance(result, ParallelActionResult)
    assert result.keys() == ["host1", "host2", "host3", "host4"]
    assert list(result) == result.values() == [["checkout abcde6565eee on host%d" % i, "restarted"]
                                               for i in (1, 2, 3, 4)]
    assert result["host2"] == result[Host2] == result[1]
    assert dict(result.items())["host4"][0].endswith("host4")
    assert len(result) == 4 and not result.failures and "host1" in result


def test_self_host_is_the_cell_host_and_other_roles_stay_visible():
    result = env_for(WebSystem()).same_host()
    assert list(result) == [(True, ["db1"])] * 4


def test_one_failing_cell_does_not_stop_the_others(tmp_path):
    class Fleet(ParallelNode):
        class Hosts:
            host = make_hosts(5, "node")

        def work(self):
            slug = self.host.slug
            if slug == "node2":
                self.host.run("echo about to fail; exit 3", interactive=False)
            if slug == "node4":
                raise ValueError("bad input on purpose")
            time.sleep(0.05)
            self.host.run("touch %s/%s" % (tmp_path, slug))
            return slug

    with pytest.raises(ParallelActionFailed) as info:
        env_for(Fleet()).work()
    err = info.value
    assert isinstance(err, ActionException)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node0", "node1", "node3"]
    assert set(err.failures) == {"node2", "node4"}
    assert isinstance(err.failures["node2"], ExecCommandFailed)
    assert isinstance(err.failures["node4"], ValueError)
    assert err.result.successes == {"node0": "node0", "node1": "node1", "node3": "node3"}
    assert not err.result.is_success("node2") and err.result.is_success(Fleet.Hosts.host[0])
    msg = str(err)
    assert "Fleet.work failed on 2 of 5 hosts" in msg
    assert "node2: ExecCommandFailed" in msg and "exit status 3" in msg
    assert "node4: ValueError: bad input on purpose" in msg
    assert "bad input on purpose" in err.tracebacks["node4"]


class Concurrency:
    """Counts how many cells run at the same moment."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.peak_threads = 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.peak_threads = max(self.peak_threads, threading.active_count())

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def counting_node(n_hosts, counter, sleep=0.05):
    class Counted(ParallelNode):
        class Hosts:
            host = make_hosts(n_hosts, "c")

        def work(self):
            with counter:
                time.sleep(sleep)
            return self.host.slug

    return Counted()


def test_worker_pool_is_bounded_by_max_workers():
    counter = Concurrency()
    result = env_for(counting_node(12, counter), max_workers=3).work()
    assert len(result) == 12
    assert counter.peak == 3, "at most 3 at once, and the pool is really used"


def test_worker_limit_from_environment_variable(monkeypatch):
    monkeypatch.setenv("DEPLOYER_MAX_WORKERS", "2")
    counter = Concurrency()
    env_for(counting_node(6, counter)).work()
    assert counter.peak == 2
    monkeypatch.setenv("DEPLOYER_MAX_WORKERS", "zero")
    with pytest.raises(ActionException, match="DEPLOYER_MAX_WORKERS must be a positive integer"):
        env_for(counting_node(2, Concurrency())).work()
    with pytest.raises(ValueError):
        Env(WebSystem(), pty=DummyPty(), max_workers=0)


def test_five_hundred_hosts_do_not_open_five_hundred_threads():
    counter = Concurrency()
    before = threading.active_count()
    result = env_for(counting_node(500, counter, sleep=0.002)).work()
    assert len(result) == 500 and len(set(result)) == 500
    assert counter.peak <= 32
    assert counter.peak_threads <= before + 32


def test_output_of_concurrent_cells_is_prefixed_per_whole_line():
    class Chatty(ParallelNode):
        class Hosts:
            host = make_hosts(4, "chat")

        def talk(self):
            # Lines are written in pieces (printf without newline, then the rest).
            self.host.run("for i in $(seq 40); do printf 'part-%s-' $i; sleep 0.001; echo end; done")

    pty = DummyPty()
    env_for(Chatty(), pty=pty).talk()
    lines = pty.get_output().splitlines()
    assert len(lines) == 160
    per_host = {}
    for line in lines:
        m = re.fullmatch(r"(chat\d) \| part-(\d+)-end", line)
        assert m, "interleaved or unprefixed line: %r" % line
        per_host.setdefault(m.group(1), []).append(int(m.group(2)))
    assert per_host == {"chat%d" % i: list(range(1, 41)) for i in range(4)}


def test_line_prefix_writer_colours_and_flushes_the_last_partial_line():
    pty = DummyPty()
    w = LinePrefixWriter(pty, "web1", color="green", width=6)
    w.write("a\nb")
    w.write("c\r\nprogress 10%\rprogress 100%\n")
    w.write("tail")
    w.close()
    out = pty.get_output()
    assert "\x1b[32m" in out and out.count("web1   | ") == 4
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert plain.splitlines() == ["web1   | a", "web1   | bc", "web1   | progress 100%", "web1   | tail"]


def test_run_tasks_colours_when_asked_and_keeps_order():
    pty = DummyPty()
    outcomes = run_tasks([lambda p, i=i: (p.write("x%d\n" % i), i)[1] for i in range(3)], ["a", "b", "c"], pty,
                         color=True)
    assert [o.value for o in outcomes] == [0, 1, 2]
    assert "\x1b[" in pty.get_output()


class WindowPty(DummyPty):
    """A terminal that opens one window per callback and runs them in parallel (like the shell server)."""

    def __init__(self):
        super().__init__()
        self.windows = []

    def run_in_auxiliary_ptys(self, callbacks):
        results = [None] * len(callbacks)
        windows = [DummyPty() for _ in callbacks]
        self.windows.extend(windows)

        def go(i):
            results[i] = callbacks[i](windows[i])
        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(callbacks))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results


def test_terminal_with_auxiliary_ptys_gives_each_cell_its_own_window():
    pty = WindowPty()
    result = env_for(WebSystem(), pty=pty).restart()
    assert list(result) == ["restarted"] * 4
    assert [w.get_output() for w in pty.windows] == ["restarted\n"] * 4
    assert pty.get_output() == ""


# -- arrays in normal nodes ---------------------------------------------------------

class NormalNode(Node):
    class Hosts:
        host = [Host1, Host2]
        db = DB

    class OurParallelNode(ParallelNode.Array):
        def where(self):
            return self.host.slug

        def nested(self):
            # PNode sees this cell's one host: it is that cell, the call returns a plain value.
            return self.PNode.where()

        class PNode(ParallelNode):
            def where(self):
                return "p:" + self.host.slug

    @map_roles(host="db")
    class Single(ParallelNode.JustOne):
        def where(self):
            return self.host.slug

    class TooMany(ParallelNode.JustOne):
        def where(self):
            return self.host.slug


def test_array_in_a_normal_node():
    env = env_for(NormalNode())
    assert list(env.OurParallelNode.where()) == ["host1", "host2"]
    assert env.OurParallelNode[Host2].where() == "host2"
    assert list(env.OurParallelNode.nested()) == ["p:host1", "p:host2"]
    # From outside, the nested ParallelNode is an array of its own.
    assert list(env.OurParallelNode.PNode.where()) == ["p:host1", "p:host2"]
    assert env.OurParallelNode[Host1].PNode.where() == "p:host1"


def test_just_one():
    env = env_for(NormalNode())
    assert env.Single.where() == "db1"
    with pytest.raises(NodeError, match="NormalNode.TooMany is a JustOne node but has 2 hosts.*host1, host2"):
        env.TooMany.where()


def test_array_and_just_one_are_cached_subclasses():
    assert ParallelNode.Array is ParallelNode.Array
    assert issubclass(WebSystem.Array, WebSystem) and WebSystem.JustOne is not WebSystem.Array
    assert NormalNode().OurParallelNode.parent is not None


# -- decorators -----------------------------------------------------------------------

class Decorated(ParallelNode):
    class Hosts:
        host = [Host1, Host2, Host3]

    @dont_isolate_yet
    def ask_then_deploy(self, commit):
        # Runs once for the whole array; the call below fans out.
        return len(self.hosts), self.deploy(commit)

    def deploy(self, commit):
        return "%s@%s" % (commit, self.host.slug)

    @isolate_one_only
    def db_shell(self):
        return self.host.slug


def test_dont_isolate_yet_and_isolate_one_only():
    env = env_for(Decorated())
    n_hosts, result = env.ask_then_deploy("c1")
    assert n_hosts == 3 and list(result) == ["c1@host1", "c1@host2", "c1@host3"]
    assert env.db_shell() == "host1"
    # Inside a cell the decorators change nothing.
    assert env[Host2].ask_then_deploy("c2") == (1, "c2@host2")
    assert env[Host3].db_shell() == "host3"


def test_iter_isolations_identifier_types():
    node = WebSystem()
    ints = list(iter_isolations(node))
    assert [k for k, _ in ints] == [(0,), (1,), (2,), (3,)]
    assert all(cell._node_isolated_host is h for (_, cell), h in zip(ints, (Host1, Host2, Host3, Host4)))
    assert [k for k, _ in iter_isolations(node, IsolationIdentifierType.HOSTS_SLUG)] == [
        ("host1",), ("host2",), ("host3",), ("host4",)]
    assert [k for k, _ in iter_isolations(node, IsolationIdentifierType.HOST_TUPLES)] == [
        (Host1,), (Host2,), (Host3,), (Host4,)]
    env = env_for(node)
    assert all(isinstance(cell, Env) for _, cell in iter_isolations(env))
    normal = NormalNode()
    assert list(iter_isolations(normal)) == [((), normal)]
    assert IsolationIdentifierType.INT_TUPLES == "INT_TUPLES"


# -- on loopback SSH hosts ----------------------------------------------------------------

@pytest.mark.ssh
def test_fan_out_over_ssh_hosts(ssh_bed):
    hosts = ssh_bed.host_classes()

    class Fleet(ParallelNode):
        class Hosts:
            host = hosts

        def whoami(self):
            return self.host.run("echo $SSH_CONNECTION", interactive=False).split()[2]

    result = env_for(Fleet()).whoami()
    assert result.keys() == ["bed-%d" % i for i in range(len(hosts))]
    assert list(result) == list(ssh_bed.addresses)


@pytest.mark.ssh
def test_unreachable_ssh_host_fails_alone(ssh_bed):
    good = ssh_bed.host_classes()[:2]
    bad = ssh_bed.host_class(2, slug="unreachable", port=1, timeout=3)

    class Fleet(ParallelNode):
        class Hosts:
            host = good + [bad]

        def hello(self):
            return self.host.run("echo hello", interactive=False).strip()

    with pytest.raises(ParallelActionFailed) as info:
        env_for(Fleet()).hello()
    assert set(info.value.failures) == {"unreachable"}
    assert isinstance(info.value.failures["unreachable"], ConnectionFailedException)
    assert info.value.result.successes == {"bed-0": "hello", "bed-1": "hello"}
    assert "unreachable" in str(info.value)


# -- interrupting a parallel action (Ctrl-C through a real terminal: tests/test_interrupt.py) --

def _sleeps(seconds):
    import subprocess
    out = subprocess.run(["pgrep", "-af", "sleep " + seconds], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[1].endswith("sleep")]


def _wait_until(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


class Sleepers(ParallelNode):
    class Hosts:
        host = [Host1, Host2, Host3]

    def sleep(self, seconds, interactive=False):
        self.host.run("sleep %s" % seconds, interactive=interactive)

    def nested(self, seconds):
        # A parallel action inside a cell: cancelling the outer one cancels it too.
        return self.initialize_node(InnerSleepers).sleep(seconds)


class InnerSleepers(ParallelNode):
    class Hosts:
        host = [Host1, Host2]

    def sleep(self, seconds):
        self.host.run("sleep %s" % seconds, interactive=False)


def _interrupt_from_another_thread(action, seconds, expected):
    """Run ``action`` in a thread (as a shell server's session does), interrupt it as Ctrl-C does."""
    from deployer.shell.session import interrupt_thread

    outcome = {}

    def run():
        try:
            action()
        except BaseException as e:  # noqa: BLE001 -- what the thread ended with is the result
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert _wait_until(lambda: len(_sleeps(seconds)) == expected), _sleeps(seconds)
        assert interrupt_thread(thread)
        thread.join(15)
        assert not thread.is_alive()
        assert isinstance(outcome.get("error"), KeyboardInterrupt), outcome
        assert _wait_until(lambda: not _sleeps(seconds)), _sleeps(seconds)
    finally:
        for line in _sleeps(seconds):
            import os
            import signal
            os.kill(int(line.split()[0]), signal.SIGKILL)


@pytest.mark.parametrize("interactive", [False, True])
def test_interrupting_the_waiting_thread_stops_every_cell(interactive):
    seconds = "41.%d" % (1 + interactive)
    env = env_for(Sleepers())
    _interrupt_from_another_thread(lambda: env.sleep(seconds, interactive=interactive), seconds, 3)


def test_interrupting_an_outer_parallel_action_stops_the_nested_one():
    env = env_for(Sleepers())
    _interrupt_from_another_thread(lambda: env.nested("41.3"), "41.3", 6)


def test_cells_in_a_cancelled_scope_stop_and_queued_cells_never_start(tmp_path):
    from deployer.execution.cancel import ActionCancelled, CancelScope

    scope = CancelScope()
    started = []

    def task(i):
        def run(pty):
            started.append(i)
            if i == 0:
                scope.cancel()   # as if Ctrl-C came while the first cell ran
            Host1(pty=pty).run("sleep 41.4", interactive=False)
        return run

    with scope.entered():   # run_tasks nests its scope in ours
        with pytest.raises(ActionCancelled):
            run_tasks([task(i) for i in range(4)], ["a", "b", "c", "d"], DummyPty(), max_workers=1)
    assert started == [0]
    assert not _sleeps("41.4")
