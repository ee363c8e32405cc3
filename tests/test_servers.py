"""The unix-socket and telnet shell servers, with real clients on loopback."""
from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from typing import Iterator

import pytest

from deployer.shell.protocol import DATA, EXIT, HELLO, SERVER_TYPES, FrameDecoder, encode, encode_json
from shell_helpers import REPO, ROOT_SPEC, Term, child_env, clean, processes_matching, wait_until


class Server:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "deployer.cli", *args], env=child_env(),
                                     cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
def unix_server(tmp_path) -> Iterator[tuple[Server, str]]:
    sock = os.path.join(os.environ["DEPLOYER_RUNTIME_DIR"], "test.sock")
    server = Server("listen", ROOT_SPEC, "--socket", sock)
    assert "listening on unix socket %s" % sock in server.banner, server.banner
    yield server, sock
    assert server.stop() == 0
    assert not os.path.exists(sock)


@pytest.mark.timeout(120)
def test_socket_is_private_and_two_clients_work_at_once(unix_server) -> None:
    server, sock = unix_server
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o700
    a = Term.deployer("connect", ROOT_SPEC, "--socket", sock)
    b = Term.deployer("connect", ROOT_SPEC, "--socket", sock, "--path", "Prod")
    try:
        a.prompt("Root")
        b.prompt("Root.Prod")
        a.sendline("sleep 2")  # a is busy while b works
        b.sendline("deploy 4")
        assert "deployed 4" in b.prompt("Root.Prod")
        a.prompt("Root", timeout=20)
        a.sendline("echo from-a")
        assert "from-a" in a.prompt("Root")
        listing = subprocess.run([sys.executable, "-m", "deployer.cli", "list-sessions", ROOT_SPEC],
                                 env=child_env(), capture_output=True, text=True, timeout=20).stdout
        assert sock in listing and str(server.proc.pid) in listing
        a.sendline("exit")
        assert a.wait_exit() == 0
        b.ctrl("d")
        assert b.wait_exit() == 0
    finally:
        a.close()
        b.close()


@pytest.mark.timeout(120)
def test_ctrl_c_over_the_socket_stops_the_action(unix_server) -> None:
    _, sock = unix_server
    t = Term.deployer("connect", ROOT_SPEC, "--socket", sock)
    try:
        t.prompt("Root")
        t.sendline("sleep 42.25")
        assert wait_until(lambda: processes_matching("sleep 42.25"), timeout=10)
        t.ctrl("c")
        assert "Interrupted" in t.prompt("Root", timeout=15)
        assert wait_until(lambda: not processes_matching("sleep 42.25"), timeout=10)
    finally:
        t.close()


@pytest.mark.timeout(120)
def test_client_disconnecting_mid_action_leaves_the_server_healthy(unix_server) -> None:
    _, sock = unix_server
    t = Term.deployer("connect", ROOT_SPEC, "--socket", sock)
    t.prompt("Root")
    t.sendline("sleep 43.75")
    assert wait_until(lambda: processes_matching("sleep 43.75"), timeout=10)
    t.child.kill(signal.SIGKILL)  # the client vanishes
    t.close()
    assert wait_until(lambda: not processes_matching("sleep 43.75"), timeout=15)
    again = Term.deployer("connect", ROOT_SPEC, "--socket", sock)
    try:
        again.prompt("Root")
        again.sendline("echo after-disconnect")
        assert "after-disconnect" in again.prompt("Root")
    finally:
        again.close()


def _raw_session(sock_path: str, frames: bytes, wait: float = 3.0) -> bytes:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(wait)
    s.connect(sock_path)
    s.sendall(frames)
    out = b""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            out += data
    except socket.timeout:
        pass
    s.close()
    return out


@pytest.mark.timeout(120)
def test_garbage_is_refused_and_other_clients_are_not_affected(unix_server) -> None:
    _, sock = unix_server
    t = Term.deployer("connect", ROOT_SPEC, "--socket", sock)
    try:
        t.prompt("Root")
        for junk in (b"GET / HTTP/1.0\r\n\r\n", os.urandom(4096), b"H\xff\xff\xff\xff",
                     encode(HELLO, b"not json"), encode_json(HELLO, {"path": 5})):
            reply = _raw_session(sock, junk)
            assert b"protocol error" in reply
        # Closing before saying anything at all.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock)
        s.close()
        t.sendline("echo still-serving")
        assert "still-serving" in t.prompt("Root")
    finally:
        t.close()


@pytest.mark.timeout(60)
def test_one_action_over_the_socket_returns_its_status(unix_server) -> None:
    _, sock = unix_server
    ok = subprocess.run([sys.executable, "-m", "deployer.cli", "connect", ROOT_SPEC, "--socket", sock, "--",
                         "echo", "one-shot"], env=child_env(), capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "one-shot" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "deployer.cli", "connect", ROOT_SPEC, "--socket", sock, "fail"],
                         env=child_env(), capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "local1" in bad.stdout


@pytest.mark.timeout(60)
def test_raw_protocol_client(unix_server) -> None:
    _, sock = unix_server
    frames = encode_json(HELLO, {"rows": 24, "cols": 80, "action": ["Prod", "deploy", "raw"]})
    decoder = FrameDecoder(SERVER_TYPES)
    got = list(decoder.feed(_raw_session(sock, frames, wait=10)))
    text = b"".join(p for k, p in got if k == DATA).decode()
    assert "deployed raw" in text
    assert got[-1][0] == EXIT and b'"status": 0' in got[-1][1]


@pytest.mark.timeout(60)
def test_run_socket_starts_a_server_when_none_answers(tmp_path) -> None:
    sock = os.path.join(os.environ["DEPLOYER_RUNTIME_DIR"], "auto.sock")
    t = Term.deployer("run", ROOT_SPEC, "--socket", sock)
    try:
        t.prompt("Root", timeout=25)
        t.sendline("Prod deploy auto")
        assert "deployed auto" in t.prompt("Root")
        t.sendline("exit")
        assert t.wait_exit() == 0
    finally:
        t.close()
    pids = [line.split()[0] for line in processes_matching("listen %s --socket %s" % (ROOT_SPEC, sock))]
    assert pids, "the background server should still serve other clients"
    for pid in pids:
        os.kill(int(pid), signal.SIGTERM)


class TelnetClient:
    """A minimal telnet client: answers nothing, strips IAC sequences, can send NAWS."""

    IAC, SB, SE = 255, 250, 240

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def naws(self, cols: int, rows: int) -> None:
        self.send(bytes([self.IAC, self.SB, 31, cols >> 8, cols & 255, rows >> 8, rows & 255, self.IAC, self.SE]))

    def text(self) -> str:
        data, out, i = self.buffer, bytearray(), 0
        while i < len(data):
            if data[i] == self.IAC and i + 1 < len(data):
                if data[i + 1] in (251, 252, 253, 254):
                    i += 3
                    continue
                if data[i + 1] == self.IAC:
                    out.append(self.IAC)
                    i += 2
                    continue
                i += 2
                continue
            out.append(data[i])
            i += 1
        return clean(out.decode("utf-8", "replace"))

    def expect(self, pattern: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text()):
            if time.monotonic() > deadline:
                raise AssertionError("telnet: no %r in:\n%s" % (pattern, self.text()[-2000:]))
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise AssertionError("telnet connection closed; got:\n" + self.text()[-2000:])
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def telnet_server() -> Iterator[tuple[Server, int]]:
    server = Server("telnet-server", ROOT_SPEC, "--port", "0")
    m = re.search(r"127\.0\.0\.1:(\d+) \(loopback only", server.banner)
    assert m, server.banner
    yield server, int(m.group(1))
    assert server.stop() == 0


@pytest.mark.timeout(120)
def test_telnet_two_clients_disconnect_and_garbage(telnet_server) -> None:
    server, port = telnet_server
    with pytest.raises(OSError):
        # Loopback only: another local address is refused.
        socket.create_connection(("127.0.0.2", port), timeout=3).close()
    a, b = TelnetClient(port), TelnetClient(port)
    try:
        a.naws(100, 30)
        a.expect(r"Root >")
        b.expect(r"Root >")
        a.send(b"Prod deploy telnet\r\n")
        a.expect("deployed telnet")
        b.send(b"sleep 44.5\r\0")
        assert wait_until(lambda: processes_matching("sleep 44.5"), timeout=10)
        b.close()  # gone mid-action
        assert wait_until(lambda: not processes_matching("sleep 44.5"), timeout=15)
        junk = TelnetClient(port)
        junk.send(b"\xff\x01\xff\xfa" + os.urandom(2048))
        junk.close()
        a.send(b"echo telnet-alive\r\n")
        a.expect("telnet-alive")
        a.send(b"exit\r\n")
        a.expect(r"$")
    finally:
        a.close()
    assert server.proc.poll() is None
