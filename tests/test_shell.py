"""The interactive shell as a user meets it: a real pty, typed commands, Tab, Ctrl-C, Ctrl-D."""
from __future__ import annotations

import re
import time

import pytest

from shell_helpers import ROOT_SPEC, Term, processes_matching, wait_until


@pytest.fixture
def shell():
    term = Term.deployer("run", ROOT_SPEC)
    term.prompt("Root")
    yield term
    term.close()


@pytest.mark.timeout(60)
def test_navigation_ls_pwd_cd(shell: Term) -> None:
    shell.sendline("ls")
    out = shell.prompt("Root")
    for name in ("Prod", "Staging", "Web", "echo", "hello", "sleep"):
        assert name in out
    assert "_Private" not in out  # private nodes stay hidden
    shell.sendline("cd Prod Database")
    shell.prompt("Root.Prod.Database")
    shell.sendline("pwd")
    assert "Root.Prod.Database" in shell.prompt("Root.Prod.Database")
    shell.sendline("cd ..")
    shell.prompt("Root.Prod")
    shell.sendline("cd /")
    shell.prompt("Root")
    shell.sendline("cd -")
    shell.prompt("Root.Prod")
    shell.sendline("cd")
    shell.prompt("Root")


@pytest.mark.timeout(60)
def test_actions_parameters_results_and_sandbox(shell: Term) -> None:
    shell.sendline("echo 'two words'")
    assert "two words" in shell.prompt("Root")
    shell.sendline("data")
    assert "{'answer': 42}" in shell.prompt("Root")
    shell.sendline("quiet")
    assert "suppressed" not in shell.prompt("Root")
    shell.sendline("Prod deploy 9")  # child names may lead the action
    assert "deployed 9" in shell.prompt("Root")
    shell.sendline("cd Web")
    shell.prompt("Root.Web")
    shell.sendline("who")
    out = shell.prompt("Root.Web")
    assert "local1: local1" in out and "local2: local2" in out
    shell.sendline("cd /")
    shell.prompt("Root")
    shell.sendline("sandbox hello")
    out = shell.prompt("Root")
    assert "hello world" not in out.replace("sandbox hello", "")  # echo did not really run


@pytest.mark.timeout(60)
def test_errors_are_short_and_the_shell_goes_on(shell: Term) -> None:
    shell.sendline("nonsense")
    assert "Unknown command or action 'nonsense'" in shell.prompt("Root")
    shell.sendline("cd Nowhere")
    assert "No node 'Nowhere'" in shell.prompt("Root")
    shell.sendline("echo a b c")
    assert "Usage: echo [text]" in shell.prompt("Root")
    shell.sendline("fail")
    out = shell.prompt("Root")
    assert "local1" in out and "exit status 1" in out and "false" in out
    shell.sendline("bug")
    out = shell.prompt("Root")
    assert "ValueError: broken action" in out and "Traceback" in out
    shell.sendline("--nope")
    assert "Unknown special command" in shell.prompt("Root")
    shell.sendline("pwd")
    assert "Root" in shell.prompt("Root")


@pytest.mark.timeout(60)
def test_tab_completion(shell: Term) -> None:
    shell.send("ec\t")
    time.sleep(0.5)
    shell.sendline(" completed")
    assert "completed" in shell.prompt("Root")
    shell.send("cd Pr\t")
    time.sleep(0.5)
    shell.sendline("")
    shell.prompt("Root.Prod")
    shell.send("--insp\t")
    time.sleep(0.5)
    shell.send(" Data\t")
    time.sleep(0.5)
    shell.sendline("")
    out = shell.prompt("Root.Prod")
    assert "Actions:     migrate" in out


@pytest.mark.timeout(60)
def test_special_commands(shell: Term) -> None:
    shell.sendline("--inspect Prod")
    out = shell.prompt("Root")
    assert "shell_trees.py" in out and "local1" in out and "deploy" in out and "Database" in out
    shell.sendline("--source-code Prod Database")
    out = shell.prompt("Root")
    assert "def migrate(self):" in out
    shell.sendline("--version")
    assert "deployer 0." in shell.prompt("Root")
    shell.sendline("--run echo via-run-$((20+3))")
    assert "via-run-23" in shell.prompt("Root")
    shell.sendline("--connect")
    shell.expect(r"\$|#")  # a bash prompt on the node's only host
    shell.sendline("echo inside-$((1+1)); exit")
    shell.expect("inside-2")
    shell.prompt("Root")
    shell.sendline("--connect TwoHosts")
    shell.expect("local2")  # asked which host
    shell.sendline("2")
    shell.expect(r"\$|#")
    shell.sendline("exit")
    shell.prompt("Root")


@pytest.mark.timeout(60)
def test_find_is_paged_and_q_quits() -> None:
    term = Term.deployer("run", ROOT_SPEC, rows=5)
    try:
        term.prompt("Root")
        term.sendline("find")
        term.expect("Prod")
        time.sleep(0.5)
        assert "Web" not in term.since()  # the pager waits after one page
        term.send("q")
        term.prompt("Root")
    finally:
        term.close()


@pytest.mark.timeout(90)
def test_ctrl_c_stops_the_action_and_its_process(shell: Term) -> None:
    shell.sendline("sleep 41.125")
    assert wait_until(lambda: processes_matching("sleep 41.125"), timeout=10)
    shell.ctrl("c")
    out = shell.prompt("Root", timeout=15)
    assert "interrupted" in out.lower()
    assert wait_until(lambda: not processes_matching("sleep 41.125"), timeout=10)
    shell.sendline("echo still-alive")
    assert "still-alive" in shell.prompt("Root")


@pytest.mark.timeout(60)
def test_ctrl_c_at_prompt_then_ctrl_d_leaves(shell: Term) -> None:
    shell.send("half typed")
    shell.ctrl("c")
    shell.prompt("Root")
    shell.ctrl("d")
    assert shell.wait_exit() == 0


@pytest.mark.timeout(60)
def test_exit_and_history_kept_across_sessions() -> None:
    term = Term.deployer("run", ROOT_SPEC)
    try:
        term.prompt("Root")
        term.sendline("echo remembered-line")
        term.prompt("Root")
        term.sendline("exit")
        assert term.wait_exit() == 0
    finally:
        term.close()
    term = Term.deployer("run", ROOT_SPEC)
    try:
        term.prompt("Root")
        term.send("\x1b[A")  # arrow up: "exit", then the line before it
        time.sleep(0.2)
        term.send("\x1b[A")
        time.sleep(0.3)
        term.sendline("")
        assert "remembered-line" in term.prompt("Root")
    finally:
        term.close()


@pytest.mark.timeout(60)
def test_start_at_path_and_question_from_action() -> None:
    term = Term.deployer("run", ROOT_SPEC, "--path", "Prod.Database")
    try:
        term.prompt("Root.Prod.Database")
        term.sendline("cd /")
        term.prompt("Root")
        term.sendline("ask")
        term.expect("Your name")
        term.sendline("Ada")
        assert "Hello Ada" in term.prompt("Root")
    finally:
        term.close()


@pytest.mark.timeout(60)
def test_prompt_is_coloured_by_group() -> None:
    term = Term.deployer("run", ROOT_SPEC, "--path", "Prod")
    try:
        term.prompt("Root.Prod")
        assert re.search(r"\x1b\[(0;)?31mProd", term.raw)  # production is red
    finally:
        term.close()
