"""Audit of the shell issue: what a user does that the first tests left out.

The tree-wide ``scp`` command, ``--run-with-sudo``, the SCP shell's editors and
shells (``edit``, ``ledit``, ``connect``, ``lconnect`` with ``EDITOR``/``SHELL``
set to small scripts), the shell's ``runs`` views with their filters, and a
special command that fails without ending the shell. All through a real pty or
a real pipe, on LocalHost.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shell_helpers import ROOT_SPEC, Term, child_env
from test_client import deployer_cmd


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.mark.timeout(60)
def test_tree_wide_scp_asks_which_host_and_moves_files(tmp_path) -> None:
    local, remote = tmp_path / "local", tmp_path / "remote"
    local.mkdir()
    remote.mkdir()
    (local / "up.txt").write_text("up")
    term = Term.deployer("scp", ROOT_SPEC)
    try:
        term.expect("Open an SCP shell to which host\\?")
        term.expect("local1")
        term.expect("local2")
        term.sendline("local2")
        term.expect("local2:.* scp >")
        term.sendline("cd %s" % remote)
        term.expect("local2:%s .*scp >" % remote)
        term.sendline("lcd %s" % local)
        term.expect("scp >")
        term.sendline("put up.txt")
        term.expect("Uploaded .*up.txt to local2:%s/up.txt" % remote)
        term.sendline("exit")
        assert term.wait_exit() == 0
    finally:
        term.close()
    assert (remote / "up.txt").read_text() == "up"


@pytest.mark.timeout(60)
def test_tree_wide_scp_without_an_answer_is_a_short_error() -> None:
    r = deployer_cmd("scp", ROOT_SPEC, stdin="")
    assert r.returncode != 0
    assert "Open an SCP shell to which host?" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.timeout(60)
def test_run_with_sudo_runs_the_command_as_root(shell: Term) -> None:
    # The test machine runs the suite as root or with passwordless sudo (as .ci/run sets up).
    shell.sendline("--run-with-sudo id -un; echo 'two  spaces'")
    out = shell.prompt("Root")
    assert "root" in out and "two  spaces" in out
    shell.sendline("--run-with-sudo")
    assert "usage: --run-with-sudo COMMAND" in shell.prompt("Root")


@pytest.fixture
def shell() -> Term:
    term = Term.deployer("run", ROOT_SPEC)
    term.prompt("Root")
    yield term
    term.close()


@pytest.mark.timeout(90)
def test_scp_edit_ledit_connect_lconnect(tmp_path) -> None:
    remote, local = tmp_path / "remote", tmp_path / "local"
    remote.mkdir()
    local.mkdir()
    (remote / "notes.txt").write_text("first\n")
    (local / "todo.txt").write_text("one\n")
    editor = _script(tmp_path / "editor.sh", 'echo "edited by editor" >> "$1"\necho "EDITOR ran on $1"\n')
    fake_shell = _script(tmp_path / "shell.sh", 'echo "SHELL ran in $(pwd)"\nexit 0\n')
    env = child_env(EDITOR=editor, SHELL=fake_shell)
    term = Term.deployer("run", ROOT_SPEC, "--scp", env=env)
    try:
        term.expect("scp >")
        term.sendline("cd %s" % remote)
        term.expect("scp >")
        term.sendline("lcd %s" % local)
        term.expect("scp >")
        term.sendline("edit notes.txt")
        term.expect("EDITOR ran on %s/notes.txt" % remote)
        term.expect("scp >")
        term.sendline("ledit todo.txt")
        term.expect("EDITOR ran on %s/todo.txt" % local)
        term.expect("scp >")
        term.sendline("connect")
        term.expect("SHELL ran in %s" % remote)
        term.expect("scp >")
        term.sendline("lconnect")
        term.expect("SHELL ran in %s" % local)
        term.expect("scp >")
        term.sendline("edit")
        term.expect("usage: edit FILE")
        term.sendline("exit")
        assert term.wait_exit() == 0
    finally:
        term.close()
    assert (remote / "notes.txt").read_text() == "first\nedited by editor\n"
    assert (local / "todo.txt").read_text() == "one\nedited by editor\n"


@pytest.mark.timeout(60)
def test_a_failing_special_command_does_not_end_the_shell() -> None:
    # --connect on a node with two hosts asks which one; --non-interactive cannot answer.
    r = deployer_cmd("run", ROOT_SPEC, "--non-interactive", stdin="--connect TwoHosts\npwd\n")
    assert r.returncode == 0, r.stderr
    assert "No answer to 'Connect to which host?'" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    # pwd, after the error: the shell went on.
    assert r.stdout.index("No answer") < r.stdout.rindex("\nRoot\n")


@pytest.mark.timeout(120)
def test_runs_views_and_filters_in_the_shell(tmp_path) -> None:
    store = "sqlite://%s" % (tmp_path / "runs.db")
    env = child_env(DEPLOYER_RUNS_URL=store)
    term = Term.deployer("run", ROOT_SPEC, env=env)
    try:
        term.prompt("Root")
        term.sendline("echo first")
        term.prompt("Root")
        term.sendline("fail")
        term.prompt("Root")
        term.sendline("Prod deploy 3")
        term.prompt("Root")
        term.sendline("sandbox hello")
        term.prompt("Root")

        term.sendline("runs")
        listing = term.prompt("Root")
        for title in ("Root.echo", "Root.fail", "Root.Prod.deploy", "Root.hello"):
            assert title in listing
        assert listing.index("Root.Prod.deploy") < listing.index("Root.echo")       # newest first
        assert "SUCCESS (sandbox)" in listing

        term.sendline("runs list --status failed")
        failed = term.prompt("Root")
        assert "Root.fail" in failed and "Root.echo" not in failed

        term.sendline("runs list --node Root.Prod --since 1h")
        prod = term.prompt("Root")
        assert "Root.Prod.deploy" in prod and "Root.echo" not in prod

        term.sendline("runs list 1")
        one = term.prompt("Root")
        assert "Root.hello" in one and "Root.Prod.deploy" not in one

        term.sendline("runs list --since 2099-01-01")
        assert "No runs recorded." in term.prompt("Root")

        term.sendline("runs list --status nonsense")
        assert "invalid choice" in term.prompt("Root")

        term.sendline("runs list --status failed --json")
        failed_json = term.prompt("Root")
        run_id = __import__("json").loads(failed_json.strip().splitlines()[-1])["id"]

        term.sendline("runs show %s" % run_id)
        shown = term.prompt("Root")
        assert "Run %s: FAILED" % run_id in shown
        assert "echo about to fail; false" in shown and "exit 1" in shown
        assert "History:" in shown and "STARTED" in shown

        term.sendline("runs follow %s" % run_id)
        followed = term.prompt("Root")
        assert "Run %s ended: FAILED" % run_id in followed

        term.sendline("runs show no-such-id")
        assert "No run with id 'no-such-id'" in term.prompt("Root")
        term.sendline("runs frobnicate")
        assert "usage: runs" in term.prompt("Root")
        term.send("runs f\t")
        term.expect("runs follow")
        term.ctrl("u")
        term.sendline("pwd")
        term.prompt("Root")
    finally:
        term.close()
