"""Audit of the runs issue: every way of running an action leaves a record.

From the shell (real pty), from ``run ACTION``, from library code through
``Env``, a ``BatchProcess`` on its own; sandbox runs flagged; ``DEPLOYER_RECORD=0``
records nothing; a store that cannot be used stops the run and says why; a
background run from the command line, followed to its end. Real SQLite stores,
real processes.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deployer.batch import Batch, BatchProcess
from deployer.host import LocalHost
from deployer.node import Env
from deployer.runs import RunStoreError
from deployer.runs.model import KIND_RUN, KIND_STEP
from deployer.runs.stores import open_store
from shell_helpers import REPO, ROOT_SPEC, Term, child_env
from shell_trees import Root


def _cmd(*args: str, env: dict, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deployer.cli", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=str(REPO), timeout=timeout)


def _only_run(url: str):
    store = open_store(url)
    try:
        [summary] = store.list_runs()
        return store.get_run(summary.id)
    finally:
        store.close()


def _runs(url: str) -> list:
    store = open_store(url)
    try:
        return store.list_runs()
    finally:
        store.close()


def _assert_full_record(run, title: tuple[str, str], command: str, output: str, status: str = "SUCCESS") -> None:
    assert (run.node_path, run.action) == title
    assert run.status == status and run.end is not None and run.user
    assert [h.status for h in run.history if h.kind == KIND_RUN] == ["INIT", "STARTED", status]
    assert all(h.time for h in run.history)
    [cmd] = [c for c in run.commands if c.command == command]
    assert cmd.host == "local1" and cmd.exit_code == (0 if status == "SUCCESS" else cmd.exit_code)
    assert cmd.duration is not None and output in cmd.output_tail


@pytest.fixture
def url(tmp_path, monkeypatch) -> str:
    u = "sqlite://%s" % (tmp_path / "runs.db")
    monkeypatch.setenv("DEPLOYER_RUNS_URL", u)
    monkeypatch.delenv("DEPLOYER_RECORD", raising=False)
    return u


@pytest.fixture
def bad_url(tmp_path) -> str:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    return "sqlite://%s/runs.db" % blocker


@pytest.mark.timeout(60)
def test_an_action_run_in_the_shell_is_recorded(url) -> None:
    term = Term.deployer("run", ROOT_SPEC, env=child_env(DEPLOYER_RUNS_URL=url))
    try:
        term.prompt("Root")
        term.sendline("echo 'from the shell'")
        assert "from the shell" in term.prompt("Root")
    finally:
        term.close()
    _assert_full_record(_only_run(url), ("Root", "echo"), "echo 'from the shell'", "from the shell")


@pytest.mark.timeout(60)
def test_run_action_is_recorded_and_a_failure_names_the_command(url) -> None:
    env = child_env(DEPLOYER_RUNS_URL=url)
    assert _cmd("run", ROOT_SPEC, "--path", "Prod", "deploy", "9", env=env).returncode == 0
    r = _cmd("run", ROOT_SPEC, "fail", env=env)
    assert r.returncode == 1
    failed, deployed = _runs(url)
    assert (deployed.node_path, deployed.action, deployed.args, deployed.status) == ("Root.Prod", "deploy", ["9"],
                                                                                   "SUCCESS")
    run = open_store(url).get_run(failed.id)
    assert run.status == "FAILED" and "false" in (run.error or "")
    assert run.commands[0].exit_code == 1 and "about to fail" in run.commands[0].output_tail


@pytest.mark.timeout(60)
def test_library_code_through_env_is_recorded_and_sandbox_is_flagged(url) -> None:
    assert Env(Root()).echo("from a library") == "from a library"
    Env(Root(), is_sandbox=True).hello()
    sandboxed, plain = _runs(url)
    assert not plain.sandbox and sandboxed.sandbox
    _assert_full_record(open_store(url).get_run(plain.id), ("Root", "echo"), "echo 'from a library'",
                        "from a library")
    run = open_store(url).get_run(sandboxed.id)
    assert run.status == "SUCCESS" and all(c.sandbox for c in run.commands)


@pytest.mark.timeout(60)
def test_a_batch_process_on_its_own_is_a_run(url, tmp_path) -> None:
    batch = Batch(str(tmp_path))
    batch.add("WROTE", "echo written > out.txt")
    batch.add("CHECKED", "grep -q nothing out.txt", description="look for nothing")
    statuses: list[str] = []
    assert BatchProcess(batch, statuses.append, LocalHost()).execute() is False
    assert statuses == ["STARTED", "WROTE", "FAILED"]
    run = _only_run(url)
    assert (run.action, run.args, run.status) == ("batch", [str(tmp_path)], "FAILED")
    assert "CHECKED" in run.error and "exit status 1" in run.error
    steps = [h.status for h in run.history if h.kind == KIND_STEP]
    assert steps == ["STARTED", "WROTE", "FAILED"]
    assert [(c.command, c.exit_code) for c in run.commands] == [("echo written > out.txt", 0),
                                                                ("grep -q nothing out.txt", 1)]


@pytest.mark.timeout(60)
def test_a_batch_inside_an_action_is_part_of_that_run_only(url, tmp_path) -> None:
    from deployer.node import Node

    class Deploy(Node):
        class Hosts:
            host = LocalHost

        def go(self):
            batch = Batch(str(tmp_path))
            batch.add("ONE", "echo one")
            [host] = list(self.hosts)
            return BatchProcess(batch, None, host).execute()

    assert Env(Deploy()).go() is True
    run = _only_run(url)
    assert run.action == "go" and [h.status for h in run.history if h.kind == KIND_STEP] == [
        "STARTED", "ONE", "SUCCESS"]


@pytest.mark.timeout(60)
def test_recording_switched_off(url, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DEPLOYER_RECORD", "0")
    Env(Root()).echo("not recorded")
    batch = Batch(str(tmp_path))
    batch.add("ONE", "true")
    assert BatchProcess(batch, None, LocalHost()).execute()
    r = _cmd("run", ROOT_SPEC, "echo", "x", env=child_env(DEPLOYER_RUNS_URL=url, DEPLOYER_RECORD="0"))
    assert r.returncode == 0
    assert _runs(url) == []


@pytest.mark.timeout(60)
def test_a_store_that_cannot_be_used_stops_the_run_and_says_why(bad_url, monkeypatch, tmp_path) -> None:
    env = child_env(DEPLOYER_RUNS_URL=bad_url)
    r = _cmd("run", ROOT_SPEC, "echo", "never-echoed", env=env)
    assert r.returncode == 1
    assert "Root.echo did not start" in r.stderr and "Cannot use the run store" in r.stderr and "not-a-dir" in r.stderr
    assert "never-echoed" not in r.stdout and "Traceback" not in r.stderr

    # The shell (with and without --log) says so and goes on.
    for extra in ([], ["--log", str(tmp_path / "debug.log")]):
        r = _cmd("run", ROOT_SPEC, *extra, env=env, stdin="echo never-echoed\npwd\n")
        assert r.returncode == 0, r.stderr
        assert "Root.echo did not start: Cannot use the run store" in r.stdout
        assert "never-echoed" not in r.stdout.replace("echo never-echoed", "")
        assert "Traceback" not in r.stdout + r.stderr
        assert r.stdout.index("did not start") < r.stdout.rindex("Root > Root\n")    # pwd ran after it

    monkeypatch.setenv("DEPLOYER_RUNS_URL", bad_url)
    with pytest.raises(RunStoreError):
        Env(Root()).echo("never")
    batch = Batch(str(tmp_path))
    batch.add("ONE", "touch ran.txt")
    with pytest.raises(RunStoreError):
        BatchProcess(batch, None, LocalHost()).execute()
    assert not (tmp_path / "ran.txt").exists()


@pytest.mark.timeout(120)
def test_run_background_from_the_command_line_then_follow(url) -> None:
    env = child_env(DEPLOYER_RUNS_URL=url)
    r = _cmd("run", ROOT_SPEC, "--background", "--", "Prod", "deploy", "5", env=env)
    assert r.returncode == 0, r.stderr
    run_id = r.stdout.strip()
    assert run_id and "\n" not in run_id
    followed = _cmd("runs", "follow", run_id, env=env)
    assert followed.returncode == 0, followed.stdout + followed.stderr
    assert "Run %s ended: SUCCESS" % run_id in followed.stdout
    shown = json.loads(_cmd("runs", "show", run_id, "--json", env=env).stdout)
    assert (shown["node_path"], shown["action"], shown["args"], shown["status"]) == ("Root.Prod", "deploy", ["5"],
                                                                                   "SUCCESS")

    failing = _cmd("run", ROOT_SPEC, "--background", "fail", env=env).stdout.strip()
    f = _cmd("runs", "follow", failing, env=env)
    assert f.returncode == 1 and "ended: FAILED" in f.stdout


@pytest.mark.timeout(60)
def test_run_background_refuses_a_wrong_action_at_once(url) -> None:
    env = child_env(DEPLOYER_RUNS_URL=url)
    for words, why in ((["nope"], "Unknown command or action 'nope'"),
                       (["Prod", "deploy", "1", "2"], "too many positional arguments"),
                       (["Prod"], "is a node")):
        r = _cmd("run", ROOT_SPEC, "--background", "--", *words, env=env)
        assert r.returncode == 2 and r.stdout == ""
        assert "the background run did not start" in r.stderr and why in r.stderr
    assert _runs(url) == []
