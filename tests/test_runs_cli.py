"""``deployer runs list|show|follow`` and the text views, on a real SQLite store."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time

import pytest

from deployer.loggers.events import (ActionFinished, ActionStarted, CommandFinished, CommandOutput,
                                     CommandStarted, StatusChanged)
from deployer.runs import cli
from deployer.runs.model import FAILED, SUCCESS, RunRecord
from deployer.runs.recorder import RunRecorder
from deployer.runs.stores import open_store
from deployer.runs.views import follow, render_list, render_show

from runs_helpers import run_events

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def url(tmp_path, monkeypatch) -> str:
    u = "sqlite://%s" % (tmp_path / "runs.db")
    monkeypatch.setenv("DEPLOYER_RUNS_URL", u)
    return u


def _record(url: str, **kw) -> str:
    store = open_store(url)
    rec = RunRecorder(store)
    for event in run_events(**kw):
        rec.emit(event)
    run_id = store.list_runs(limit=1)[0].id
    rec.close()
    return run_id


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_list_and_filters(url):
    ok = _record(url, call_id="a", node_path="Root.web", t0=time.time() - 7200)
    bad = _record(url, call_id="b", node_path="Root.db", fail=True, t0=time.time() - 60)
    code, out, _ = _main("list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "STARTED"]
    assert lines[1].startswith(bad) and "FAILED" in lines[1] and "Root.db.deploy" in lines[1]
    assert lines[2].startswith(ok) and "SUCCESS" in lines[2]
    assert _main("list", "--status", "failed")[1].count("\n") == 2
    assert ok not in _main("list", "--node", "Root.db")[1]
    assert ok not in _main("list", "--since", "1h")[1] and bad in _main("list", "--since", "1h")[1]
    assert _main("list", "--since", "2001-01-01")[1].count("\n") == 3
    code, out, _ = _main("list", "--json", "--limit", "1")
    assert code == 0 and out.count("\n") == 1 and '"id": "%s"' % bad in out
    assert _main("list", "--since", "yesterday-ish")[0] == 2


def test_show(url):
    run_id = _record(url, fail=True)
    code, out, _ = _main("show", run_id)
    assert code == 0
    assert "Run %s: FAILED" % run_id in out and "error:   boom" in out
    assert "[web1] UNPACK  tar xzf" in out and "web1                 UNPACK" in out
    assert "[web1] git pull  (exit 1, 0.5s)" in out and "| Already up to date." in out
    for status in ("INIT", "STARTED", "FAILED"):
        assert "run    %s" % status in out
    code, out, err = _main("show", "no-such-run")
    assert code == 1 and "No run with id 'no-such-run'" in err


def test_bad_store_says_why(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    code, _, err = _main("--store", "sqlite://%s/x.db" % f, "list")
    assert code == 1 and "Cannot use the run store" in err


def test_render_list_empty_and_sandbox():
    assert render_list([]) == "No runs recorded.\n"
    r = RunRecord(id="x", node_path="", action="a", start=0.0, end=90.0, status=SUCCESS, sandbox=True,
                  hosts=["a", "b", "c", "d"])
    text = render_list([r])
    assert "SUCCESS (sandbox)" in text and "1m30s" in text and "a,b,... (4)" in text


def _live_run(url: str, status: str, started: threading.Event) -> None:
    rec = RunRecorder(open_store(url), output_flush_interval=0.05)
    rec.emit(ActionStarted(call_id="c", parent_id=None, node_path="Root", action="slow", hosts=("h",)))
    started.set()
    time.sleep(0.3)
    rec.emit(StatusChanged(status="COPY", host="h", call_id="c"))
    rec.emit(CommandStarted(command_id="k", host="h", command="make all", call_id="c"))
    for i in range(5):
        rec.emit(CommandOutput(command_id="k", host="h", data="building %d\n" % i, call_id="c"))
        time.sleep(0.1)
    rec.emit(CommandFinished(command_id="k", host="h", command="make all", exit_code=0, duration=0.5, call_id="c"))
    rec.emit(StatusChanged(status="DEPLOYED", host="h", call_id="c"))
    rec.emit(ActionFinished(call_id="c", status=status, error=None if status == SUCCESS else "it broke"))
    rec.close()


def test_follow_streams_until_the_end(url):
    started = threading.Event()
    t = threading.Thread(target=_live_run, args=(url, SUCCESS, started))
    t.start()
    started.wait(10)
    store = open_store(url)
    run_id = store.list_runs()[0].id
    chunks: list[str] = []
    final = follow(store, run_id, chunks.append, poll_interval=0.05, timeout=20)
    t.join()
    text = "".join(chunks)
    assert final.status == SUCCESS
    order = ["STARTED", "[h] COPY", "[h] $ make all", "| building 0", "| building 4", "[h] exit 0",
             "[h] DEPLOYED", "Run %s ended: SUCCESS" % run_id]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert text.count("building 2") == 1           # each output line once, though polled repeatedly


@pytest.mark.parametrize("status,code", [(SUCCESS, 0), (FAILED, 1)])
def test_follow_command_exit_code(url, status, code):
    started = threading.Event()
    t = threading.Thread(target=_live_run, args=(url, status, started))
    t.start()
    started.wait(10)
    run_id = open_store(url).list_runs()[0].id
    proc = subprocess.run([sys.executable, "-m", "deployer.runs.cli", "follow", run_id, "--interval", "0.05"],
                          capture_output=True, text=True, timeout=30, env=dict(os.environ))
    t.join()
    assert proc.returncode == code, proc.stderr
    assert "ended: %s" % status in proc.stdout


def test_show_of_a_live_run(url):
    started = threading.Event()
    t = threading.Thread(target=_live_run, args=(url, SUCCESS, started))
    t.start()
    started.wait(10)
    store = open_store(url)
    text = render_show(store.get_run(store.list_runs()[0].id))
    t.join()
    assert "STARTED" in text and "ended:   -" in text
