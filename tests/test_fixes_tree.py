"""Fixes from the tree audit, each seen from the user's side on real hosts:

1. ``hosts.run``/``hosts.sudo`` on several hosts run at once on the worker pool
   (prefixed output, results in host order, one error for every failed host,
   Ctrl-C stops them all);
2. ``get_file`` in sandbox mode writes nothing and runs no sudo;
3. an error in a nested action names the action it happened in;
4. a secret split over two output chunks is masked in live output events;
5. a role mapped from a role the parent lacks is an error when commands run.
"""
from __future__ import annotations

import os

import pytest

from deployer.exceptions import ActionException, ExecCommandFailed
from deployer.execution import ParallelCommandFailed
from deployer.host import LocalHost
from deployer.host_container import HostsContainer, UnmappedRolesError
from deployer.inspection import Inspector
from deployer.loggers.events import CommandOutput, CommandStarted
from deployer.loggers.masking import StreamMasker
from deployer.node import ALL_HOSTS, Env, Node, ParallelNode, map_roles
from deployer.pseudo_terminal import DummyPty

from host_helpers import RealPty, Recorder
from shell_helpers import Term, child_env, processes_matching, wait_until

TREES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixes_trees.py")


class Web1(LocalHost):
    slug = "web1"


class Web2(LocalHost):
    slug = "web2"


class Web3(LocalHost):
    slug = "web3"


def _env(node, **kw) -> Env:
    kw.setdefault("pty", DummyPty())
    kw.setdefault("logger", Recorder())
    return Env(node, **kw)


# -- 1. hosts.run on several hosts ---------------------------------------------------------

def _per_host_dirs(hosts, base):
    """Enter a directory named after each host's slug (``basename $PWD`` tells a command where it runs)."""
    import contextlib
    stack = contextlib.ExitStack()
    for single in hosts:
        (base / single.slug).mkdir(exist_ok=True)
        stack.enter_context(single.cd(str(base / single.slug)))
    return stack


def _barrier(directory, n: int) -> str:
    # Each host checks in, then waits until all n did: only hosts that run at the
    # same time get past it (one after the other, the first would time out).
    return ("touch %s/$(basename $PWD); while [ $(ls %s | wc -l) -lt %d ]; do sleep 0.02; done; "
            "printf 'first half '; sleep 0.05; printf 'second half\\n'; echo done-$(basename $PWD)"
            % (directory, directory, n))


@pytest.mark.timeout(60)
def test_hosts_run_runs_every_host_at_once_in_host_order_with_whole_prefixed_lines(tmp_path):
    (tmp_path / "barrier").mkdir()

    class Fleet(Node):
        class Hosts:
            web = {Web3, Web1, Web2}

        def deploy(self):
            with _per_host_dirs(self.hosts, tmp_path):
                return self.hosts.run(_barrier(tmp_path / "barrier", 3), interactive=False, timeout=20)

    pty = DummyPty()
    results = _env(Fleet(), pty=pty).deploy()
    assert results == ["first half second half\ndone-%s\n" % s for s in ("web1", "web2", "web3")]
    lines = pty.get_output().splitlines()
    for slug in ("web1", "web2", "web3"):
        mine = [l for l in lines if l.startswith(slug + " | ")]
        assert mine == [slug + " | first half second half", slug + " | done-" + slug]
    assert len(lines) == 6


@pytest.mark.timeout(60)
def test_hosts_sudo_runs_at_once_too(tmp_path):
    (tmp_path / "barrier").mkdir()
    c = HostsContainer({"web": [Web1, Web2]}, pty=DummyPty())
    with _per_host_dirs(c, tmp_path):
        out = c.sudo(_barrier(tmp_path / "barrier", 2) + "; id -u", interactive=False, timeout=20)
    assert out[1].endswith("done-web2\n0\n")


@pytest.mark.timeout(60)
def test_one_host_keeps_the_terminal_to_itself():
    pty = DummyPty()
    assert HostsContainer({"host": Web1}, pty=pty).run("echo alone", interactive=False) == ["alone\n"]
    assert pty.get_output() == "alone\n"


@pytest.mark.timeout(60)
def test_failing_hosts_are_all_named_after_the_others_finished(tmp_path):
    class Fleet(Node):
        class Hosts:
            web = [Web1, Web2, Web3]

        def deploy(self):
            with _per_host_dirs(self.hosts, tmp_path):
                self.hosts.run('if [ $(basename $PWD) = web2 ]; then touch done; else echo broken-$(basename $PWD); '
                               'exit 5; fi', interactive=False)

    with pytest.raises(ActionException) as info:
        _env(Fleet()).deploy()
    error = info.value.inner_exception
    assert isinstance(error, ParallelCommandFailed) and isinstance(error, ExecCommandFailed)
    assert sorted(error.failures) == ["web1", "web3"] and error.status_code == 5
    assert error.results["web2"] == ""
    assert [p.name for p in tmp_path.rglob("done")] == ["done"] and (tmp_path / "web2" / "done").exists()
    text = str(info.value)
    assert "Action Fleet.deploy failed" in text and "failed on 2 of 3 hosts" in text
    for slug in ("web1", "web3"):
        line = next(l for l in text.splitlines() if l.strip().startswith(slug + ":"))
        assert "exit status 5" in line
    assert "broken-web3" in text and not any(l.strip().startswith("web2:") for l in text.splitlines())


@pytest.mark.timeout(60)
def test_interactive_commands_on_several_hosts_leave_the_keyboard_alone():
    term = RealPty()
    try:
        c = HostsContainer({"web": [Web1, Web2]}, pty=term.pty)
        term.type(b"kept-for-later\n")
        # With a pty each, but no keys from the shared keyboard: `read` sees nothing.
        out = c.run("read -t 1 line; echo got:$line", interactive=True, ignore_exit_status=True)
        assert [o.strip() for o in out] == ["got:", "got:"]
        # (A terminal gets coloured prefixes.)
        assert term.wait_for(b"web1") and term.wait_for(b"web2") and term.wait_for(b"got:\r\n")
        assert [l.rpartition(b"|")[2].strip() for l in term.seen.splitlines() if b"got:" in l] == [b"\x1b[0mgot:"] * 2
        # What was typed is still there for whoever reads the terminal next.
        assert os.read(term.stdin.fileno(), 100) == b"kept-for-later\n"
    finally:
        term.close()


def _sleeps(seconds: str) -> list[str]:
    return [p for p in processes_matching("sleep " + seconds) if os.path.basename(p.split()[1]) == "sleep"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("action,seconds", [("sleep", "31.1111"), ("piped", "31.1212")])
def test_ctrl_c_stops_hosts_run_on_every_host(action, seconds):
    term = Term.deployer("run", TREES + ":HostsFan", "--", action, seconds,
                         env=child_env(DEPLOYER_RECORD="0"), timeout=30)
    try:
        assert wait_until(lambda: len(_sleeps(seconds)) == 3, timeout=20), _sleeps(seconds)
        term.ctrl("c")
        assert term.wait_exit(timeout=15) == 130
        assert "Interrupted" in term.screen
        assert wait_until(lambda: not _sleeps(seconds), timeout=10), _sleeps(seconds)
    finally:
        term.close()


# -- 2. get_file in sandbox mode --------------------------------------------------------------

@pytest.mark.timeout(60)
def test_sandboxed_get_file_writes_nothing_and_runs_no_sudo(tmp_path):
    remote = tmp_path / "remote.conf"
    remote.write_text("contents")
    local = tmp_path / "local.conf"
    recorder = Recorder()
    host = Web1(pty=DummyPty(), logger=recorder)
    host.get_file(str(remote), str(local), sandbox=True)
    host.get_file(str(remote), str(local), use_sudo=True, sandbox=True)
    assert not local.exists()
    commands = recorder.of(CommandStarted)
    assert commands and not any(c.use_sudo or "mktemp" in c.command for c in commands)
    with pytest.raises(FileNotFoundError, match="web1.*missing.conf"):
        host.get_file(str(tmp_path / "missing.conf"), str(local), sandbox=True)
    assert not local.exists()
    # Through a sandboxed container (what a sandboxed action's self.host is), too.
    HostsContainer({"host": Web1}, pty=DummyPty(), is_sandbox=True)[0].get_file(str(remote), str(local))
    assert not local.exists()
    # For real, it does download (so the checks above can fail).
    host.get_file(str(remote), str(local), use_sudo=True)
    assert local.read_text() == "contents"


# -- 3. where a nested error happened ------------------------------------------------------------

@pytest.mark.timeout(60)
def test_error_in_a_nested_action_names_where_it_happened():
    class Root(Node):
        class Hosts:
            host = Web1

        class Web(Node):
            def restart(self):
                self.hosts.run("exit 7", interactive=False)

            def fine(self):
                raise ValueError("bad value")

        def deploy(self):
            self.Web.restart()

        def direct(self):
            self.host.run("exit 8", interactive=False)

    with pytest.raises(ActionException) as info:
        _env(Root()).deploy()
    assert str(info.value).startswith("Action Root.deploy failed in Root.Web.restart: ExecCommandFailed: ")
    assert "exit status 7" in str(info.value) and info.value.origin == "Root.Web.restart"
    with pytest.raises(ActionException) as info:
        _env(Root()).direct()
    assert str(info.value).startswith("Action Root.direct failed: ExecCommandFailed: ")
    with pytest.raises(ActionException, match=r"^Action Root\.Web\.fine failed: ValueError: bad value$"):
        _env(Root()).Web.fine()


# -- 4. secrets split over output chunks ---------------------------------------------------------

def test_stream_masker_holds_back_what_could_start_a_secret():
    m = StreamMasker(["abcd", "xyz"])
    assert m.feed("1 ab") == "1 " and m.feed("c") == "" and m.feed("d 2 x") == "******** 2 "
    assert m.feed("y") == "" and m.feed("!") == "xy!" and m.flush() == ""
    assert m.feed("end a") == "end " and m.flush() == "a"
    assert StreamMasker([]).feed("ab") == "ab"


@pytest.mark.timeout(60)
def test_secret_split_over_two_chunks_is_masked_in_live_output():
    class Careless(Node):
        class Hosts:
            host = Web1

        def deploy(self, password):
            half = len(password) // 2
            # Two writes, apart in time: two output chunks.
            return self.host.run("printf 'pw=%s'; sleep 0.3; printf '%s done\\n'" % (password[:half], password[half:]),
                                 interactive=False)

    recorder = Recorder()
    secret = "pw-Secret-4711"
    assert _env(Careless(), logger=recorder).deploy(secret) == "pw=%s done\n" % secret
    outputs = [e.data for e in recorder.of(CommandOutput)]
    assert len(outputs) >= 2, outputs                      # it did arrive in pieces
    assert "".join(outputs) == "pw=******** done\n"
    assert not any(secret[:4] in o for o in outputs)


# -- 5. roles mapped from roles the parent lacks ---------------------------------------------------

class Dbs(Node):
    def migrate(self):
        return self.hosts.run("echo migrating", interactive=False)

    def one(self):
        return self.host.run("echo one", interactive=False)


class WebSystem(Node):
    """Abstract (as in the tutorial): no hosts until subclassed."""
    @map_roles(host="dbs")
    class Db(Dbs):
        class Sub(Dbs):
            pass

    @map_roles(host=["web", "www"])
    class Git(Dbs):
        pass

    @map_roles(master="master_db", slave="slave_db")
    class Database(Dbs):
        pass

    @map_roles(host="dbs")
    class Cells(ParallelNode.Array):
        def go(self):
            return self.host.slug

    @map_roles(host=ALL_HOSTS)
    class Everything(Dbs):
        pass


class Staging(WebSystem):
    class Hosts:
        web = Web1
        master_db = Web2
        slave_db = set()


@pytest.mark.timeout(60)
def test_mapping_to_a_missing_role_fails_when_commands_run_naming_node_and_role():
    env = _env(Staging())
    for call in (env.Db.migrate, env.Db.one, env.Db.Sub.migrate, env.Cells.go):
        with pytest.raises(ActionException) as info:
            call()
        text = str(info.value)
        assert isinstance(info.value.inner_exception, UnmappedRolesError), text
        assert "Staging.Db" in text or "Staging.Cells" in text
        assert "'dbs'" in text and "Staging does not have" in text and "web, master_db, slave_db" in text
    # Some roles known: the known ones run; an existing role without hosts is no error.
    assert env.Git.migrate() == ["migrating\n"]
    assert env.Database.migrate() == ["migrating\n"]
    assert env.Database.hosts.filter("slave").run("true") == []
    with pytest.raises(UnmappedRolesError):
        env.Db.hosts.run("true")


@pytest.mark.timeout(60)
def test_abstract_nodes_and_plain_nodes_without_hosts_still_work():
    # The abstract tree can be walked and inspected; nothing is refused until a command runs.
    system = WebSystem()
    names = [Inspector(c).get_name() for c in Inspector(system).get_childnodes()]
    assert {"Db", "Git", "Database", "Cells", "Everything"} <= set(names)
    assert len(_env(system).Db.hosts) == 0
    with pytest.raises(ActionException, match="WebSystem.Db.*'dbs'"):
        _env(system).Db.migrate()

    class Plain(Node):
        def go(self):
            return self.hosts.run("true")

        class Child(Node):
            def go(self):
                return self.hosts.run("true")

    assert _env(Plain()).go() == [] and _env(Plain()).Child.go() == []
    assert _env(system).Everything.migrate() == []


@pytest.mark.ssh
@pytest.mark.timeout(120)
def test_hosts_run_on_ssh_hosts_at_once_and_every_failure_named(ssh_bed):
    hosts = [ssh_bed.host_class(i, slug="fix-%d" % i) for i in range(3)]
    # The bed's hosts share this machine: a barrier in a directory they all can write.
    barrier = ssh_bed.directory / ("barrier-%d" % os.getpid())
    barrier.mkdir(mode=0o777)
    os.chmod(barrier, 0o777)
    pty = DummyPty()
    c = HostsContainer({"web": hosts}, pty=pty)
    out = c.run("mktemp -p %s >/dev/null; while [ $(ls %s | wc -l) -lt 3 ]; do sleep 0.02; done; echo $SSH_CONNECTION"
                % (barrier, barrier), interactive=False, timeout=30)
    assert [o.split()[2] for o in out] == ssh_bed.addresses[:3]           # in host order
    assert sorted(l.split(" | ")[0] for l in pty.get_output().splitlines()) == ["fix-0", "fix-1", "fix-2"]
    with pytest.raises(ParallelCommandFailed) as info:
        c.run('case "$SSH_CONNECTION" in *" %s "*) echo fine;; *) echo bad; exit 4;; esac' % ssh_bed.addresses[1],
              interactive=False)
    assert sorted(info.value.failures) == ["fix-0", "fix-2"] and info.value.results["fix-1"] == "fine\n"
    assert "failed on 2 of 3 hosts" in str(info.value)
