"""Background runs: a detached process, a record from INIT to its end, on a real SQLite store."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from deployer.runs.background import (background_command, background_request, masked_parameters, parameter_names,
                                     spawn_background, start_background)
from deployer.runs.child import run_arguments
from deployer.runs.errors import BackgroundRunError, RunStoreError
from deployer.runs.model import FAILED, FINAL_STATES, INIT, INTERRUPTED, SUCCESS
from deployer.runs.stores import open_store

from runs_helpers import all_command_lines, sha256, wait_for_file, write_secret_tree

pytestmark = pytest.mark.timeout(90)

SPEC = str(Path(__file__).parent / "runs_nodes" / "nodes.py") + ":Root"


@pytest.fixture
def url(tmp_path, monkeypatch) -> str:
    u = "sqlite://%s" % (tmp_path / "runs.db")
    monkeypatch.setenv("DEPLOYER_RUNS_URL", u)
    return u


def wait_final(url: str, run_id: str, timeout: float = 60):
    store = open_store(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            run = store.get_run(run_id)
            if run.status in FINAL_STATES or time.monotonic() > deadline:
                return run
            time.sleep(0.1)
    finally:
        store.close()


def test_command_line_holds_no_request():
    assert background_command("20240101-abc") == [sys.executable, "-m", "deployer.runs.child", "20240101-abc"]
    request = json.loads(background_request("x.py:Root", "web", "deploy", ["1.2"], sandbox=True))
    assert request["spec"] == os.path.abspath("x.py") + ":Root"
    assert run_arguments(request) == ["run", os.path.abspath("x.py") + ":Root", "--non-interactive", "--path", "web",
                                      "--", "sandbox", "deploy", "1.2"]
    assert "--path" not in run_arguments(json.loads(background_request("pkg.mod:Root", "", "ok", [])))


def test_init_record_parameters_masked():
    def login(self, user, password, *tokens): ...
    names = parameter_names(login)
    assert names == ["user", "password", "*tokens"]
    assert masked_parameters(["al", "pw", "t1"], names) == ["al", "********", "********"]
    assert masked_parameters(["al", "pw"], None) == ["********", "********"]     # names unknown: all masked


def test_parameters_never_on_a_command_line(url, tmp_path):
    secret = "pw-%s" % uuid.uuid4().hex
    spec = write_secret_tree(tmp_path / "tree")
    run_id, proc = spawn_background(spec, "", "login", ["alice", secret])
    try:
        wait_for_file(tmp_path / "tree" / "hash")
        # The action is running now (it waits for the release file): look at every process.
        lines = all_command_lines()
        assert b"deployer.runs.child" in lines[proc.pid]
        assert [pid for pid, line in lines.items() if secret.encode() in line] == []
        running = open_store(url).get_run(run_id)
        assert running.status == "STARTED" and running.args == ["alice", "********"]
    finally:
        (tmp_path / "tree" / "release").touch()
    run = wait_final(url, run_id)
    assert run.status == SUCCESS, run.error
    assert (tmp_path / "tree" / "hash").read_text() == sha256(secret)       # the action got the value
    assert secret not in json.dumps(run.to_dict()) and secret not in Path(run.log_path).read_text()


@pytest.mark.parametrize("request_bytes", [b"", b"[1]", b'{"spec": "x:R", "path": "", "action": "ok", "params": [1]}'])
def test_child_refuses_a_bad_request(url, request_bytes):
    bad = subprocess.run([sys.executable, "-m", "deployer.runs.child", "x"], input=request_bytes,
                         capture_output=True, timeout=30)
    assert bad.returncode == 2 and b"bad request on stdin" in bad.stderr


def test_background_run_succeeds(url):
    started = time.monotonic()
    run_id = start_background(SPEC, "web", "deploy", ["2.0"])
    assert time.monotonic() - started < 5          # returns at once, does not wait for the action
    first = open_store(url).get_run(run_id)
    assert first.status in (INIT, "STARTED") and first.history[0].status == INIT
    run = wait_final(url, run_id)
    assert run.status == SUCCESS, run.error
    assert (run.node_path, run.action, run.args) == ("Root.web", "deploy", ["2.0"])
    assert [h.status for h in run.history if h.kind == "run"] == [INIT, "STARTED", SUCCESS]
    assert run.commands[0].output_tail.strip() == "deploying 2.0"
    assert Path(run.log_path).exists() and oct(os.stat(run.log_path).st_mode & 0o777) == "0o600"


def test_background_run_fails(url):
    run = wait_final(url, start_background(SPEC, "", "fail", []))
    assert run.status == FAILED and "exit status 7" in run.error
    assert run.commands[0].exit_code == 7 and "going wrong" in run.commands[0].output_tail


def test_sandboxed_background_run(url):
    run = wait_final(url, start_background(SPEC, "", "ok", ["hello"], sandbox=True))
    assert run.status == SUCCESS and run.sandbox
    assert run.commands and all(c.sandbox for c in run.commands)
    assert run.commands[0].output_tail == ""           # bash -n: nothing was echoed


def test_unknown_action_fails_with_the_log(url):
    run_id, proc = spawn_background(SPEC, "", "no_such_action", [])
    proc.wait(60)
    run = wait_final(url, run_id, timeout=10)
    assert run.status == FAILED
    assert "before the action started" in run.error and "no_such_action" in run.error
    assert run.history[-1].status == FAILED


def test_crashed_process_reads_as_interrupted(url):
    run_id, proc = spawn_background(SPEC, "", "crash", [], watch=False)
    proc.wait(60)
    run = open_store(url).get_run(run_id)
    assert run.status == INTERRUPTED
    assert run.commands[0].output_tail.strip() == "about to die"


def test_store_that_cannot_be_opened_starts_nothing(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(RunStoreError):
        start_background(SPEC, "", "ok", [], store_url="sqlite://%s/runs.db" % f)


def test_deployer_run_background_prints_the_id(url):
    proc = subprocess.run([sys.executable, "-m", "deployer.cli", "run", SPEC, "--background", "--", "ok", "x"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    assert wait_final(url, run_id).status == SUCCESS


def test_process_that_cannot_be_started_fails_the_record(url, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(BackgroundRunError, match="not started"):
        start_background(SPEC, "", "ok", [])
    [run] = open_store(url).list_runs()
    assert run.status == FAILED and "could not start the background process" in run.error
