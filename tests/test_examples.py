"""The examples in examples/, run on LocalHost and on loopback SSH hosts."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from deployer.exceptions import ActionException, RequiredPropertyException
from deployer.host import LocalHost
from deployer.loggers import Logger
from deployer.loggers.events import CommandStarted
from deployer.node import Env, Node
from deployer.pseudo_terminal import DummyPty

pytestmark = pytest.mark.timeout(120)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REPO = EXAMPLES.parent


def load(name):
    spec = importlib.util.spec_from_file_location("example_" + name, EXAMPLES / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Events(Logger):
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)

    def commands(self):
        return [(e.host, e.command, e.use_sudo, e.sandbox) for e in self.events if isinstance(e, CommandStarted)]


def run(node, **kw):
    kw.setdefault("pty", DummyPty())
    kw.setdefault("logger", Events())
    return Env(node, **kw)


# -- hello world ------------------------------------------------------------------------

def test_hello_world_on_localhost():
    hello = load("hello_world")
    pty = DummyPty()
    run(hello.SayHelloOnLocalHost(), pty=pty).hello()
    assert pty.get_output().splitlines() == ["hello world"]
    pty = DummyPty()
    run(hello.RootNode(), pty=pty).local_hello.hello()
    assert "hello world" in pty.get_output()
    assert hello.RootNode().remote_hello.hosts.get_host_slugs() == ["my-host"]


def test_hello_world_script_runs_hello():
    env = dict(os.environ, DEPLOYER_RECORD="0", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(EXAMPLES / "hello_world.py"), "run", "--non-interactive", "hello"],
                          capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "hello world" in proc.stdout


@pytest.mark.ssh
def test_hello_world_remote_on_ssh(ssh_bed):
    hello = load("hello_world")
    bed_host = ssh_bed.host_class(1)

    class BedHosts:
        host = bed_host

    class OnBed(hello.RootNode):
        # Double underscore expansion replaces the Hosts of the nested node.
        remote_hello__Hosts = BedHosts

    pty = DummyPty()
    events = Events()
    run(OnBed(), pty=pty, logger=events).remote_hello.hello()
    assert "hello world" in pty.get_output()
    assert events.commands() == [("bed-1", "echo hello world", False, False)]


# -- django deployment -------------------------------------------------------------------

def make_repository(directory: Path) -> tuple[str, str]:
    """A bare git repository with two commits of a fake Django project; returns (url, first commit)."""
    work = directory / "work"
    work.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q", str(work)], check=True)
    (work / "manage.py").write_text('#!/bin/sh\necho "manage $* in ${VIRTUAL_ENV:-no-venv}"\n')
    (work / "manage.py").chmod(0o755)
    (work / "requirements.txt").write_text("")
    subprocess.run(git + ["-C", str(work), "add", "."], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-q", "-m", "one"], check=True)
    first = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True,
                           check=True).stdout.strip()
    (work / "second.txt").write_text("2")
    subprocess.run(git + ["-C", str(work), "add", "."], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-q", "-m", "two"], check=True)
    bare = directory / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return str(bare), first


def django_on(host_class, project_directory, repository, venv):
    """DjangoDeployment on one host, with real paths (the virtualenv is created with its own pip)."""
    django = load("django_deployment")

    class Deployment(django.DjangoDeployment):
        class Hosts:
            host = host_class

    Deployment.project_directory = project_directory
    Deployment.repository = repository

    class Configured(Deployment):
        virtual_env__location = venv
        virtual_env__packages = []

    return django, Configured


def test_django_deployment_for_real_on_localhost(tmp_path):
    repository, first = make_repository(tmp_path)
    project = str(tmp_path / "git" / "project")
    django, Deployment = django_on(LocalHost, project, repository, str(tmp_path / "venv"))
    env = run(Deployment())
    assert env.git.project_directory == project, "Q.parent.project_directory"
    env.virtual_env.create()
    env.setup()
    assert (Path(project) / "manage.py").exists() and (Path(project) / "second.txt").exists()
    env.deploy(first)
    assert not (Path(project) / "second.txt").exists()
    assert env.git.current_commit() == first
    out = env.run_management_command("check")
    assert out.strip() == "manage check in %s" % (tmp_path / "venv")
    env.upload_django_settings()
    assert (Path(project) / "local_settings.py").read_text() == django.django_settings


def test_django_deployment_in_sandbox_changes_nothing(tmp_path):
    project = str(tmp_path / "project")
    _, Deployment = django_on(LocalHost, project, "/nonexistent/repo.git", str(tmp_path / "venv"))

    class WithPackages(Deployment):
        virtual_env__packages = ["gunicorn", "supervisor"]

    events = Events()
    env = run(WithPackages(), is_sandbox=True, logger=events)
    env.virtual_env.create()
    env.setup()
    env.git.install()
    env.upload_supervisor_config()
    env.upload_django_settings()
    assert list(tmp_path.iterdir()) == []
    assert not os.path.exists("/etc/supervisor/conf.d/django-project.conf")
    commands = events.commands()
    assert all(sandbox for _, _, _, sandbox in commands)
    texts = [c for _, c, _, _ in commands]
    assert "pip install 'gunicorn'" in texts and "pip install 'supervisor'" in texts
    assert ("localhost", "apt-get install git", True, True) in commands
    assert any(t.startswith("git clone '/nonexistent/repo.git' 'project'") for t in texts)


def test_django_required_properties_name_the_node():
    django = load("django_deployment")

    class Bare(Node):
        class Hosts:
            host = LocalHost

        class git(django.Git):
            project_directory = "/tmp/x"

    with pytest.raises(ActionException) as info:
        run(Bare()).git.clone()
    inner = info.value.inner_exception
    assert isinstance(inner, RequiredPropertyException)
    assert "'repository'" in str(inner) and "Bare.git" in str(inner) and "URL of the repository" in str(inner)


def test_django_double_underscore_overrides_of_the_tutorial():
    django = load("django_deployment")
    node = django.DjangoDeploymentOnHost()
    assert node.virtual_env.location == "~/.virtualenvs/project-env-2/"
    assert node.hosts.get_host_slugs() == [django.remote_host.slug]
    env = run(node)
    assert env.git.project_directory == "~/git/django-project-2"
    assert env.virtual_env.requirements_files == ["~/git/django-project-2/requirements.txt"]
    assert django.DjangoDeployment().virtual_env.location == "~/.virtualenvs/project-env/"


@pytest.mark.ssh
def test_django_deployment_for_real_on_ssh(ssh_bed):
    shared = Path(tempfile.mkdtemp(prefix="deployer-django-"))
    try:
        shared.chmod(0o755)
        repository, first = make_repository(shared)
        # git refuses repositories owned by another user: give it to the bed's user.
        subprocess.run(["chown", "-R", ssh_bed.user.name, str(shared)], check=True)
        bed_host = ssh_bed.host_class(2)
        base = "~/deployer-django-%d" % os.getpid()
        django, Deployment = django_on(bed_host, base + "/git/project", repository, base + "/venv")
        env = run(Deployment())
        try:
            env.virtual_env.create()
            env.setup()
            env.git.checkout(first)
            assert env.git.current_commit() == first
            home = env.host.run("echo $HOME", interactive=False).strip()
            out = env.run_management_command("migrate")
            assert out.strip() == "manage migrate in %s/deployer-django-%d/venv" % (home, os.getpid())
            env.upload_django_settings()
            with env.host.open(base + "/git/project/local_settings.py") as f:
                assert f.read().decode() == django.django_settings
        finally:
            env.host.run("rm -rf %s" % base, interactive=False)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# -- web system -------------------------------------------------------------------------

def local(slug):
    return type("Local_" + slug.replace("-", "_"), (LocalHost,), {"slug": slug})


def test_web_system_role_maps():
    ws = load("web_system")
    root = ws.RootNode()
    prod = root.ProductionSystem
    assert prod.Database.hosts.get_hosts_as_dict() == {"master": {ws.MasterDB}, "slave": {ws.SlaveDB}}
    assert prod.Cache.hosts.get_host_slugs() == ["cache"]
    assert prod.LoadBalancer.hosts.get_host_slugs() == ["lb0", "lb1"]
    assert prod.Git.hosts.get_host_slugs() == ["web1", "web2", "web3", "lb0", "lb1", "queue"]
    staging = root.StagingSystem
    assert staging.Git.hosts.get_host_slugs() == ["staging0"]
    assert staging.Database.hosts.get_hosts_as_dict() == {"master": {ws.StagingHost0}, "slave": set()}


def test_web_system_services_in_sandbox_on_localhost():
    ws = load("web_system")
    LB, WEB, DB1, DB2, QUEUE, CACHE = (local(s) for s in ("lb", "web", "db1", "db2", "queue", "cache"))

    class Local(ws.WebSystem):
        class Hosts:
            load_balancer = {LB}
            web = {WEB}
            master_db = {DB1}
            slave_db = {DB2}
            queue = {QUEUE}
            cache = {CACHE}

    events = Events()
    env = run(Local(), is_sandbox=True, logger=events)
    env.restart_all()
    env.Git.checkout("v1.0")
    assert events.commands() == [
        ("db1", "systemctl stop 'postgresql'", True, True),
        ("db2", "systemctl stop 'postgresql'", True, True),
        ("db1", "systemctl start 'postgresql'", True, True),
        ("db2", "systemctl start 'postgresql'", True, True),
        ("cache", "service redis stop", True, True),
        ("cache", "service redis start", True, True),
        ("queue", "service rabbitmq stop", True, True),
        ("queue", "service rabbitmq start", True, True),
        ("lb", "systemctl stop 'haproxy'", True, True),
        ("lb", "systemctl start 'haproxy'", True, True),
        ("web", "git checkout 'v1.0'", False, True),
        ("lb", "git checkout 'v1.0'", False, True),
        ("queue", "git checkout 'v1.0'", False, True),
    ]


def test_upstart_service_needs_a_name():
    ws = load("web_system")

    class Nameless(ws.UpstartService):
        class Hosts:
            host = LocalHost

    with pytest.raises(ActionException, match="'name'.*Nameless.*Name of the service"):
        run(Nameless(), is_sandbox=True).start()


@pytest.mark.ssh
def test_web_system_staging_on_ssh_in_sandbox(ssh_bed):
    ws = load("web_system")
    bed_host = ssh_bed.host_class(3)

    class StagingHosts:
        load_balancer = {bed_host}
        web = {bed_host}
        master_db = {bed_host}
        queue = {bed_host}
        cache = {bed_host}

    class OnBed(ws.RootNode):
        StagingSystem__Hosts = StagingHosts

    events = Events()
    env = run(OnBed(), is_sandbox=True, logger=events)
    env.StagingSystem.restart_all()
    env.StagingSystem.Cache.status()
    commands = events.commands()
    assert len(commands) == 9 and all(h == "bed-3" and sandbox for h, _, _, sandbox in commands)
    assert commands[-1][1] == "service redis status"
