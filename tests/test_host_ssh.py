"""SSH specifics: ~/.ssh/config (HostName, Port, User, IdentityFile, ProxyJump, ProxyCommand),
ssh-agent keys, in-memory keys, and one connection per host class per process."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess

import pytest

from deployer.exceptions import AuthenticationFailedException, ConnectionFailedException
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
