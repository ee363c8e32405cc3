"""The run recorder, fed real event sequences, against every store backend."""
from __future__ import annotations

import io
import threading
import time

import pytest

from deployer.loggers.base import MultiLogger
from deployer.loggers.events import (ActionFinished, ActionStarted, CommandFinished, CommandOutput,
                                     CommandStarted, FileTransferred, StatusChanged)
from deployer.runs.model import (FAILED, INIT, KIND_ACTION, KIND_FILE, KIND_RUN, KIND_STEP, OUTPUT_TAIL_CHARS,
                                 STARTED, SUCCESS, HistoryEntry, RunRecord)
from deployer.runs.recorder import RunRecorder
from deployer.runs.stores import open_store

from runs_helpers import BACKENDS, make_store_url, run_events

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    s = open_store(make_store_url(request.param, tmp_path, request))
    yield s
    s.close()


def test_successful_run(store):
    rec = RunRecorder(store, owns_store=False)
    for event in run_events():
        rec.emit(event)
    [summary] = store.list_runs()
    run = store.get_run(summary.id)
    assert (run.status, run.node_path, run.action, run.args, run.kwargs, run.user, run.hosts) == \
        (SUCCESS, "Root.web", "deploy", ["v1"], {"password": "********"}, "alice", ["web1"])
    assert (run.start, run.end, run.error) == (1000.0, 1004.0, None)
    assert [(h.kind, h.status, h.host) for h in run.history] == [
        (KIND_RUN, INIT, None), (KIND_RUN, STARTED, None), (KIND_ACTION, STARTED, None),
        (KIND_ACTION, SUCCESS, None), (KIND_STEP, "UNPACK", "web1"), (KIND_RUN, SUCCESS, None)]
    assert "Root.web.git.checkout" in run.history[2].detail
    [cmd] = run.commands
    assert (cmd.host, cmd.command, cmd.exit_code, cmd.duration, cmd.output_tail) == \
        ("web1", "git pull", 0, 0.5, "Already up to date.\n")
    assert rec.active_runs == [] and rec.errors == []


def test_failed_run(store):
    rec = RunRecorder(store, owns_store=False)
    for event in run_events(fail=True):
        rec.emit(event)
    run = store.get_run(store.list_runs()[0].id)
    assert run.status == FAILED and run.error == "boom"
    assert run.history[3].status == FAILED and run.history[3].detail.endswith(": boom")
    assert run.commands[0].exit_code == 1


def test_two_runs_one_after_the_other_and_sandbox(store):
    rec = RunRecorder(store, owns_store=False)
    for event in run_events(call_id="a", t0=100.0):
        rec.emit(event)
    rec.emit(ActionStarted(call_id="b", parent_id=None, node_path="Root", action="check", sandbox=True, time=200.0))
    rec.emit(FileTransferred(host="web1", direction="put", remote_path="/tmp/p.tgz", sandbox=True, call_id="b",
                             time=201.0))
    rec.emit(ActionFinished(call_id="b", status="SUCCESS", time=202.0))
    runs = store.list_runs()
    assert [(r.action, r.sandbox) for r in runs] == [("check", True), ("deploy", False)]
    second = store.get_run(runs[0].id)
    assert [(h.kind, h.status, h.detail) for h in second.history][2] == (KIND_FILE, "PUT", "/tmp/p.tgz (sandbox)")


def test_given_run_id_adopts_the_init_record(store):
    store.create_run(RunRecord(id="bg1", node_path="Root.web", action="deploy", start=50.0, status=INIT,
                               history=[HistoryEntry(time=50.0, status=INIT)]))
    rec = RunRecorder(store, run_id="bg1", owns_store=False)
    for event in run_events(call_id="x"):
        rec.emit(event)
    for event in run_events(call_id="y", t0=2000.0):      # the id is used once only
        rec.emit(event)
    runs = store.list_runs()
    assert len(runs) == 2 and runs[1].id == "bg1"
    bg = store.get_run("bg1")
    assert bg.status == SUCCESS and [h.status for h in bg.history][:2] == [INIT, STARTED]
    assert bg.owner is not None and bg.user == "alice"


def test_given_run_id_of_a_finished_run_is_not_reused(store):
    store.create_run(RunRecord(id="done", node_path="Root", action="x", start=1.0, status=SUCCESS))
    err = io.StringIO()
    rec = RunRecorder(store, run_id="done", owns_store=False, stderr=err)
    for event in run_events():
        rec.emit(event)
    assert store.get_run("done").status == SUCCESS and len(store.list_runs()) == 2
    assert err.getvalue() == "" and rec.errors == []


def test_output_is_flushed_at_a_bounded_rate_and_tail_kept(store):
    rec = RunRecorder(store, owns_store=False, output_flush_interval=0.2)
    rec.emit(ActionStarted(call_id="c", parent_id=None, node_path="Root", action="build"))
    rec.emit(CommandStarted(command_id="k", host="h", command="make", call_id="c"))
    run_id = rec.active_runs[0]
    writes = []
    original = store.upsert_command

    def counting(run_id, command):
        writes.append(command.output_tail)
        original(run_id, command)
    store.upsert_command = counting
    deadline = time.monotonic() + 0.7
    n = 0
    while time.monotonic() < deadline:
        rec.emit(CommandOutput(command_id="k", host="h", data="line %d\n" % n, call_id="c"))
        n += 1
        time.sleep(0.001)
    assert n > 100 and 2 <= len(writes) <= 5            # a few flushes, not one per chunk
    live = store.get_run(run_id).commands[0]
    assert live.running and live.output_tail.startswith("line") and live.exit_code is None
    rec.emit(CommandFinished(command_id="k", host="h", command="make", exit_code=0, duration=0.7, call_id="c"))
    rec.emit(ActionFinished(call_id="c", status="SUCCESS"))
    done = store.get_run(run_id).commands[0]
    assert done.output_tail.endswith("line %d\n" % (n - 1)) and len(done.output_tail) <= OUTPUT_TAIL_CHARS


def test_parallel_hosts_emit_from_threads(store):
    rec = RunRecorder(store, owns_store=False)
    rec.emit(ActionStarted(call_id="c", parent_id=None, node_path="Root", action="fan", hosts=("h0", "h1", "h2")))

    def host_work(i: int) -> None:
        bound = rec.bind("c")
        for step in ("COPY", "UNPACK", "DEPLOYED"):
            bound.emit(StatusChanged(status=step, host="h%d" % i))
            bound.emit(CommandStarted(command_id="k%d%s" % (i, step), host="h%d" % i, command=step.lower()))
            bound.emit(CommandFinished(command_id="k%d%s" % (i, step), host="h%d" % i, command=step.lower(),
                                       exit_code=0, duration=0.01, output_tail="ok"))
    threads = [threading.Thread(target=host_work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rec.emit(ActionFinished(call_id="c", status="SUCCESS"))
    run = store.get_run(store.list_runs()[0].id)
    assert run.host_statuses() == {"h0": "DEPLOYED", "h1": "DEPLOYED", "h2": "DEPLOYED"}
    assert len(run.commands) == 9 and all(c.exit_code == 0 for c in run.commands)
    for i in range(3):
        assert [h.status for h in run.history if h.host == "h%d" % i] == ["COPY", "UNPACK", "DEPLOYED"]


def test_unbound_events_and_store_failures_never_raise(store, tmp_path):
    err = io.StringIO()
    rec = RunRecorder(store, owns_store=False, stderr=err)
    # Nothing is open: events without a run are dropped, not errors.
    rec.emit(CommandStarted(command_id="k", host="h", command="ls"))
    rec.emit(ActionStarted(call_id="c", parent_id=None, node_path="Root", action="a"))
    rec.emit(StatusChanged(status="ONLY-ONE-RUN-OPEN", host="h"))   # unambiguous: goes to the open run
    store.close()                                                  # the store goes away mid-run
    rec.emit(StatusChanged(status="LOST", host="h", call_id="c"))
    assert rec.errors and "StatusChanged" in err.getvalue()
    other = MultiLogger([rec])
    other.emit(ActionFinished(call_id="c", status="SUCCESS"))       # still no exception


def _wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "waited in vain for " + what
        time.sleep(0.02)


def _heartbeat_threads() -> set:
    return {t for t in threading.enumerate() if t.name == "deployer-run-heartbeat"}


def test_live_run_heartbeat_advances_and_stops_with_the_run(store):
    rec = RunRecorder(store, owns_store=False, heartbeat_interval=0.05)
    events = list(run_events())
    before = _heartbeat_threads()
    rec.emit(events[0])
    [run_id] = rec.active_runs
    [beater] = _heartbeat_threads() - before
    first = store.get_run(run_id).heartbeat_at
    assert first is not None                             # a heartbeat as soon as the run starts
    _wait_until(lambda: store.get_run(run_id).heartbeat_at > first, "the next heartbeat")
    for event in events[1:]:
        rec.emit(event)
    beater.join(30)
    assert not beater.is_alive() and store.get_run(run_id).status == SUCCESS and rec.errors == []


def test_run_of_another_machine_interrupted_once_its_heartbeats_stop(store):
    from deployer.runs.model import INTERRUPTED, Owner

    rec = RunRecorder(store, owns_store=False, heartbeat_interval=0.05)
    events = list(run_events())
    rec.emit(events[0])
    [run_id] = rec.active_runs
    # As a reader on another machine sees it: the owner cannot be checked from here.
    store.update_run(run_id, owner=Owner(pid=4242, hostname="another-machine.example"))
    store.stale_after = 30
    seen = store.get_run(run_id).heartbeat_at
    _wait_until(lambda: store.get_run(run_id).heartbeat_at > seen, "a heartbeat")
    assert [r.status for r in store.list_runs()] == [STARTED]          # beating: running
    rec.close()                          # the deploying process is gone: no more heartbeats
    frozen = store.get_run(run_id).heartbeat_at
    store.stale_after = 0.2
    _wait_until(lambda: store.list_runs()[0].status == INTERRUPTED, "the run to read as interrupted")
    run = store.get_run(run_id)
    assert run.heartbeat_at == frozen and "no heartbeat from process 4242" in run.error
