"""The node tree on LocalHost: actions, child nodes, hosts, double underscores,
required properties, sandbox mode, Env behaviour."""
from __future__ import annotations

import pytest

from deployer.exceptions import ActionException, ExecCommandFailed, RequiredPropertyException
from deployer.host import LocalHost
from deployer.host_container import HostContainer, HostsContainer
from deployer.loggers import Logger
from deployer.node import (Action, Env, EnvAction, Node, NodeBase, NodeError, ParallelNode, alias,
                           required_property)
from deployer.node.base import ParallelNodeBase, SimpleNode, SimpleNodeBase
from deployer.pseudo_terminal import DummyPty

pytestmark = pytest.mark.timeout(60)


class Events(Logger):
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)


class H1(LocalHost):
    slug = "h1"


class H2(LocalHost):
    slug = "h2"


def env_for(node, **kw):
    kw.setdefault("pty", DummyPty())
    kw.setdefault("logger", Events())
    return Env(node, **kw)


# -- actions and the Env proxy ------------------------------------------------------------

class Greeter(Node):
    class Hosts:
        host = H1

    greeting = "hello"

    def hello(self, name="world"):
        return self.host.run("echo %s %s" % (self.greeting, name), interactive=False).strip()

    def who_am_i(self):
        return self

    def twice(self):
        return [self.hello("a"), self.hello("b")]


def test_action_gets_env_as_self_and_runs_on_host():
    env = env_for(Greeter())
    assert env.hello() == "hello world"
    assert env.hello(name="you") == "hello you"
    me = env.who_am_i()
    assert isinstance(me, Env) and me._env_node is env._env_node
    assert env.twice() == ["hello a", "hello b"]


def test_bare_node_gives_action_objects_not_calls():
    node = Greeter()
    action = node.hello
    assert isinstance(action, Action) and action.name == "hello" and action.node is node
    with pytest.raises(TypeError, match="wrap the node in an Env"):
        action()
    # The class attribute stays the plain function (Base.method(self) works).
    assert Greeter.hello.__name__ == "hello"
    assert isinstance(Env(node, pty=DummyPty()).hello, EnvAction)


def test_metaclass_and_aliases_of_names():
    assert type(Node) is NodeBase
    assert type(ParallelNode) is ParallelNodeBase
    assert SimpleNode is ParallelNode and SimpleNodeBase is ParallelNodeBase


def test_env_of_env_unwraps_and_non_nodes_are_refused():
    env = env_for(Greeter())
    assert Env(env, pty=DummyPty())._env_node is env._env_node
    with pytest.raises(TypeError):
        Env(object())


# -- child nodes ------------------------------------------------------------------------

class Tree(Node):
    class Hosts:
        host = H1
        other = [H1, H2]

    value = 1

    class Child(Node):
        value = 2

        class GrandChild(Node):
            value = 3

            def parent_value(self):
                return self.parent.value

            def run_here(self):
                return self.hosts.run("echo $((40+2))", interactive=False)

    def child_value(self):
        return self.Child.value, self.Child.GrandChild.value, self.Child.GrandChild.parent_value()


def test_nested_classes_become_child_instances_with_parent():
    root = Tree()
    child = root.Child
    assert isinstance(child, Tree.Child) and child.parent is root
    assert root.Child is child, "a child is created once per parent"
    assert child.GrandChild.parent is child
    assert Tree.Child.__name__ == "Child", "class access gives the class"
    env = env_for(root)
    assert env.child_value() == (2, 3, 2)
    assert env.Child.GrandChild.run_here() == ["42\n", "42\n"]


def test_children_are_created_lazily():
    created = []

    class Counted(Node):
        def __init__(self, parent=None):
            created.append(type(self).__name__)
            super().__init__(parent)

    namespace = {"C%d" % i: type("C%d" % i, (Counted,), {}) for i in range(50)}
    Big = NodeBase("Big", (Node,), dict(namespace))
    created.clear()
    big = Big()
    Env(big, pty=DummyPty())
    assert created == []
    big.C7
    assert created == ["C7"]


def test_children_inherit_parent_hosts():
    env = env_for(Tree())
    assert env.Child.hosts.get_hosts_as_dict() == {"host": {H1}, "other": {H1, H2}}
    assert env.Child.GrandChild.host.slug == "h1"


def test_own_hosts_class_wins_over_parent():
    class Root(Node):
        class Hosts:
            host = H1

        class Local(Node):
            class Hosts:
                host = H2

    assert Env(Root(), pty=DummyPty()).Local.host.slug == "h2"


# -- hosts and host -----------------------------------------------------------------

def test_self_host_needs_exactly_one_host():
    class Two(Node):
        class Hosts:
            host = {H1, H2}

        def one(self):
            return self.host.run("true")

    env = env_for(Two())
    with pytest.raises(ActionException) as info:
        env.one()
    assert isinstance(info.value.inner_exception, NodeError)
    assert "exactly one host" in str(info.value) and "h1, h2" in str(info.value)
    assert isinstance(env.hosts, HostsContainer)
    assert env.hosts.get_host_slugs() == ["h1", "h2"]


def test_host_is_a_host_container_equal_to_filter_host():
    env = env_for(Greeter())
    assert isinstance(env.host, HostContainer)
    assert env.host == env.hosts.filter("host")


def test_cd_context_applies_to_nested_action_calls(tmp_path):
    (tmp_path / "marker").write_text("x")

    class N(Node):
        class Hosts:
            host = H1

        def outer(self):
            with self.host.cd(str(tmp_path)):
                return self.inner()

        def inner(self):
            return self.host.run("ls", interactive=False).split()

    assert env_for(N()).outer() == ["marker"]


# -- double underscore expansion ------------------------------------------------------------

class WebApp(Node):
    class Nginx(Node):
        class Server(Node):
            domain = "www.example.com"

            def url(self):
                return "http://%s" % self.domain


class MyWebApp(WebApp):
    Nginx__Server__domain = "mydomain.com"

    def Nginx__Server__get_full_domain(self):
        return "full:%s" % self.domain

    Nginx__port = 8080


def test_double_underscore_overrides_attributes_several_levels_deep():
    assert WebApp().Nginx.Server.domain == "www.example.com", "the base class is untouched"
    app = MyWebApp()
    assert app.Nginx.Server.domain == "mydomain.com"
    assert app.Nginx.port == 8080
    assert isinstance(app.Nginx.Server, WebApp.Nginx.Server)
    assert isinstance(app.Nginx, WebApp.Nginx)
    env = env_for(app)
    assert env.Nginx.Server.url() == "http://mydomain.com"
    assert env.Nginx.Server.get_full_domain() == "full:mydomain.com"
    assert "Nginx__Server__domain" not in vars(MyWebApp)


def test_double_underscore_without_nested_node_is_a_plain_attribute():
    class N(Node):
        some__thing = 5

    assert N().some__thing == 5


def test_double_underscore_on_a_class_defined_in_the_same_body():
    class N(Node):
        class A(Node):
            x = 1

        A__x = 2

    assert N().A.x == 2


# -- required_property -------------------------------------------------------------------

class Service(Node):
    class Hosts:
        host = H1

    name = required_property("The name of the service")

    def show(self):
        return self.name


def test_required_property_error_names_class_property_and_description():
    env = env_for(Service())
    with pytest.raises(RequiredPropertyException) as info:
        env.name
    msg = str(info.value)
    assert "Service" in msg and "'name'" in msg and "The name of the service" in msg
    with pytest.raises(ActionException) as info2:
        env.show()
    assert isinstance(info2.value.inner_exception, RequiredPropertyException)
    assert "The name of the service" in str(info2.value)
    with pytest.raises(AttributeError):
        Service().name


def test_required_property_filled_in_by_subclass_and_double_underscore():
    class Redis(Service):
        name = "redis"

    class Parent(Node):
        class svc(Service):
            pass

    class Filled(Parent):
        svc__name = "nginx"

    assert env_for(Redis()).show() == "redis"
    assert env_for(Filled()).svc.show() == "nginx"
    with pytest.raises(RequiredPropertyException, match="svc"):
        env_for(Parent()).svc.name


# -- properties, super(), state, __call__, alias ---------------------------------------------

class Base(Node):
    class Hosts:
        host = H1

    location = "/srv"

    @property
    def activate(self):
        # `self` is the Env here too: actions of self can be called.
        return ". %s/bin/activate (%s)" % (self.location, self.kind())

    def kind(self):
        return "base"

    def describe(self):
        return "base:" + self.location


class Derived(Base):
    location = "/opt"

    def kind(self):
        return "derived/" + super().kind()

    def describe(self):
        return "derived+" + Base.describe(self)

    def __call__(self, x):
        return x * 2

    @alias("show.all")
    def show_all(self):
        return "all"


def test_properties_super_and_base_class_calls_get_the_env():
    env = env_for(Derived())
    assert env.activate == ". /opt/bin/activate (derived/base)"
    assert env.describe() == "derived+base:/opt"
    assert isinstance(env, Derived), "isinstance works on the Env inside actions"


def test_callable_node_and_alias():
    env = env_for(Derived())
    assert env(21) == 42
    assert getattr(env, "show.all")() == "all"
    with pytest.raises(TypeError, match="not callable"):
        env_for(Base())()


def test_setting_attributes_through_env_stores_on_node():
    class Stateful(Node):
        def remember(self, v):
            self.memory = v

        def recall(self):
            return self.memory

    node = Stateful()
    env = env_for(node)
    env.remember(5)
    assert env.recall() == 5 and node.memory == 5

    # A value stored on the node fills in a required property too.
    service_env = env_for(Service())
    service_env.name = "late"
    assert service_env.show() == "late"


def test_missing_attribute_names_node():
    env = env_for(Tree())
    with pytest.raises(AttributeError, match="Tree.Child.*nothing_here"):
        env.Child.nothing_here


def test_env_parent_and_initialize_node():
    class Helper(Node):
        def where(self):
            return self.host.slug

    class Root(Node):
        class Hosts:
            host = H2

        def use_helper(self):
            helper = self.initialize_node(Helper)
            return helper.where(), helper.parent.use_helper is not None

    env = env_for(Root(), is_sandbox=True)
    assert env.parent is None
    assert env.use_helper() == ("h2", True)
    child_env = env.initialize_node(Helper)
    assert child_env._env_is_sandbox and child_env.parent._env_node is env._env_node


def test_console_is_a_console_on_the_env_pty():
    from deployer.console import Console
    pty = DummyPty()
    env = Env(Greeter(), pty=pty)
    assert isinstance(env.console, Console)
    assert env.console.pty is pty


def test_default_from_node_uses_process_terminal():
    env = Env.default_from_node(Greeter())
    assert env._env_pty.stdout is not None
    assert env._env_node.__class__ is Greeter


# -- errors ---------------------------------------------------------------------------

def test_outermost_failure_is_wrapped_nested_ones_are_not():
    class Failing(Node):
        class Hosts:
            host = H1

        def fail(self):
            self.host.run("exit 7", interactive=False)

        def catches(self):
            try:
                self.fail()
            except ExecCommandFailed as e:
                return e.status_code

    env = env_for(Failing())
    with pytest.raises(ActionException) as info:
        env.fail()
    assert isinstance(info.value.inner_exception, ExecCommandFailed)
    assert "Failing.fail" in str(info.value) and "exit status 7" in str(info.value)
    assert env.catches() == 7


# -- sandbox ---------------------------------------------------------------------------

def test_sandbox_runs_syntax_checks_and_writes_no_file_in_the_whole_call_tree(tmp_path):
    target = tmp_path / "created"
    written = tmp_path / "written"

    class Deploy(Node):
        class Hosts:
            host = H1

        class Child(Node):
            def touch(self):
                self.host.run("touch %s" % target)
                self.hosts.sudo("touch %s" % target)

        def all(self):
            self.Child.touch()
            with self.host.open(str(written), "w") as f:
                f.write("data")
            return self.host.run("echo should-not-print", interactive=False)

        def broken(self):
            self.host.run("if then fi (", interactive=False)

    events = Events()
    env = Env(Deploy(), pty=DummyPty(), logger=events, is_sandbox=True)
    assert env.all() == ""
    assert not target.exists() and not written.exists()
    commands = [e for e in events.events if type(e).__name__ == "CommandStarted"]
    assert commands and all(c.sandbox for c in commands)
    assert all(e.sandbox for e in events.events if type(e).__name__ == "ActionStarted")
    with pytest.raises(ActionException, match="exit status"):
        env.broken()

    # The same node, not sandboxed, does the work.
    Env(Deploy(), pty=DummyPty(), logger=Events()).Child.touch()
    assert target.exists()


# -- speed of creating a big tree (a sanity bound, the benchmark measures) -----------------

def test_thousand_node_tree_creation_is_lazy():
    leaves = {"L%d" % i: type("L%d" % i, (Node,), {"act": lambda self: None}) for i in range(100)}
    Middle = NodeBase("Middle", (Node,), dict(leaves))
    Root = NodeBase("Root", (Node,), {"M%d" % i: type("M%d" % i, (Middle,), {}) for i in range(10)})
    root = Root()
    Env(root, pty=DummyPty())
    assert root._node_children == {}
    from deployer.inspection import Inspector
    assert sum(1 for _ in Inspector(root).walk()) == 1 + 10 + 1000


# -- queries resolve through the Env ----------------------------------------------------

def test_queries_on_nodes_resolve_through_the_env():
    from deployer.exceptions import QueryException
    from deployer.loggers.events import ActionStarted
    from deployer.query import Q

    class Root(Node):
        class Hosts:
            host = H1

        do_something = True

        class MyChildNode(Node):
            do_something = Q.parent.do_something
            broken = Q.parent.not_there

            def setup(self):
                return self.do_something

        class A(Node):
            length = 4
            width = 5

            def get_url(self, domain):
                return "http://%s on %s" % (domain, self.host.slug)

        url_of_a = Q.A.get_url("example.com")
        size = Q.A.length * Q.A.width

    events = Events()
    env = Env(Root(), pty=DummyPty(), logger=events)
    assert env.MyChildNode.setup() is True
    assert env.size == 20
    assert env.url_of_a == "http://example.com on h1", "the query calls the action through the Env"
    assert [(e.node_path, e.action) for e in events.events if isinstance(e, ActionStarted)][-1] == (
        "Root.A", "get_url")
    with pytest.raises(QueryException, match="broken"):
        env.MyChildNode.broken
    assert Root().MyChildNode.do_something is True, "bare nodes resolve queries too"
