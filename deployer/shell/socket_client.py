"""``connect``: attach this terminal to a shell server's unix socket.

The terminal goes into raw mode; keystrokes and window sizes go to the
server, its output comes back. No Twisted here: a select loop is enough and
starts fast. ``python -m deployer.shell.socket_client --socket S --attach T``
is what an auxiliary window runs.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time
import tty
from typing import Any, Sequence

from deployer.pseudo_terminal import select
from deployer.shell.protocol import (ATTACH, DATA, EXIT, HELLO, OPEN_WINDOW, SERVER_TYPES, FrameDecoder,
                                     ProtocolError, encode, encode_json, encode_size)

__all__ = ["connect", "attach", "terminal_launcher", "window_command"]

SERVER_START_TIMEOUT = 20.0


def _terminal_size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
        return size.lines, size.columns
    except OSError:
        return 24, 80


def terminal_launcher() -> list[str] | None:
    """How to open a new terminal window running a command, or None (no windows).

    ``DEPLOYER_TERMINAL`` (e.g. ``xterm -e``, or ``tmux new-window``) wins;
    otherwise a known emulator when an X display is available.
    """
    configured = os.environ.get("DEPLOYER_TERMINAL")
    if configured is not None:
        return shlex.split(configured) or None
    if not os.environ.get("DISPLAY"):
        return None
    for candidate in ("x-terminal-emulator", "xterm", "gnome-terminal", "konsole"):
        exe = shutil.which(candidate)
        if exe:
            return [exe, "--"] if candidate == "gnome-terminal" else [exe, "-e"]
    return None


def connect(socket_path: str, path: Sequence[str] = (), scp: bool = False, action: Sequence[str] | None = None,
            start_server_spec: str | None = None, server_options: Sequence[str] = ()) -> int:
    """Attach to the server on ``socket_path``; returns the session's exit status.

    With ``start_server_spec`` a server is started (in the background) when
    none answers on that socket (``run --socket``).
    """
    from deployer.shell.sessions import socket_is_live

    socket_path = os.path.abspath(socket_path)
    if start_server_spec is not None and not socket_is_live(socket_path):
        error = _start_server(start_server_spec, socket_path, server_options)
        if error:
            sys.stderr.write(error + "\n")
            return 1
    hello = {"path": list(path), "scp": scp, "action": list(action) if action else None,
             "term": os.environ.get("TERM", "xterm"), "windows": terminal_launcher() is not None}
    return _session(socket_path, HELLO, hello)


def attach(socket_path: str, token: str) -> int:
    """An auxiliary window: attach to the isolation waiting for ``token``."""
    return _session(os.path.abspath(socket_path), ATTACH, {"token": token, "term": os.environ.get("TERM", "xterm")})


def _start_server(spec: str, socket_path: str, options: Sequence[str]) -> str | None:
    from deployer.shell.sessions import socket_is_live

    log = open(os.devnull, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "deployer.cli", "listen", spec, "--socket", socket_path,
                             *options], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if socket_is_live(socket_path):
            proc.stderr.close()  # type: ignore[union-attr]
            return None
        if proc.poll() is not None:
            err = proc.stderr.read().decode("utf-8", "replace").strip()  # type: ignore[union-attr]
            return "The shell server for %s did not start: %s" % (spec, err or "exit status %s" % proc.returncode)
        time.sleep(0.05)
    return "The shell server for %s did not open %s within %ss" % (spec, socket_path, SERVER_START_TIMEOUT)


def _session(socket_path: str, kind: bytes, hello: dict[str, Any]) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
    except OSError as e:
        sys.stderr.write("Cannot connect to %s: %s\n" % (socket_path, e.strerror or e))
        return 1
    stdin_fd, stdout_fd = sys.stdin.fileno(), sys.stdout.fileno()
    is_tty = os.isatty(stdin_fd)
    rows, cols = _terminal_size(stdout_fd if os.isatty(stdout_fd) else stdin_fd)
    hello.update(rows=rows, cols=cols)
    sock.sendall(encode_json(kind, hello))
    old_attrs = termios.tcgetattr(stdin_fd) if is_tty else None
    resized = [False]

    def on_winch(*_: Any) -> None:
        resized[0] = True

    old_winch = signal.signal(signal.SIGWINCH, on_winch) if is_tty else None
    decoder = FrameDecoder(SERVER_TYPES)
    status = 1
    stdin_open = True
    try:
        if is_tty:
            tty.setraw(stdin_fd)
        while True:
            if resized[0]:
                resized[0] = False
                sock.sendall(encode_size(*_terminal_size(stdin_fd)))
            readers = [sock] + ([stdin_fd] if stdin_open else [])
            try:
                ready, _, _ = select(readers, [], [], 0.5)
            except ValueError:
                break
            if stdin_fd in ready:
                data = os.read(stdin_fd, 4096)
                if data:
                    sock.sendall(encode(DATA, data))
                else:
                    stdin_open = False  # input ended (a pipe): keep showing output
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                done = False
                for ftype, payload in decoder.feed(data):
                    if ftype == DATA:
                        os.write(stdout_fd, payload)
                    elif ftype == EXIT:
                        status = int(json.loads(payload.decode()).get("status", 1))
                        done = True
                    elif ftype == OPEN_WINDOW:
                        _open_window(socket_path, json.loads(payload.decode())["token"])
                if done:
                    break
    except (ProtocolError, ValueError) as e:
        sys.stderr.write("\r\nBad data from the server: %s\r\n" % e)
    except OSError as e:
        sys.stderr.write("\r\nConnection to the server lost: %s\r\n" % (e.strerror or e))
    finally:
        if old_attrs is not None:
            termios.tcsetattr(stdin_fd, termios.TCSADRAIN, old_attrs)
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        sock.close()
    return status


def window_command(socket_path: str, token: str) -> list[str]:
    """The command an auxiliary window runs: attach to ``socket_path`` with ``token``.

    It goes through ``env PYTHONPATH=...``: a window opener such as tmux starts
    the command in its own server's environment, not ours, and deployer must
    be importable there too.
    """
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    return ["env", "PYTHONPATH=" + python_path, sys.executable, "-m", "deployer.shell.socket_client",
            "--socket", socket_path, "--attach", token]


def _open_window(socket_path: str, token: str) -> None:
    launcher = terminal_launcher()
    if launcher is None:
        return  # the server runs that isolation in the main terminal after a timeout
    try:
        subprocess.Popen([*launcher, *window_command(socket_path, token)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        pass  # no such opener: the server runs that cell in the main terminal after a timeout


def _main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Attach an auxiliary window to a deployer shell server.")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--attach", required=True, metavar="TOKEN")
    args = parser.parse_args(list(argv))
    return attach(args.socket, args.attach)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
