"""The shell against loopback SSH hosts (the ``ssh_bed`` fixture): actions, parallel cells, Ctrl-C."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from shell_helpers import REPO, SSH_SPEC, Term, child_env, processes_matching, wait_until


@pytest.fixture
def ssh_env(ssh_bed) -> dict[str, str]:
    hosts = []
    for i in range(3):
        user = ssh_bed.user
        hosts.append({"slug": "bed-%d" % i, "address": ssh_bed.addresses[i], "port": ssh_bed.port,
                      "username": user.name, "password": user.password, "key_filename": user.key_filename,
                      "known_hosts_filename": ssh_bed.known_hosts, "config_filename": None})
    return child_env(DEPLOYER_TEST_SSH=json.dumps(hosts))


@pytest.mark.timeout(120)
def test_shell_on_ssh_hosts(ssh_env, ssh_bed) -> None:
    term = Term.deployer("run", SSH_SPEC, env=ssh_env, timeout=30)
    try:
        term.prompt("SSHRoot")
        term.sendline("hostname")
        assert "ssh-%s" % ssh_bed.user.name in term.prompt("SSHRoot")
        term.sendline("All addr")
        out = term.prompt("SSHRoot")
        for i in range(3):
            assert "bed-%d: 127.0.0.%d" % (i, i + 1) in out
        term.sendline("sleep 45.125")
        assert wait_until(lambda: processes_matching("sleep 45.125"), timeout=15)
        term.ctrl("c")
        term.prompt("SSHRoot", timeout=20)
        assert wait_until(lambda: not processes_matching("sleep 45.125"), timeout=15)
        term.sendline("--inspect All")
        out = term.prompt("SSHRoot")
        assert "bed-0, bed-1, bed-2" in out
    finally:
        term.close()


@pytest.mark.timeout(120)
def test_run_failing_action_on_ssh_names_the_host(ssh_env) -> None:
    r = subprocess.run([sys.executable, "-m", "deployer.cli", "run", SSH_SPEC, "fail"], env=ssh_env,
                       cwd=str(REPO), capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "Failing host: bed-0" in r.stderr and "command: false" in r.stderr
