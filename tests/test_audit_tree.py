"""Audit of issues 2 and 3 from the user's side: the documented API, the messages
a user reads when something is wrong, secrets, and sandbox mode.

Everything runs on real hosts (LocalHost, the loopback sshd bed).
"""
from __future__ import annotations

import importlib
import inspect
import io
import json
import logging
import os
from pathlib import Path

import pytest

from deployer.exceptions import ActionException, ExecCommandFailed, QueryException, RequiredPropertyException
from deployer.host import LocalHost
from deployer.loggers.base import BoundLogger, MultiLogger
from deployer.loggers.default import DefaultLogger
from deployer.loggers.events import ActionFinished, ActionStarted, CommandFinished, CommandStarted
from deployer.loggers.text import TextLogger
from deployer.node import Env, Node, ParallelActionFailed, ParallelNode, map_roles, required_property
from deployer.pseudo_terminal import DummyPty
from deployer.query import Q

from host_helpers import Recorder

# -- 1. the documented API ---------------------------------------------------------------

# Every signature the reference gives (sections Host, host_container, pseudo_terminal,
# Utils, Exceptions, Node reference, Role mapping, Groups, Console, Inspection, Query),
# copied as printed there. Methods carry `self`.
DOCUMENTED = """
deployer.node.base.Action(attr_name, node_instance, func, is_property=False, is_query=False, query=None)
deployer.node.base.Env(node, pty=None, logger=None, is_sandbox=False)
deployer.node.base.Env.default_from_node(node)
deployer.node.base.Env.initialize_node(self, node_class)
deployer.node.base.EnvAction(env, action)
deployer.node.base.IsolationIdentifierType
deployer.node.base.Node(parent=None)
deployer.node.base.NodeBase
deployer.node.base.ParallelActionResult(isolations_and_results)
deployer.node.base.ParallelNode(parent=None)
deployer.node.base.SimpleNode
deployer.node.base.SimpleNodeBase
deployer.node.base.iter_isolations(node, identifier_type='INT_TUPLES')
deployer.node.base.required_property(description='')
deployer.node.decorators.suppress_action_result(action)
deployer.node.decorators.dont_isolate_yet(func)
deployer.node.decorators.isolate_one_only(func)
deployer.node.decorators.alias(name)
deployer.node.role_mapping.ALL_HOSTS
deployer.node.role_mapping.map_roles
deployer.node.role_mapping.DefaultRoleMapping(*host_mapping, **mappings)
deployer.host.base.Host(pty=None, logger=None)
deployer.host.base.Host.copy(self, pty=None)
deployer.host.base.Host.exists(self, filename, use_sudo=True, **kw)
deployer.host.base.Host.get_file(self, remote_path, local_path, use_sudo=False, sandbox=False)
deployer.host.base.Host.get_ip_address(self, interface='eth0')
deployer.host.base.Host.get_start_path(self)
deployer.host.base.Host.getcwd(self)
deployer.host.base.Host.ifconfig(self)
deployer.host.base.Host.listdir_stat(self, path='.')
deployer.host.base.Host.open(self, remote_path, mode='rb', use_sudo=False, sandbox=False)
deployer.host.base.Host.put_file(self, local_path, remote_path, use_sudo=False, sandbox=False)
deployer.host.base.Host.run(self, command, use_sudo=False, sandbox=False, interactive=True, user=None, ignore_exit_status=False, initial_input=None, silent=False)
deployer.host.base.Host.start_interactive_shell(self, command=None, initial_input=None)
deployer.host.base.Host.sudo(self, command, use_sudo=False, sandbox=False, interactive=True, user=None, ignore_exit_status=False, initial_input=None, silent=False)
deployer.host.base.HostContext
deployer.host.base.HostContext.cd(self, path, expand=False)
deployer.host.base.HostContext.copy(self)
deployer.host.base.HostContext.env(self, variable, value, escape=True)
deployer.host.base.HostContext.prefix(self, command)
deployer.host.base.Stat(stat_result, filename)
deployer.host.local.LocalHost(pty=None, logger=None)
deployer.host.local.LocalHost.listdir_stat(self, path='.')
deployer.host.local.LocalHost.start_interactive_shell(self, command=None, initial_input=None)
deployer.host.ssh.SSHHost(*a, **kw)
deployer.host.ssh.SSHHost.get_start_path(self)
deployer.host.ssh.SSHHost.listdir_stat(self, path='.')
deployer.host.ssh.SSHHost.start_interactive_shell(self, command=None, initial_input=None, sandbox=False)
deployer.host_container.HostsContainer(hosts, pty=None, logger=None, is_sandbox=False)
deployer.host_container.HostsContainer.cd(self, path, expand=False)
deployer.host_container.HostsContainer.env(self, variable, value, escape=True)
deployer.host_container.HostsContainer.exists(self, filename, use_sudo=True)
deployer.host_container.HostsContainer.filter(self, *roles)
deployer.host_container.HostsContainer.from_definition(hosts_class, **kw)
deployer.host_container.HostsContainer.get_hosts(self)
deployer.host_container.HostsContainer.get_hosts_as_dict(self)
deployer.host_container.HostsContainer.getcwd(self)
deployer.host_container.HostsContainer.has_command(self, command, use_sudo=False)
deployer.host_container.HostsContainer.prefix(self, command)
deployer.host_container.HostsContainer.run(self, command, sandbox=False, interactive=True, user=None, ignore_exit_status=False, initial_input=None)
deployer.host_container.HostsContainer.sudo(self, command, sandbox=False, interactive=True, user=None, ignore_exit_status=False, initial_input=None)
deployer.host_container.HostContainer(hosts, pty=None, logger=None, is_sandbox=False)
deployer.host_container.HostContainer.exists(self, filename, use_sudo=True)
deployer.host_container.HostContainer.get_file(self, *args, **kwargs)
deployer.host_container.HostContainer.getcwd(self)
deployer.host_container.HostContainer.has_command(self, command, use_sudo=False)
deployer.host_container.HostContainer.open(self, *args, **kwargs)
deployer.host_container.HostContainer.put_file(self, *args, **kwargs)
deployer.host_container.HostContainer.run(self, command, sandbox=False, interactive=True, user=None, ignore_exit_status=False, initial_input=None)
deployer.host_container.HostContainer.sudo(self, command, sandbox=False, interactive=True, user=None, ignore_exit_status=False, initial_input=None)
deployer.groups.Group
deployer.groups.set_group(group)
deployer.console.Console(pty)
deployer.console.Console.choice(self, question, options, allow_random=False, default=None)
deployer.console.Console.confirm(self, question, default=None)
deployer.console.Console.in_columns(self, item_iterator, margin_left=0)
deployer.console.Console.input(self, label, is_password=False, answers=None, default=None)
deployer.console.Console.lesspipe(self, line_iterator)
deployer.console.Console.progress_bar(self, message, expected=None, clear_on_finish=False, format_str=None)
deployer.console.Console.progress_bar_with_steps(self, message, steps, format_str=None)
deployer.console.Console.select_node(self, root_node, prompt='Select a node', filter=None)
deployer.console.Console.select_node_isolation(self, node)
deployer.console.Console.warning(self, text)
deployer.console.ProgressBarSteps
deployer.inspection.inspector.PathType
deployer.inspection.inspector.Inspector(node)
deployer.inspection.inspector.Inspector.get_action(self, name)
deployer.inspection.inspector.Inspector.get_actions(self, include_private=True)
deployer.inspection.inspector.Inspector.get_childnode(self, name)
deployer.inspection.inspector.Inspector.get_childnodes(self, include_private=True, verify_parent=True)
deployer.inspection.inspector.Inspector.get_group(self)
deployer.inspection.inspector.Inspector.get_name(self)
deployer.inspection.inspector.Inspector.get_parent(self)
deployer.inspection.inspector.Inspector.get_path(self, path_type='NAME_ONLY')
deployer.inspection.inspector.Inspector.get_properties(self, include_private=True)
deployer.inspection.inspector.Inspector.get_property(self, name)
deployer.inspection.inspector.Inspector.get_queries(self, include_private=True)
deployer.inspection.inspector.Inspector.get_query(self, name)
deployer.inspection.inspector.Inspector.get_root(self)
deployer.inspection.inspector.Inspector.has_action(self, name)
deployer.inspection.inspector.Inspector.has_childnode(self, name)
deployer.inspection.inspector.Inspector.has_property(self, name)
deployer.inspection.inspector.Inspector.has_query(self, name)
deployer.inspection.inspector.Inspector.is_callable(self)
deployer.inspection.inspector.Inspector.suppress_result_for_action(self, name)
deployer.inspection.inspector.Inspector.walk(self, filter=None)
deployer.inspection.filters.Filter
deployer.inspection.filters.PublicOnly
deployer.inspection.filters.PrivateOnly
deployer.inspection.filters.IsInstance(node_class)
deployer.inspection.filters.HasAction(action_name)
deployer.inspection.filters.InGroup(group)
deployer.query.Q
deployer.utils.string_utils.esc1(string)
deployer.utils.string_utils.esc2(string)
deployer.utils.string_utils.indent(string, prefix='    ')
deployer.utils.network.parse_ifconfig_output(output, only_active_interfaces=True)
deployer.utils.network.IfConfig
deployer.utils.network.IfConfig.get_address(self, ip)
deployer.utils.network.IfConfig.get_interface(self, name)
deployer.utils.network.NetworkInterface(name='eth0')
deployer.exceptions.ActionException(inner_exception, traceback)
deployer.exceptions.ConnectionFailedException
deployer.exceptions.DeployerException
deployer.exceptions.ExecCommandFailed(command, host, use_sudo, status_code, result=None)
deployer.exceptions.QueryException(node, attr_name, query, inner_exception)
deployer.pseudo_terminal.DummyPty(input_data='')
deployer.pseudo_terminal.Pty(stdin=None, stdout=None, interactive=True, term_var='')
deployer.pseudo_terminal.Pty.get_height(self)
deployer.pseudo_terminal.Pty.get_size(self)
deployer.pseudo_terminal.Pty.get_width(self)
deployer.pseudo_terminal.Pty.run_in_auxiliary_ptys(self, callbacks)
deployer.pseudo_terminal.Pty.set_size(self, rows, cols)
deployer.pseudo_terminal.select(*args, **kwargs)
""".strip().splitlines()

# Where the build deliberately differs from the printed signature, and why.
ACCEPTED = {
    # `*a, **kw` in the reference just forwards to Host(pty=None, logger=None).
    "deployer.host.ssh.SSHHost": ["pty=None", "logger=None"],
    # sudo() always uses sudo; the reference printed run()'s signature for it.
    "deployer.host.base.Host.sudo": ["self", "command", "use_sudo=True", "sandbox=False", "interactive=True",
                                     "user=None", "ignore_exit_status=False", "initial_input=None",
                                     "silent=False"],
    # The traceback is optional for exceptions raised from code without one.
    "deployer.exceptions.ActionException": ["inner_exception", "traceback=''"],
}


def _resolve(path: str):
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def _params(obj) -> list[inspect.Parameter]:
    return [p.replace(annotation=inspect.Parameter.empty) for p in inspect.signature(obj).parameters.values()]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("line", DOCUMENTED, ids=[l.split("(")[0] for l in DOCUMENTED])
def test_documented_name_is_importable_with_its_documented_signature(line):
    path, _, rest = line.partition("(")
    obj = _resolve(path)      # importable from the documented module path
    if not rest:
        return
    want = ACCEPTED.get(path) or [p.strip() for p in rest[:-1].split(",") if p.strip()]
    got = [str(p) for p in _params(obj)]
    if want and want[0] == "self" and (not got or got[0] != "self"):
        want = want[1:]       # classmethods and staticmethods
    # The documented parameters come first, in order, with the documented defaults;
    # anything added after them is optional (a keyword with a default).
    assert got[:len(want)] == want, "%s: documented %s, built %s" % (path, want, got)
    for extra in _params(obj)[len(want):]:
        assert extra.default is not inspect.Parameter.empty or extra.kind in (extra.VAR_KEYWORD,
                                                                               extra.VAR_POSITIONAL), \
            "%s: extra parameter %s has no default" % (path, extra)


@pytest.mark.timeout(60)
def test_documented_attributes_and_constants():
    from deployer.console import Console
    from deployer.exceptions import (ActionException, ConnectionFailedException, DeployerException,
                                     ExecCommandFailed, QueryException)
    from deployer.groups import Group
    from deployer.host.base import Host
    from deployer.host.ssh import SSHHost
    from deployer.inspection.filters import Filter, PrivateOnly, PublicOnly
    from deployer.inspection.inspector import PathType
    from deployer.node.base import (IsolationIdentifierType, ParallelNode as PN, ParallelNodeBase, SimpleNode,
                                    SimpleNodeBase)
    from deployer.node.role_mapping import ALL_HOSTS, RoleMapping, map_roles as mr
    from deployer.pseudo_terminal import Pty
    from deployer.utils.network import IfConfig, NetworkInterface

    assert (Host.slug, Host.username, Host.password) == ("", "", "")
    for name, default in [("config_filename", "~/.ssh/config"), ("keepalive_interval", 30), ("key_filename", None),
                          ("port", 22), ("rsa_key", None), ("rsa_key_password", None), ("timeout", 10),
                          ("username", "")]:
        assert getattr(SSHHost, name) == default, name
    assert hasattr(SSHHost, "address")
    assert (PathType.NAME_ONLY, PathType.NODE_AND_NAME, PathType.NODE_ONLY) == \
        ("NAME_ONLY", "NODE_AND_NAME", "NODE_ONLY")
    assert (IsolationIdentifierType.HOSTS_SLUG, IsolationIdentifierType.HOST_TUPLES,
            IsolationIdentifierType.INT_TUPLES) == ("HOSTS_SLUG", "HOST_TUPLES", "INT_TUPLES")
    assert Node.Hosts is None and SimpleNode is PN and SimpleNodeBase is ParallelNodeBase
    assert PN.Array is not PN and PN.JustOne is not PN
    assert mr is RoleMapping and ALL_HOSTS is not None
    assert isinstance(PublicOnly, Filter) and isinstance(PrivateOnly, Filter)
    assert Group.color is None
    console = Console(DummyPty())
    assert console.pty is not None and console.is_interactive in (True, False)
    pty = Pty(stdin=io.StringIO(), stdout=io.StringIO(), interactive=False)
    assert pty.stdin is not None and pty.stdout is not None
    assert IfConfig().interfaces == [] and (NetworkInterface().name, NetworkInterface().ip) == ("eth0", None)
    for exc in (ActionException, ConnectionFailedException, ExecCommandFailed, QueryException):
        assert issubclass(exc, DeployerException)
    import deployer
    assert deployer.__version__


@pytest.mark.timeout(60)
def test_stat_has_the_documented_attributes(tmp_path):
    (tmp_path / "f").write_text("12345")
    (tmp_path / "d").mkdir()
    stats = {s.filename: s for s in LocalHost(pty=DummyPty()).listdir_stat(str(tmp_path))}
    assert stats["f"].is_file and not stats["f"].is_dir and stats["f"].st_size == 5
    assert stats["d"].is_dir and not stats["d"].is_file
    assert stats["f"].st_uid == os.getuid() and stats["f"].st_gid == os.getgid()


# -- 2. what the user reads when something is wrong ----------------------------------------

class Web1(LocalHost):
    slug = "web1"


class Web2(LocalHost):
    slug = "web2"


class Web3(LocalHost):
    slug = "web3"


def _env(node, **kw) -> Env:
    kw.setdefault("pty", DummyPty())
    kw.setdefault("logger", Recorder())
    return Env(node, **kw)


@pytest.mark.timeout(60)
def test_missing_required_property_names_node_class_property_and_description():
    class Django(Node):
        class Hosts:
            host = Web1
        project = required_property("The Django project name")

        def setup(self):
            return self.project

    for read in (lambda: _env(Django()).setup(), lambda: Django().project):
        with pytest.raises((ActionException, RequiredPropertyException)) as info:
            read()
        text = str(info.value)
        assert "Django" in text and "'project'" in text and "The Django project name" in text


@pytest.mark.timeout(60)
def test_failing_command_in_a_nested_action_names_host_node_command_and_status():
    class Root(Node):
        class Hosts:
            host = Web1

        class Web(Node):
            def restart(self):
                self.hosts.run("echo restarting; exit 7", interactive=False)

        def deploy(self):
            self.Web.restart()

    recorder = Recorder()
    with pytest.raises(ActionException) as info:
        _env(Root(), logger=recorder).deploy()
    text = str(info.value)
    assert "Root.deploy" in text and "'web1'" in text and "echo restarting; exit 7" in text and "exit status 7" in text
    assert isinstance(info.value.inner_exception, ExecCommandFailed)
    # Where it happened is in the events: the nested call failed, with the command's error.
    started = {e.call_id: e for e in recorder.of(ActionStarted)}
    failed = [(started[e.call_id].node_path, started[e.call_id].action, e.error)
              for e in recorder.of(ActionFinished) if e.status == "FAILED"]
    assert [(p, a) for p, a, _ in failed] == [("Root.Web", "restart"), ("Root", "deploy")]
    assert all("exit status 7" in error for _, _, error in failed)


@pytest.mark.timeout(60)
def test_parallel_failure_lists_each_failed_host_and_the_others_finish(tmp_path):
    class Fleet(ParallelNode):
        class Hosts:
            host = {Web1, Web2, Web3}

        def deploy(self):
            if self.host.slug != "web2":
                self.host.run("exit 3", interactive=False)
            self.host.run("touch %s/%s" % (tmp_path, self.host.slug), interactive=False)
            return "ok"

    with pytest.raises(ParallelActionFailed) as info:
        _env(Fleet()).deploy()
    text = str(info.value)
    assert "Fleet.deploy" in text and "2 of 3 hosts" in text
    lines = text.splitlines()
    assert any(l.strip().startswith("web1:") and "exit status 3" in l for l in lines)
    assert any(l.strip().startswith("web3:") and "exit status 3" in l for l in lines)
    assert not any(l.strip().startswith("web2:") for l in lines)
    assert sorted(info.value.failures) == ["web1", "web3"]
    assert info.value.result["web2"] == "ok" and os.listdir(tmp_path) == ["web2"]


@pytest.mark.timeout(60)
def test_bad_query_names_node_attribute_and_query():
    class Root(Node):
        class Hosts:
            host = Web1

        class Child(Node):
            domain = Q.parent.nginx_domain

            def url(self):
                return self.domain

    with pytest.raises(ActionException) as info:
        _env(Root()).Child.url()
    inner = info.value.inner_exception
    assert isinstance(inner, QueryException)
    text = str(info.value)
    assert "Root.Child" in text and "'domain'" in text and "Q.parent.nginx_domain" in text
    assert "nginx_domain" in str(inner.inner_exception)
    with pytest.raises(QueryException, match=r"Q\.parent\.nginx_domain.*'domain'.*Root\.Child"):
        Root().Child.domain


@pytest.mark.timeout(60)
def test_a_parallel_cell_shows_its_host():
    class Fleet(ParallelNode):
        class Hosts:
            host = {Web1, Web2}

    assert repr(Fleet()[Web2]) == "<Fleet Fleet[web2]>"
    assert "[web1]" in repr(_env(Fleet())[0])


# -- 3. secrets ----------------------------------------------------------------------------

SECRETS = ("pw-Secret-4711", "tok-Secret-0815", "db-Secret-9")


class Secretive(Node):
    class Hosts:
        host = Web1

    def deploy(self, version, password, token=None, db_password=None):
        self.host.run("echo version %s" % version, interactive=False)
        self.host.run("echo got %s" % password, interactive=False)   # a careless script
        self.helper(password, db_password)                          # passed on under harmless names
        self.host.run("echo %s; exit 2" % token, interactive=False)

    def helper(self, first, second):
        self.host.run("echo %s %s" % (first, second), interactive=False)

    def logger_of_host(self, password):
        return self.host.logger


def _all_logs(tmp_path, monkeypatch):
    """A Recorder, a verbose TextLogger, a DefaultLogger and the run recorder (JSON store)."""
    from deployer.runs import recorder_from_environment

    monkeypatch.setenv("DEPLOYER_RUNS_URL", "json://%s" % (tmp_path / "runs"))
    monkeypatch.setenv("DEPLOYER_RECORD", "1")
    text = io.StringIO()
    log = logging.getLogger("deployer.test.audit.%s" % tmp_path.name)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    logfile = io.StringIO()
    log.addHandler(logging.StreamHandler(logfile))
    recorder = Recorder()
    store = recorder_from_environment()
    logger = MultiLogger([recorder, TextLogger(text, verbose=True), DefaultLogger(log), store])

    def everything() -> str:
        store.close()
        runs = "".join(p.read_text(errors="replace") for p in (tmp_path / "runs").rglob("*") if p.is_file())
        return "\n".join([repr(recorder.events), text.getvalue(), logfile.getvalue(), runs])
    return logger, recorder, everything


@pytest.mark.timeout(60)
def test_action_secrets_are_masked_in_every_event_and_log(tmp_path, monkeypatch):
    logger, recorder, everything = _all_logs(tmp_path, monkeypatch)
    env = Env(Secretive(), pty=DummyPty(), logger=logger)
    with pytest.raises(ActionException, match="exit status 2"):
        env.deploy("v1.2", SECRETS[0], token=SECRETS[1], db_password=SECRETS[2])

    seen = everything()
    assert "echo version v1.2" in seen and "helper" in seen   # the logs are there ...
    for secret in SECRETS:                                    # ... the secrets are not
        assert secret not in seen
    top = recorder.of(ActionStarted)[0]
    assert top.args == ("v1.2", "********") and top.kwargs == {"token": "********", "db_password": "********"}
    assert recorder.of(ActionStarted)[1].args == ("********", "********")
    # Command events are still stamped with the call that ran them, and the host's
    # logger is still a bound one (deployer.batch relies on that to join the run).
    calls = {e.call_id for e in recorder.of(ActionStarted)}
    assert all(e.call_id in calls for e in recorder.of(CommandStarted))
    bound = Env(Secretive(), pty=DummyPty(), logger=recorder).logger_of_host(SECRETS[0])
    assert isinstance(bound, BoundLogger) and bound.call_id == recorder.of(ActionStarted)[-1].call_id
    # Other actions, outside the call that got the secrets, are not scrubbed.
    Env(Secretive(), pty=DummyPty(), logger=recorder).helper("pw", "x")
    assert recorder.of(ActionStarted)[-1].args == ("pw", "x")


@pytest.mark.ssh
@pytest.mark.timeout(120)
def test_host_password_never_reaches_events_or_logs(ssh_bed, tmp_path, monkeypatch):
    user = ssh_bed.sudo_user
    Good = ssh_bed.host_class(1, user=user, slug="sudoer")
    Wrong = ssh_bed.host_class(2, user=user, slug="wrong-pw", password="not-" + user.password)

    class Admin(Node):
        class Hosts:
            good = Good
            wrong = Wrong

        def whoami(self):
            return self.hosts.filter("good")[0].sudo("whoami", interactive=False)

        def careless(self):
            host = self.hosts.filter("good")[0]
            return host.run("echo %s" % host.password, interactive=False)

        def wrong_password(self):
            return self.hosts.filter("wrong")[0].sudo("whoami", interactive=False)

    logger, recorder, everything = _all_logs(tmp_path, monkeypatch)
    env = Env(Admin(), pty=DummyPty(), logger=logger)
    assert env.whoami().strip() == "root"
    # The caller gets the real output (it may need it); only events and logs are scrubbed.
    assert env.careless().strip() == user.password
    with pytest.raises(ActionException) as info:
        env.wrong_password()
    assert "wrong-pw" in str(info.value)
    assert user.password not in str(info.value) and Wrong.password not in str(info.value)
    seen = everything()
    assert "whoami" in seen and "wrong-pw" in seen
    assert user.password not in seen and Wrong.password not in seen


# -- 4. sandbox mode -----------------------------------------------------------------------

def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.mark.timeout(120)
def test_sandbox_writes_nothing_in_the_whole_call_tree_on_localhost(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "existing.conf").write_text("old contents\n")
    source = tmp_path / "upload.txt"
    source.write_text("new contents\n")
    before = _snapshot(tmp_path)
    w = str(work)

    class Other(Node):
        class Hosts:
            host = Web3

        def go(self):
            self.host.run("touch %s/other" % w)
            with self.host.open(w + "/other.conf", "w") as f:
                f.write("x")

    class Root(Node):
        class Hosts:
            host = Web1
            extra = Web2

        def deploy(self):
            self.hosts.run("touch %s/all-hosts" % w)
            self.hosts.sudo("touch %s/as-root" % w)
            self.host.run("echo data > %s/redirected" % w, interactive=False)
            self.host.run("rm -f %s/existing.conf" % w)
            with self.host.open(w + "/existing.conf", "w") as f:
                f.write("overwritten")
            self.host.open(w + "/new.bin", "wb").write(b"x")
            with self.host.open(w + "/root-owned.conf", "w", use_sudo=True) as f:
                f.write("x")
            self.host.put_file(str(source), w + "/uploaded")
            self.host.put_file(str(source), w + "/uploaded-sudo", use_sudo=True)
            self.hosts[1].open(w + "/by-index", "w").write("x")
            for single in self.hosts:
                single.run("touch %s/each-%s" % (w, single.slug))
            with self.hosts.cd(w), self.hosts.env("X", "1"), self.hosts.prefix("true"):
                self.hosts.run("mkdir in-cd")
            self.Cells.go()
            self.Cells[Web2].go()
            self.Mapped.go()
            self.initialize_node(Other).go()
            return self.host.run("echo printed", interactive=False)

        @map_roles(host=["host", "extra"])
        class Cells(ParallelNode.Array):
            def go(self):
                self.host.run("touch %s/cell-%s" % (w, self.host.slug))
                with self.host.open("%s/cell-%s.conf" % (w, self.host.slug), "w") as f:
                    f.write("x")

        class Mapped(Other):
            pass

    recorder = Recorder()
    env = _env(Root(), logger=recorder, is_sandbox=True)
    assert env.deploy() == ""                       # `bash -n` prints nothing
    assert _snapshot(tmp_path) == before            # nothing written, nothing removed
    commands = recorder.of(CommandStarted)
    assert len(commands) >= 14 and all(c.sandbox for c in commands)
    assert {c.host for c in commands} == {"web1", "web2", "web3"}
    assert all(e.sandbox for e in recorder.of(ActionStarted))
    assert all(e.exit_code == 0 for e in recorder.of(CommandFinished))

    # The same tree for real does write (so the check above can fail).
    _env(Root()).Cells.go()
    assert (work / "cell-web1").exists() and (work / "cell-web2.conf").read_text() == "x"


@pytest.mark.timeout(60)
def test_sandboxed_actions_take_the_branches_a_real_run_takes():
    class Probe(Node):
        class Hosts:
            host = Web1

        def probe(self):
            return (self.host.has_command("sh"), self.host.has_command("no-such-command-xyz"),
                    self.host.exists("/"), self.host.getcwd().startswith("/"))

    assert _env(Probe(), is_sandbox=True).probe() == _env(Probe()).probe() == (True, False, True, True)


# -- loggers: the line a user reads for a failed action --------------------------------------

@pytest.mark.timeout(60)
def test_failed_action_log_line_says_what_failed_not_the_last_output_line():
    class Failing(Node):
        class Hosts:
            host = Web1

        def build(self):
            self.host.run("echo compiling; W=words; echo last-$W; exit 4", interactive=False)

    out = io.StringIO()
    log = logging.getLogger("deployer.test.audit.summary")
    log.propagate = False
    stream = io.StringIO()
    log.addHandler(logging.StreamHandler(stream))
    log.setLevel(logging.INFO)
    with pytest.raises(ActionException):
        _env(Failing(), logger=MultiLogger([TextLogger(out), DefaultLogger(log)])).build()
    text_line = out.getvalue().splitlines()[-1]
    log_line = [l for l in stream.getvalue().splitlines() if l.startswith("action ")][-1]
    for line in (text_line, log_line):
        assert "FAILED" in line and "exit status 4" in line and "last-words" not in line
