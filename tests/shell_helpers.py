"""Helpers for the shell tests: a terminal that reads the screen as a user would.

No tests in here. :class:`Term` drives a child process in a real pty (pexpect)
and matches on its output with ANSI escape sequences removed, so assertions
read like what the user sees.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import pexpect

REPO = Path(__file__).resolve().parent.parent
TREES = str(REPO / "tests" / "shell_trees.py")
ROOT_SPEC = TREES + ":Root"
SSH_SPEC = TREES + ":SSHRoot"

_ANSI = re.compile(r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>78NOM]")


def clean(text: str) -> str:
    """Terminal output without escape sequences and carriage returns."""
    return _ANSI.sub("", text).replace("\r", "")


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # pexpect does not answer cursor-position requests; a real terminal does.
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"
    env["TERM"] = "xterm"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class Term:
    """A child process in a real pty; :meth:`expect` waits for text on the cleaned screen."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None, rows: int = 40, cols: int = 120,
                 timeout: float = 15) -> None:
        self.child = pexpect.spawn(argv[0], list(argv[1:]), env=env or child_env(), encoding="utf-8",
                                   codec_errors="replace", dimensions=(rows, cols), timeout=timeout, cwd=str(REPO))
        self.raw = ""
        self.pos = 0
        self.timeout = timeout

    @classmethod
    def deployer(cls, *args: str, env: dict[str, str] | None = None, **kw: Any) -> "Term":
        return cls([sys.executable, "-m", "deployer.cli", *args], env=env, **kw)

    @property
    def screen(self) -> str:
        return clean(self.raw)

    def _pump(self, wait: float) -> bool:
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=wait)
            return True
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            return False

    def expect(self, pattern: str, timeout: float | None = None) -> re.Match:
        """Wait until ``pattern`` (a regex) appears after the last match; return the match."""
        deadline = time.monotonic() + (timeout or self.timeout)
        regex = re.compile(pattern)
        alive = True
        while True:
            m = regex.search(self.screen, self.pos)
            if m:
                self.pos = m.end()
                return m
            if not alive or time.monotonic() > deadline:
                raise AssertionError("did not see %r within %ss; screen after last match:\n%s" % (
                    pattern, timeout or self.timeout, self.screen[self.pos:][-3000:]))
            alive = self._pump(0.1)

    def prompt(self, path: str, timeout: float | None = None) -> str:
        """Wait for the prompt ``path >`` to be the last thing on screen; return the text before it."""
        start = self.pos
        regex = re.compile(r"(?:^|\n)([^\n]*?)" + re.escape(path) + r" >\s*\Z")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            self._pump(0.1)
            m = regex.search(self.screen, self.pos)
            if m:
                size = len(self.raw)
                self._pump(0.15)
                if len(self.raw) == size:
                    self.pos = len(self.screen)
                    return self.screen[start:m.start()]
            if time.monotonic() > deadline or not self.child.isalive():
                raise AssertionError("no prompt %r within %ss; screen after last match:\n%s" % (
                    path, timeout or self.timeout, self.screen[self.pos:][-3000:]))

    def since(self) -> str:
        """Everything seen since the last match (pumps briefly first)."""
        self._pump(0.2)
        return self.screen[self.pos:]

    def send(self, text: str) -> None:
        self.child.send(text)

    def sendline(self, text: str = "") -> None:
        self.child.send(text + "\r")

    def ctrl(self, char: str) -> None:
        self.child.sendcontrol(char)

    def wait_exit(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while self._pump(0.1):
            if time.monotonic() > deadline:
                raise AssertionError("process did not exit; screen:\n" + self.screen[-2000:])
        self.child.close()
        return self.child.exitstatus if self.child.exitstatus is not None else -(self.child.signalstatus or 0)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
        self.child.close()


def processes_matching(pattern: str) -> list[str]:
    """Command lines of live processes that contain ``pattern`` (pgrep -f)."""
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def wait_until(predicate: Any, timeout: float = 10, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
