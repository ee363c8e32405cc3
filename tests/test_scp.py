"""The SCP shell: remote and local navigation, put/get, completion of paths."""
from __future__ import annotations

import os
import time

import pytest

from deployer.pseudo_terminal import DummyPty
from deployer.shell.scp import ScpShell, path_candidates
from test_client import deployer_cmd
from shell_helpers import ROOT_SPEC, Term
from shell_trees import LocalOne


@pytest.mark.timeout(60)
def test_scp_commands_through_run_scp(tmp_path) -> None:
    local, remote = tmp_path / "local", tmp_path / "remote"
    local.mkdir()
    remote.mkdir()
    (local / "up.txt").write_text("uploaded content")
    (remote / "down.txt").write_text("downloaded content")
    script = "\n".join([
        "cd %s" % remote, "pwd", "lcd %s" % local, "lpwd", "put up.txt", "get down.txt",
        "stat up.txt", "lstat down.txt", "cd /no/such/dir", "bogus", "exit", "",
    ])
    r = deployer_cmd("run", ROOT_SPEC, "--scp", stdin=script)
    assert r.returncode == 0, r.stderr
    assert (remote / "up.txt").read_text() == "uploaded content"
    assert (local / "down.txt").read_text() == "downloaded content"
    assert str(remote) in r.stdout and str(local) in r.stdout
    assert "%s/up.txt (file)" % remote in r.stdout and "size:  16" in r.stdout
    assert "no such directory" in r.stdout and "Unknown SCP command 'bogus'" in r.stdout


@pytest.mark.timeout(60)
def test_scp_completion_of_remote_and_local_paths(tmp_path) -> None:
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpine.txt").write_text("x")
    scp = ScpShell(LocalOne(pty=DummyPty()), DummyPty(), local_dir=str(tmp_path))
    scp.execute("cd %s" % tmp_path)
    assert path_candidates(scp, "cd al") == ("al", ["alpha/"])
    assert path_candidates(scp, "get al") == ("al", ["alpha/", "alpine.txt"])
    assert path_candidates(scp, "put alp")[1] == ["alpha/", "alpine.txt"]
    assert "lconnect" in path_candidates(scp, "lc")[1]


@pytest.mark.timeout(60)
def test_scp_shell_from_the_main_shell_in_a_terminal(tmp_path) -> None:
    (tmp_path / "visible.txt").write_text("x")
    term = Term.deployer("run", ROOT_SPEC)
    try:
        term.prompt("Root")
        term.sendline("--scp")
        term.expect("scp >")
        term.sendline("cd %s" % tmp_path)
        term.expect("scp >")
        term.send("stat vis\t")
        time.sleep(0.5)
        term.sendline("")
        term.expect("visible.txt \\(file\\)")
        term.sendline("exit")
        term.prompt("Root")
    finally:
        term.close()
