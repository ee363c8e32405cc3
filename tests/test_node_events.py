"""Every action call becomes ActionStarted/ActionFinished; commands carry the call id;
secrets are masked; with logger=None the run recorder of the environment is used."""
from __future__ import annotations

import getpass

import pytest

from deployer.exceptions import ActionException
from deployer.host import LocalHost
from deployer.loggers import Logger
from deployer.loggers.events import ActionFinished, ActionStarted, CommandFinished, CommandStarted
from deployer.loggers.masking import MASK
from deployer.node import Env, Node, ParallelNode
from deployer.pseudo_terminal import DummyPty

pytestmark = pytest.mark.timeout(60)


class Events(Logger):
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


class H1(LocalHost):
    slug = "h1"


class H2(LocalHost):
    slug = "h2"


class App(Node):
    class Hosts:
        host = H1

    class db(Node):
        def migrate(self, version, db_password=None):
            self.host.run("echo migrating", interactive=False)

    def deploy(self, version, password, token="t0ken", verbose=False):
        self.host.run("echo deploying", interactive=False)
        self.db.migrate(version, db_password=password)
        return "done"

    def broken(self):
        self.host.run("exit 4", interactive=False)


def test_action_events_nest_and_commands_are_bound_to_their_call():
    events = Events()
    env = Env(App(), pty=DummyPty(), logger=events)
    assert env.deploy("v1", "s3cret", verbose=True) == "done"

    started = events.of(ActionStarted)
    assert [(s.node_path, s.action) for s in started] == [("App", "deploy"), ("App.db", "migrate")]
    outer, inner = started
    assert outer.parent_id is None and inner.parent_id == outer.call_id
    assert len(outer.call_id) == 32 and outer.call_id != inner.call_id
    assert outer.args == ("v1", MASK) and outer.kwargs == {"verbose": True}
    assert inner.args == ("v1",) and inner.kwargs == {"db_password": MASK}
    assert outer.hosts == ("h1",) and outer.user == getpass.getuser() and not outer.sandbox
    assert "s3cret" not in repr(events.events)

    finished = events.of(ActionFinished)
    assert [(f.call_id, f.status) for f in finished] == [(inner.call_id, "SUCCESS"), (outer.call_id, "SUCCESS")]

    commands = events.of(CommandStarted)
    assert [(c.command, c.call_id) for c in commands] == [
        ("echo deploying", outer.call_id), ("echo migrating", inner.call_id)]
    assert all(c.call_id for c in events.of(CommandFinished))


def test_failed_action_event_has_error_text():
    events = Events()
    env = Env(App(), pty=DummyPty(), logger=events)
    with pytest.raises(ActionException):
        env.broken()
    (finished,) = events.of(ActionFinished)
    assert finished.status == "FAILED" and "exit status 4" in finished.error


def test_parallel_cells_are_child_calls_of_the_array_call():
    class Arr(ParallelNode):
        class Hosts:
            host = [H1, H2]

        def hi(self):
            return self.host.run("echo hi", interactive=False)

    events = Events()
    Env(Arr(), pty=DummyPty(), logger=events).hi()
    outer, *cells = events.of(ActionStarted)
    assert outer.hosts == ("h1", "h2") and outer.parent_id is None
    assert sorted(c.hosts for c in cells) == [("h1",), ("h2",)]
    assert all(c.parent_id == outer.call_id for c in cells)
    by_call = {c.call_id: c.hosts[0] for c in cells}
    assert sorted((by_call[c.call_id], c.host) for c in events.of(CommandStarted)) == [("h1", "h1"), ("h2", "h2")]


def test_logger_none_records_the_run_in_the_configured_store(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOYER_RUNS_URL", "sqlite:///%s" % (tmp_path / "runs.db"))
    monkeypatch.delenv("DEPLOYER_RECORD", raising=False)
    env = Env(App(), pty=DummyPty())
    env.deploy("v2", "hunter2")
    from deployer.runs.stores import open_store
    store = open_store("sqlite:///%s" % (tmp_path / "runs.db"))
    (run,) = store.list_runs()
    assert (run.node_path, run.action, run.status, run.hosts) == ("App", "deploy", "SUCCESS", ["h1"])
    assert run.args == ["v2", MASK]
    assert "hunter2" not in repr(run)


def test_recording_switched_off_gives_no_recorder(monkeypatch):
    monkeypatch.setenv("DEPLOYER_RECORD", "0")
    env = Env(App(), pty=DummyPty())
    env.deploy("v3", "x")
    assert env._env_shared.logger.loggers == []
