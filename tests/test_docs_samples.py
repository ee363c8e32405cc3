"""Every code sample of the reference's node sections and tutorials, run on Python 3.

Each sample below is copied from ``../shared/reference/python-deployer-docs.txt``
(``test_samples_are_verbatim`` checks that); the only change is ``print x`` ->
``print(x)``. Samples run as written where they can; hosts with made-up
addresses are replaced by LocalHost subclasses after the sample ran, and
commands that need software this machine lacks run in sandbox mode.

A few samples have slips in the reference itself; for each, a test shows the
failure as written (with the clear error it gives) and runs the obvious fix:

- ``"pip install -r ~/git/django-project/requirements.txt')``: mismatched quotes
  (a SyntaxError in the original too);
- ``self.host.open(path)`` then ``f.write(...)``: the default mode is ``'rb'``;
- the reusable ``DjangoDeployment.run_management_command`` uses
  ``self.activate_cmd``, which moved to ``virtual_env``;
- ``e.do_action()`` on a bare ``Node()`` and ``node.action2()`` on a node
  without ``action2``;
- ``host_container.cd('VAR', 'my-value')`` where ``env(...)`` is meant.
"""
from __future__ import annotations

import re
import sys
import textwrap
import types
from pathlib import Path

import pytest

from deployer.exceptions import ActionException, RequiredPropertyException
from deployer.host import LocalHost, SSHHost
from deployer.host_container import HostsContainer
from deployer.loggers import Logger
from deployer.loggers.events import CommandStarted
from deployer.node import Env, Node, ParallelActionResult, ParallelNode, map_roles, required_property
from deployer.pseudo_terminal import DummyPty
from deployer.utils import esc1

pytestmark = pytest.mark.timeout(60)

REFERENCE = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "python-deployer-docs.txt"


class Events(Logger):
    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)

    def commands(self):
        return [e.command for e in self.events if isinstance(e, CommandStarted)]


def py3(code: str) -> str:
    """The only edit to a sample: ``print x`` becomes ``print(x)``."""
    return re.sub(r"^(\s*)print (?!\()(.+)$", r"\1print(\2)", code, flags=re.M)


def run_sample(name: str, **namespace):
    """Execute sample ``name`` in a fresh namespace (plus ``namespace``) and return it."""
    ns = {"__name__": "docs_sample_%s" % name}
    ns.update(namespace)
    exec(compile(py3(textwrap.dedent(SAMPLES[name])), "<docs sample %s>" % name, "exec"), ns)
    return ns


def sandbox(node, events=None, **kw):
    return Env(node, pty=DummyPty(), logger=events if events is not None else Events(), is_sandbox=True, **kw)


def on_local(node_class, **extra):
    """``node_class`` with its hosts replaced by this machine."""
    namespace = {"Hosts": type("Hosts", (), {"host": LocalHost})}
    namespace.update(extra)
    return type(node_class)(node_class.__name__, (node_class,), namespace)


SAMPLES: dict[str, str] = {}

# -- Tutorial: Hello world ---------------------------------------------------------------

SAMPLES["hello_node"] = '''
from deployer.node import Node

class SayHello(Node):
    def hello(self):
        self.hosts.run('echo hello world')
'''
SAMPLES["hello_localhost"] = '''
from deployer.host import LocalHost

class SayHelloOnLocalHost(SayHello):
    class Hosts:
        host = LocalHost
'''
SAMPLES["hello_start"] = '''
if __name__ == '__main__':
    from deployer.client import start
    start(SayHelloOnLocalHost)
'''
SAMPLES["hello_remote"] = '''
from deployer.host import SSHHost

class MyRemoteHost(SSHHost):
    slug = 'my-host'
    address = '192.168.0.200'
    username = 'john'
    password = '...'

class RemoteHello(SayHello):
    class Hosts:
        host = MyRemoteHost
'''
SAMPLES["hello_complete"] = '''
#!/usr/bin/env python

# Imports
from deployer.client import start
from deployer.host import SSHHost, LocalHost
from deployer.node import Node

# Host definitions
class MyRemoteHost(SSHHost):
    slug = 'my-host'
    address = '192.168.0.200'
    username = 'john'
    password = '...'

# The deployment nodes

class SayHello(Node):
    def hello(self):
        self.hosts.run('echo hello world')

class RootNode(Node):
    class local_hello(SayHello):
        class Hosts:
            host = LocalHost

    class remote_hello(SayHello):
        class Hosts:
            host = MyRemoteHost

if __name__ == '__main__':
    start(RootNode)
'''


def test_hello_world_samples():
    ns = run_sample("hello_node")
    ns = run_sample("hello_localhost", **ns)
    run_sample("hello_start", **ns)   # not __main__: defines nothing, starts nothing
    pty = DummyPty()
    Env(ns["SayHelloOnLocalHost"](), pty=pty, logger=Logger()).hello()
    assert pty.get_output() == "hello world\r\n"
    ns = run_sample("hello_remote", **ns)
    assert ns["RemoteHello"]().hosts.get_host_slugs() == ["my-host"]
    ns = run_sample("hello_complete")
    pty = DummyPty()
    Env(ns["RootNode"](), pty=pty, logger=Logger()).local_hello.hello()
    assert pty.get_output() == "hello world\r\n"
    assert ns["RootNode"]().remote_hello.hosts.get_hosts() == {ns["MyRemoteHost"]}


# -- Tutorial: Django --------------------------------------------------------------------

SAMPLES["django_template"] = '''
#!/usr/bin/env python
from deployer.client import start
from deployer.node import Node

class DjangoDeployment(Node):
    pass

if __name__ == '__main':
    start(DjangoDeployment)
'''
SAMPLES["django_git"] = '''
from deployer.utils import esc1

class DjangoDeployment(Node):
    project_directory = '~/git/django-project'
    repository = 'git@github.com:example/example.git'

    def install_git(self):
        """ Installs the ``git`` package. """
        self.host.sudo('apt-get install git')

    def git_clone(self):
        """ Clone repository."""
        with self.host.cd(self.project_directory, expand=True):
            self.host.run("git clone '%s'" % esc1(self.repository))

    def git_checkout(self, commit):
        """ Checkout specific commit (after cloning)."""
        with self.host.cd(self.project_directory, expand=True):
            self.host.run("git checkout '%s'" % esc1(commit))
'''
SAMPLES["django_remote_host"] = '''
from deployer.host import SSHHost

class remote_host(SSHHost):
    address = '192.168.1.1' # Replace by your IP address
    username = 'user'       # Replace by your own username.
    password = 'password'   # Optional, but required for sudo operations
    key_filename = None     # Optional, specify the location of the RSA
                            #   private key
'''
SAMPLES["django_hosts"] = '''
class DjangoDeployment(Node):
    class Hosts:
        host = remote_host

    ...
'''
SAMPLES["django_settings"] = '''
django_settings = \\
"""
DATABASES['default'] = ...
SESSION_ENGINE = ...
DEFAULT_FILE_STORAGE = ...
"""

class DjangoDeployment(Node):
    ...
    def upload_django_settings(self):
        """ Upload the content of the variable 'local_settings' in the
        local_settings.py file. """
        with self.host.open('~/git/django-project/local_settings.py') as f:
            f.write(django_settings)
'''
SAMPLES["django_virtualenv"] = '''
class DjangoDeployment(Node):
    ...
    # Command to execute to work on the virtualenv
    activate_cmd = '. ~/.virtualenvs/project-env/bin/activate'

    def install_requirements(self):
        """
        Script to install the requirements of our Django application.
        (We have a requirements.txt file in our repository.)
        """
        with self.host.prefix(self.activate_cmd):
            self.host.run("pip install -r ~/git/django-project/requirements.txt')

    def install_package(self, name):
        """
        Utility for installing packages through ``pip install`` inside
        the env.
        """
        with self.host.prefix(self.activate_cmd):
            self.host.run("pip install '%s'" % name)
'''
SAMPLES["django_management"] = '''
class DjangoDeployment(Node):
    ...
    def run_management_command(self, command):
        """ Run Django management command in virtualenv. """
        # Activate the virtualenv.
        with self.host.prefix(self.activate_cmd):
            # Go to the directory where we have our 'manage.py' file.
            with self.host.cd('~/git/django-project/'):
                self.host.run('./manage.py %s' % command)

    def django_shell(self):
        """ Open interactive Django shell. """
        self.run_management_command('shell')
'''
SAMPLES["django_gunicorn_install"] = '''
class DjangoDeployment(Node):
    ...

    def install_gunicorn(self):
        """ Install gunicorn inside the virtualenv. """
        self.install_package('gunicorn')

    def install_supervisord(self):
        """ Install supervisord inside the virtualenv. """
        self.install_package('supervisor')
'''
SAMPLES["django_run_gunicorn"] = '''
class DjangoDeployment(Node):
    ...

    def run_gunicorn(self):
        """ Run the gunicorn server """
        self.run_management_command('run_gunicorn')
'''
SAMPLES["django_supervisor"] = '''
supervisor_config = \\
"""
[program:djangoproject]
command = /home/username/.virtualenvs/project-env/bin/gunicorn_start  ; Command to start app
user = username                                                       ; User to run as
stdout_logfile = /home/username/logs/gunicorn_supervisor.log          ; Where to write log messages
redirect_stderr = true                                                ; Save stderr in the same log
"""

class DjangoDeployment(Node):
    ...

    def upload_supervisor_config(self):
        """ Upload the content of the variable 'supervisor_config' in the
        supervisord configuration file. """
        with self.host.open('/etc/supervisor/conf.d/django-project.conf') as f:
            f.write(supervisor_config)
'''
SAMPLES["django_virtualenv_class"] = '''
class VirtualEnv(Node):
    location = required_property()
    requirements_files = []
    packages = []

    # Command to execute to work on the virtualenv
    @property
    def activate_cmd(self):
        return  '. %s/bin/activate' % self.location

    def install_requirements(self):
        """
        Script to install the requirements of our Django application.
        (We have a requirements.txt file in our repository.)
        """
        with self.host.prefix(self.activate_cmd):
            for f in self.requirements_files:
                self.host.run("pip install -r '%s' " % esc1(f))

    def install_package(self, name):
        """
        Utility for installing packages through ``pip install`` inside
        the env.
        """
        with self.host.prefix(self.activate_cmd):
            self.host.run("pip install '%s'" % name)

    def setup_env(self):
        """ Install everything inside the virtualenv """
        # From `self.packages`
        for p in self.packages:
            self.install_package(p)

        # From requirements.txt files
        self.install_requirements()
'''
SAMPLES["django_nested_virtualenv"] = '''
class DjangoDeployment(Node):
    ...

    class virtual_env(VirtualEnv):
        location = '~/.virtualenvs/project-env/'
        requirements_files = [ '~/git/django-project/requirements.txt' ]
        packages = [ 'gunicorn', 'supervisor' ]

    def setup(self):
        # Install virtual packages
        self.virtual_env.setup_env()

    ...
'''
SAMPLES["django_git_class"] = '''
class Git(Node):
    project_directory = required_property()
    repository = required_property()

    def install(self):
        """ Installs the ``git`` package. """
        self.host.sudo('apt-get install git')

    def clone(self):
        """ Clone repository."""
        with self.host.cd(self.project_directory, expand=True):
            self.host.run("git clone '%s'" % esc1(self.repository))

    def checkout(self, commit):
        """ Checkout specific commit (after cloning)."""
        with self.host.cd('~/git/django-project', expand=True):
            self.host.run("git checkout '%s'" % esc1(commit))
'''
SAMPLES["django_nested_git"] = '''
class DjangoDeployment(Node):
    ...

    class git(Git):
        project_directory = '~/git/django-project'
        repository = 'git@github.com:example/example.git'

    def setup(self):
        # Clone repository
        self.git.clone()

        # Install virtual packages
        self.virtual_env.setup_env()
'''
SAMPLES["django_on_host"] = '''
#!/usr/bin/env python

class remote_host(SSHHost):
    address = '192.168.1.1' # Replace by your IP address
    username = 'user'       # Replace by your own username.
    password = 'password'   # Optional, but required for sudo operations
    key_filename = None     # Optional, specify the location of the RSA
                            #   private key
class DjangoDeploymentOnHost(DjangoDeployment):
    class Hosts:
        host = remote_host

    # Override a few properties of the parent.
    virtual_env__location = '~/.virtualenvs/project-env-2/'
    git__project_directory = '~/git/django-project-2'

if __name__ == '__main':
    start(DjangoDeploymentOnHost)
'''


def test_django_template_git_and_hosts_samples():
    run_sample("django_template")
    # The sample uses Node without importing it (it continues the template above).
    ns = run_sample("django_git", Node=Node)
    events = Events()
    env = sandbox(on_local(ns["DjangoDeployment"])(), events)
    env.install_git()
    env.git_clone()
    env.git_checkout("it's-a-commit")
    assert events.commands() == ["apt-get install git", "git clone 'git@github.com:example/example.git'",
                                 "git checkout 'it'\\''s-a-commit'"]
    ns = run_sample("django_remote_host", **ns)
    ns = run_sample("django_hosts", **ns)
    assert ns["DjangoDeployment"]().hosts.get_hosts() == {ns["remote_host"]}
    assert issubclass(ns["remote_host"], SSHHost)


def test_django_settings_sample_opens_for_reading_as_written():
    ns = run_sample("django_settings", Node=Node)
    node = on_local(ns["DjangoDeployment"])()
    # As written: open() defaults to 'rb', so this reads a file that is not there.
    with pytest.raises(ActionException, match="No such file|not found|FileNotFound"):
        sandbox(node).upload_django_settings()
    # With mode 'w' (and in sandbox mode), it writes nothing anywhere.
    fixed = SAMPLES["django_settings"].replace("local_settings.py')", "local_settings.py', 'w')")
    SAMPLES["_django_settings_fixed"] = fixed
    ns = run_sample("_django_settings_fixed", Node=Node)
    sandbox(on_local(ns["DjangoDeployment"])()).upload_django_settings()


def test_django_virtualenv_sample_has_a_quote_slip():
    with pytest.raises(SyntaxError):
        run_sample("django_virtualenv", Node=Node)
    SAMPLES["_django_virtualenv_fixed"] = SAMPLES["django_virtualenv"].replace(
        "requirements.txt')", 'requirements.txt")')
    venv = run_sample("_django_virtualenv_fixed", Node=Node)["DjangoDeployment"]
    management = run_sample("django_management", Node=Node)["DjangoDeployment"]
    gunicorn = run_sample("django_gunicorn_install", Node=Node)["DjangoDeployment"]
    run_gunicorn = run_sample("django_run_gunicorn", Node=Node)["DjangoDeployment"]
    supervisor = run_sample("django_supervisor", Node=Node)["DjangoDeployment"]
    Combined = on_local(NodeBaseOf(venv)("Combined", (run_gunicorn, gunicorn, management, venv, supervisor), {}))
    events = Events()
    env = sandbox(Combined(), events)
    env.install_requirements()
    env.install_gunicorn()
    env.install_supervisord()
    env.django_shell()
    env.run_gunicorn()
    assert events.commands() == ["pip install -r ~/git/django-project/requirements.txt",
                                 "pip install 'gunicorn'", "pip install 'supervisor'",
                                 "./manage.py shell", "./manage.py run_gunicorn"]
    with pytest.raises(ActionException, match="django-project.conf"):
        env.upload_supervisor_config()   # as written: opened for reading, and it does not exist here


def NodeBaseOf(cls):
    return type(cls)


def test_reusable_django_samples():
    ns = run_sample("django_virtualenv_class", Node=Node, required_property=required_property, esc1=esc1)
    ns = run_sample("django_git_class", **ns)
    ns = run_sample("django_nested_virtualenv", **ns)
    with_venv = ns["DjangoDeployment"]
    ns = run_sample("django_nested_git", **ns)
    Both = on_local(type(with_venv)("Both", (ns["DjangoDeployment"], with_venv), {}))
    events = Events()
    env = sandbox(Both(), events)
    env.setup()
    env.git.checkout("v1")
    assert events.commands() == [
        "git clone 'git@github.com:example/example.git'", "pip install 'gunicorn'", "pip install 'supervisor'",
        "pip install -r '~/git/django-project/requirements.txt' ", "git checkout 'v1'"]
    assert env.virtual_env.activate_cmd == ". ~/.virtualenvs/project-env//bin/activate"
    with pytest.raises(RequiredPropertyException, match="location"):
        sandbox(on_local(ns["VirtualEnv"])()).activate_cmd


def test_django_deployment_file_and_on_host_samples():
    ns = run_sample("django_deployment_py", Node=Node, required_property=required_property)
    ns = run_sample("django_on_host", **ns)
    on_host = ns["DjangoDeploymentOnHost"]()
    assert on_host.virtual_env.location == "~/.virtualenvs/project-env-2/"
    assert on_host.git.project_directory == "~/git/django-project-2"
    assert on_host.git.repository == "git@github.com:example/example.git"
    assert ns["DjangoDeployment"]().git.project_directory == "~/git/django-project"
    events = Events()
    env = sandbox(on_local(ns["DjangoDeploymentOnHost"])(), events)
    env.setup()
    assert events.commands()[0] == "git clone 'git@github.com:example/example.git'"
    assert "pip install 'gunicorn'" in events.commands()
    # As written, run_management_command reads self.activate_cmd, which lives on virtual_env now.
    with pytest.raises(ActionException, match="activate_cmd"):
        env.run_gunicorn()


def test_django_gathered_script_sample():
    with pytest.raises(SyntaxError):
        run_sample("django_gathered", Node=Node)
    SAMPLES["_django_gathered_fixed"] = SAMPLES["django_gathered"].replace("requirements.txt')",
                                                                           'requirements.txt")')
    ns = run_sample("_django_gathered_fixed", Node=Node)
    assert ns["DjangoDeployment"]().hosts.get_hosts() == {ns["remote_host"]}
    events = Events()
    env = sandbox(on_local(ns["DjangoDeployment"])(), events)
    env.git_clone()
    env.git_checkout("abc")
    env.install_requirements()
    env.install_gunicorn()
    env.run_gunicorn()
    env.django_shell()
    assert events.commands() == [
        "git clone 'git@github.com:example/example.git'", "git checkout 'abc'",
        "pip install -r ~/git/django-project/requirements.txt", "pip install 'gunicorn'",
        "./manage.py run_gunicorn", "./manage.py shell"]


SAMPLES["django_gathered"] = '''
#!/usr/bin/env python
from deployer.utils import esc1
from deployer.host import SSHHost

supervisor_config = \\
"""
[program:djangoproject]
command = /home/username/.virtualenvs/project-env/bin/gunicorn_start  ; Command to start app
user = username                                                       ; User to run as
stdout_logfile = /home/username/logs/gunicorn_supervisor.log          ; Where to write log messages
redirect_stderr = true                                                ; Save stderr in the same log
"""

django_settings = \\
"""
DATABASES['default'] = ...
SESSION_ENGINE = ...
DEFAULT_FILE_STORAGE = ...
"""

class remote_host(SSHHost):
    address = '192.168.1.1' # Replace by your IP address
    username = 'user'       # Replace by your own username.
    password = 'password'   # Optional, but required for sudo operations
    key_filename = None     # Optional, specify the location of the RSA
                            #   private key
class DjangoDeployment(Node):
    class Hosts:
        host = remote_host

    project_directory = '~/git/django-project'
    repository = 'git@github.com:example/example.git'

    def install_git(self):
        """ Installs the ``git`` package. """
        self.host.sudo('apt-get install git')

    def git_clone(self):
        """ Clone repository."""
        with self.host.cd(self.project_directory, expand=True):
            self.host.run("git clone '%s'" % esc1(self.repository))

    def git_checkout(self, commit):
        """ Checkout specific commit (after cloning)."""
        with self.host.cd('~/git/django-project', expand=True):
            self.host.run("git checkout '%s'" % esc1(commit))

    # Command to execute to work on the virtualenv
    activate_cmd = '. ~/.virtualenvs/project-env/bin/activate'

    def install_requirements(self):
        """
        Script to install the requirements of our Django application.
        (We have a requirements.txt file in our repository.)
        """
        with self.host.prefix(self.activate_cmd):
            self.host.run("pip install -r ~/git/django-project/requirements.txt')

    def install_package(self, name):
        """
        Utility for installing packages through ``pip install`` inside
        the env.
        """
        with self.host.prefix(self.activate_cmd):
            self.host.run("pip install '%s'" % name)

    def upload_django_settings(self):
        """ Upload the content of the variable 'local_settings' in the
        local_settings.py file. """
        with self.host.open('~/git/django-project/local_settings.py') as f:
            f.write(django_settings)

    def run_management_command(self, command):
        """ Run Django management command in virtualenv. """
        # Activate the virtualenv.
        with self.host.prefix(self.activate_cmd):
            # Cd to the place where we have our 'manage.py' file.
            with self.host.cd('~/git/django-project/'):
                self.host.run('./manage.py %s' % command)

    def django_shell(self):
        """ Open interactive Django shell. """
        self.run_management_command('shell')

    def install_gunicorn(self):
        """ Install gunicorn inside the virtualenv. """
        self.install_package('gunicorn')

    def install_supervisord(self):
        """ Install supervisord inside the virtualenv. """
        self.install_package('supervisor')

    def run_gunicorn(self):
        """ Run the gunicorn server """
        self.run_management_command('run_gunicorn')

    def upload_supervisor_config(self):
        """ Upload the content of the variable 'supervisor_config' in the
        supervisord configuration file. """
        with self.host.open('/etc/supervisor/conf.d/django-project.conf') as f:
            f.write(supervisor_config)

if __name__ == '__main':
    start(DjangoDeployment)
'''

SAMPLES["django_deployment_py"] = '''
from deployer.utils import esc1
from deployer.host import SSHHost

supervisor_config = \\
"""
[program:djangoproject]
command = /home/username/.virtualenvs/project-env/bin/gunicorn_start  ; Command to start app
user = username                                                       ; User to run as
stdout_logfile = /home/username/logs/gunicorn_supervisor.log          ; Where to write log messages
redirect_stderr = true                                                ; Save stderr in the same log
"""

django_settings = \\
"""
DATABASES['default'] = ...
SESSION_ENGINE = ...
DEFAULT_FILE_STORAGE = ...
"""

class VirtualEnv(Node):
    location = required_property()
    requirements_files = []
    packages = []

    # Command to execute to work on the virtualenv
    @property
    def activate_cmd(self):
        return  '. %s/bin/activate' % self.location

    def install_requirements(self):
        """
        Script to install the requirements of our Django application.
        (We have a requirements.txt file in our repository.)
        """
        with self.host.prefix(self.activate_cmd):
            for f in self.requirements_files:
                self.host.run("pip install -r '%s' " % esc1(f))

    def install_package(self, name):
        """
        Utility for installing packages through ``pip install`` inside
        the env.
        """
        with self.host.prefix(self.activate_cmd):
            self.host.run("pip install '%s'" % name)

    def setup_env(self):
        """ Install everything inside the virtualenv """
        # From `self.packages`
        for p in self.packages:
            self.install_package(p)

        # From requirements.txt files
        self.install_requirements()

class Git(Node):
    project_directory = required_property()
    repository = required_property()

    def install(self):
        """ Installs the ``git`` package. """
        self.host.sudo('apt-get install git')

    def clone(self):
        """ Clone repository."""
        with self.host.cd(self.project_directory, expand=True):
            self.host.run("git clone '%s'" % esc1(self.repository))

    def checkout(self, commit):
        """ Checkout specific commit (after cloning)."""
        with self.host.cd('~/git/django-project', expand=True):
            self.host.run("git checkout '%s'" % esc1(commit))

class DjangoDeployment(Node):
    class virtual_env(VirtualEnv):
        location = '~/.virtualenvs/project-env/'
        packages = [ 'gunicorn', 'supervisor' ]
        requirements_files = ['~/git/django-project/requirements.txt' ]

    class git(Git):
        project_directory = '~/git/django-project'
        repository = 'git@github.com:example/example.git'

    def setup(self):
        # Clone repository
        self.git.clone()

        # Install virtual packages
        self.virtual_env.setup_env()

    def upload_django_settings(self):
        """ Upload the content of the variable 'local_settings' in the
        local_settings.py file. """
        with self.host.open('~/git/django-project/local_settings.py') as f:
            f.write(django_settings)

    def run_management_command(self, command):
        """ Run Django management command in virtualenv. """
        # Activate the virtualenv.
        with self.host.prefix(self.activate_cmd):
            # Cd to the place where we have our 'manage.py' file.
            with self.host.cd('~/git/django-project/'):
                self.host.run('./manage.py %s' % command)

    def django_shell(self):
        """ Open interactive Django shell. """
        self.run_management_command('shell')

    def run_gunicorn(self):
        """ Run the gunicorn server """
        self.run_management_command('run_gunicorn')

    def upload_supervisor_config(self):
        """ Upload the content of the variable 'supervisor_config' in the
        supervisord configuration file. """
        with self.host.open('/etc/supervisor/conf.d/django-project.conf') as f:
            f.write(supervisor_config)
'''

# -- Architecture of roles and nodes ----------------------------------------------------------

SAMPLES["arch_websystem"] = '''
from deployer.node import Node

class WebSystem(Node):
    class Cache(Node):
        pass

    class Queue(Node):
        pass

    class LoadBalancer(Node):
        pass

    class Database(Node):
        pass

    class Git(Node):
        pass
'''
SAMPLES["arch_rootnode"] = '''
class RootNode(Node):
    class StagingSystem(WebSystem):
        class Hosts:
            load_balancer= { StagingHost0 }
            web = { StagingHost0  }
            master_db = { StagingHost0 }
            slave_db = set() # If empty, this line can be left away.
            queue = { StagingHost0 }
            cache = { StagingHost0 }

    class ProductionSystem(WebSystem):
        class Hosts:
            load_balancer = { LB0, LB1 }
            web = { WebServer1, WebServer2, WebServer3 }
            master_db = { MasterDB }
            slave_db = { SlaveDB }
            queue = { QueueHost }
            cache = { CacheHost }
'''
SAMPLES["arch_map_roles"] = '''
from deployer.node import Node, map_roles

class WebSystem(Node):
    """
    roles: cache, queue, master_db, slave_db, web.
    """
    @map_roles(host='cache')
    class Cache(Node):
        pass

    @map_roles(host='queue')
    class Queue(Node):
        pass

    @map_roles(host='queue')
    class LoadBalancer(Node):
        pass

    @map_roles(master='master_db', slave='slave_db')
    class Database(Node):
        pass

    @map_roles(host=['www', 'load_balancer', 'queue'])
    class Git(Node):
        def checkout(self, commit):
            self.hosts.run('git checkout %s' % commit)
'''
SAMPLES["arch_complete"] = '''
#!/usr/bin/env python
from deployer.node import Node, map_roles, required_property
from deployer.utils import esc1

from our_nodes import StagingHost0, LB0, LB1, WebServer1, WebServer2, \\
        WebServer3, MasterDB, SlaveDB, QueueHost, CacheHost

class UpstartService(Node):
    """
    Abstraction for any upstart service with start/stop/status methods.
    """
    name = required_property()

    def start(self):
        self.hosts.sudo('service %s start' % esc1(self.name))

    def stop(self):
        self.hosts.sudo('service %s stop' % esc1(self.name))

    def status(self):
        self.hosts.sudo('service %s status' % esc1(self.name))

class WebSystem(Node):
    """
    The base definition of our web system.

    roles: cache, queue, master_db, slave_db, web.
    """
    @map_roles(host='cache')
    class Cache(UpstartService):
        name = 'redis'

    @map_roles(host='queue')
    class Queue(UpstartService):
        name = 'rabbitmq'

    @map_roles(host='queue')
    class LoadBalancer(Node):
        # ...
        pass

    @map_roles(master='master_db', slave='slave_db')
    class Database(UpstartService):
        name = 'postgresql'

    @map_roles(host=['www', 'load_balancer', 'queue'])
    class Git(Node):
        def checkout(self, commit):
            self.hosts.run('git checkout %s' % esc1(commit))

        def show(self):
            self.hosts.run('git show')

class RootNode(Node):
    """
    The root node of our configuration, containing two 'instances' of
    `WebSystem`,
    """
    class StagingSystem(WebSystem):
        class Hosts:
            load_balancer = { StagingHost0 }
            web = { StagingHost0  }
            master_db = { StagingHost0 }
            slave_db = set() # If empty, this line can be left away.
            queue = { StagingHost0 }
            cache = { StagingHost0 }

    class ProductionSystem(WebSystem):
        class Hosts:
            load_balancer = { LB0, LB1 }
            web = { WebServer1, WebServer2, WebServer3 }
            master_db = { MasterDB }
            slave_db = { SlaveDB }
            queue = { QueueHost }
            cache = { CacheHost }

if __name__ == '__main__':
    start(RootNode)
'''
SAMPLES["shell_root"] = '''
#!/usr/bin/env python
from deployer.client import start
from deployer.node import Node

class MyRootNode(Node):
    ...

if __name__ == '__main__':
    start(MyRootNode)
'''

HOST_NAMES = ["StagingHost0", "LB0", "LB1", "WebServer1", "WebServer2", "WebServer3", "MasterDB", "SlaveDB",
              "QueueHost", "CacheHost"]


def our_nodes():
    """The module the complete example imports its hosts from: LocalHost subclasses."""
    module = types.ModuleType("our_nodes")
    for name in HOST_NAMES:
        setattr(module, name, type(name, (LocalHost,), {"slug": name.lower()}))
    return module


def test_architecture_samples(monkeypatch):
    hosts = our_nodes()
    ns = run_sample("arch_websystem")
    ns = run_sample("arch_rootnode", **ns, **{n: getattr(hosts, n) for n in HOST_NAMES})
    root = ns["RootNode"]()
    assert root.ProductionSystem.Cache.hosts.get_hosts_as_dict()["web"] == {
        hosts.WebServer1, hosts.WebServer2, hosts.WebServer3}, "no mapping: children get every role"
    ns = run_sample("arch_map_roles")
    ns = run_sample("arch_rootnode", WebSystem=ns["WebSystem"], Node=Node,
                    **{n: getattr(hosts, n) for n in HOST_NAMES})
    prod = ns["RootNode"]().ProductionSystem
    assert prod.Database.hosts.get_hosts_as_dict() == {"master": {hosts.MasterDB}, "slave": {hosts.SlaveDB}}
    assert prod.Cache.hosts.get_hosts() == {hosts.CacheHost}
    assert prod.Git.hosts.get_host_slugs() == ["lb0", "lb1", "queuehost"], "'www' is no role: it maps to nothing"

    monkeypatch.setitem(sys.modules, "our_nodes", hosts)
    ns = run_sample("arch_complete")
    events = Events()
    env = sandbox(ns["RootNode"](), events)
    env.ProductionSystem.Database.start()
    env.StagingSystem.Cache.stop()
    env.ProductionSystem.Git.checkout("v1")
    env.ProductionSystem.Git.show()
    assert [(e.host, e.command) for e in events.events if isinstance(e, CommandStarted)] == [
        ("masterdb", "service postgresql start"), ("slavedb", "service postgresql start"),
        ("staginghost0", "service redis stop"),
        ("lb0", "git checkout v1"), ("lb1", "git checkout v1"), ("queuehost", "git checkout v1"),
        ("lb0", "git show"), ("lb1", "git show"), ("queuehost", "git show")]
    run_sample("shell_root")


# -- The node object -----------------------------------------------------------------------

SAMPLES["node_parallel_sayhello"] = '''
from deployer.node import ParallelNode

class SayHello(ParallelNode):
    def hello(self):
        self.host.run('echo hello world')
'''
SAMPLES["node_default_from_node"] = '''
from deployer.node import Env

env = Env.default_from_node(MyNode())
env.hello()
'''
SAMPLES["node_webapp"] = '''
class WebApp(Node):
    class Nginx(Node):
        class Server(Node):
            domain = 'www.example.com'
'''
SAMPLES["node_mywebapp_classic"] = '''
class MyWebApp(WebApp):
    class Nginx(WebApp.Nginx):
        class Server(WebApp.Nginx.Server):
            domain = 'mydomain.com'
'''
SAMPLES["node_mywebapp_expansion"] = '''
class MyWebApp(WebApp):
    Nginx__Server__domain = 'mydomain.com'
'''
SAMPLES["node_mywebapp_function"] = '''
class MyWebApp(WebApp):
    def Nginx__Server__get_full_domain(self):
        # Note that 'self' points to the 'Server' class at this point,
        # not to 'Webapp'!
        return 'http://%s' % self.domain
'''
SAMPLES["node_isolation"] = '''
class WebSystem(ParallelNode):
    class Hosts:
        host = { Host1, Host2, Host3, Host4 }

    def checkout_git(self, commit):
        self.host.run("git checkout '%s'" % esc1(commit))

    def restart(self):
        self.host.run("nginx restart")

    def deploy(self, commit):
        self.checkout_git(commit)
        self.restart()
'''
SAMPLES["node_isolation_cells"] = '''
websystem = Env.default_from_node(WebSystem())
websystem[Host1].deploy('abcde6565eee...')
websystem[Host2].restart()
'''
SAMPLES["node_isolation_all"] = '''
websystem = Env.default_from_node(WebSystem())
websystem.deploy('abcde6565eee...') # Parallel execution.
'''
SAMPLES["node_array"] = '''
class NormalNode(Node):
    class OurParallelNode(ParallelNode.Array):
        class PNode(ParallelNode):
            pass
'''


def test_node_object_samples(capfd):
    ns = run_sample("node_parallel_sayhello")
    MyNode = type("MyNode", (ns["SayHello"],), {"Hosts": type("Hosts", (), {"host": {LocalHost}})})
    run_sample("node_default_from_node", MyNode=MyNode)
    assert "hello world" in capfd.readouterr().out

    ns = run_sample("node_webapp", Node=Node)
    classic = run_sample("node_mywebapp_classic", **ns)["MyWebApp"]
    expanded = run_sample("node_mywebapp_expansion", **ns)["MyWebApp"]
    function = run_sample("node_mywebapp_function", **ns)["MyWebApp"]
    assert classic().Nginx.Server.domain == expanded().Nginx.Server.domain == "mydomain.com"
    assert ns["WebApp"]().Nginx.Server.domain == "www.example.com"
    assert Env(function(), pty=DummyPty()).Nginx.Server.get_full_domain() == "http://www.example.com"


def test_parallel_node_samples():
    host_classes = {"Host%d" % i: type("Host%d" % i, (LocalHost,), {"slug": "host%d" % i}) for i in (1, 2, 3, 4)}
    ns = run_sample("node_isolation", ParallelNode=ParallelNode, esc1=esc1, **host_classes)
    events = Events()

    class SandboxEnv:
        """`Env` for the usage lines: git and nginx are not installed here, so sandbox mode."""

        @staticmethod
        def default_from_node(node):
            return sandbox(node, events)

    run_sample("node_isolation_cells", Env=SandboxEnv, **ns)
    assert [(e.host, e.command) for e in events.events if isinstance(e, CommandStarted)] == [
        ("host1", "git checkout 'abcde6565eee...'"), ("host1", "nginx restart"), ("host2", "nginx restart")]
    result_ns = run_sample("node_isolation_all", Env=SandboxEnv, **ns)
    assert len(events.commands()) == 3 + 8
    assert isinstance(result_ns["websystem"].deploy("x"), ParallelActionResult)

    # self.host == self.hosts.filter('host'), in every cell.
    class Check(ns["WebSystem"]):
        def same(self):
            return self.host == self.hosts.filter('host')
    assert list(sandbox(Check()).same()) == [True] * 4

    ns = run_sample("node_array", Node=Node, ParallelNode=ParallelNode)
    normal = type("Normal", (ns["NormalNode"],), {"Hosts": type("Hosts", (), {"host": [LocalHost]})})()
    assert normal.OurParallelNode.PNode.hosts.get_hosts() == {LocalHost}


# -- Node reference ---------------------------------------------------------------------------

SAMPLES["ref_env"] = '''
n = Node()
e = Env(n)
e.do_action()
'''
SAMPLES["ref_initialize_node"] = '''
class SomeNode(Node):
    def action(self):
        pass

class RootNode(Node):
    def action(self):
        # Wrap SomeNode into an Env object
        node = self.initialize_node(SomeNode)

        # Use the node.
        node.action2()
'''
SAMPLES["ref_hosts"] = '''
class MyNode(Node):
    class Hosts:
        role1 = [ LocalHost ]
        role2 = [ SSHHost1, SSHHost2]
'''
SAMPLES["ref_required_property"] = '''
class MyNode(Node):
    name = required_property()

    def method(self):
        # This will raise an exception, unless this class was
        # inherited, and `name` was filled in.
        print (self.name)
'''


def test_node_reference_samples(capsys):
    # As written, Node() has no action `do_action`: the error says so.
    with pytest.raises(AttributeError, match="do_action"):
        run_sample("ref_env", Node=Node, Env=Env)
    WithAction = type("WithAction", (Node,), {"do_action": lambda self: "done"})
    run_sample("ref_env", Node=WithAction, Env=Env)

    ns = run_sample("ref_initialize_node", Node=Node)
    with pytest.raises(ActionException, match="action2"):
        Env(ns["RootNode"](), pty=DummyPty()).action()
    SAMPLES["_ref_initialize_node_fixed"] = SAMPLES["ref_initialize_node"].replace(
        "def action(self):\n        pass", "def action2(self):\n        return 'from SomeNode'")
    ns = run_sample("_ref_initialize_node_fixed", Node=Node)
    assert Env(ns["RootNode"](), pty=DummyPty(), is_sandbox=True).action() is None

    ssh1 = type("SSHHost1", (SSHHost,), {"address": "a"})
    ssh2 = type("SSHHost2", (SSHHost,), {"address": "b"})
    ns = run_sample("ref_hosts", Node=Node, LocalHost=LocalHost, SSHHost1=ssh1, SSHHost2=ssh2)
    assert ns["MyNode"]().hosts.get_hosts_as_dict() == {"role1": {LocalHost}, "role2": {ssh1, ssh2}}

    ns = run_sample("ref_required_property", Node=Node, required_property=required_property)
    with pytest.raises(ActionException, match="'name'.*MyNode"):
        Env(ns["MyNode"](), pty=DummyPty()).method()
    Named = type("Named", (ns["MyNode"],), {"name": "filled in"})
    Env(Named(), pty=DummyPty()).method()
    assert capsys.readouterr().out == "filled in\n"


# -- host_container ----------------------------------------------------------------------------

SAMPLES["hc_mynode"] = '''
class MyNode(Node):
    class Hosts:
        web_servers = { Host1, Host2 }
        caching_servers = Host3

    def do_something(self):
        # ``self.hosts`` here is a HostsContainer instance.
        self.hosts.filter('caching_servers').run('echo hello')
'''
SAMPLES["hc_calls"] = '''
host_container.run(...)
host_container[0].run(...)
host_container.filter('www')[0].run(...)
'''
SAMPLES["hc_cd"] = '''
with host_container.cd('directory'):
    host_container.run('ls')
'''
SAMPLES["hc_env"] = '''
with host_container.cd('VAR', 'my-value'):
    host_container.run('echo $VAR')
'''
SAMPLES["hc_filter"] = '''
hosts.filter('role1', 'role2')
'''
SAMPLES["hc_prefix"] = '''
with host.prefix('workon environment'):
    host.run('./manage.py migrate')
'''
SAMPLES["hc_open"] = '''
with host.open('/path/to/somefile', 'wb') as f:
    f.write('some content')
'''
SAMPLES["hc_open_oneline"] = '''
host.open('/path/to/somefile', 'wb').write('some content')
'''


def test_host_container_samples(tmp_path, monkeypatch):
    hosts = {"Host%d" % i: type("Host%d" % i, (LocalHost,), {"slug": "host%d" % i}) for i in (1, 2, 3)}
    ns = run_sample("hc_mynode", Node=Node, **hosts)
    pty = DummyPty()
    Env(ns["MyNode"](), pty=pty, logger=Logger()).do_something()
    assert pty.get_output() == "hello\r\n"

    container = HostsContainer({"www": [hosts["Host1"], hosts["Host2"]], "role1": hosts["Host3"],
                                "role2": hosts["Host1"]}, pty=DummyPty())
    # The `...` of these call patterns stands for a command.
    SAMPLES["_hc_calls_with_command"] = SAMPLES["hc_calls"].replace("(...)", "('echo hi')")
    run_sample("_hc_calls_with_command", host_container=container)

    monkeypatch.chdir(tmp_path)
    (tmp_path / "directory").mkdir()
    (tmp_path / "directory" / "inside").write_text("")
    pty = DummyPty()
    run_sample("hc_cd", host_container=HostsContainer({"www": [hosts["Host1"], hosts["Host2"]]}, pty=pty))
    # Two hosts run at once: each line says which host printed it.
    assert sorted(pty.get_output().splitlines()) == ["host1 | inside", "host2 | inside"]

    # As written, cd('VAR', 'my-value') changes to a directory named VAR, which is not there.
    with pytest.raises(Exception, match="VAR: No such file"):
        run_sample("hc_env", host_container=container)
    SAMPLES["_hc_env_fixed"] = SAMPLES["hc_env"].replace("host_container.cd(", "host_container.env(")
    run_sample("_hc_env_fixed", host_container=container)
    assert container.filter("www")[0].run("echo $VAR", interactive=False) == "\n"

    assert run_sample("hc_filter", hosts=container)["hosts"] is container

    sandboxed = HostsContainer({"host": [hosts["Host1"]]}, pty=DummyPty(), is_sandbox=True)
    run_sample("hc_prefix", host=sandboxed[0])

    target = str(tmp_path / "somefile")
    for name in ("hc_open", "hc_open_oneline"):
        SAMPLES["_" + name] = SAMPLES[name].replace("/path/to/somefile", target)
        run_sample("_" + name, host=container[0])
        assert Path(target).read_text() == "some content"
        Path(target).unlink()


# -- Inspection ------------------------------------------------------------------------------

SAMPLES["insp_setup"] = '''
from deployer.node import Node

class Setup(Node):
    def say_hello(self):
        self.hosts.run('echo "Hello world"')

setup = Setup()
'''
SAMPLES["insp_print"] = '''
from deployer.inspection import Inspector

insp = Inspector(setup)
print insp.get_actions()
print insp.get_childnodes()
'''
SAMPLES["insp_walk"] = '''
from deployer.inspection.filters import HasAction, PublicOnly
Inspector(node).walk(HasAction('my_action') & PublicOnly & ~ InGroup(Staging))
'''


def test_inspection_samples(capsys):
    from deployer.groups import Staging, staging
    from deployer.inspection import Inspector
    from deployer.inspection.filters import InGroup

    ns = run_sample("insp_setup")
    run_sample("insp_print", **ns)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[<Action action 'say_hello'") and out[1] == "[]"

    class Tree(Node):
        class a(Node):
            def my_action(self):
                pass

        @staging
        class b(Node):
            def my_action(self):
                pass

        class _c(Node):
            def my_action(self):
                pass

    ns = run_sample("insp_walk", node=Tree(), Inspector=Inspector, InGroup=InGroup, Staging=Staging)
    assert [Inspector(n).get_name() for n in Inspector(Tree()).walk(
        ns["HasAction"]("my_action") & ns["PublicOnly"] & ~InGroup(Staging))] == ["a"]


# -- all of the above is the reference's own text --------------------------------------------

def _normalized(text: str) -> str:
    return " ".join(text.split())


def test_samples_are_verbatim_from_the_reference():
    reference = _normalized(py3(REFERENCE.read_text()))
    originals = {name: code for name, code in SAMPLES.items() if not name.startswith("_")}
    assert len(originals) >= 40
    missing = [name for name, code in originals.items() if _normalized(py3(code)) not in reference]
    assert missing == []
