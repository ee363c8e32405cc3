"""The run recorder, fed real event sequences, against every store backend."""
from __future__ import annotations

import io
import os
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

#: A batch interval no test outlives: queued events are written only by a run's end or close().
NEVER = 3600.0

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path) -> str:
    return make_store_url(request.param, tmp_path, request)


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
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
    # The command's row (written by the writer thread within a batch interval) shows output while it runs.
    _wait_until(lambda: store.get_run(run_id).commands and store.get_run(run_id).commands[0].output_tail,
                "the live output tail")
    live = store.get_run(run_id).commands[0]
    assert live.running and live.output_tail.startswith("line") and live.exit_code is None
    assert n > 100 and 1 <= len(writes) <= 5            # a few flushes, not one per chunk
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
    rec.emit(StatusChanged(status="LOST", host="h", call_id="c"))   # queued: the writer thread fails
    _wait_until(lambda: rec.errors, "the writer's error")
    assert len(rec.errors) == 1 and "StatusChanged" in err.getvalue()      # once for the batch
    other = MultiLogger([rec])
    other.emit(ActionFinished(call_id="c", status="SUCCESS"))       # still no exception
    assert len(rec.errors) == 2 and "the end of run" in rec.errors[1]
    rec.close()


def _wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "waited in vain for " + what
        time.sleep(0.02)


def _heartbeat_threads() -> set:
    # The writer thread sends the heartbeats.
    return {t for t in threading.enumerate() if t.name == "deployer-run-writer"}


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


def _host_work(rec: RunRecorder, call_id: str, host: str, steps: int) -> None:
    bound = rec.bind(call_id)
    for i in range(steps):
        bound.emit(StatusChanged(status="S%d" % i, host=host))
        bound.emit(CommandStarted(command_id="%s-%d" % (host, i), host=host, command="step %d" % i))
        bound.emit(CommandOutput(command_id="%s-%d" % (host, i), host=host, data="out %d\n" % i))
        bound.emit(CommandFinished(command_id="%s-%d" % (host, i), host=host, command="step %d" % i,
                                   exit_code=0, duration=0.001))


def _run_threads(rec: RunRecorder, call_id: str, hosts: int, steps: int) -> None:
    threads = [threading.Thread(target=_host_work, args=(rec, call_id, "h%d" % i, steps)) for i in range(hosts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_events_of_many_threads_all_land_in_order(store):
    rec = RunRecorder(store, owns_store=False, batch_interval=0.01)
    hosts, steps = 8, 40
    rec.emit(ActionStarted(call_id="c", parent_id=None, node_path="Root", action="fan",
                           hosts=tuple("h%d" % i for i in range(hosts))))
    _run_threads(rec, "c", hosts, steps)
    rec.emit(ActionFinished(call_id="c", status="SUCCESS"))
    run = store.get_run(store.list_runs()[0].id)
    assert run.status == SUCCESS and rec.errors == []
    assert [h.seq for h in run.history] == list(range(1, len(run.history) + 1))
    assert len(run.commands) == hosts * steps and [c.seq for c in run.commands] == list(range(1, hosts * steps + 1))
    for i in range(hosts):
        host = "h%d" % i
        assert [h.status for h in run.history if h.host == host] == ["S%d" % k for k in range(steps)]
        mine = [c for c in run.commands if c.host == host]        # in seq order: the order they started
        assert [c.command for c in mine] == ["step %d" % k for k in range(steps)]
        assert all(c.exit_code == 0 and c.output_tail == "out %d\n" % k for k, c in enumerate(mine))


def test_emit_only_queues_and_the_end_comes_with_everything(store, store_url):
    """Nothing between a run's start and its end is written by emit; the end is written with all of it."""
    rec = RunRecorder(store, owns_store=False, batch_interval=NEVER, heartbeat_interval=0)
    hosts, steps = 4, 25
    rec.emit(ActionStarted(call_id="c", parent_id=None, node_path="Root", action="fan"))
    [run_id] = rec.active_runs
    assert [h.status for h in store.get_run(run_id).history] == [INIT, STARTED]      # the start: at once
    reader = open_store(store_url)
    stop = threading.Event()
    seen: list[tuple[str, int, int]] = []

    def read() -> None:
        try:
            while not stop.is_set():
                run = reader.get_run(run_id)
                seen.append((run.status, len(run.commands), sum(c.exit_code == 0 for c in run.commands)))
        finally:
            reader.close()
    t = threading.Thread(target=read)
    t.start()
    try:
        _run_threads(rec, "c", hosts, steps)
        queued = store.get_run(run_id)
        assert (len(queued.history), queued.commands) == (2, [])         # all still queued
        rec.emit(ActionFinished(call_id="c", status="SUCCESS"))
        done = store.get_run(run_id)       # written before emit returned
        assert done.status == SUCCESS and len(done.commands) == hosts * steps
    finally:
        stop.set()
        t.join(20)
    total = hosts * steps
    # A reader saw the run running with nothing else, or ended with everything: never an end before its commands.
    assert set(seen) <= {(STARTED, 0, 0), (SUCCESS, total, total)} and seen
    assert rec.errors == []


def test_the_end_of_a_run_is_never_visible_before_its_commands(store, store_url):
    rec = RunRecorder(store, owns_store=False, batch_interval=0.005)
    rec.emit(ActionStarted(call_id="c", parent_id=None, node_path="Root", action="fan"))
    [run_id] = rec.active_runs
    reader = open_store(store_url)
    stop = threading.Event()
    seen: list[tuple[str, int, int]] = []

    def read() -> None:
        try:
            while not stop.is_set():
                run = reader.get_run(run_id)
                seen.append((run.status, len(run.commands), sum(not c.running for c in run.commands)))
        finally:
            reader.close()
    t = threading.Thread(target=read)
    t.start()
    try:
        _run_threads(rec, "c", 4, 25)
        rec.emit(ActionFinished(call_id="c", status="SUCCESS"))
    finally:
        stop.set()
        t.join(20)
    assert seen and all(done == n == 100 for status, n, done in seen if status == SUCCESS)
    assert [n for _, n, _ in seen] == sorted(n for _, n, _ in seen)          # batches land in order
    assert store.get_run(run_id).status == SUCCESS and rec.errors == []


def test_close_writes_everything_queued(store):
    rec = RunRecorder(store, owns_store=False, batch_interval=NEVER, heartbeat_interval=0)
    events = list(run_events())
    for event in events[:-1]:                       # the run stays open
        rec.emit(event)
    [run_id] = rec.active_runs
    assert store.get_run(run_id).commands == []      # queued only
    writer = [t for t in threading.enumerate() if t.name == "deployer-run-writer"]
    rec.close()
    run = store.get_run(run_id)
    assert [h.status for h in run.history] == [INIT, STARTED, STARTED, SUCCESS, "UNPACK"]
    assert run.commands[0].exit_code == 0 and run.commands[0].output_tail == "Already up to date.\n"
    assert not any(t.is_alive() for t in writer)      # close() stopped the writer thread
    rec.emit(events[-1])                              # after close(): written at once
    assert store.get_run(run_id).status == SUCCESS and rec.errors == []


def _delete_run(store, run_id: str) -> None:
    if hasattr(store, "directory"):
        os.remove(os.path.join(store.directory, "run_%s.json" % run_id))
    else:
        with store._tx() as cur:
            cur.execute(store._q("DELETE FROM {p}runs WHERE id = ?"), (run_id,))


def test_a_bad_write_loses_only_itself_and_is_reported_once(store):
    """One batch holds the events of two runs; the record of one was deleted meanwhile."""
    err = io.StringIO()
    rec = RunRecorder(store, owns_store=False, stderr=err, batch_interval=NEVER, heartbeat_interval=0)
    rec.emit(ActionStarted(call_id="a", parent_id=None, node_path="Root", action="a"))
    rec.emit(ActionStarted(call_id="b", parent_id=None, node_path="Root", action="b"))
    run_a, run_b = rec.active_runs
    for call_id in ("a", "b", "a", "b"):
        rec.emit(StatusChanged(status="STEP", host="h", call_id=call_id))
    _delete_run(store, run_a)
    rec.emit(ActionFinished(call_id="b", status="SUCCESS"))     # writes the batch: run a's part fails
    assert [h.status for h in store.get_run(run_b).history] == [INIT, STARTED, "STEP", "STEP", SUCCESS]
    assert len(rec.errors) == 1 and "StatusChanged of run %s" % run_a in rec.errors[0]
    assert "1 more write" in rec.errors[0] and err.getvalue().count("\n") == 1
    rec.emit(ActionFinished(call_id="a", status="SUCCESS"))     # no exception either
    assert len(rec.errors) == 2 and rec.active_runs == []
