"""HostsContainer and HostContainer on LocalHost subclasses (distinct slugs act as
distinct hosts) and on loopback SSH hosts."""
from __future__ import annotations

import os

import pytest

from deployer.exceptions import ExecCommandFailed
from deployer.host import LocalHost
from deployer.host_container import HostContainer, HostsContainer, host_slug, roles_from_definition
from deployer.loggers import Logger
from deployer.node import Env, Node
from deployer.pseudo_terminal import DummyPty

pytestmark = pytest.mark.timeout(60)


class Host1(LocalHost):
    slug = "host1"


class Host2(LocalHost):
    slug = "host2"


class Host3(LocalHost):
    slug = "host3"


class MyNode(Node):
    class Hosts:
        web_servers = {Host1, Host2}
        caching_servers = Host3

    def do_something(self):
        return self.hosts.filter("caching_servers").run("echo hello", interactive=False)


def container(**kw):
    return HostsContainer({"web": {Host2, Host1}, "cache": Host3, "empty": set()}, pty=DummyPty(), **kw)


def test_docs_example_filter_and_run():
    assert Env(MyNode(), pty=DummyPty(), logger=Logger()).do_something() == ["hello\n"]


def test_roles_hosts_and_dict():
    c = container()
    assert c.roles == ["web", "cache", "empty"]
    assert c.get_hosts() == {Host1, Host2, Host3}
    assert c.get_hosts_as_dict() == {"web": {Host1, Host2}, "cache": {Host3}, "empty": set()}
    assert c.get_host_slugs() == ["host1", "host2", "host3"], "sets are ordered by slug"
    assert len(c) == 3 and Host1 in c and "host3" in c


def test_filter_and_indexing():
    c = container()
    web = c.filter("web")
    assert isinstance(web, HostsContainer) and web.get_hosts() == {Host1, Host2}
    assert c.filter("web", "cache").get_hosts() == {Host1, Host2, Host3}
    assert len(c.filter("nothing")) == 0
    assert isinstance(c[0], HostContainer) and c[0].slug == "host1"
    assert c[Host3].slug == "host3" and c["host2"].slug == "host2" and c[-1].slug == "host3"
    assert c.filter("web")[1].slug == "host2"
    assert [h.slug for h in c] == ["host1", "host2", "host3"]
    with pytest.raises(IndexError):
        c[7]
    with pytest.raises(KeyError, match="host1, host2, host3"):
        c["zzz"]


def test_run_and_sudo_return_one_result_per_host():
    c = container()
    assert c.run("echo $((6*7))", interactive=False) == ["42\n"] * 3
    assert c.sudo("id -u", interactive=False) == ["0\n"] * 3
    assert c[0].run("echo one", interactive=False) == "one\n"
    with pytest.raises(ExecCommandFailed, match="host1"):
        c.run("exit 2", interactive=False)
    assert c.run("exit 2", interactive=False, ignore_exit_status=True) == [""] * 3


def test_cd_env_prefix_apply_to_every_host_and_are_shared_with_filtered_containers(tmp_path):
    c = container()
    web = c.filter("web")
    with c.cd(str(tmp_path)):
        assert web.getcwd() == [str(tmp_path)] * 2
        with c.env("GREETING", "it's me"):
            with c.prefix("export B=2"):
                assert c.run("echo $GREETING $B", interactive=False) == ["it's me 2\n"] * 3
    assert c.getcwd() != [str(tmp_path)] * 3


def test_exists_getcwd_has_command(tmp_path):
    (tmp_path / "present").write_text("x")
    c = container()
    assert c.exists(str(tmp_path / "present")) == [True, True, True]
    assert c.exists(str(tmp_path / "absent"), use_sudo=False) == [False] * 3
    assert c[0].exists(str(tmp_path / "present")) is True
    assert c.has_command("bash") == [True] * 3
    assert c.has_command("no-such-command-here") == [False] * 3
    assert c[1].has_command("sh") is True
    assert c[2].getcwd() == c[2].get_start_path() == os.getcwd()


def test_host_container_open_put_get_file(tmp_path):
    h = container()[0]
    target = tmp_path / "remote.txt"
    with h.open(str(target), "w") as f:
        f.write("remote content")
    assert target.read_text() == "remote content"
    with h.open(str(target)) as f:
        assert f.read() == b"remote content"
    local = tmp_path / "local.txt"
    local.write_text("uploaded")
    h.put_file(str(local), str(tmp_path / "up.txt"))
    assert (tmp_path / "up.txt").read_text() == "uploaded"
    h.get_file(str(tmp_path / "up.txt"), str(tmp_path / "down.txt"))
    assert (tmp_path / "down.txt").read_text() == "uploaded"
    assert h.get_host() is Host1 and h.username == Host1.username


def test_sandboxed_container_writes_nothing(tmp_path):
    c = container(is_sandbox=True)
    target = tmp_path / "x"
    assert c.run("touch %s" % target, interactive=False) == [""] * 3
    with c[0].open(str(target), "w") as f:
        f.write("nope")
    local = tmp_path / "local"
    local.write_text("l")
    c[0].put_file(str(local), str(target))
    assert not target.exists()


def test_host_container_needs_exactly_one_host():
    with pytest.raises(ValueError, match="exactly one host, got 2"):
        HostContainer({"web": [Host1, Host2]})


def test_from_definition_and_equality():
    class Hosts:
        role1 = [LocalHost]
        role2 = [Host1, Host2]
        _private = Host3

    c = HostsContainer.from_definition(Hosts, pty=DummyPty())
    assert c.get_hosts_as_dict() == {"role1": {LocalHost}, "role2": {Host1, Host2}}
    assert roles_from_definition(Hosts) == {"role1": (LocalHost,), "role2": (Host1, Host2)}
    assert c.filter("role2") == HostsContainer({"x": [Host2, Host1]})
    assert host_slug(Host1) == "host1" and host_slug(Host1()) == "host1"


def test_host_instances_given_directly_are_used_as_is():
    h = Host1(pty=DummyPty())
    c = HostsContainer([h])
    assert c.roles == ["host"]
    assert c[0].run("echo direct", interactive=False) == "direct\n"


@pytest.mark.ssh
def test_containers_on_ssh_hosts(ssh_bed, tmp_path):
    hosts = ssh_bed.host_classes()[:3]
    c = HostsContainer({"web": hosts[:2], "db": hosts[2]}, pty=DummyPty())
    outputs = c.run("echo $SSH_CONNECTION", interactive=False)
    assert [o.split()[2] for o in outputs] == list(ssh_bed.addresses[:3])
    with c.filter("web").cd("/tmp"):
        assert c.filter("web").getcwd() == ["/tmp", "/tmp"]
    assert c.has_command("bash") == [True] * 3
    single = c.filter("db")[0]
    remote = "/tmp/deployer-hc-%s" % os.getpid()
    with single.open(remote, "w") as f:
        f.write("over ssh")
    try:
        single.get_file(remote, str(tmp_path / "got"))
        assert (tmp_path / "got").read_text() == "over ssh"
        assert single.exists(remote, use_sudo=False) is True
    finally:
        single.run("rm -f %s" % remote, interactive=False)
