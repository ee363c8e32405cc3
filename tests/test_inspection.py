"""Inspector, PathType, walk() and the filters."""
from __future__ import annotations

import pytest

from deployer.groups import Other, Production, Staging, production, staging
from deployer.host import LocalHost
from deployer.inspection import Inspector, PathType
from deployer.inspection.filters import Filter, HasAction, InGroup, IsInstance, PrivateOnly, PublicOnly
from deployer.inspection.inspector import NodeIterator
from deployer.node import Action, Env, Node, ParallelNode, alias, suppress_action_result
from deployer.pseudo_terminal import DummyPty
from deployer.query import Q

pytestmark = pytest.mark.timeout(60)


class H1(LocalHost):
    slug = "h1"


class GitNode(Node):
    def show(self):
        return self.hosts.run("echo shown", interactive=False)


class Root(Node):
    class Hosts:
        host = H1

    domain = "example.com"
    url = Q("http://%s") % Q.domain

    @property
    def upper_domain(self):
        return self.domain.upper()

    def deploy(self):
        pass

    def _private_helper(self):
        pass

    @suppress_action_result
    @alias("show.status")
    def status(self):
        return "ok"

    class web(GitNode):
        class Server(Node):
            def restart(self):
                pass

    @staging
    class staging_site(GitNode):
        class inner(Node):
            pass

    @production
    class _hidden(Node):
        pass

    def __call__(self):
        return "called"


def test_actions():
    insp = Inspector(Root())
    names = [a.name for a in insp.get_actions()]
    assert names == ["deploy", "_private_helper", "status"]
    assert [a.name for a in insp.get_actions(include_private=False)] == ["deploy", "status"]
    action = insp.get_action("deploy")
    assert isinstance(action, Action) and action.name == "deploy"
    assert insp.get_action("show.status").name == "status", "aliases are found"
    assert insp.has_action("status") and not insp.has_action("nope")
    with pytest.raises(AttributeError):
        insp.get_action("nope")
    assert insp.suppress_result_for_action("status") and not insp.suppress_result_for_action("deploy")
    assert insp.is_callable() and not Inspector(Root().web).is_callable()


def test_childnodes():
    root = Root()
    insp = Inspector(root)
    children = insp.get_childnodes()
    assert [Inspector(c).get_name() for c in children] == ["web", "staging_site", "_hidden"]
    assert [Inspector(c).get_name() for c in insp.get_childnodes(include_private=False)] == ["web", "staging_site"]
    assert insp.get_childnode("web") is root.web
    assert insp.has_childnode("staging_site") and not insp.has_childnode("deploy")
    with pytest.raises(AttributeError):
        insp.get_childnode("nope")


def test_properties_and_queries():
    insp = Inspector(Root())
    assert [p.name for p in insp.get_properties()] == ["upper_domain"]
    assert insp.get_property("upper_domain").is_property
    assert insp.has_property("upper_domain") and not insp.has_property("domain")
    assert [q.name for q in insp.get_queries()] == ["url"]
    q = insp.get_query("url")
    assert q.is_query and q.query is Root.__dict__["url"]
    assert insp.has_query("url") and not insp.has_query("domain")
    with pytest.raises(AttributeError):
        insp.get_query("domain")
    env = Env(Root(), pty=DummyPty())
    assert env.url == "http://example.com" and env.upper_domain == "EXAMPLE.COM"


def test_names_paths_parent_root():
    root = Root()
    server = root.web.Server
    insp = Inspector(server)
    assert insp.get_name() == "Server" and Inspector(root).get_name() == "Root"
    assert insp.get_path() == ("Root", "web", "Server")
    assert insp.get_path(PathType.NAME_ONLY) == ("Root", "web", "Server")
    assert insp.get_path(PathType.NODE_ONLY) == (root, root.web, server)
    assert insp.get_path(PathType.NODE_AND_NAME) == ((root, "Root"), (root.web, "web"), (server, "Server"))
    assert insp.get_parent() is root.web and insp.get_root() is root
    with pytest.raises(AttributeError):
        Inspector(root).get_parent()


def test_groups():
    root = Root()
    assert Inspector(root).get_group() is Other
    assert Inspector(root.staging_site).get_group() is Staging
    assert Inspector(root.staging_site.inner).get_group() is Staging, "children take their parent's group"
    assert Inspector(root._hidden).get_group() is Production


def test_walk_and_filters():
    root = Root()
    walked = Inspector(root).walk()
    assert isinstance(walked, NodeIterator)
    all_names = [Inspector(n).get_name() for n in walked]
    assert all_names == ["Root", "web", "Server", "staging_site", "inner", "_hidden"]

    def names(f):
        return [Inspector(n).get_name() for n in Inspector(root).walk(f)]

    assert names(IsInstance(GitNode)) == ["web", "staging_site"]
    assert names(HasAction("show")) == ["web", "staging_site"]
    assert names(PrivateOnly) == ["_hidden"]
    assert names(HasAction("show") & PublicOnly & ~InGroup(Staging)) == ["web"]
    assert names(InGroup(Production) | InGroup(Staging)) == ["staging_site", "inner", "_hidden"]
    assert names(~PublicOnly) == names(PrivateOnly)
    assert [Inspector(n).get_name() for n in Inspector(root).walk().filter(HasAction("restart"))] == ["Server"]
    assert isinstance(PublicOnly, Filter)
    with pytest.raises(TypeError):
        PublicOnly & 3


def test_walk_through_an_env_yields_envs_whose_actions_run():
    env = Env(Root(), pty=DummyPty())
    shown = [n.show() for n in Inspector(env).walk(IsInstance(GitNode))]
    assert shown == [["shown\n"], ["shown\n"]]


def test_inspector_on_parallel_node_does_not_split_cells():
    class Arr(ParallelNode):
        class Hosts:
            host = [H1, type("H2", (LocalHost,), {"slug": "h2"})]

        class Child(Node):
            pass

    insp = Inspector(Arr())
    assert [Inspector(n).get_name() for n in insp.walk()] == ["Arr", "Child"]
    assert [k for k, _ in insp.get_isolations()] == [(0,), (1,)]


def test_inspector_refuses_non_nodes():
    with pytest.raises(TypeError):
        Inspector(object())
