"""The test beds really work: checked with raw paramiko and psycopg, not with deployer."""
from __future__ import annotations

import socket
import time

import paramiko
import psycopg
import pytest

from deployer.testing.sshd import SSHTestBed

pytestmark = pytest.mark.timeout(60)


def connect(bed: SSHTestBed, address: str, user=None) -> paramiko.SSHClient:
    user = user or bed.user
    client = paramiko.SSHClient()
    client.load_host_keys(bed.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())  # a key mismatch must fail
    client.connect(address, bed.port, username=user.name, key_filename=user.key_filename,
                   look_for_keys=False, allow_agent=False, timeout=10)
    return client


def run(client: paramiko.SSHClient, command: str, get_pty: bool = False, stdin: str | None = None) -> tuple[int, str]:
    chan = client.get_transport().open_session()
    if get_pty:
        chan.get_pty()
    chan.set_combine_stderr(True)
    chan.settimeout(20)
    chan.exec_command(command)
    if stdin is not None:
        chan.sendall(stdin.encode())
        chan.shutdown_write()
    out = b""
    while True:
        data = chan.recv(65536)
        if not data:
            break
        out += data
    return chan.recv_exit_status(), out.decode(errors="replace")


def test_every_address_logs_in_with_key_and_verified_host_key(ssh_bed: SSHTestBed) -> None:
    assert ssh_bed.addresses == ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
    for address in ssh_bed.addresses:
        client = connect(ssh_bed, address)
        try:
            status, out = run(client, "whoami; echo $SSH_CONNECTION")
            assert status == 0
            who, conn = out.split("\n", 1)
            assert who == "deployer-test"
            # sshd saw the connection on this very address: they really are distinct hosts.
            assert conn.split()[2] == address
        finally:
            client.close()


def test_unknown_host_key_is_rejected(ssh_bed: SSHTestBed) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())  # empty known_hosts
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(ssh_bed.addresses[0], ssh_bed.port, username=ssh_bed.user.name,
                       key_filename=ssh_bed.user.key_filename, look_for_keys=False, allow_agent=False)
    client.close()


def test_wrong_key_is_refused(ssh_bed: SSHTestBed) -> None:
    key = paramiko.RSAKey.generate(1024)  # paramiko cannot generate ed25519; any fresh key will do
    client = paramiko.SSHClient()
    client.load_host_keys(ssh_bed.known_hosts)
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(ssh_bed.addresses[0], ssh_bed.port, username=ssh_bed.user.name, pkey=key,
                       look_for_keys=False, allow_agent=False)
    client.close()


def test_password_login(ssh_bed: SSHTestBed) -> None:
    client = paramiko.SSHClient()
    client.load_host_keys(ssh_bed.known_hosts)
    client.connect(ssh_bed.addresses[1], ssh_bed.port, username=ssh_bed.sudo_user.name,
                   password=ssh_bed.sudo_user.password, look_for_keys=False, allow_agent=False)
    try:
        assert run(client, "whoami") == (0, "deployer-sudo\n")
    finally:
        client.close()


def test_passwordless_sudo_for_test_user(ssh_bed: SSHTestBed) -> None:
    client = connect(ssh_bed, ssh_bed.addresses[0])
    try:
        assert run(client, "sudo -n true") == (0, "")
        assert run(client, "sudo -n whoami") == (0, "root\n")
    finally:
        client.close()


def test_sudo_user_needs_its_password(ssh_bed: SSHTestBed) -> None:
    client = connect(ssh_bed, ssh_bed.addresses[0], user=ssh_bed.sudo_user)
    try:
        status, out = run(client, "sudo -n true")
        assert status != 0 and "password is required" in out
        status, out = run(client, "sudo -S -p 'pw:' whoami", stdin="wrong password\n" * 3)
        assert status != 0 and "root" not in out
        status, out = run(client, "sudo -S -p 'pw:' whoami", stdin=ssh_bed.sudo_user.password + "\n")
        assert status == 0 and out.endswith("root\n")
        # timestamp_timeout=0: the next sudo asks again.
        status, out = run(client, "sudo -n true")
        assert status != 0
    finally:
        client.close()


def test_sudo_password_prompt_over_a_pty(ssh_bed: SSHTestBed) -> None:
    """What the host layer does: answer the prompt on a pty."""
    client = connect(ssh_bed, ssh_bed.addresses[2], user=ssh_bed.sudo_user)
    try:
        chan = client.get_transport().open_session()
        chan.get_pty()
        chan.settimeout(20)
        chan.exec_command("sudo -p 'PROMPT:' whoami")
        buf = b""
        while b"PROMPT:" not in buf:
            buf += chan.recv(1024)
        chan.sendall((ssh_bed.sudo_user.password + "\n").encode())
        while True:
            data = chan.recv(1024)
            if not data:
                break
            buf += data
        assert chan.recv_exit_status() == 0
        assert buf.decode().rstrip().endswith("root")
        assert ssh_bed.sudo_user.password not in buf.decode()  # the pty does not echo it
    finally:
        client.close()


def test_sftp_works(ssh_bed: SSHTestBed) -> None:
    client = connect(ssh_bed, ssh_bed.addresses[3])
    try:
        sftp = client.open_sftp()
        assert sftp.normalize(".") == "/home/deployer-test"
        sftp.close()
    finally:
        client.close()


def test_drop_connections_breaks_a_live_session(ssh_bed: SSHTestBed) -> None:
    client = connect(ssh_bed, ssh_bed.addresses[0])
    try:
        chan = client.get_transport().open_session()
        chan.settimeout(20)
        chan.exec_command("echo started; sleep 60")
        assert chan.recv(100) == b"started\n"
        listeners = list(ssh_bed.sshd_pids)
        started = time.monotonic()
        ssh_bed.drop_connections()
        # The session ends long before the 60 s sleep would have.
        while chan.recv(100):
            pass
        assert time.monotonic() - started < 10
        deadline = time.monotonic() + 5
        while client.get_transport().is_active() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not client.get_transport().is_active()
    finally:
        client.close()
    # The listeners stay up: a new connection works.
    assert ssh_bed.sshd_pids == listeners
    client = connect(ssh_bed, ssh_bed.addresses[0])
    try:
        assert run(client, "echo again") == (0, "again\n")
    finally:
        client.close()


def test_more_than_16_addresses_and_clean_stop() -> None:
    bed = SSHTestBed(n_hosts=18)
    with bed:
        assert len(bed.sshd_pids) == 2  # one daemon per 16 addresses
        assert bed.addresses[-1] == "127.0.0.18"
        client = connect(bed, "127.0.0.18")
        try:
            assert run(client, "echo ok") == (0, "ok\n")
        finally:
            client.close()
        port, directory = bed.port, bed.directory
    assert bed.sshd_pids == []
    assert not directory.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.18", port), timeout=1).close()


def test_postgres_bed_accepts_password_connections(pg_url: str) -> None:
    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (41)")
        assert conn.execute("SELECT x + 1 FROM t").fetchone() == (42,)
    wrong = pg_url.replace("://deployer:", "://deployer:wrong", 1)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10).close()


def test_beds_fail_loudly_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    import deployer.testing.sshd as sshd_module
    from deployer.testing import TestBedError
    from deployer.testing.postgres import PostgresTestBed

    monkeypatch.setattr(sshd_module, "SSHD", "/nonexistent/sshd")
    with pytest.raises(TestBedError, match="install openssh-server"):
        SSHTestBed(n_hosts=1).start()
    # sshd itself failing: its own error output is in the exception.
    monkeypatch.setattr(sshd_module, "SSHD", "/bin/false")
    bed = SSHTestBed(n_hosts=1)
    with pytest.raises(TestBedError, match="sshd rejected its config"):
        bed.start()
    assert bed.directory is None  # cleaned up
    with pytest.raises(TestBedError, match="no-such-user"):
        PostgresTestBed(os_user="no-such-user").start()
