"""SSH specifics: ~/.ssh/config (HostName, Port, User, IdentityFile, ProxyJump, ProxyCommand),
ssh-agent keys, in-memory keys, one connection per host class per process, and the
known_hosts file parsed once per process (and again when it changes)."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import threading

import paramiko
import pytest

from deployer.exceptions import AuthenticationFailedException, ConnectionFailedException, HostKeyMismatchException
from deployer.host import SSHHost, connections
from deployer.pseudo_terminal import DummyPty
from deployer.testing.procs import free_port

pytestmark = pytest.mark.timeout(60)


def host_from_config(bed, config_text: str, tmp_path, alias: str, **attrs) -> SSHHost:
    config = tmp_path / "ssh_config"
    config.write_text(config_text)
    namespace = dict(address=alias, config_filename=str(config), known_hosts_filename=bed.known_hosts,
                     allow_agent=False)
    namespace.update(attrs)
    return type("ConfiguredHost", (SSHHost,), namespace)(pty=DummyPty())


def remote_endpoint(host) -> list[str]:
    """$SSH_CONNECTION: client address, client port, server address, server port."""
    return host.run("echo $SSH_CONNECTION", interactive=False).split()


def test_config_hostname_port_user_identityfile(ssh_bed, tmp_path) -> None:
    host = host_from_config(ssh_bed, (
        "Host web-alias\n"
        "    HostName 127.0.0.2\n"
        "    Port %d\n"
        "    User %s\n"
        "    IdentityFile %s\n"
    ) % (ssh_bed.port, ssh_bed.user.name, ssh_bed.user.key_filename), tmp_path, "web-alias")
    assert host.slug == "web-alias"
    assert host.run("whoami", interactive=False).strip() == ssh_bed.user.name
    assert remote_endpoint(host)[2:] == ["127.0.0.2", str(ssh_bed.port)]


def test_class_attributes_win_over_config(ssh_bed, tmp_path) -> None:
    host = host_from_config(ssh_bed, (
        "Host *\n"
        "    Port 1\n"
        "    User nobody-at-all\n"
    ), tmp_path, "127.0.0.3", port=ssh_bed.port, username=ssh_bed.user.name,
        key_filename=ssh_bed.user.key_filename)
    assert remote_endpoint(host)[2:] == ["127.0.0.3", str(ssh_bed.port)]


def test_config_disabled_with_none(ssh_bed, tmp_path) -> None:
    host = host_from_config(ssh_bed, "Host web-alias\n    HostName 127.0.0.2\n", tmp_path, "web-alias",
                            config_filename=None, port=ssh_bed.port, timeout=2)
    with pytest.raises(ConnectionFailedException) as info:
        host.run("true", interactive=False)
    assert "web-alias" in str(info.value)


def test_config_proxyjump(ssh_bed, tmp_path) -> None:
    host = host_from_config(ssh_bed, (
        "Host jumpbox\n"
        "    HostName 127.0.0.1\n"
        "    Port {port}\n"
        "    User {user}\n"
        "    IdentityFile {key}\n"
        "Host inner\n"
        "    HostName 127.0.0.4\n"
        "    Port {port}\n"
        "    User {user}\n"
        "    IdentityFile {key}\n"
        "    ProxyJump jumpbox\n"
    ).format(port=ssh_bed.port, user=ssh_bed.user.name, key=ssh_bed.user.key_filename), tmp_path, "inner")
    assert remote_endpoint(host)[2] == "127.0.0.4"
    conn = connections.cache.peek(type(host))
    assert len(conn.hops) == 1  # went through the jump host
    assert host.open("/etc/hostname", "r").read()  # SFTP through the jump too


def test_config_proxyjump_to_closed_port_names_jump_host(ssh_bed, tmp_path) -> None:
    host = host_from_config(ssh_bed, (
        "Host jumpbox\n    HostName 127.0.0.1\n    Port {port}\n    User {user}\n    IdentityFile {key}\n"
        "Host inner\n    HostName 127.0.0.4\n    Port {closed}\n    ProxyJump jumpbox\n"
    ).format(port=ssh_bed.port, user=ssh_bed.user.name, key=ssh_bed.user.key_filename,
             closed=free_port()), tmp_path, "inner", timeout=3)
    with pytest.raises(ConnectionFailedException) as info:
        host.run("true", interactive=False)
    assert "jump host" in str(info.value)


def test_config_proxycommand(ssh_bed, tmp_path) -> None:
    marker = tmp_path / "proxy-used"
    proxy = ("sh -c 'touch {marker} && exec ssh -q -i {key} -o UserKnownHostsFile={kh} "
             "-o StrictHostKeyChecking=yes -o BatchMode=yes -p {port} -W %h:%p {user}@127.0.0.1'").format(
        marker=marker, key=ssh_bed.user.key_filename, kh=ssh_bed.known_hosts, port=ssh_bed.port,
        user=ssh_bed.user.name)
    host = host_from_config(ssh_bed, (
        "Host proxied\n"
        "    HostName 127.0.0.3\n"
        "    Port %d\n"
        "    User %s\n"
        "    IdentityFile %s\n"
        "    ProxyCommand %s\n"
    ) % (ssh_bed.port, ssh_bed.user.name, ssh_bed.user.key_filename, proxy), tmp_path, "proxied")
    assert remote_endpoint(host)[2] == "127.0.0.3"
    assert marker.exists()


def test_ssh_agent_keys(ssh_bed, tmp_path, monkeypatch) -> None:
    socket_path = str(tmp_path / "agent.sock")
    started = subprocess.run(["ssh-agent", "-s", "-a", socket_path], capture_output=True, text=True, check=True)
    agent_pid = int(started.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        env = dict(os.environ, SSH_AUTH_SOCK=socket_path)
        subprocess.run(["ssh-add", "-q", ssh_bed.user.key_filename], env=env, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", socket_path)
        cls = ssh_bed.host_class(1, key_filename=None, password="", allow_agent=True)
        assert cls(pty=DummyPty()).run("whoami", interactive=False).strip() == ssh_bed.user.name
        # Proof that the agent did it: without it, the same class cannot log in.
        monkeypatch.delenv("SSH_AUTH_SOCK")
        again = ssh_bed.host_class(1, key_filename=None, password="", allow_agent=True)
        with pytest.raises(AuthenticationFailedException):
            again(pty=DummyPty()).run("whoami", interactive=False)
    finally:
        os.kill(agent_pid, signal.SIGTERM)


def test_key_in_memory(ssh_bed) -> None:
    with open(ssh_bed.user.key_filename) as f:
        key_text = f.read()
    cls = ssh_bed.host_class(2, key_filename=None, password="", allow_agent=False, rsa_key=key_text)
    assert cls(pty=DummyPty()).run("whoami", interactive=False).strip() == ssh_bed.user.name


def _endpoint_in_child(cls, queue) -> None:
    queue.put(remote_endpoint(cls(pty=DummyPty())))


def test_one_connection_per_host_class_per_process(ssh_bed) -> None:
    cls = ssh_bed.host_class(0)
    first = cls(pty=DummyPty())
    endpoint = remote_endpoint(first)
    assert remote_endpoint(cls(pty=DummyPty())) == endpoint       # another instance
    assert remote_endpoint(first.copy()) == endpoint              # a copy
    first.listdir_stat("/")                                        # SFTP rides the same connection
    assert connections.cache.peek(cls).transport.is_active()
    other_class = ssh_bed.host_class(0)
    assert remote_endpoint(other_class(pty=DummyPty())) != endpoint  # another host class
    # A forked child does not reuse the parent's connection.
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_endpoint_in_child, args=(cls, queue))
    child.start()
    child_endpoint = queue.get(timeout=30)
    child.join(30)
    assert child_endpoint[2:] == endpoint[2:] and child_endpoint[1] != endpoint[1]
    assert remote_endpoint(first) == endpoint  # the parent's connection is unharmed


# -- known_hosts -------------------------------------------------------------------

def _wrong_known_hosts(bed, tmp_path) -> str:
    """bed.known_hosts with another ed25519 key for every host: same names, same size."""
    fake = tmp_path / "fake_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(fake)], check=True)
    kind, blob = (tmp_path / "fake_host_key.pub").read_text().split()[:2]
    return "".join("%s %s %s\n" % (line.split()[0], kind, blob)
                   for line in open(bed.known_hosts).read().splitlines())


def test_rewritten_known_hosts_is_read_again(ssh_bed, tmp_path) -> None:
    known = tmp_path / "known_hosts"
    right = open(ssh_bed.known_hosts).read()
    wrong = _wrong_known_hosts(ssh_bed, tmp_path)
    assert len(wrong) == len(right) and wrong != right
    known.write_text(right)
    assert ssh_bed.host_class(0, known_hosts_filename=str(known))(pty=DummyPty()).run(
        "echo ok", interactive=False) == "ok\n"
    # Rewritten in place, same size, right away: the next connection sees the new content.
    known.write_text(wrong)
    with pytest.raises(HostKeyMismatchException) as info:
        ssh_bed.host_class(0, known_hosts_filename=str(known))(pty=DummyPty()).run("true", interactive=False)
    assert "differs" in str(info.value)
    known.write_text(right)
    assert ssh_bed.host_class(1, known_hosts_filename=str(known))(pty=DummyPty()).run(
        "echo ok", interactive=False) == "ok\n"


def test_known_hosts_parsed_once_for_a_fan_out(ssh_bed, tmp_path, monkeypatch) -> None:
    # paramiko's HostKeys.load is O(lines²): once per connection made a 50-host
    # fan-out spend half its client CPU there (bench/fanout.py).
    known = tmp_path / "known_hosts"
    known.write_text(open(ssh_bed.known_hosts).read())
    loads = []
    real_load = paramiko.HostKeys.load
    monkeypatch.setattr(paramiko.HostKeys, "load", lambda self, filename: (loads.append(filename),
                                                                          real_load(self, filename))[1])
    classes = [ssh_bed.host_class(i, known_hosts_filename=str(known)) for i in range(ssh_bed.n_hosts)]
    outputs: list[str] = []
    threads = [threading.Thread(target=lambda cls=cls: outputs.append(
        cls(pty=DummyPty()).run("echo ok", interactive=False))) for cls in classes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outputs == ["ok\n"] * ssh_bed.n_hosts
    assert loads == [str(known)]


def test_hashed_known_hosts(ssh_bed, tmp_path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(open(ssh_bed.known_hosts).read())
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    assert "127.0.0.1" not in known.read_text()  # the names are hashed now
    assert ssh_bed.host_class(2, known_hosts_filename=str(known))(pty=DummyPty()).run(
        "echo ok", interactive=False) == "ok\n"
    with pytest.raises(HostKeyMismatchException):
        ssh_bed.host_class(2, known_hosts_filename=str(tmp_path / "missing"))(pty=DummyPty()).run(
            "true", interactive=False)
