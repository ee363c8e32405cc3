"""The run stores: one suite, run against SQLite, PostgreSQL and the JSON directory."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from deployer.runs import recorder_from_environment
from deployer.runs.errors import RunNotFound, RunStoreError
from deployer.runs.model import (FAILED, INIT, INTERRUPTED, KIND_STEP, STARTED, SUCCESS, CommandRecord,
                                 HistoryEntry, Owner, RunRecord)
from deployer.runs.recorder import RunRecorder
from deployer.runs.stores import JSONDirStore, PostgresStore, SQLiteStore, Write, open_store

from runs_helpers import BACKENDS, make_store_url, run_events

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path) -> str:
    return make_store_url(request.param, tmp_path, request)


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


def _run(run_id: str, start: float, node: str = "Root.web", status: str = STARTED, **kw) -> RunRecord:
    return RunRecord(id=run_id, node_path=node, action="deploy", start=start, status=status, **kw)


def test_open_store_picks_backend(tmp_path, request):
    assert isinstance(open_store(make_store_url("sqlite", tmp_path, request)), SQLiteStore)
    assert isinstance(open_store(make_store_url("json", tmp_path, request)), JSONDirStore)
    pg = open_store(make_store_url("postgresql", tmp_path, request))
    assert isinstance(pg, PostgresStore) and "********" in pg.url
    pg.close()


def test_roundtrip(store):
    run = _run("r1", 100.0, args=["v1"], kwargs={"password": "********"}, user="alice", hosts=["a", "b"],
               sandbox=True, owner=Owner(pid=1, hostname="elsewhere"),
               history=[HistoryEntry(time=100.0, status=INIT)])
    store.create_run(run)
    store.add_history("r1", HistoryEntry(time=101.0, status="COPY", kind=KIND_STEP, host="a", detail="scp"))
    store.upsert_command("r1", CommandRecord(command_id="k1", host="a", command="ls", start=101.5))
    store.upsert_command("r1", CommandRecord(command_id="k2", host="b", command="pwd", start=101.6))
    store.upsert_command("r1", CommandRecord(command_id="k1", host="a", command="ls", start=101.5, end=102.0,
                                             exit_code=0, duration=0.5, output_tail="file\n"))
    got = store.get_run("r1")
    assert (got.node_path, got.action, got.args, got.kwargs, got.user, got.hosts, got.sandbox) == \
        ("Root.web", "deploy", ["v1"], {"password": "********"}, "alice", ["a", "b"], True)
    assert got.owner == Owner(pid=1, hostname="elsewhere")
    assert [(h.seq, h.status, h.host) for h in got.history] == [(1, INIT, None), (2, "COPY", "a")]
    assert [(c.seq, c.command_id, c.exit_code, c.output_tail) for c in got.commands] == \
        [(1, "k1", 0, "file\n"), (2, "k2", None, "")]
    assert got.host_statuses() == {"a": "COPY"}


def test_update_and_transition(store):
    store.create_run(_run("r1", 100.0, status=INIT))
    store.update_run("r1", hosts=["h"], user="bob", log_path="/tmp/x.log")
    assert store.transition("r1", HistoryEntry(time=101.0, status=STARTED), expect_status=(INIT,))
    assert not store.transition("r1", HistoryEntry(time=102.0, status=STARTED), expect_status=(INIT,))
    assert store.transition("r1", HistoryEntry(time=103.0, status=SUCCESS), end=103.0)
    got = store.get_run("r1")
    assert (got.status, got.end, got.user, got.hosts, got.log_path) == (SUCCESS, 103.0, "bob", ["h"], "/tmp/x.log")
    assert [h.status for h in got.history] == [STARTED, SUCCESS]
    with pytest.raises(ValueError):
        store.update_run("r1", status=FAILED)      # status only changes through transition()


def test_missing_run(store):
    with pytest.raises(RunNotFound):
        store.get_run("nope")
    with pytest.raises(RunNotFound):
        store.add_history("nope", HistoryEntry(time=1.0, status="X"))
    with pytest.raises(RunNotFound):
        store.get_run("../../etc/passwd")


def test_list_filters_newest_first(store):
    store.create_run(_run("a", 100.0, node="Root.web", status=SUCCESS))
    store.create_run(_run("b", 200.0, node="Root.webx", status=FAILED))
    store.create_run(_run("c", 300.0, node="Root.web.git", status=SUCCESS))
    store.create_run(_run("d", 400.0, node="Root", status=FAILED))
    assert [r.id for r in store.list_runs()] == ["d", "c", "b", "a"]
    assert [r.id for r in store.list_runs(status=FAILED)] == ["d", "b"]
    assert [r.id for r in store.list_runs(node="Root.web")] == ["c", "a"]
    assert [r.id for r in store.list_runs(since=250.0)] == ["d", "c"]
    assert [r.id for r in store.list_runs(limit=2)] == ["d", "c"]
    assert [r.id for r in store.list_runs(limit=2, offset=1)] == ["c", "b"]
    assert [r.id for r in store.list_runs(offset=3)] == ["a"]
    assert store.list_runs(offset=10 ** 20) == [] and store.list_runs(limit=10 ** 20, offset=10 ** 19) == []
    assert store.list_runs()[0].history == []       # lists are summaries


def test_dead_owner_reads_as_interrupted(store):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = Owner.of_process(proc.pid)
    proc.wait()
    store.create_run(_run("dead", 100.0, owner=owner))
    store.create_run(_run("alive", 101.0, owner=Owner.of_process()))
    store.create_run(_run("remote", 102.0, owner=Owner(pid=1, hostname="another-machine")))
    listed = {r.id: r.status for r in store.list_runs()}
    assert listed == {"dead": INTERRUPTED, "alive": STARTED, "remote": STARTED}
    got = store.get_run("dead")
    assert got.history[-1].status == INTERRUPTED and got.end is not None
    assert "ended without finishing" in got.error


def test_recycled_pid_is_not_the_owner(store):
    me = Owner.of_process()
    store.create_run(_run("r", 100.0, owner=Owner(me.pid, me.hostname, me.boot_id, me.proc_start + 1)))
    assert store.get_run("r").status == INTERRUPTED


def _crashing_deployer(url: str, ready, batch_written: bool) -> None:
    # A deploying process that dies mid-run, without any chance to clean up: after the
    # writer thread wrote its batch of events, or (a huge batch interval) before.
    recorder = RunRecorder(open_store(url), batch_interval=0.05 if batch_written else 3600, heartbeat_interval=0)
    events = list(run_events(call_id="crash"))
    for event in events[:4]:
        recorder.emit(event)
    if batch_written:
        watcher = open_store(url)
        deadline = time.monotonic() + 30
        while not watcher.get_run(recorder.active_runs[0]).commands and time.monotonic() < deadline:
            time.sleep(0.01)
    ready.set()
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("batch_written", [True, False], ids=["after-a-batch", "before-any-batch"])
def test_crash_of_deploying_process(store, store_url, batch_written):
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    p = ctx.Process(target=_crashing_deployer, args=(store_url, ready, batch_written))
    p.start()
    p.join(30)
    assert ready.is_set() and p.exitcode == -signal.SIGKILL
    [run] = store.list_runs()
    assert run.status == INTERRUPTED
    full = store.get_run(run.id)
    if batch_written:
        assert [h.status for h in full.history] == [INIT, STARTED, STARTED, INTERRUPTED]
        assert full.commands[0].command == "git pull" and full.commands[0].exit_code is None
        assert full.commands[0].output_tail == ""       # its output was in memory only (tails: once a second)
    else:
        # Only the events of the last batch interval are lost; the run itself was written at once.
        assert [h.status for h in full.history] == [INIT, STARTED, INTERRUPTED] and full.commands == []


def _writer(url: str, n: int, worker: int, shared_run: str) -> None:
    s = open_store(url)
    for i in range(n):
        s.create_run(_run("w%d-%d" % (worker, i), 1000.0 + worker * n + i, status=SUCCESS))
        s.add_history(shared_run, HistoryEntry(time=time.time(), status="W%d" % worker, kind=KIND_STEP))
        s.upsert_command(shared_run, CommandRecord(command_id="w%d-%d" % (worker, i), host="h%d" % worker,
                                                   command="true", start=time.time()))
    s.close()


def test_several_writer_processes(store, store_url):
    store.create_run(_run("shared", 1.0, status=SUCCESS))
    workers, n = 4, 15
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(store_url, n, w, "shared")) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(50)
    assert [p.exitcode for p in procs] == [0] * workers
    assert len(store.list_runs()) == workers * n + 1
    shared = store.get_run("shared")
    assert [h.seq for h in shared.history] == list(range(1, workers * n + 1))
    assert sorted(c.seq for c in shared.commands) == list(range(1, workers * n + 1))
    for w in range(workers):
        assert sum(h.status == "W%d" % w for h in shared.history) == n


def test_readers_never_see_half_a_record(store, store_url):
    store.create_run(_run("r", 1.0))
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[int] = []

    def read() -> None:
        reader = open_store(store_url)
        try:
            while not stop.is_set():
                seen.append(len(reader.get_run("r").history))
        except BaseException as e:      # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            reader.close()

    t = threading.Thread(target=read)
    t.start()
    try:
        for i in range(100):
            store.add_history("r", HistoryEntry(time=float(i), status="S%d" % i, detail="x" * 2000))
    finally:
        stop.set()
        t.join(20)
    assert errors == []
    assert seen == sorted(seen) and len(store.get_run("r").history) == 100


def test_store_that_cannot_be_opened(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(RunStoreError, match="a-file"):
        open_store("sqlite://%s/runs.db" % blocker)
    with pytest.raises(RunStoreError, match="a-file"):
        open_store("json://%s/runs" % blocker)
    with pytest.raises(RunStoreError, match="unknown store scheme"):
        open_store("mongodb://x")
    with pytest.raises(RunStoreError, match="absolute"):
        open_store("sqlite://relative.db")


def test_postgres_that_cannot_be_reached(pg_bed):
    from deployer.testing.procs import free_port
    url = "postgresql://u:secretpw@127.0.0.1:%d/db" % free_port()
    with pytest.raises(RunStoreError) as info:
        open_store(url)
    assert "secretpw" not in str(info.value) and "127.0.0.1" in str(info.value)
    bad_password = pg_bed.url.replace(pg_bed.password, "wrong")
    with pytest.raises(RunStoreError, match="password"):
        open_store(bad_password)


def test_recorder_from_environment(tmp_path, state_dir):
    env = {"DEPLOYER_RECORD": "0"}
    assert recorder_from_environment(env) is None
    env = {}
    rec = recorder_from_environment(env)
    assert isinstance(rec, RunRecorder) and rec.store.url == "sqlite://%s" % (state_dir / "runs.db")
    rec.close()
    env = {"DEPLOYER_RUNS_URL": "json://%s" % (tmp_path / "j"), "DEPLOYER_RUN_ID": "given-id"}
    rec = recorder_from_environment(env)
    other = recorder_from_environment(env)       # a second Env of the same process
    for event in run_events():
        rec.emit(event)
    for event in run_events(call_id="again"):
        other.emit(event)
    assert rec.store.get_run("given-id").status == SUCCESS
    assert len(rec.store.list_runs()) == 2       # the id was taken once only
    rec.close()
    other.close()
    blocker = tmp_path / "f"
    blocker.write_text("")
    with pytest.raises(RunStoreError, match="Cannot use the run store"):
        recorder_from_environment({"DEPLOYER_RUNS_URL": "sqlite://%s/x.db" % blocker})


# -- heartbeats: runs of another machine ------------------------------------------------

ELSEWHERE = Owner(pid=4242, hostname="another-machine.example", boot_id="b", proc_start=1)


def test_other_machine_run_with_old_heartbeat_reads_as_interrupted(store):
    now = store.now()
    store.create_run(_run("old", now - 2000, owner=ELSEWHERE, heartbeat_at=now - 1000))
    store.create_run(_run("fresh", now - 2000, owner=ELSEWHERE, heartbeat_at=now))
    store.create_run(_run("never", now - 2000, owner=ELSEWHERE))           # by a deployer without heartbeats
    store.create_run(_run("waiting", now - 2000, owner=ELSEWHERE, status=INIT, heartbeat_at=now - 1000))
    listed = {r.id: r.status for r in store.list_runs()}
    assert listed == {"old": INTERRUPTED, "fresh": STARTED, "never": STARTED, "waiting": INIT}
    old = store.get_run("old")
    assert old.end is not None and "no heartbeat from process 4242 on another-machine.example" in old.error
    assert [h.status for h in old.history] == [INTERRUPTED]
    assert store.get_run("fresh").status == STARTED


def test_get_run_alone_ends_a_stale_run(store):
    now = store.now()
    store.create_run(_run("r", now - 100, owner=ELSEWHERE, heartbeat_at=now - 60))
    assert store.get_run("r").status == INTERRUPTED


def test_stale_bound_is_configurable(store_url):
    with open_store(store_url, stale_after=3600) as patient:
        now = patient.now()
        patient.create_run(_run("r", now - 2000, owner=ELSEWHERE, heartbeat_at=now - 1000))
        assert patient.get_run("r").status == STARTED
    with open_store(store_url, stale_after=500) as strict:
        assert strict.get_run("r").status == INTERRUPTED


def test_live_local_owner_is_trusted_over_its_heartbeat(store):
    # A process of this machine that is alive (say stopped with Ctrl-Z) keeps its run.
    now = store.now()
    store.create_run(_run("r", now - 2000, owner=Owner.of_process(), heartbeat_at=now - 1000))
    assert [r.status for r in store.list_runs()] == [STARTED]


def test_heartbeat_only_for_started_runs(store):
    store.create_run(_run("r", 100.0, owner=ELSEWHERE))
    assert store.heartbeat("r") and store.get_run("r").heartbeat_at >= store.now() - 60
    store.transition("r", HistoryEntry(time=101.0, status=SUCCESS), end=101.0)
    assert not store.heartbeat("r")
    with pytest.raises(RunNotFound):
        store.get_run("nope")
    assert not store.heartbeat("nope")


def test_a_heartbeat_wins_over_a_reader_that_saw_it_stale(store):
    now = store.now()
    store.create_run(_run("r", now - 100, owner=ELSEWHERE, heartbeat_at=now - 60))
    assert store.heartbeat("r")             # the owner is alive after all, between read and write
    assert not store.transition("r", HistoryEntry(time=now, status=INTERRUPTED), expect_status=(STARTED,),
                                expect_heartbeat_before=now - 15)
    assert store.get_run("r").status == STARTED


_OLD_RUNS_TABLE = """CREATE TABLE {p}runs (
    id TEXT PRIMARY KEY, node_path TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL,
    start_time DOUBLE PRECISION NOT NULL, end_time DOUBLE PRECISION, args TEXT NOT NULL,
    kwargs TEXT NOT NULL, username TEXT NOT NULL, hosts TEXT NOT NULL, sandbox INTEGER NOT NULL,
    error TEXT, owner TEXT, log_path TEXT)"""
_OLD_ROW = ("INSERT INTO {p}runs VALUES ('old1', 'Root', 'deploy', 'STARTED', 100, NULL, '[]', '{{}}', 'bob', "
            "'[]', 0, NULL, '{{\"pid\": 1, \"hostname\": \"another-machine.example\"}}', NULL)")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_tables_of_an_older_deployer_get_the_heartbeat_column(backend, tmp_path, request):
    url = make_store_url(backend, tmp_path, request)
    if backend == "sqlite":
        import sqlite3
        conn = sqlite3.connect(url[len("sqlite://"):])
        conn.execute(_OLD_RUNS_TABLE.format(p=""))
        conn.execute(_OLD_ROW.format(p=""))
        conn.commit()
        conn.close()
    else:
        import psycopg
        base, _, schema = url.partition("?schema=")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute('CREATE SCHEMA "%s"' % schema)
            conn.execute(_OLD_RUNS_TABLE.format(p='"%s".' % schema))
            conn.execute(_OLD_ROW.format(p='"%s".' % schema))
    with open_store(url) as store:
        old = store.get_run("old1")
        assert (old.status, old.heartbeat_at, old.user) == (STARTED, None, "bob")    # nothing to judge it by
        assert store.heartbeat("old1") and store.get_run("old1").heartbeat_at is not None
    with open_store(url) as again:           # opening a migrated store again changes nothing
        assert again.get_run("old1").heartbeat_at is not None


def _batch_of(run_id: str, n: int, tag: str = "B") -> list[Write]:
    writes = []
    for i in range(n):
        writes.append(Write("add_history", run_id, HistoryEntry(time=float(i), status="%s%d" % (tag, i),
                                                                kind=KIND_STEP, detail="x" * 500)))
        writes.append(Write("upsert_command", run_id, CommandRecord(command_id="%s%d" % (tag, i), host="h",
                                                                    command="c%d" % i, start=float(i))))
    return writes


def test_apply_writes_in_order_and_returns_each_result(store):
    store.create_run(_run("r", 1.0, owner=ELSEWHERE))
    results = store.apply([
        Write("add_history", "r", HistoryEntry(time=2.0, status="COPY", kind=KIND_STEP)),
        Write("upsert_command", "r", CommandRecord(command_id="k1", host="h", command="ls", start=2.0)),
        Write("upsert_command", "r", CommandRecord(command_id="k2", host="h", command="pwd", start=2.1)),
        Write("upsert_command", "r", CommandRecord(command_id="k1", host="h", command="ls", start=2.0, end=3.0,
                                                   exit_code=0)),
        Write("heartbeat", "r"),
        Write("transition", "r", HistoryEntry(time=4.0, status=SUCCESS), end=4.0, expect_status=(STARTED,)),
        Write("transition", "r", HistoryEntry(time=5.0, status=FAILED), expect_status=(STARTED,)),   # refused
        Write("heartbeat", "r"),                                                                    # not STARTED
    ])
    assert results == [None, None, None, None, True, True, False, False]
    run = store.get_run("r")
    assert [(h.seq, h.status) for h in run.history] == [(1, "COPY"), (2, SUCCESS)]
    assert [(c.seq, c.command_id, c.exit_code) for c in run.commands] == [(1, "k1", 0), (2, "k2", None)]
    assert run.status == SUCCESS and run.end == 4.0 and run.heartbeat_at is not None
    assert store.apply([]) == []
    with pytest.raises(ValueError):
        Write("_get", "r")


def test_a_failing_batch_writes_nothing(store):
    store.create_run(_run("r", 1.0, owner=ELSEWHERE))
    store.add_history("r", HistoryEntry(time=1.5, status="BEFORE", kind=KIND_STEP))
    with pytest.raises(RunNotFound):
        store.apply(_batch_of("r", 5) + [Write("add_history", "missing", HistoryEntry(time=2.0, status="X"))]
                    + _batch_of("r", 5, tag="A"))
    run = store.get_run("r")
    assert [h.status for h in run.history] == ["BEFORE"] and run.commands == []
    with pytest.raises(Exception):              # a run created in the failed batch is gone too
        store.apply([Write("create_run", _run("new", 2.0)), Write("create_run", _run("new", 2.0))])
    assert [r.id for r in store.list_runs()] == ["r"]
    store.apply(_batch_of("r", 2))              # the store still works
    assert len(store.get_run("r").history) == 3


def test_a_batch_reads_its_own_writes_and_nests(store):
    store.create_run(_run("r", 1.0, owner=ELSEWHERE))
    with store.batch():
        store.add_history("r", HistoryEntry(time=2.0, status="ONE", kind=KIND_STEP))
        with store.batch():                     # joins the outer batch
            store.upsert_command("r", CommandRecord(command_id="k", host="h", command="ls", start=2.0))
        inside = store.get_run("r")
        assert [h.status for h in inside.history] == ["ONE"] and len(inside.commands) == 1
        inside.history.clear()                  # a copy: changing it changes nothing stored
    assert [h.status for h in store.get_run("r").history] == ["ONE"]


def test_readers_never_see_a_batch_half_applied(store, store_url):
    """Each batch is one transaction (JSON: one atomic replace per run): a reader sees all of it or none."""
    store.create_run(_run("r", 1.0, owner=ELSEWHERE))
    n, batches = 150, 4
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[tuple[int, int]] = []

    def read() -> None:
        reader = open_store(store_url)
        try:
            while not stop.is_set():
                run = reader.get_run("r")
                seen.append((len(run.history), len(run.commands)))
        except BaseException as e:      # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            reader.close()

    def reader_reads_again() -> None:
        # Interleave: the reader reads between batches (and tries to during them).
        count, deadline = len(seen), time.monotonic() + 20
        while len(seen) == count and not errors and time.monotonic() < deadline:
            time.sleep(0.001)

    t = threading.Thread(target=read)
    t.start()
    try:
        reader_reads_again()
        for b in range(batches):
            store.apply(_batch_of("r", n, tag="B%d-" % b))
            reader_reads_again()
    finally:
        stop.set()
        t.join(20)
    assert errors == [] and len(seen) > batches
    assert set(seen) <= {(b * n, b * n) for b in range(batches + 1)}, sorted(set(seen))
    run = store.get_run("r")
    assert [h.seq for h in run.history] == list(range(1, batches * n + 1))
    assert [c.command_id for c in run.commands] == ["B%d-%d" % (b, i) for b in range(batches) for i in range(n)]
