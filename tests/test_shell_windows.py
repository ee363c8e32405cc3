"""Parallel cells in their own windows: a shell attached to a ``listen`` server, inside tmux.

tmux is the window opener (``DEPLOYER_TERMINAL="tmux -L <ours> new-window -d"``):
a real terminal multiplexer, on a tmux server of its own that each test starts
and stops. The user's screen is read with ``tmux capture-pane``, keys are
typed with ``tmux send-keys``, windows counted with ``tmux list-windows``.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from shell_helpers import REPO, Term, child_env, processes_matching, wait_until

TMUX = shutil.which("tmux")

TREE = '''
from deployer.host import LocalHost
from deployer.node import Node, ParallelNode


class Win1(LocalHost):
    slug = "win1"


class Win2(LocalHost):
    slug = "win2"


class Win3(LocalHost):
    slug = "win3"


class Root(Node):
    class Cells(ParallelNode):
        class Hosts:
            host = [Win1, Win2, Win3]

        def greet(self):
            self.host.run("echo hello-from-%s" % self.host.slug)
            answer = self.console.input("answer for %s" % self.host.slug)
            return "%s got %s" % (self.host.slug, answer)

        def who(self):
            self.host.run("echo cell-of-%s" % self.host.slug)
            return self.host.slug

        def sleep(self, seconds="30"):
            self.host.run("sleep %s" % float(seconds))
            return "slept"
'''


class Tmux:
    """A tmux server of our own (``-L``), its first window running ``connect``."""

    def __init__(self, tmp_path: Path, socket_path: str, spec: str, opener: str | None) -> None:
        assert TMUX, "tmux is needed for these tests (/usr/bin/tmux)"
        self.name = "deployer-test-%s" % uuid.uuid4().hex[:12]
        extra = {"DEPLOYER_TERMINAL": opener if opener is not None else "tmux -L %s new-window -d" % self.name}
        env = child_env(**extra)
        for var in ("TMUX", "TMUX_PANE", "DISPLAY"):
            env.pop(var, None)
        self.env = env
        self.session = "main"
        command = " ".join([sys.executable, "-m", "deployer.cli", "connect", spec, "--socket", socket_path])
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", "120", "-y", "40",
                  "-c", str(REPO), command)

    def tmux(self, *args: str) -> str:
        done = subprocess.run([TMUX, "-L", self.name, *args], env=self.env, capture_output=True, text=True,
                              timeout=20)
        if done.returncode != 0:
            raise AssertionError("tmux %s failed: %s" % (" ".join(args), done.stderr))
        return done.stdout

    def windows(self) -> list[int]:
        try:
            out = self.tmux("list-windows", "-t", self.session, "-F", "#{window_index}")
        except AssertionError:
            return []  # the session ended (its last window closed)
        return [int(w) for w in out.split()]

    def aux_windows(self) -> list[int]:
        return [w for w in self.windows() if w != 0]

    def screen(self, window: int) -> str:
        """What the window shows (and its scrollback), trailing blanks removed."""
        try:
            out = self.tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "%s:%d" % (self.session, window))
        except AssertionError:
            return ""  # that window closed meanwhile
        return "\n".join(line.rstrip() for line in out.splitlines()).rstrip()

    def keys(self, window: int, *keys: str) -> None:
        self.tmux("send-keys", "-t", "%s:%d" % (self.session, window), *keys)

    def type_line(self, window: int, text: str) -> None:
        self.keys(window, "-l", text)
        self.keys(window, "Enter")

    def wait_screen(self, window: int, pattern: str, timeout: float = 20) -> str:
        regex = re.compile(pattern)
        if not wait_until(lambda: regex.search(self.screen(window)), timeout):
            raise AssertionError("window %d never showed %r; it shows:\n%s" % (window, pattern, self.screen(window)))
        return self.screen(window)

    def kill(self) -> None:
        subprocess.run([TMUX, "-L", self.name, "kill-server"], env=self.env, capture_output=True, timeout=20)


class Server:
    def __init__(self, spec: str, socket_path: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "deployer.cli", "listen", spec, "--socket", socket_path],
                                     env=child_env(), cwd=str(REPO), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.banner = self.proc.stdout.readline()  # type: ignore[union-attr]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A ``listen`` server for the three-host tree: ``(spec, socket path)``."""
    tree = tmp_path / "windows_tree.py"
    tree.write_text(TREE)
    spec = "%s:Root" % tree
    sock = os.path.join(os.environ["DEPLOYER_RUNTIME_DIR"], "windows.sock")
    server = Server(spec, sock)
    assert "listening on unix socket %s" % sock in server.banner, server.banner
    yield spec, sock
    assert server.stop() == 0


@pytest.fixture
def tmux_shell(served, tmp_path: Path) -> Iterator[Tmux]:
    """A shell attached to the server, in window 0 of our tmux; tmux opens the cells' windows."""
    spec, sock = served
    mux = Tmux(tmp_path, sock, spec, opener=None)
    try:
        mux.wait_screen(0, r"Root > *$")
        yield mux
    finally:
        mux.kill()


def _cells_by_host(mux: Tmux, pattern: str) -> dict[str, int]:
    """Which window shows which host, once all three windows show ``pattern`` (with a (win\\d) group)."""
    found: dict[str, int] = {}

    def all_three() -> bool:
        found.clear()
        for w in mux.aux_windows():
            m = re.search(pattern, mux.screen(w))
            if m:
                found[m.group(1)] = w
        return len(found) == 3

    assert wait_until(all_three, 30), "windows: %s\n%s" % (
        mux.windows(), "\n".join("-- %d:\n%s" % (w, mux.screen(w)) for w in mux.windows()))
    return dict(found)


@pytest.mark.timeout(180)
def test_each_cell_gets_its_own_window_and_is_answered_there(tmux_shell: Tmux) -> None:
    mux = tmux_shell
    mux.type_line(0, "Cells greet")
    cells = _cells_by_host(mux, r"answer for (win\d): *$")
    assert sorted(cells) == ["win1", "win2", "win3"]
    assert len(set(cells.values())) == 3 and len(mux.windows()) == 4
    for host, window in cells.items():
        screen = mux.screen(window)
        # Its own host's output, and no other's.
        assert "hello-from-%s" % host in screen
        assert not [h for h in cells if h != host and "hello-from-%s" % h in screen], screen
    main = mux.screen(0)
    assert "hello-from-" not in main and "answer for" not in main
    for host, window in cells.items():
        mux.type_line(window, "yes-for-" + host)
    screen = mux.wait_screen(0, r"win3: win3 got yes-for-win3[\s\S]*Root > *$")
    for host in cells:
        assert "%s: %s got yes-for-%s" % (host, host, host) in screen
    # A cell's window closes when its cell is done.
    assert wait_until(lambda: mux.windows() == [0], 20), mux.windows()
    # The shell goes on.
    mux.type_line(0, "Cells who")
    mux.wait_screen(0, r"win3: win3\s+Root > *$")
    mux.type_line(0, "exit")
    assert wait_until(lambda: mux.windows() == [], 20), mux.windows()


@pytest.mark.timeout(180)
def test_ctrl_c_in_the_main_window_stops_every_cell_and_closes_their_windows(tmux_shell: Tmux) -> None:
    mux = tmux_shell
    marker = "sleep 83.17"
    mux.type_line(0, "Cells sleep 83.17")
    assert wait_until(lambda: len(mux.aux_windows()) == 3, 30), mux.windows()
    assert wait_until(lambda: len(processes_matching(marker)) == 3, 30), processes_matching(marker)
    mux.keys(0, "C-c")
    mux.wait_screen(0, r"Interrupted\.\s+Root > *$")
    assert wait_until(lambda: mux.windows() == [0], 20), mux.windows()
    assert wait_until(lambda: not processes_matching(marker), 20), processes_matching(marker)
    assert "slept" not in mux.screen(0)
    # Nothing is left waiting: the next parallel action opens fresh windows and completes.
    mux.type_line(0, "Cells sleep 0.1")
    mux.wait_screen(0, r"win3: slept\s+Root > *$", timeout=30)


@pytest.mark.timeout(180)
def test_ctrl_c_in_one_cells_window_stops_the_whole_parallel_action(tmux_shell: Tmux) -> None:
    mux = tmux_shell
    marker = "sleep 84.19"
    mux.type_line(0, "Cells sleep 84.19")
    assert wait_until(lambda: len(mux.aux_windows()) == 3, 30), mux.windows()
    assert wait_until(lambda: len(processes_matching(marker)) == 3, 30), processes_matching(marker)
    mux.keys(mux.aux_windows()[1], "C-c")
    mux.wait_screen(0, r"Interrupted\.\s+Root > *$")
    assert wait_until(lambda: mux.windows() == [0], 20), mux.windows()
    assert wait_until(lambda: not processes_matching(marker), 20), processes_matching(marker)


@pytest.mark.timeout(180)
def test_closing_a_cells_window_early_stops_the_whole_parallel_action(tmux_shell: Tmux) -> None:
    mux = tmux_shell
    marker = "sleep 85.23"
    mux.type_line(0, "Cells sleep 85.23")
    assert wait_until(lambda: len(mux.aux_windows()) == 3, 30), mux.windows()
    assert wait_until(lambda: len(processes_matching(marker)) == 3, 30), processes_matching(marker)
    mux.tmux("kill-window", "-t", "%s:%d" % (mux.session, mux.aux_windows()[0]))
    mux.wait_screen(0, r"Interrupted\.\s+Root > *$")
    assert wait_until(lambda: mux.windows() == [0], 20), mux.windows()
    assert wait_until(lambda: not processes_matching(marker), 20), processes_matching(marker)


@pytest.mark.timeout(120)
def test_without_a_window_opener_cells_are_prefixed_in_the_clients_terminal(served) -> None:
    spec, sock = served
    env = child_env(DEPLOYER_TERMINAL="")
    env.pop("DISPLAY", None)
    t = Term.deployer("connect", spec, "--socket", sock, env=env)
    try:
        t.prompt("Root")
        t.sendline("Cells who")
        out = t.prompt("Root")
        for host in ("win1", "win2", "win3"):
            assert re.search(r"%s \| cell-of-%s" % (host, host), out), out
            assert "%s: %s" % (host, host) in out
        t.sendline("exit")
        assert t.wait_exit() == 0
    finally:
        t.close()


@pytest.mark.timeout(180)
def test_a_window_that_never_attaches_runs_its_cell_in_the_main_terminal(served, tmp_path: Path) -> None:
    spec, sock = served
    # An opener that opens nothing: after AUX_ATTACH_TIMEOUT the cells run in the main terminal.
    mux = Tmux(tmp_path, sock, spec, opener="true")
    try:
        mux.wait_screen(0, r"Root > *$")
        mux.type_line(0, "Cells who")
        screen = mux.wait_screen(0, r"win3: win3\s+Root > *$", timeout=90)
        for host in ("win1", "win2", "win3"):
            assert "cell-of-%s" % host in screen
        assert mux.windows() == [0]
    finally:
        mux.kill()
