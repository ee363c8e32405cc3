"""The command line: ``run ACTION`` exit codes and error text (CI use), usage, --version, start()."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import deployer
from deployer.client import usage
from shell_helpers import REPO, ROOT_SPEC, child_env


def deployer_cmd(*args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deployer.cli", *args], input=stdin, capture_output=True,
                          text=True, env=child_env(), cwd=str(REPO), timeout=timeout)


@pytest.mark.timeout(60)
def test_run_action_success_prints_result_and_exits_0() -> None:
    r = deployer_cmd("run", ROOT_SPEC, "--", "echo", "from ci")
    assert r.returncode == 0, r.stderr
    assert "from ci" in r.stdout


@pytest.mark.timeout(60)
def test_run_action_with_path() -> None:
    r = deployer_cmd("run", ROOT_SPEC, "--path", "Prod.Database", "migrate")
    assert (r.returncode, r.stdout.strip().splitlines()[-1]) == (0, "migrated")


@pytest.mark.timeout(60)
def test_run_failing_action_names_host_and_command() -> None:
    r = deployer_cmd("run", ROOT_SPEC, "fail")
    assert r.returncode == 1
    assert "Failing host: local1" in r.stderr
    assert "echo about to fail; false" in r.stderr
    assert "exit status 1" in r.stderr


@pytest.mark.timeout(60)
def test_run_unknown_action_or_node_is_a_usage_error() -> None:
    r = deployer_cmd("run", ROOT_SPEC, "no_such_action")
    assert r.returncode == 2 and "no_such_action" in r.stderr
    r = deployer_cmd("run", ROOT_SPEC, "--path", "Nowhere", "hello")
    assert r.returncode == 2 and "Nowhere" in r.stderr
    r = deployer_cmd("run", ROOT_SPEC, "echo", "a", "b")
    assert r.returncode == 2 and "Usage: echo" in r.stderr


@pytest.mark.timeout(60)
def test_parallel_failure_and_bug_exit_1() -> None:
    r = deployer_cmd("run", ROOT_SPEC, "bug")
    assert r.returncode == 1 and "ValueError: broken action" in r.stderr


@pytest.mark.timeout(60)
def test_non_interactive_takes_no_input() -> None:
    r = deployer_cmd("run", ROOT_SPEC, "--non-interactive", "ask", stdin="Ada\n")
    assert r.returncode == 1
    assert "Your name" in r.stderr or "Your name" in r.stdout


@pytest.mark.timeout(60)
def test_log_file_gets_the_debug_log(tmp_path) -> None:
    log = tmp_path / "deploy.log"
    r = deployer_cmd("run", ROOT_SPEC, "--log", str(log), "--", "echo", "logged")
    assert r.returncode == 0, r.stderr
    text = log.read_text()
    assert "echo" in text and "local1" in text


@pytest.mark.timeout(60)
def test_special_command_through_run() -> None:
    r = deployer_cmd("run", ROOT_SPEC, "--", "--inspect", "Prod")
    assert r.returncode == 0 and "deploy" in r.stdout


@pytest.mark.timeout(60)
def test_piped_commands_run_without_a_terminal() -> None:
    r = deployer_cmd("run", ROOT_SPEC, stdin="cd Prod\ndeploy 5\nnonsense\npwd\n")
    assert r.returncode == 0
    assert "deployed 5" in r.stdout and "Root.Prod" in r.stdout
    assert "nonsense" in r.stdout  # the error, and the shell went on


@pytest.mark.timeout(30)
def test_version_help_and_bad_usage() -> None:
    r = deployer_cmd("--version")
    assert r.stdout.strip() == "deployer %s" % deployer.__version__
    r = deployer_cmd("--help")
    assert r.returncode == 0 and "telnet-server" in r.stdout and "list-sessions" in r.stdout
    r = deployer_cmd("run", ROOT_SPEC, "--bogus")
    assert r.returncode == 2 and "Usage:" in r.stderr
    r = deployer_cmd("run", "no_such_file.py:Root")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_usage_has_the_documented_lines() -> None:
    text = usage("./client.py")
    for line in ("./client.py run [-s | --single-threaded | --socket SOCKET] [--path PATH]",
                 "./client.py listen [--log LOGFILE] [--non-interactive] [--socket SOCKET]",
                 "./client.py connect (--socket SOCKET) [--path PATH] [--scp]",
                 "./client.py telnet-server [--port PORT] [--log LOGFILE] [--non-interactive]",
                 "./client.py list-sessions", "./client.py scp", "./client.py -h | --help",
                 "./client.py --version"):
        assert line in text


@pytest.mark.timeout(60)
def test_start_from_a_script(tmp_path) -> None:
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent("""
        from deployer.client import start
        from deployer.host import LocalHost
        from deployer.node import Node

        class Hello(Node):
            class Hosts:
                host = LocalHost

            def hello(self, name='world'):
                return 'hello ' + name

        if __name__ == '__main__':
            start(Hello)
    """))
    r = subprocess.run([sys.executable, str(script), "run", "hello", "script"], capture_output=True, text=True,
                       env=child_env(), timeout=30)
    assert r.returncode == 0 and "hello script" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                       env=child_env(), timeout=30)
    assert "client.py run [-s | --single-threaded" in r.stdout


@pytest.mark.timeout(60)
def test_runs_subcommand_is_delegated() -> None:
    r = deployer_cmd("run", ROOT_SPEC, "--", "echo", "recorded-run")
    assert r.returncode == 0
    r = deployer_cmd("runs", "list")
    assert r.returncode == 0 and "Root.echo" in r.stdout
