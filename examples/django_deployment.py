#!/usr/bin/env python
"""The Django tutorial's reusable deployment: ``VirtualEnv``, ``Git`` and ``DjangoDeployment``.

``DjangoDeployment`` has no hosts: inherit from it, add a ``Hosts`` class and
override what differs, for instance with double underscore expansion::

    class DjangoDeploymentOnHost(DjangoDeployment):
        class Hosts:
            host = remote_host

        virtual_env__location = '~/.virtualenvs/project-env-2/'
        git__repository = 'git@github.com:example/other.git'

Differences with the tutorial text (which has a few slips): files are opened
with mode ``'w'`` for writing; ``Git.checkout`` uses ``project_directory``;
``clone`` clones *into* ``project_directory``; the management command uses the
virtualenv's ``activate_cmd``; ``VirtualEnv.create`` makes the virtualenv.

    python examples/django_deployment.py run          # shell on DjangoDeploymentOnHost
"""
import posixpath

from deployer.host import SSHHost
from deployer.node import Node, required_property
from deployer.query import Q
from deployer.utils import esc1

supervisor_config = \
"""
[program:djangoproject]
command = /home/username/.virtualenvs/project-env/bin/gunicorn_start  ; Command to start app
user = username                                                       ; User to run as
stdout_logfile = /home/username/logs/gunicorn_supervisor.log          ; Where to write log messages
redirect_stderr = true                                                ; Save stderr in the same log
"""

django_settings = \
"""
DATABASES['default'] = ...
SESSION_ENGINE = ...
DEFAULT_FILE_STORAGE = ...
"""


def shell_path(path):
    """``path`` as a shell word: quoted, except a leading ``~/`` that must expand."""
    if path == '~':
        return '~'
    if path.startswith('~/'):
        return "~/'%s'" % esc1(path[2:])
    return "'%s'" % esc1(path)


class VirtualEnv(Node):
    location = required_property('Directory of the virtualenv, e.g. ~/.virtualenvs/project-env')
    requirements_files = []
    packages = []
    #: Extra options for `python3 -m venv` (e.g. '--without-pip').
    venv_options = ''

    # Command to execute to work on the virtualenv
    @property
    def activate_cmd(self):
        return '. %s/bin/activate' % shell_path(self.location.rstrip('/'))

    def create(self):
        """ Create the virtualenv (if it does not exist yet). """
        self.host.run('test -e %s/bin/activate || python3 -m venv %s %s' % (
            shell_path(self.location.rstrip('/')), self.venv_options, shell_path(self.location)))

    def install_requirements(self):
        """
        Script to install the requirements of our Django application.
        (We have a requirements.txt file in our repository.)
        """
        with self.host.prefix(self.activate_cmd):
            for f in self.requirements_files:
                self.host.run("pip install -r %s " % shell_path(f))

    def install_package(self, name):
        """
        Utility for installing packages through ``pip install`` inside
        the env.
        """
        with self.host.prefix(self.activate_cmd):
            self.host.run("pip install '%s'" % esc1(name))

    def setup_env(self):
        """ Install everything inside the virtualenv """
        # From `self.packages`
        for p in self.packages:
            self.install_package(p)

        # From requirements.txt files
        self.install_requirements()


class Git(Node):
    project_directory = required_property('Where the repository is checked out, e.g. ~/git/project')
    repository = required_property('URL of the repository to clone')

    def install(self):
        """ Installs the ``git`` package. """
        self.host.sudo('apt-get install git')

    def clone(self):
        """ Clone repository into ``project_directory``."""
        directory = self.project_directory.rstrip('/')
        parent, name = posixpath.split(directory)
        self.host.run('mkdir -p %s' % shell_path(parent or '.'))
        with self.host.cd(parent or '.', expand=True):
            self.host.run("git clone '%s' '%s'" % (esc1(self.repository), esc1(name)))

    def checkout(self, commit):
        """ Checkout specific commit (after cloning)."""
        with self.host.cd(self.project_directory, expand=True):
            self.host.run("git checkout '%s'" % esc1(commit))

    def current_commit(self):
        """ The commit that is checked out. """
        with self.host.cd(self.project_directory, expand=True):
            return self.host.run('git rev-parse HEAD', interactive=False).strip()


class DjangoDeployment(Node):
    project_directory = '~/git/django-project'
    repository = 'git@github.com:example/example.git'
    supervisor_config_file = '/etc/supervisor/conf.d/django-project.conf'

    @property
    def requirements_files(self):
        return [self.project_directory.rstrip('/') + '/requirements.txt']

    class virtual_env(VirtualEnv):
        location = '~/.virtualenvs/project-env/'
        packages = ['gunicorn', 'supervisor']
        requirements_files = Q.parent.requirements_files

    class git(Git):
        project_directory = Q.parent.project_directory
        repository = Q.parent.repository

    def setup(self):
        # Clone repository
        self.git.clone()

        # Install virtual packages
        self.virtual_env.setup_env()

    def deploy(self, commit):
        """ Check out ``commit``, update the requirements and migrate. """
        self.git.checkout(commit)
        self.virtual_env.install_requirements()
        self.run_management_command('migrate')

    def upload_django_settings(self):
        """ Upload the content of the variable 'django_settings' in the
        local_settings.py file. """
        with self.host.open(self.project_directory.rstrip('/') + '/local_settings.py', 'w') as f:
            f.write(django_settings)

    def run_management_command(self, command):
        """ Run Django management command in virtualenv. """
        # Activate the virtualenv.
        with self.host.prefix(self.virtual_env.activate_cmd):
            # Cd to the place where we have our 'manage.py' file.
            with self.host.cd(self.project_directory, expand=True):
                return self.host.run('./manage.py %s' % command)

    def django_shell(self):
        """ Open interactive Django shell. """
        self.run_management_command('shell')

    def run_gunicorn(self):
        """ Run the gunicorn server """
        self.run_management_command('run_gunicorn')

    def upload_supervisor_config(self):
        """ Upload the content of the variable 'supervisor_config' in the
        supervisord configuration file. """
        with self.host.open(self.supervisor_config_file, 'w', use_sudo=True) as f:
            f.write(supervisor_config)


class remote_host(SSHHost):
    address = '192.168.1.1'  # Replace by your IP address
    username = 'user'        # Replace by your own username.
    password = 'password'    # Optional, but required for sudo operations
    key_filename = None      # Optional, specify the location of the RSA
                             #   private key


class DjangoDeploymentOnHost(DjangoDeployment):
    class Hosts:
        host = remote_host

    # Override a few properties of the parent.
    project_directory = '~/git/django-project-2'
    virtual_env__location = '~/.virtualenvs/project-env-2/'


if __name__ == '__main__':
    from deployer.client import start
    start(DjangoDeploymentOnHost)
