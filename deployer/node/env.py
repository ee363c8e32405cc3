"""The Env: a node made executable.

An :class:`Env` wraps a node together with a terminal, a logger and the
sandbox flag. Actions receive an Env as ``self``: it proxies the node's
attributes, gives ``self.hosts``/``self.host``/``self.console``, and turns each
action call into an event pair (``ActionStarted``/``ActionFinished``) with the
hosts bound to the call::

    env = Env(MyNode(), pty=DummyPty(), is_sandbox=True)
    env.deploy('v1.2')        # runs every command as `bash -n`, writes no file

Calling an action on a ParallelNode array runs one cell per host on a bounded
worker pool (:mod:`deployer.execution`) and returns a ParallelActionResult.
"""
from __future__ import annotations

import functools
import getpass
import inspect
import os
import sys
import threading
import traceback as _traceback
import uuid
from typing import Any, Callable, Optional

from deployer.exceptions import ActionException
from deployer.execution.pool import run_tasks
from deployer.execution.results import ActionFailed, ParallelActionFailed, ParallelActionResult, set_origin
from deployer.host_container import HostContainer, HostsContainer, host_slug
from deployer.loggers.base import Logger, MultiLogger, SecretMaskingLogger
from deployer.loggers.events import ActionFinished, ActionStarted
from deployer.loggers.masking import MASK, is_secret_name, mask_params, secret_values
from deployer.node.base import (Action, Node, NodeError, ParallelNode, _ActionDescriptor, _ChildNodeDescriptor,
                                iter_isolations, node_path, required_property)
from deployer.pseudo_terminal import Pty

__all__ = ["Env", "EnvAction"]


class _Shared:
    """What every Env of one run shares: terminal, logger, sandbox flag, limits."""

    def __init__(self, pty: Pty, logger: Optional[Logger], is_sandbox: bool, max_workers: Optional[int]) -> None:
        self.pty = pty
        self.is_sandbox = bool(is_sandbox)
        self.max_workers = max_workers
        self._logger = logger
        self._lock = threading.Lock()
        self._user: Optional[str] = None

    @property
    def logger(self) -> Logger:
        # Resolved on first use: asking for the run recorder may open a store,
        # and most Envs (shell navigation, inspection) never run an action.
        if self._logger is None:
            with self._lock:
                if self._logger is None:
                    from deployer.runs import recorder_from_environment
                    self._logger = MultiLogger([recorder_from_environment()])
        return self._logger

    @property
    def user(self) -> str:
        if self._user is None:
            try:
                self._user = getpass.getuser()
            except Exception:  # noqa: BLE001 -- no passwd entry in some containers
                self._user = str(os.getuid())
        return self._user


class _Scope:
    """The host instances of one action call (or of the Env outside any call).

    A call's hosts are copies of the caller's (so ``with self.host.cd(...)``
    around a nested call applies inside it), with the call's terminal and a
    logger bound to the call id. ``secrets`` are the values of secret-looking
    arguments (``password=...``) of this call and its callers: every event of
    the call tree is scrubbed of them.
    """

    def __init__(self, shared: _Shared, parent: Optional["_Scope"], call_id: Optional[str],
                 pty: Pty, logger: Optional[Logger], secrets: frozenset = frozenset()) -> None:
        self.shared = shared
        self.parent = parent
        self.call_id = call_id
        self.pty = pty
        self._logger = logger
        self.secrets: frozenset = (parent.secrets | secrets) if parent is not None else frozenset(secrets)
        self._hosts: dict[Any, Any] = {}
        self._lock = threading.Lock()

    @property
    def logger(self) -> Logger:
        return self._logger if self._logger is not None else self.shared.logger

    def _existing(self, host_class: Any) -> Any:
        scope: Optional[_Scope] = self
        while scope is not None:
            found = scope._hosts.get(host_class)
            if found is not None:
                return found
            scope = scope.parent
        return None

    def host(self, host_class: Any) -> Any:
        """The instance of ``host_class`` for this scope (created or copied on first use)."""
        if not isinstance(host_class, type):
            return host_class
        with self._lock:
            instance = self._hosts.get(host_class)
            if instance is None:
                source = self.parent._existing(host_class) if self.parent is not None else None
                if source is not None:
                    instance = source.copy(pty=self.pty, logger=self.logger)
                else:
                    instance = host_class(pty=self.pty, logger=self.logger)
                self._hosts[host_class] = instance
            return instance


def _stdin_is_tty() -> bool:
    try:
        return bool(sys.__stdin__ and sys.__stdin__.isatty())
    except (ValueError, AttributeError):
        return False


def _event_value(value: Any) -> Any:
    # Events go to stores and other processes: keep plain values, describe the rest.
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _masked_arguments(func: Callable, args: tuple, kwargs: dict) -> tuple[tuple, dict, frozenset]:
    """Arguments for an event (secret-looking parameter names masked, positional ones
    too) and the secret values themselves, to scrub from the events of the call tree."""
    names = func.__dict__.get("_node_param_names")
    if names is None:
        try:
            params = list(inspect.signature(func).parameters.values())[1:]   # skip `self`
        except (TypeError, ValueError):
            params = []
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        varargs = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), "")
        names = (tuple(positional), varargs)
        func.__dict__["_node_param_names"] = names
    positional, varargs = names
    masked_args = []
    for i, value in enumerate(args):
        name = positional[i] if i < len(positional) else varargs
        masked_args.append(MASK if name and is_secret_name(name) else _event_value(value))
    masked_kwargs = {k: (v if v == MASK else _event_value(v)) for k, v in mask_params(kwargs).items()}
    named = [(positional[i] if i < len(positional) else varargs, v) for i, v in enumerate(args)]
    return tuple(masked_args), masked_kwargs, secret_values(named + list(kwargs.items()))


class Env:
    """Wraps a :class:`~deployer.node.Node` into an executable context::

        n = MyNode()
        e = Env(n)
        e.do_action()

    :param node: the node to wrap.
    :param pty: the terminal (default: this process's stdin/stdout; questions
        are only asked when stdin is a tty).
    :param logger: where events go. ``None``: the run recorder configured by the
        environment (:func:`deployer.runs.recorder_from_environment`), if any.
    :param is_sandbox: run every command of the whole call tree as a syntax
        check (``bash -n``) and write no file.
    :param max_workers: at most this many cells of a parallel action run at once
        (default: ``$DEPLOYER_MAX_WORKERS``, else 32).
    """

    def __init__(self, node: Node, pty: Optional[Pty] = None, logger: Optional[Logger] = None,
                 is_sandbox: bool = False, *, max_workers: Optional[int] = None) -> None:
        node = getattr(node, "_env_node", node)
        if not isinstance(node, Node):
            raise TypeError("Env wraps a Node instance, got %r" % (node,))
        if max_workers is not None:
            from deployer.execution.pool import resolve_max_workers
            resolve_max_workers(max_workers)   # fail now, not in the middle of a run
        shared = _Shared(pty if pty is not None else Pty(interactive=_stdin_is_tty()), logger, is_sandbox,
                         max_workers)
        object.__setattr__(self, "_env_node", node)
        object.__setattr__(self, "_env_scope", _Scope(shared, None, None, shared.pty, None))
        object.__setattr__(self, "_env_console", None)

    @classmethod
    def default_from_node(cls, node: Node) -> "Env":
        """An Env attached to this process's terminal: output is shown, questions are
        asked when stdin is a terminal::

            env = Env.default_from_node(MyNode())
            env.hello()

        Action calls are logged to stdout (:class:`~deployer.loggers.TextLogger`)
        and recorded in the run history unless recording is off.
        """
        from deployer.loggers.text import TextLogger
        from deployer.runs import recorder_from_environment

        pty = Pty(interactive=_stdin_is_tty())
        return cls(node, pty=pty, logger=MultiLogger([TextLogger(pty), recorder_from_environment()]))

    # -- internals -----------------------------------------------------------------

    def _env_wrap(self, node: Node, scope: Optional[_Scope] = None) -> "Env":
        env = object.__new__(Env)
        object.__setattr__(env, "_env_node", node)
        object.__setattr__(env, "_env_scope", scope if scope is not None else self._env_scope)
        object.__setattr__(env, "_env_console", None)
        return env

    @property
    def _env_shared(self) -> _Shared:
        return self._env_scope.shared

    @property
    def _env_pty(self) -> Pty:
        return self._env_scope.pty

    @property
    def _env_is_sandbox(self) -> bool:
        return self._env_scope.shared.is_sandbox

    @property
    def _env_logger(self) -> Logger:
        return self._env_scope.logger

    @property
    def __class__(self) -> type:  # type: ignore[override]
        # Actions get an Env as `self`; reporting the node's class lets zero-argument
        # super() (and isinstance checks in user code) work inside actions.
        return type(self._env_node)

    # -- what actions see ----------------------------------------------------------

    @property
    def hosts(self) -> HostsContainer:
        """:class:`~deployer.host_container.HostsContainer`: the proxy to this node's hosts."""
        return self._env_container(HostsContainer, self._env_node._node_roles())

    def _env_container(self, cls: type, roles: Any) -> Any:
        node = self._env_node
        scope = self._env_scope
        return cls(roles, pty=scope.pty, logger=scope.logger, is_sandbox=scope.shared.is_sandbox,
                   host_provider=scope.host, max_workers=scope.shared.max_workers,
                   owner=".".join(node_path(node)), unmapped=node._node_unmapped())

    @property
    def host(self) -> HostContainer:
        """:class:`~deployer.host_container.HostContainer` of the one host in role ``host``.

        In a ParallelNode cell that is the cell's host; elsewhere the role must
        hold exactly one host.
        """
        node = self._env_node
        hosts = self.hosts.filter("host")
        if not hosts:
            hosts._check_mapped("use as self.host")
        if len(hosts) != 1:
            raise NodeError("self.host needs exactly one host in role 'host' of %s, it has %d%s; use self.hosts%s"
                            % (".".join(node_path(node)), len(hosts),
                               (" (%s)" % ", ".join(hosts.get_host_slugs())) if len(hosts) else "",
                               " or a ParallelNode" if len(hosts) > 1 else ""))
        return self._env_container(HostContainer, {"host": self._env_node._node_roles().get("host")})

    @property
    def console(self) -> Any:
        """Interface for user input: a :class:`deployer.console.Console` on this Env's terminal."""
        console = self._env_console
        if console is None:
            from deployer.console import Console
            console = Console(self._env_scope.pty)
            object.__setattr__(self, "_env_console", console)
        return console

    @property
    def parent(self) -> Optional["Env"]:
        """The Env of the parent node (None at the root)."""
        parent = self._env_node.parent
        return None if parent is None else self._env_wrap(parent)

    def initialize_node(self, node_class: type) -> "Env":
        """Create a node from within an action, with this Env's terminal, logger and sandbox::

            class RootNode(Node):
                def action(self):
                    node = self.initialize_node(SomeNode)
                    node.action2()

        The new node is a child of this node: without hosts of its own it uses this node's.
        """
        if not (isinstance(node_class, type) and issubclass(node_class, Node)):
            raise TypeError("initialize_node needs a Node subclass, got %r" % (node_class,))
        node = node_class(parent=self._env_node)
        return self._env_wrap(node)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        node = self.__dict__["_env_node"] if "_env_node" in self.__dict__ else None
        if node is None:
            raise AttributeError(name)
        cls = type(node)
        for klass in cls.__mro__:
            if name in klass.__dict__:
                value = klass.__dict__[name]
                break
        else:
            value = None
            if name not in node.__dict__:
                found = _find_alias(cls, name)
                if found is not None:
                    return EnvAction(self, Action(found.name, node, found.func))
                raise AttributeError("%s (node %s) has no attribute %r"
                                     % (cls.__name__, ".".join(node_path(node)), name))
        if not isinstance(value, property) and name in node.__dict__:
            # As in Python: the instance's own attributes win over non-data descriptors.
            result = node.__dict__[name]
            return self._env_wrap(result) if isinstance(result, Node) else result
        if isinstance(value, _ActionDescriptor):
            return EnvAction(self, Action(name, node, value.func))
        if isinstance(value, _ChildNodeDescriptor):
            return self._env_wrap(value.__get__(node, cls))
        if isinstance(value, property):
            if value.fget is None:
                raise AttributeError("property %r of %s has no getter" % (name, cls.__name__))
            return value.fget(self)
        if isinstance(value, required_property):
            raise value.error(cls)
        query_module = sys.modules.get("deployer.query")
        if query_module is not None and isinstance(value, getattr(query_module, "Query", ())):
            # Queries resolve through this Env: Q.parent / Q.Child.action() run with our context.
            return value.__get__(self, cls)
        result = getattr(node, name)
        if isinstance(result, Node):
            return self._env_wrap(result)
        return result

    def __setattr__(self, name: str, value: Any) -> None:
        # Actions that store state (`self.x = ...`) store it on the node.
        setattr(self._env_node, name, value)

    def __getitem__(self, key: Any) -> "Env":
        """One cell of a ParallelNode array: ``env[Host1]``, ``env['slug']``, ``env[0]``."""
        node = self._env_node
        if not isinstance(node, ParallelNode):
            raise TypeError("%s is not a ParallelNode: it has no cells" % ".".join(node_path(node)))
        return self._env_wrap(node._node_cell(key))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        node = self._env_node
        value = _class_lookup(type(node), "__call__")
        if not isinstance(value, _ActionDescriptor):
            raise TypeError("node %s is not callable" % ".".join(node_path(node)))
        return EnvAction(self, Action("__call__", node, value.func))(*args, **kwargs)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._env_node)) | {"hosts", "host", "console", "parent", "initialize_node"})

    def __repr__(self) -> str:
        node = self._env_node
        cell = node._node_isolated_host
        return "<Env of %s%s (%s)>" % (".".join(node_path(node)),
                                       "[%s]" % host_slug(cell) if cell is not None else "",
                                       type(node).__name__)

    # -- running actions -----------------------------------------------------------

    def _env_call(self, action: Action, args: tuple, kwargs: dict) -> Any:
        node = self._env_node
        func = action.func
        if isinstance(node, ParallelNode) and node._node_isolation_host() is None \
                and not getattr(func, "_node_dont_isolate_yet", False):
            cells = [cell for _, cell in iter_isolations(node)]
            if getattr(func, "_node_isolate_one_only", False):
                if not cells:
                    raise NodeError("%s.%s: no host in role 'host' to run on" % (
                        ".".join(node_path(node)), action.name))
                return self._env_wrap(cells[0])._env_run(action, args, kwargs, None)
            return self._env_run(action, args, kwargs, cells)
        return self._env_run(action, args, kwargs, None)

    def _env_run(self, action: Action, args: tuple, kwargs: dict, cells: Optional[list]) -> Any:
        """One action call: events around it, hosts bound to it, errors wrapped at the top."""
        node = self._env_node
        scope = self._env_scope
        shared = scope.shared
        parent_id = scope.call_id
        # (DEPLOYER_RUN_ID names the *run*, not the call: the run recorder adopts it
        # while that record is still INIT.)
        call_id = uuid.uuid4().hex
        path = ".".join(node_path(node))
        masked_args, masked_kwargs, secrets = _masked_arguments(action.func, args, kwargs)
        secrets = scope.secrets | secrets
        # A caller's secret passed on under a harmless name (`self.inner(password)`)
        # is scrubbed from this call's events too.
        logger = SecretMaskingLogger(shared.logger, secrets) if secrets else shared.logger
        logger.emit(ActionStarted(
            call_id=call_id, parent_id=parent_id, node_path=path, action=action.name,
            args=masked_args, kwargs=masked_kwargs, sandbox=shared.is_sandbox,
            hosts=tuple(host_slug(h) for h in node.hosts._all), user=shared.user))
        call_scope = _Scope(shared, scope, call_id, scope.pty, logger.bind(call_id), secrets)
        call_env = self._env_wrap(node, call_scope)
        try:
            if cells is None:
                result = action.func(call_env, *args, **kwargs)
            else:
                if not cells:
                    # No cell because of a mapping to unknown roles: say so, don't succeed on zero hosts.
                    call_env.hosts.filter("host")._check_mapped("run %s on" % action.name)
                result = call_env._env_fan_out(action, cells, args, kwargs)
        except BaseException as e:
            logger.emit(ActionFinished(call_id=call_id, status="FAILED", error="%s: %s" % (type(e).__name__, e)))
            # The innermost action an error leaves is where it happened; the
            # outermost one's ActionFailed names both.
            set_origin(e, path, action.name)
            if parent_id is None and isinstance(e, Exception) and not isinstance(e, ActionException):
                raise ActionFailed(e, _traceback.format_exc(), node_path=path, action=action.name) from e
            raise
        logger.emit(ActionFinished(call_id=call_id, status="SUCCESS"))
        return result

    def _env_fan_out(self, action: Action, cells: list, args: tuple, kwargs: dict) -> ParallelActionResult:
        """Run ``action`` in every cell on the worker pool; raise after all finished if any failed."""
        scope = self._env_scope
        shared = scope.shared

        def task(cell: Node, pty: Pty) -> Any:
            cell_scope = _Scope(shared, scope, scope.call_id, pty, scope.logger)
            return self._env_wrap(cell, cell_scope)._env_run(action, args, kwargs, None)

        hosts = [cell._node_isolation_host() for cell in cells]
        keys = [host_slug(h) for h in hosts]
        outcomes = run_tasks([functools.partial(task, cell) for cell in cells], keys, scope.pty,
                             max_workers=shared.max_workers)
        failures = {k: o.error for k, o in zip(keys, outcomes) if o.error is not None}
        result = ParallelActionResult([(k, o.value if o.ok else o.error) for k, o in zip(keys, outcomes)],
                                      failures=failures, hosts=dict(zip(keys, hosts)))
        if failures:
            raise ParallelActionFailed(result, node_path=".".join(node_path(self._env_node)), action=action.name,
                                       tracebacks={k: o.traceback for k, o in zip(keys, outcomes) if not o.ok})
        return result


def _class_lookup(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _find_alias(cls: type, name: str) -> Optional[_ActionDescriptor]:
    for klass in cls.__mro__:
        for value in klass.__dict__.values():
            if isinstance(value, _ActionDescriptor) and name in getattr(value.func, "_node_aliases", ()):
                return value
    return None


class EnvAction:
    """An action bound to an Env; calling it runs the action in that environment."""

    def __init__(self, env: Env, action: Action) -> None:
        self._env = env
        self._action = action
        self.__doc__ = action.__doc__

    @property
    def name(self) -> str:
        return self._action.name

    @property
    def action(self) -> Action:
        return self._action

    @property
    def suppress_result(self) -> bool:
        return self._action.suppress_result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._env._env_call(self._action, args, kwargs)

    def __repr__(self) -> str:
        return "<EnvAction %s of %r>" % (self._action.name, self._env)
