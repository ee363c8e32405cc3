"""Proxies through which node actions reach their hosts.

``self.hosts`` in an action is a :class:`HostsContainer` (every host of the
node, by role); ``self.host`` is a :class:`HostContainer` (exactly one host)::

    class MyNode(Node):
        class Hosts:
            web_servers = { Host1, Host2 }
            caching_servers = Host3

        def do_something(self):
            self.hosts.filter('caching_servers').run('echo hello')
            with self.hosts.cd('/srv'):
                print(self.hosts.run('ls'))          # a list: one output per host

Roles hold host *classes*; the container asks its ``host_provider`` for the
instance that runs the commands (the :class:`~deployer.node.env.Env` hands out
one instance per host class per action call, bound to the call's logger).
Filtered containers share that provider, so ``cd`` on one affects the other.

``run``/``sudo`` on several hosts run concurrently on the bounded worker pool
of :mod:`deployer.execution` (the one ParallelNode cells use): output lines are
prefixed with the host's slug, Ctrl-C cancels every host's command, results
come back in host order, and when some hosts fail the others still finish and
one :class:`~deployer.execution.results.ParallelCommandFailed` lists them all.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from deployer.exceptions import DeployerException
from deployer.utils.string_utils import esc1

__all__ = ["HostsContainer", "HostContainer", "UnmappedRolesError", "host_slug", "roles_from_definition"]

HostProvider = Callable[[Any], Any]


class UnmappedRolesError(DeployerException):
    """A node has no host to work on because its roles are mapped from roles its parent lacks.

    ``@map_roles(host='dbs')`` under a parent without a role ``dbs`` gives the
    node no hosts; running a command there raises this instead of doing
    nothing on zero hosts. The message names the node and the missing roles.
    """


def host_slug(host: Any) -> str:
    """The slug of a host class or instance (its class name when the slug is empty)."""
    slug = getattr(host, "slug", "")
    if slug:
        return str(slug)
    cls = host if isinstance(host, type) else type(host)
    return cls.__name__


def _sorted_members(members: Iterable[Any]) -> tuple[Any, ...]:
    # Sets have no order; sort by slug so that results and output are stable.
    return tuple(sorted(members, key=lambda h: (host_slug(h), getattr(h, "__qualname__", ""))))


def _normalize_value(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (set, frozenset)):
        members: tuple[Any, ...] = _sorted_members(value)
    elif isinstance(value, (list, tuple)):
        members = tuple(value)
    else:
        members = (value,)
    return tuple(dict.fromkeys(members))


def roles_from_definition(hosts_class: Any) -> dict[str, tuple[Any, ...]]:
    """``{role: host classes}`` from a ``class Hosts:`` definition.

    A role is a host class, or a set/list/tuple of them; names starting with
    an underscore are ignored. Inherited roles of the ``Hosts`` class count.
    """
    roles: dict[str, tuple[Any, ...]] = {}
    for klass in reversed(getattr(hosts_class, "__mro__", (hosts_class,))):
        if klass is object:
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_"):
                roles[name] = _normalize_value(value)
    return roles


def _normalize(hosts: Any) -> dict[str, tuple[Any, ...]]:
    if hosts is None:
        return {}
    if isinstance(hosts, Mapping):
        return {role: _normalize_value(v) for role, v in hosts.items()}
    # A bare collection of hosts: they all play the role 'host'.
    return {"host": _normalize_value(hosts)}


class HostsContainer:
    """Proxy to a group of hosts, by role.

    :param hosts: ``{role: host class or set/list of host classes}``.
    :param pty: terminal for hosts this container creates itself.
    :param logger: logger for hosts this container creates itself.
    :param is_sandbox: run every command as a syntax check and write no file.
    :param host_provider: returns the host instance for a host class (the Env
        passes its own; by default instances are created once and shared with
        filtered containers).

    >>> hosts = HostsContainer({'www': [Web1, Web2], 'db': Db1})     # doctest: +SKIP
    >>> hosts.filter('www').run('hostname')                          # doctest: +SKIP
    ['web1\\r\\n', 'web2\\r\\n']
    """

    def __init__(self, hosts: Any, pty: Any = None, logger: Any = None, is_sandbox: bool = False,
                 host_provider: Optional[HostProvider] = None, *, max_workers: Optional[int] = None,
                 owner: str = "", unmapped: Optional[Mapping[str, str]] = None) -> None:
        self._roles = _normalize(hosts)
        self._pty = pty
        self._logger = logger
        self._sandbox = bool(is_sandbox)
        self._provider = host_provider if host_provider is not None else self._default_provider()
        self._all = tuple(dict.fromkeys(h for members in self._roles.values() for h in members))
        self._max_workers = max_workers
        # The node these hosts belong to, and {role: why it has no hosts} for
        # roles mapped from parent roles that do not exist (set by the Env).
        self._owner = owner
        self._unmapped = {role: why for role, why in (unmapped or {}).items() if role in self._roles}

    def _default_provider(self) -> HostProvider:
        instances: dict[Any, Any] = {}
        lock = threading.Lock()

        def provide(host: Any) -> Any:
            if not isinstance(host, type):
                return host
            with lock:
                instance = instances.get(host)
                if instance is None:
                    instance = instances[host] = host(pty=self._pty, logger=self._logger)
                return instance
        return provide

    @classmethod
    def from_definition(cls, hosts_class: Any, **kw: Any) -> "HostsContainer":
        """Create a container from a ``class Hosts:`` definition (``kw`` as in the constructor)."""
        return cls(roles_from_definition(hosts_class), **kw)

    def _derive(self, roles: Mapping[str, tuple[Any, ...]], cls: Optional[type] = None) -> Any:
        return (cls or HostsContainer)(dict(roles), pty=self._pty, logger=self._logger,
                                       is_sandbox=self._sandbox, host_provider=self._provider,
                                       max_workers=self._max_workers, owner=self._owner, unmapped=self._unmapped)

    # -- what is in here ---------------------------------------------------------------

    @property
    def roles(self) -> list[str]:
        """The role names, in definition order (roles without hosts included)."""
        return list(self._roles)

    @property
    def is_sandbox(self) -> bool:
        return self._sandbox

    def get_hosts(self) -> set:
        """The set of host classes in this container (each once, whatever its roles)."""
        return set(self._all)

    def get_hosts_as_dict(self) -> dict[str, set]:
        """``{role: set of host classes}``."""
        return {role: set(members) for role, members in self._roles.items()}

    def get_host_slugs(self) -> list[str]:
        """The slugs of the hosts, in order."""
        return [host_slug(h) for h in self._all]

    def filter(self, *roles: str) -> "HostsContainer":
        """A container with only the hosts of these roles (sharing host instances)::

            hosts.filter('role1', 'role2')
        """
        return self._derive({role: self._roles.get(role, ()) for role in roles})

    def _instances(self) -> list[Any]:
        return [self._provider(h) for h in self._all]

    def __len__(self) -> int:
        return len(self._all)

    def __bool__(self) -> bool:
        return bool(self._all)

    def __iter__(self) -> Iterator["HostContainer"]:
        """One :class:`HostContainer` per host."""
        for h in self._all:
            yield self._single(h)

    def __contains__(self, host: Any) -> bool:
        return host in self._all or (isinstance(host, str) and host in self.get_host_slugs())

    def _single(self, host: Any) -> "HostContainer":
        roles = {role: (host,) for role, members in self._roles.items() if host in members}
        return self._derive(roles or {"host": (host,)}, HostContainer)

    def __getitem__(self, key: Any) -> "HostContainer":
        """A single host by position, host class or slug: ``hosts[0]``, ``hosts[Web1]``, ``hosts['web1']``."""
        if isinstance(key, int) and not isinstance(key, bool):
            try:
                return self._single(self._all[key])
            except IndexError:
                raise IndexError("host index %d out of range: %d hosts (%s)"
                                 % (key, len(self._all), ", ".join(self.get_host_slugs()))) from None
        for h in self._all:
            if h is key or (isinstance(key, str) and host_slug(h) == key):
                return self._single(h)
        raise KeyError("no host %r here; hosts: %s" % (key, ", ".join(self.get_host_slugs()) or "(none)"))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HostsContainer):
            return set(self._all) == set(other._all)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._all))

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, ", ".join(
            "%s=[%s]" % (role, ", ".join(host_slug(h) for h in members)) for role, members in self._roles.items()))

    # -- commands ----------------------------------------------------------------------

    def _check_mapped(self, what: str) -> None:
        """Refuse to do ``what`` on zero hosts when that is the result of a mapping to unknown roles."""
        if self._all or not self._unmapped:
            return
        raise UnmappedRolesError("%s has no host to %s: %s" % (
            self._owner or "this node", what, "; ".join(self._unmapped.values())))

    def _pool_pty(self, instances: list[Any]) -> Any:
        return self._pty if self._pty is not None else instances[0].pty

    def run(self, command: str, sandbox: bool = False, interactive: bool = True, user: Optional[str] = None,
            ignore_exit_status: bool = False, initial_input: Optional[str] = None, silent: bool = False,
            timeout: Optional[float] = None, use_sudo: bool = False) -> list[str]:
        """Run ``command`` on every host; a list of their outputs, in host order.

        Several hosts run at once (at most ``max_workers``), each output line
        prefixed with the host's slug; the commands take no keys from the
        shared keyboard. When some fail, the others finish first, then
        :class:`~deployer.execution.results.ParallelCommandFailed` names every
        failed host and its cause. One host runs in the calling thread, with
        the terminal to itself.
        """
        self._check_mapped("run %r on" % command)
        kwargs = dict(use_sudo=use_sudo, sandbox=sandbox or self._sandbox, interactive=interactive, user=user,
                      ignore_exit_status=ignore_exit_status, initial_input=initial_input, silent=silent,
                      timeout=timeout)
        instances = self._instances()
        if len(instances) <= 1:
            return [h.run(command, **kwargs) for h in instances]

        from deployer.execution.pool import run_tasks
        from deployer.execution.results import ParallelActionResult, ParallelCommandFailed

        def task(host: Any, pty: Any) -> str:
            # A copy writes to the cell's (prefixed) terminal; it shares the
            # connection, logger and the current cd/env/prefix context.
            return host.copy(pty=pty).run(command, **kwargs)

        keys = self.get_host_slugs()
        outcomes = run_tasks([functools.partial(task, h) for h in instances], keys, self._pool_pty(instances),
                             max_workers=self._max_workers)
        failures = {k: o.error for k, o in zip(keys, outcomes) if o.error is not None}
        if failures:
            result = ParallelActionResult([(k, o.value if o.ok else o.error) for k, o in zip(keys, outcomes)],
                                          failures=failures, hosts=dict(zip(keys, self._all)))
            raise ParallelCommandFailed(result, command, use_sudo=bool(use_sudo or user),
                                        tracebacks={k: o.traceback for k, o in zip(keys, outcomes) if not o.ok})
        return [o.value for o in outcomes]

    def sudo(self, command: str, sandbox: bool = False, interactive: bool = True, user: Optional[str] = None,
             ignore_exit_status: bool = False, initial_input: Optional[str] = None, silent: bool = False,
             timeout: Optional[float] = None) -> list[str]:
        """:meth:`run` with sudo on every host."""
        return self.run(command, sandbox=sandbox, interactive=interactive, user=user,
                        ignore_exit_status=ignore_exit_status, initial_input=initial_input, silent=silent,
                        timeout=timeout, use_sudo=True)

    @contextlib.contextmanager
    def _each_context(self, method: str, *args: Any, **kwargs: Any) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            for h in self._instances():
                stack.enter_context(getattr(h.context, method)(*args, **kwargs))
            yield

    def cd(self, path: str, expand: bool = False) -> contextlib.AbstractContextManager:
        """Run the commands inside the ``with`` block in ``path`` on every host (nestable)::

            with host_container.cd('directory'):
                host_container.run('ls')
        """
        return self._each_context("cd", path, expand=expand)

    def env(self, variable: str, value: str, escape: bool = True) -> contextlib.AbstractContextManager:
        """Set an environment variable for the commands inside the ``with`` block, on every host."""
        return self._each_context("env", variable, value, escape=escape)

    def prefix(self, command: str) -> contextlib.AbstractContextManager:
        """Prefix every command inside the ``with`` block with ``command &&``, on every host::

            with hosts.prefix('. ~/env/bin/activate'):
                hosts.run('./manage.py migrate')
        """
        return self._each_context("prefix", command)

    def exists(self, filename: str, use_sudo: bool = True) -> list[bool]:
        """For each host, whether ``filename`` exists there."""
        self._check_mapped("look for %r on" % filename)
        return [bool(h.exists(filename, use_sudo=use_sudo)) for h in self._instances()]

    def getcwd(self) -> list[str]:
        """The current directory of each host (the ``cd`` context included)."""
        return [h.getcwd() for h in self._instances()]

    def has_command(self, command: str, use_sudo: bool = False) -> list[bool]:
        """For each host, whether ``command`` is found by ``which``.

        Like :meth:`exists` and :meth:`getcwd` this only looks, so it runs for
        real in sandbox mode too: a sandboxed action takes the same branches as
        the real one would.
        """
        self._check_mapped("look for command %r on" % command)
        return [_has_command(h, command, use_sudo) for h in self._instances()]


def _has_command(host: Any, command: str, use_sudo: bool) -> bool:
    out = host.run("which '%s' >/dev/null 2>&1 && echo yes || echo no" % esc1(command), use_sudo=use_sudo,
                   sandbox=False, interactive=False, ignore_exit_status=True, silent=True)
    return "yes" in (out or "")


class HostContainer(HostsContainer):
    """Like :class:`HostsContainer`, for exactly one host; results are not lists.

    Other attributes of the host (``slug``, ``address``, ``listdir``,
    ``start_interactive_shell``, ...) are passed through to the host instance.
    """

    def __init__(self, hosts: Any, pty: Any = None, logger: Any = None, is_sandbox: bool = False,
                 host_provider: Optional[HostProvider] = None, **kw: Any) -> None:
        super().__init__(hosts, pty=pty, logger=logger, is_sandbox=is_sandbox, host_provider=host_provider, **kw)
        if len(self._all) != 1:
            raise ValueError("HostContainer needs exactly one host, got %d: %s"
                             % (len(self._all), ", ".join(self.get_host_slugs()) or "(none)"))

    @property
    def _host(self) -> Any:
        return self._provider(self._all[0])

    @property
    def slug(self) -> str:
        """The slug of the host."""
        return host_slug(self._all[0])

    def get_host(self) -> Any:
        """The host class (or instance, if one was given) in this container."""
        return self._all[0]

    def run(self, command: str, sandbox: bool = False, interactive: bool = True, user: Optional[str] = None,
            ignore_exit_status: bool = False, initial_input: Optional[str] = None, silent: bool = False,
            timeout: Optional[float] = None, use_sudo: bool = False) -> str:  # type: ignore[override]
        """Run ``command`` on the host; its output."""
        return super().run(command, sandbox=sandbox, interactive=interactive, user=user,
                           ignore_exit_status=ignore_exit_status, initial_input=initial_input,
                           silent=silent, timeout=timeout, use_sudo=use_sudo)[0]

    def sudo(self, command: str, sandbox: bool = False, interactive: bool = True, user: Optional[str] = None,
             ignore_exit_status: bool = False, initial_input: Optional[str] = None, silent: bool = False,
             timeout: Optional[float] = None) -> str:  # type: ignore[override]
        """Run ``command`` with sudo on the host; its output."""
        return self.run(command, sandbox=sandbox, interactive=interactive, user=user,
                        ignore_exit_status=ignore_exit_status, initial_input=initial_input, silent=silent,
                        timeout=timeout, use_sudo=True)

    def exists(self, filename: str, use_sudo: bool = True) -> bool:  # type: ignore[override]
        """True when ``filename`` exists on the host."""
        return super().exists(filename, use_sudo=use_sudo)[0]

    def getcwd(self) -> str:  # type: ignore[override]
        """The current directory on the host (the ``cd`` context included)."""
        return super().getcwd()[0]

    def has_command(self, command: str, use_sudo: bool = False) -> bool:  # type: ignore[override]
        """True when ``which`` finds ``command`` on the host."""
        return super().has_command(command, use_sudo=use_sudo)[0]

    def _sandboxed(self, kwargs: dict) -> dict:
        kwargs["sandbox"] = bool(kwargs.get("sandbox")) or self._sandbox
        return kwargs

    def open(self, *args: Any, **kwargs: Any) -> Any:
        """Open a file on the host; usable as a context manager::

            with self.host.open('/path/to/somefile', 'wb') as f:
                f.write(b'some content')
        """
        return self._host.open(*args, **self._sandboxed(kwargs))

    def get_file(self, *args: Any, **kwargs: Any) -> Any:
        """Download ``remote_path`` to ``local_path``."""
        return self._host.get_file(*args, **self._sandboxed(kwargs))

    def put_file(self, *args: Any, **kwargs: Any) -> Any:
        """Upload ``local_path`` to ``remote_path``."""
        return self._host.put_file(*args, **self._sandboxed(kwargs))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._host, name)
