"""Role mapping: map_roles with strings, lists and ALL_HOSTS; DefaultRoleMapping;
which of a mapping and a Hosts class wins."""
from __future__ import annotations

import pytest

from deployer.host import LocalHost
from deployer.node import ALL_HOSTS, DefaultRoleMapping, Env, Node, ParallelNode, map_roles
from deployer.node.role_mapping import RoleMapping
from deployer.pseudo_terminal import DummyPty

pytestmark = pytest.mark.timeout(60)


def host(slug):
    return type("Host_" + slug, (LocalHost,), {"slug": slug})


LB, WEB1, WEB2, DB1, DB2, Q = (host(s) for s in ("lb", "web1", "web2", "db1", "db2", "queue"))


class System(Node):
    class Hosts:
        load_balancer = LB
        web = [WEB1, WEB2]
        master_db = {DB1}
        slave_db = {DB2}
        queue = Q

    @map_roles(host="queue")
    class Queue(Node):
        def where(self):
            return self.host.run("echo $((1+1)) on", interactive=False).strip() + " " + self.host.slug

    @map_roles(master="master_db", slave="slave_db")
    class Database(Node):
        pass

    @map_roles(host=["web", "load_balancer", "missing_role"])
    class Git(Node):
        def run_all(self):
            return self.hosts.run("echo x", interactive=False)

    @map_roles(host=ALL_HOSTS)
    class Monitor(Node):
        pass

    @map_roles("web", "queue")
    class Positional(Node):
        pass

    class Inherits(Node):
        class Grand(Node):
            pass


def slugs(env, role=None):
    container = env.hosts if role is None else env.hosts.filter(role)
    return container.get_host_slugs()


def test_map_roles_with_a_string():
    env = Env(System(), pty=DummyPty())
    assert env.Queue.hosts.roles == ["host"]
    assert slugs(env.Queue) == ["queue"]
    assert env.Queue.where() == "2 on queue"


def test_map_roles_renames_several_roles():
    env = Env(System(), pty=DummyPty())
    assert env.Database.hosts.get_hosts_as_dict() == {"master": {DB1}, "slave": {DB2}}


def test_map_roles_with_a_list_skips_missing_roles():
    env = Env(System(), pty=DummyPty())
    assert slugs(env.Git) == ["web1", "web2", "lb"]
    assert env.Git.run_all() == ["x\n"] * 3


def test_map_roles_all_hosts_and_positional():
    env = Env(System(), pty=DummyPty())
    assert set(slugs(env.Monitor)) == {"lb", "web1", "web2", "db1", "db2", "queue"}
    assert env.Monitor.hosts.roles == ["host"]
    assert slugs(env.Positional) == ["web1", "web2", "queue"]


def test_children_without_mapping_inherit_every_role():
    env = Env(System(), pty=DummyPty())
    expected = System().hosts.get_hosts_as_dict()
    assert env.Inherits.hosts.get_hosts_as_dict() == expected
    assert env.Inherits.Grand.hosts.get_hosts_as_dict() == expected


def test_mapping_on_a_child_overrides_its_own_hosts_class():
    class Child(Node):
        class Hosts:
            host = WEB1

    class Root(Node):
        class Hosts:
            db = DB1

        mapped = map_roles(host="db")(Child)
        plain = Child

    root = Root()
    assert root.mapped.hosts.get_host_slugs() == ["db1"]
    assert root.plain.hosts.get_host_slugs() == ["web1"]
    # The decorator made a subclass: the original class is unchanged.
    assert Child.__dict__.get("_node_role_mapping") is None
    assert issubclass(Root.mapped, Child)
    # As a root (no parent) a mapped class uses its own Hosts.
    assert Root.mapped().hosts.get_host_slugs() == ["web1"]


def test_hosts_class_in_a_subclass_wins_over_inherited_mapping():
    class Root(Node):
        class Hosts:
            db = DB1

        @map_roles(host="db")
        class svc(Node):
            pass

    class Root2(Root):
        class svc(Root.svc):
            class Hosts:
                host = WEB2

    assert Root().svc.hosts.get_host_slugs() == ["db1"]
    assert Root2().svc.hosts.get_host_slugs() == ["web2"]


def test_double_underscore_subclass_keeps_the_mapping():
    class Staging(System):
        Queue__extra = 1

    node = Staging()
    assert node.Queue.extra == 1
    assert node.Queue.hosts.get_host_slugs() == ["queue"]


def test_default_role_mapping():
    mapping = DefaultRoleMapping(extra="web")
    roles = mapping.apply({"web": (WEB1,), "db": (DB1,)})
    assert roles == {"web": (WEB1,), "db": (DB1,), "extra": (WEB1,)}

    class Root(Node):
        class Hosts:
            web = WEB1

        @DefaultRoleMapping(host="web")
        class child(Node):
            pass

    assert Root().child.hosts.get_hosts_as_dict() == {"web": {WEB1}, "host": {WEB1}}


def test_role_mapping_rejects_bad_values():
    with pytest.raises(TypeError):
        map_roles(host=5)
    with pytest.raises(TypeError):
        map_roles(host="x")(object)
    assert repr(ALL_HOSTS) == "ALL_HOSTS"
    assert map_roles is RoleMapping


def test_parallel_child_of_node_without_host_role_isolates_every_parent_host():
    class Root(Node):
        class Hosts:
            web = [WEB1, WEB2]

        class Array(ParallelNode.Array):
            def slug(self):
                return self.host.slug

    env = Env(Root(), pty=DummyPty())
    assert list(env.Array.slug()) == ["web1", "web2"]
