"""Pty: colours only where a person's terminal gets them."""
import io
import os
import subprocess
import sys

import pytest

from deployer.pseudo_terminal import DummyPty, Pty

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RED = "\x1b[31mred\x1b[0m"


def test_a_pipe_gets_plain_text_and_a_terminal_keeps_colours():
    r, w = os.pipe()
    with os.fdopen(w, "w") as out:
        Pty(stdin=io.StringIO(), stdout=out).write(RED + " \r\x1b[K")
    assert os.read(r, 100) == b"red \r\x1b[K"  # cursor control (progress bars) stays
    os.close(r)

    master, slave = os.openpty()
    with os.fdopen(slave, "w") as out:
        Pty(stdin=io.StringIO(), stdout=out).write(RED)
    assert b"\x1b[31m" in os.read(master, 100)
    os.close(master)


def test_explicit_setting_and_copies_follow_the_terminal_they_write_to():
    plain = Pty(stdin=io.StringIO(), stdout=io.StringIO(), colors=False)
    plain.write(RED)
    assert plain.stdout.getvalue() == "red"
    # A parallel cell's copy writes through a line writer to the same terminal.
    cell = DummyPty().copy(stdout=io.StringIO())
    cell.write(RED)
    assert cell.stdout.getvalue() == RED


@pytest.mark.timeout(60)
def test_shell_output_piped_to_a_file_has_no_colour_codes(tmp_path):
    env = dict(os.environ, DEPLOYER_STATE_DIR=str(tmp_path / "s"), DEPLOYER_RUNTIME_DIR=str(tmp_path / "r"))
    out = subprocess.run([sys.executable, "-m", "deployer.cli", "run", "examples/web_system.py:RootNode"],
                         input="ls\ncd StagingSystem\nls\n", capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=50)
    assert "StagingSystem" in out.stdout and "LoadBalancer" in out.stdout
    assert "\x1b[" not in out.stdout
