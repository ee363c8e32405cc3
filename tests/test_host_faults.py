"""Bad input and faults: unreachable hosts, bad credentials, host keys, sudo passwords,
dying sessions, timeouts, reconnects and concurrency — each gets a clear error, in time."""
from __future__ import annotations

import socket
import subprocess
import threading
import time

import pytest

from deployer.exceptions import (AuthenticationFailedException, CommandTimeoutException,
                                 ConnectionFailedException, ExecCommandFailed, HostKeyMismatchException,
                                 SudoPasswordException)
from deployer.host import LocalHost, connections
from deployer.loggers.events import CommandFinished
from deployer.pseudo_terminal import DummyPty
from deployer.testing.procs import free_port
from tests.host_helpers import Recorder

pytestmark = pytest.mark.timeout(60)


def make(bed, i=0, user=None, **attrs):
    cls = bed.host_class(i, user=user, **attrs)
    recorder = Recorder()
    return cls(pty=DummyPty(), logger=recorder), recorder


def everything_said(host, recorder, exc) -> str:
    """Every text a secret could leak into: pty output, events, the exception."""
    return "\n".join([host.pty.get_output(), str(exc), repr(exc), *map(repr, recorder.events)])


# -- connecting ---------------------------------------------------------------------

def test_closed_port_fails_fast_naming_the_host(ssh_bed) -> None:
    host, _ = make(ssh_bed, port=free_port(), slug="closed-port", timeout=3)
    start = time.monotonic()
    with pytest.raises(ConnectionFailedException) as info:
        host.run("true", interactive=False)
    assert time.monotonic() - start < 3
    assert "closed-port" in str(info.value) and "refused" in str(info.value).lower()


def test_silent_server_fails_within_timeout(ssh_bed) -> None:
    # Accepts TCP but never speaks SSH: only the timeout can end this.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    try:
        host, _ = make(ssh_bed, port=server.getsockname()[1], slug="mute", timeout=1)
        start = time.monotonic()
        with pytest.raises(ConnectionFailedException) as info:
            host.run("true", interactive=False)
        assert time.monotonic() - start < 4
        assert "mute" in str(info.value)
    finally:
        server.close()


def test_unroutable_address_fails_within_timeout(ssh_bed) -> None:
    host, _ = make(ssh_bed, address="10.255.255.1", port=22, slug="blackhole", timeout=1)
    start = time.monotonic()
    with pytest.raises(ConnectionFailedException) as info:
        host.run("true", interactive=False)
    assert time.monotonic() - start < 4
    assert "blackhole" in str(info.value) and "10.255.255.1" in str(info.value)


def test_unresolvable_name(ssh_bed) -> None:
    host, _ = make(ssh_bed, address="no-such-host.invalid", timeout=2)
    with pytest.raises(ConnectionFailedException) as info:
        host.run("true", interactive=False)
    assert "no-such-host.invalid" in str(info.value)


def test_wrong_key_is_an_authentication_error(ssh_bed, tmp_path) -> None:
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    host, _ = make(ssh_bed, key_filename=str(key), password="", allow_agent=False)
    with pytest.raises(AuthenticationFailedException) as info:
        host.run("true", interactive=False)
    assert "bed-0" in str(info.value) and "deployer-test" in str(info.value)


def test_wrong_password_is_an_authentication_error(ssh_bed) -> None:
    secret = "not-the-password-31337"
    host, recorder = make(ssh_bed, key_filename=None, password=secret, allow_agent=False)
    with pytest.raises(AuthenticationFailedException) as info:
        host.run("true", interactive=False)
    assert "authentication" in str(info.value)
    assert secret not in everything_said(host, recorder, info.value)


def test_password_login_works(ssh_bed) -> None:
    host, _ = make(ssh_bed, key_filename=None, allow_agent=False)
    assert host.run("whoami", interactive=False).strip() == ssh_bed.user.name


def test_unknown_host_key_says_how_to_trust(ssh_bed, tmp_path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    host, _ = make(ssh_bed, known_hosts_filename=str(empty))
    with pytest.raises(HostKeyMismatchException) as info:
        host.run("true", interactive=False)
    message = str(info.value)
    assert "bed-0" in message and "ssh-keyscan -p %d 127.0.0.1" % ssh_bed.port in message
    assert "verify_host_key = False" in message and "SHA256:" in message
    # The opt-out for throwaway hosts.
    host, _ = make(ssh_bed, known_hosts_filename=str(empty), verify_host_key=False)
    assert host.run("echo ok", interactive=False) == "ok\n"
    assert empty.read_text() == ""  # nothing was written to known_hosts


def test_changed_host_key_is_refused(ssh_bed, tmp_path) -> None:
    key = tmp_path / "fake"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    kind, blob = (tmp_path / "fake.pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text("[127.0.0.1]:%d %s %s\n" % (ssh_bed.port, kind, blob))
    host, _ = make(ssh_bed, known_hosts_filename=str(known))
    with pytest.raises(HostKeyMismatchException) as info:
        host.run("true", interactive=False)
    assert "ssh-keygen -R" in str(info.value) and "differs" in str(info.value)


def test_failing_command_names_host_command_and_status(ssh_bed) -> None:
    host, _ = make(ssh_bed, 1)
    with pytest.raises(ExecCommandFailed) as info:
        host.run("ls /does-not-exist", interactive=False)
    e = info.value
    assert e.status_code == 2 and e.command == "ls /does-not-exist"
    assert "bed-1" in str(e) and "ls /does-not-exist" in str(e) and "No such file" in str(e)


# -- sudo passwords -------------------------------------------------------------------

@pytest.mark.parametrize("interactive", [False, True])
def test_sudo_with_password_never_shows_it(ssh_bed, interactive) -> None:
    host, recorder = make(ssh_bed, 2, user=ssh_bed.sudo_user)
    password = ssh_bed.sudo_user.password
    # ps shows the command lines of everything running: the password is on none.
    assert host.sudo("whoami", interactive=interactive).strip() == "root"  # no prompt, no echo
    out = host.sudo("ps -eo args", interactive=interactive)
    assert "sudo -S -p" in out  # we did see the sudo command line itself
    assert password not in everything_said(host, recorder, "")
    assert password not in out


@pytest.mark.parametrize("interactive", [False, True])
def test_wrong_sudo_password_raises_quickly(ssh_bed, interactive) -> None:
    wrong = "wrong-sudo-pw-4711"
    host, recorder = make(ssh_bed, 2, user=ssh_bed.sudo_user, password=wrong)
    host.run("true", interactive=False)  # logging in works (by key)
    start = time.monotonic()
    with pytest.raises(SudoPasswordException) as info:
        host.sudo("whoami", interactive=interactive)
    assert time.monotonic() - start < 10
    assert "bed-2" in str(info.value) and "wrong sudo password" in str(info.value)
    said = everything_said(host, recorder, info.value)
    assert wrong not in said and ssh_bed.sudo_user.password not in said
    finished = recorder.of(CommandFinished)
    assert finished[-1].error and "SudoPasswordException" in finished[-1].error


def test_sudo_without_password_raises(ssh_bed) -> None:
    host, _ = make(ssh_bed, 2, user=ssh_bed.sudo_user, password="")
    with pytest.raises(SudoPasswordException) as info:
        host.sudo("true", interactive=False, timeout=10)
    assert "Host.password" in str(info.value)


def test_sudo_initial_input_is_not_taken_as_password(ssh_bed) -> None:
    host, _ = make(ssh_bed, 2, user=ssh_bed.sudo_user)
    out = host.sudo('read x; echo "x=$x"; whoami', initial_input="typed-ahead\n")
    assert "x=typed-ahead" in out and "root" in out


# -- dying sessions, timeouts, reconnects ---------------------------------------------

@pytest.mark.parametrize("interactive", [False, True])
def test_session_killed_mid_command(ssh_bed, interactive) -> None:
    host, recorder = make(ssh_bed, 3)
    host.run("true", interactive=False)
    threading.Timer(0.5, ssh_bed.drop_connections).start()
    start = time.monotonic()
    with pytest.raises((ConnectionFailedException, ExecCommandFailed)) as info:
        host.run("sleep 30", interactive=interactive)
    assert time.monotonic() - start < 10
    assert "bed-3" in str(info.value)
    # The next command reconnects.
    assert host.run("echo back", interactive=False) == "back\n"


def test_reconnect_after_idle_drop(ssh_bed) -> None:
    host, _ = make(ssh_bed, 3)
    first = host.run("echo $SSH_CONNECTION", interactive=False)
    ssh_bed.drop_connections()
    second = host.run("echo $SSH_CONNECTION", interactive=False)
    assert first != second  # a new TCP connection (new client port)
    host.listdir_stat("/")  # SFTP reconnects too
    ssh_bed.drop_connections()
    host.listdir_stat("/")


@pytest.mark.parametrize("interactive", [False, True])
def test_command_timeout_stops_remote_process(ssh_bed, interactive) -> None:
    host, recorder = make(ssh_bed, 0)
    start = time.monotonic()
    with pytest.raises(CommandTimeoutException) as info:
        host.run("sleep 31.25", interactive=interactive, timeout=1)
    assert 1 <= time.monotonic() - start < 5
    assert "bed-0" in str(info.value) and "sleep 31.25" in str(info.value)
    finished = recorder.of(CommandFinished)[-1]
    assert finished.exit_code is None and "CommandTimeoutException" in finished.error
    # The remote sleep is gone (pgrep's own command line starts with 'bash', not 'sleep').
    deadline = time.monotonic() + 3
    while True:
        left = host.run("pgrep -f '^sleep 31[.]25$' || true", interactive=False).strip()
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == ""


def test_local_command_timeout_kills_process_group() -> None:
    host = LocalHost(pty=DummyPty())
    with pytest.raises(CommandTimeoutException):
        host.run("sleep 32.5 & sleep 32.5; wait", interactive=False, timeout=0.5)
    with pytest.raises(CommandTimeoutException):
        host.run("sleep 32.5", interactive=True, timeout=0.5)
    assert host.run("pgrep -f '^sleep 32[.]5$' || true", interactive=False).strip() == ""


# -- concurrency ----------------------------------------------------------------------

def test_threads_share_one_connection(ssh_bed) -> None:
    cls = ssh_bed.host_class(1)
    errors: list = []
    seen: set = set()

    def work() -> None:
        host = cls(pty=DummyPty())
        try:
            for i in range(5):
                seen.add(host.run("echo $SSH_CONNECTION", interactive=(i % 2 == 0)).strip())
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(seen) == 1  # every command came over the same TCP connection
    assert connections.cache.peek(cls) is not None


@pytest.mark.timeout(120)
def test_many_short_commands_from_many_threads_keep_the_connection(ssh_bed) -> None:
    """Short commands finish while we still send their EOF: that must never cost the connection.

    (paramiko sends a channel's EOF outside its lock; an EOF that left after the
    channel's CLOSE made OpenSSH drop the whole connection, failing every command
    on it. Seen as 'Channel closed' / 'was lost while the command was running'.)
    """
    cls = ssh_bed.host_class(2)
    errors: list = []

    def work() -> None:
        host = cls(pty=DummyPty())
        try:
            for _ in range(25):
                assert host.run("echo ok", interactive=False) == "ok\n"
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
