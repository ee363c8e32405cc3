"""Batches on real hosts: LocalHost, and the loopback SSH hosts of the test bed."""
from __future__ import annotations

import time

import pytest

from deployer.batch import (ACCEPTED, FAILED_EXIT, OK, PENDING, TIMED_OUT, Batch, BatchFailed, BatchProcess,
                            command_text)
from deployer.host import LocalHost
from deployer.loggers.events import ActionFinished, ActionStarted
from deployer.runs.model import KIND_STEP, SUCCESS
from deployer.runs.recorder import RunRecorder
from deployer.runs.stores import open_store

pytestmark = pytest.mark.timeout(60)


def _process(batch: Batch, host=None):
    statuses: list[str] = []
    return BatchProcess(batch, statuses.append, host or LocalHost()), statuses


def test_all_steps_succeed_in_cwd(tmp_path):
    batch = Batch(str(tmp_path))
    batch.add("WHERE", "pwd")
    batch.add("TOUCHED", ["touch", "a file"], description="create a file")
    batch.add("LISTED", "ls")
    process, statuses = _process(batch)
    assert process.execute() is True
    assert statuses == ["STARTED", "WHERE", "TOUCHED", "LISTED", "SUCCESS"]
    assert (tmp_path / "a file").exists()
    where, touched, listed = process.results
    assert where.output.strip() == str(tmp_path) and where.exit_code == 0 and where.outcome == OK
    assert "a file" in listed.output
    assert all(r.duration is not None and r.duration >= 0 for r in process.results)
    assert process.success and process.failed_step is None


def test_list_commands_are_quoted(tmp_path):
    assert command_text(["echo", "it's", "$HOME"]) == "echo 'it'\"'\"'s' '$HOME'"
    batch = Batch(str(tmp_path))
    batch.add("ECHO", ["printf", "%s|", "it's", "$HOME", "a;b"])
    process, _ = _process(batch)
    assert process.execute()
    assert process.results[0].output == "it's|$HOME|a;b|"


def test_first_failure_stops_the_batch(tmp_path):
    batch = Batch(str(tmp_path))
    batch.add("ONE", "echo one")
    batch.add("TWO", "echo broken >&2; exit 3")
    batch.add("THREE", "touch three")
    process, statuses = _process(batch)
    assert process.execute() is False
    assert statuses == ["STARTED", "ONE", "FAILED"]
    one, two, three = process.results
    assert (two.outcome, two.exit_code, two.output.strip()) == (FAILED_EXIT, 3, "broken")
    assert three.outcome == PENDING and not (tmp_path / "three").exists()
    assert process.failed_step is two and not process.success


def test_accepted_error_continues(tmp_path):
    batch = Batch(str(tmp_path))
    batch.add("REMOVED", "rm no-such-file", accept_error=True)
    batch.add("DONE", "true")
    process, statuses = _process(batch)
    assert process.execute()
    assert statuses == ["STARTED", "REMOVED", "DONE", "SUCCESS"]
    assert process.results[0].outcome == ACCEPTED and process.results[0].exit_code == 1


def test_step_timeout(tmp_path):
    batch = Batch(str(tmp_path), timeout=30)
    batch.add("QUICK", "true")
    batch.add("SLOW", "sleep 20", timeout=0.5, accept_error=True)   # a timeout is never accepted
    process, statuses = _process(batch)
    started = time.monotonic()
    assert process.execute() is False
    assert time.monotonic() - started < 10
    assert process.results[0].step.timeout == 30
    slow = process.results[1]
    assert slow.outcome == TIMED_OUT and slow.exit_code is None and "0.5" in slow.error
    assert statuses[-1] == "FAILED"


def test_raise_on_failure_names_host_step_and_output(tmp_path):
    batch = Batch(str(tmp_path))
    batch.add("UNPACK", "echo 'tar: bad archive'; exit 2")
    process, statuses = _process(batch)
    with pytest.raises(BatchFailed) as info:
        process.execute(raise_on_failure=True)
    msg = str(info.value)
    assert "UNPACK" in msg and "exit status 2" in msg and "tar: bad archive" in msg and "%r" % LocalHost.slug in msg
    assert statuses[-1] == "FAILED"
    with pytest.raises(Exception, match="started already"):
        process.execute()


def test_home_cwd_and_clear():
    batch = Batch("~")
    batch.add("X", "false")
    batch.clear()
    batch.add("HOME", "pwd")
    process, _ = _process(batch)
    assert process.execute() and len(batch) == 1
    assert process.results[0].output.strip() == LocalHost().run("cd ~ && pwd", interactive=False,
                                                                 silent=True).strip()


def test_steps_reach_the_run_record(tmp_path):
    store = open_store("sqlite://%s" % (tmp_path / "runs.db"))
    recorder = RunRecorder(store, owns_store=False)
    recorder.emit(ActionStarted(call_id="call", parent_id=None, node_path="Root", action="deploy",
                                hosts=("LocalHost",)))
    host = LocalHost(logger=recorder.bind("call"))
    batch = Batch(str(tmp_path))
    batch.add("COPY", "echo copied")
    batch.add("REMOVED", "exit 1", accept_error=True)
    batch.add("DEPLOYED", "echo deployed")
    assert BatchProcess(batch, None, host).execute()
    recorder.emit(ActionFinished(call_id="call", status="SUCCESS"))
    run = store.get_run(store.list_runs()[0].id)
    assert run.status == SUCCESS
    steps = [(h.status, h.host) for h in run.history if h.kind == KIND_STEP]
    slug = host.slug or "LocalHost"
    assert steps == [(s, slug) for s in ("STARTED", "COPY", "REMOVED", "DEPLOYED", "SUCCESS")]
    assert [(c.exit_code, c.output_tail.strip()) for c in run.commands] == [(0, "copied"), (1, ""), (0, "deployed")]
    assert all(c.duration is not None for c in run.commands)
    assert run.host_statuses() == {slug: "SUCCESS"}


@pytest.mark.ssh
def test_batch_on_ssh_hosts(ssh_bed):
    for i in range(2):
        host = ssh_bed.host_class(i)()
        batch = Batch("~")
        batch.add("MKDIR", "mkdir -p batch-test && cd batch-test && pwd")
        batch.add("FAIL", "echo nope; exit 4")
        batch.add("NEVER", "echo never")
        process, statuses = _process(batch, host)
        assert process.execute() is False
        assert statuses == ["STARTED", "MKDIR", "FAILED"]
        assert process.results[0].output.strip().endswith("/batch-test")
        assert (process.results[1].exit_code, process.results[1].output.strip()) == (4, "nope")
