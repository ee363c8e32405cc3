"""Ctrl-C during a parallel action, as a user meets it: through a real pty.

A ParallelNode of three hosts (LocalHost slugs, and loopback SSH hosts) runs
``sleep``; Ctrl-C brings the prompt back (or ends ``run`` with status 130) and
leaves no ``sleep`` behind, remote ones included (the SSH bed's sessions run
on this machine, so ``pgrep`` sees them). Each test sleeps for its own odd
number of seconds so that its processes are told apart from any others.
"""
from __future__ import annotations

import json
import os

import pytest

from shell_helpers import Term, child_env, processes_matching, wait_until

TREES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "interrupt_trees.py")
LOCAL = TREES + ":LocalFan"
SSH = TREES + ":SSHFan"


@pytest.fixture
def ssh_env(ssh_bed) -> dict[str, str]:
    hosts = []
    for i in range(3):
        user = ssh_bed.user
        hosts.append({"slug": "fan-%d" % i, "address": ssh_bed.addresses[i], "port": ssh_bed.port,
                      "username": user.name, "key_filename": user.key_filename,
                      "known_hosts_filename": ssh_bed.known_hosts, "config_filename": None})
    return child_env(DEPLOYER_TEST_SSH=json.dumps(hosts), DEPLOYER_RECORD="0")


def _sleeps(seconds: str) -> list[str]:
    # The sleeps themselves (bash runs a lone command with exec), not the
    # deployer process whose command line names them.
    return [p for p in processes_matching("sleep " + seconds) if os.path.basename(p.split()[1]) == "sleep"]


def _interrupt_in_shell(spec: str, env: dict[str, str], command: str, seconds: str, expected: int = 3) -> None:
    term = Term.deployer("run", spec, env=env, timeout=30)
    try:
        root = spec.rpartition(":")[2]
        term.prompt(root)
        term.sendline("%s %s" % (command, seconds))
        assert wait_until(lambda: len(_sleeps(seconds)) == expected, timeout=20), _sleeps(seconds)
        term.ctrl("c")
        # Back at the prompt long before the sleeps would have ended...
        term.prompt(root, timeout=15)
        # ...with every sleep gone, and the shell still working.
        assert wait_until(lambda: not _sleeps(seconds), timeout=10), _sleeps(seconds)
        term.sendline("hello")
        assert "hello" in term.prompt(root)
    finally:
        term.close()


def _interrupt_run(spec: str, env: dict[str, str], words: list[str], seconds: str, expected: int = 3) -> Term:
    term = Term.deployer("run", spec, "--", *words, env=env, timeout=30)
    try:
        assert wait_until(lambda: len(_sleeps(seconds)) == expected, timeout=20), _sleeps(seconds)
        term.ctrl("c")
        assert term.wait_exit(timeout=15) == 130
        assert "Interrupted" in term.screen
        assert wait_until(lambda: not _sleeps(seconds), timeout=10), _sleeps(seconds)
    finally:
        term.close()
    return term


@pytest.mark.timeout(120)
def test_ctrl_c_stops_parallel_local_cells_in_the_shell() -> None:
    _interrupt_in_shell(LOCAL, child_env(DEPLOYER_RECORD="0"), "Cells sleep", "31.0101")


@pytest.mark.timeout(120)
def test_ctrl_c_stops_parallel_local_cells_without_pty() -> None:
    _interrupt_in_shell(LOCAL, child_env(DEPLOYER_RECORD="0"), "Cells piped", "31.0202")


@pytest.mark.timeout(120)
def test_ctrl_c_stops_parallel_local_run_with_status_130() -> None:
    _interrupt_run(LOCAL, child_env(DEPLOYER_RECORD="0"), ["Cells", "piped", "31.0303"], "31.0303")


@pytest.mark.timeout(120)
def test_ctrl_c_in_a_recorded_run_stops_the_cells() -> None:
    # Recording on (SQLite in the test's state dir): the interrupt still lands.
    _interrupt_run(LOCAL, child_env(), ["Cells", "sleep", "31.0404"], "31.0404")


@pytest.mark.timeout(120)
def test_queued_cells_never_start_after_ctrl_c(tmp_path) -> None:
    env = child_env(DEPLOYER_RECORD="0", DEPLOYER_MAX_WORKERS="1")
    _interrupt_run(LOCAL, env, ["Cells", "mark_and_sleep", str(tmp_path), "31.0505"], "31.0505", expected=1)
    assert sorted(os.listdir(tmp_path)) == ["started-loc-a"]


@pytest.mark.timeout(180)
def test_ctrl_c_stops_parallel_ssh_cells_in_the_shell(ssh_env) -> None:
    # With a pty: closing the channel hangs the remote command up.
    _interrupt_in_shell(SSH, ssh_env, "Cells sleep", "31.0606")


@pytest.mark.timeout(180)
def test_ctrl_c_stops_parallel_ssh_cells_without_pty(ssh_env) -> None:
    # No pty: the 'signal' channel request stops the remote command.
    _interrupt_in_shell(SSH, ssh_env, "Cells piped", "31.0707")


@pytest.mark.timeout(180)
def test_ctrl_c_stops_parallel_ssh_run_with_status_130(ssh_env) -> None:
    _interrupt_run(SSH, ssh_env, ["Cells", "twice", "31.0808"], "31.0808")
    # The second command of each cell never started.
    assert not _sleeps("32.0808")
