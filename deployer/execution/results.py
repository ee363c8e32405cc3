"""Results of actions that ran on several hosts at once."""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from deployer.exceptions import ActionException, ExecCommandFailed

__all__ = ["ParallelActionResult", "ParallelActionFailed", "ParallelCommandFailed", "ActionFailed",
           "set_origin", "origin_of"]


class ParallelActionResult:
    """The result of an action called on a ParallelNode array: one entry per cell.

    Keys are the host slugs of the cells, in host order. Iterating yields the
    *values* (for ``for result in node.action(...)``); ``keys``, ``items`` and
    ``values`` work as usual. A cell can also be looked up by slug, host class
    or position::

        >>> r = ParallelActionResult([('web1', 'ok'), ('web2', 'ok too')])
        >>> list(r), r['web2'], r[0]
        (['ok', 'ok too'], 'ok too', 'ok')

    When cells failed, their value is the exception they raised; ``failures``
    maps those slugs to the exception and ``successes`` maps the others to
    their value.
    """

    def __init__(self, isolations_and_results: Iterable[tuple[Any, Any]],
                 failures: Mapping[Any, BaseException] | None = None,
                 hosts: Mapping[Any, Any] | None = None) -> None:
        self._items: list[tuple[Any, Any]] = list(isolations_and_results)
        self.failures: dict[Any, BaseException] = dict(failures or {})
        self._hosts = dict(hosts or {})   # key -> host class, for lookup by class

    @property
    def successes(self) -> dict[Any, Any]:
        """``{key: result}`` of the cells that succeeded."""
        return {k: v for k, v in self._items if k not in self.failures}

    def is_success(self, key: Any) -> bool:
        """True when the cell ``key`` did not raise."""
        return self._key(key) not in self.failures

    def keys(self) -> list[Any]:
        return [k for k, _ in self._items]

    def values(self) -> list[Any]:
        return [v for _, v in self._items]

    def items(self) -> list[tuple[Any, Any]]:
        return list(self._items)

    def _key(self, key: Any) -> Any:
        if isinstance(key, int) and not isinstance(key, bool):
            return self._items[key][0]
        if isinstance(key, type):
            for k, host in self._hosts.items():
                if host is key:
                    return k
        return key

    def __getitem__(self, key: Any) -> Any:
        k = self._key(key)
        for item_key, value in self._items:
            if item_key == k:
                return value
        raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        try:
            self[key]
            return True
        except (KeyError, IndexError):
            return False

    def __iter__(self) -> Iterator[Any]:
        return iter(self.values())

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ParallelActionResult):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return "ParallelActionResult(%r)" % dict(self._items)


#: Attribute set on an exception by the first action call it leaves: ``(node path, action)``.
_ORIGIN = "_deployer_origin"


def set_origin(exc: BaseException, node_path: str, action: str) -> None:
    """Remember where ``exc`` left its first action (kept when it passes outer ones)."""
    if getattr(exc, _ORIGIN, None) is None:
        try:
            setattr(exc, _ORIGIN, (node_path, action))
        except (AttributeError, TypeError):
            pass   # an exception type without attributes: the message just names the outer action


def origin_of(exc: BaseException) -> tuple[str, str] | None:
    """``(node path, action)`` of the action ``exc`` was raised in, or None."""
    origin = getattr(exc, _ORIGIN, None)
    return origin if isinstance(origin, tuple) else None


class ActionFailed(ActionException):
    """The outermost action of a call failed; ``inner_exception`` is the cause.

    The message names the node path and the action, where the error happened
    when that was in a nested action, then the cause::

        Action Root.deploy failed in Root.Web.restart: ExecCommandFailed: ...
    """

    def __init__(self, inner_exception: BaseException, traceback: str = "",
                 node_path: str = "", action: str = "") -> None:
        super().__init__(inner_exception, traceback)
        self.node_path = node_path
        self.action = action
        where = ".".join(p for p in (node_path, action) if p)
        origin = origin_of(inner_exception)
        #: ``Node.path.action`` the error came from (the same as the outer one when it was raised there).
        self.origin = ".".join(p for p in origin if p) if origin else where
        inside = " in %s" % self.origin if self.origin != where else ""
        self.args = ("Action %s failed%s: %s: %s" % (where, inside, type(inner_exception).__name__,
                                                     inner_exception),)


def _failure_lines(header: str, failures: Mapping[Any, BaseException]) -> str:
    """A header and one indented ``slug: Type: message`` entry per failed host."""
    lines = [header]
    for key, exc in failures.items():
        text = str(exc).replace("\n", "\n      ")
        lines.append("  %s: %s: %s" % (key, type(exc).__name__, text))
    return "\n".join(lines)


class ParallelActionFailed(ActionException):
    """Some cells of a parallel action failed (the others ran to the end).

    ``result`` is the full :class:`ParallelActionResult`; ``failures`` maps the
    slug of each failed host to its exception. ``inner_exception`` is the first
    failure, so code that handles :class:`ActionException` keeps working.
    """

    def __init__(self, result: ParallelActionResult, node_path: str = "", action: str = "",
                 tracebacks: Mapping[Any, str] | None = None) -> None:
        failures = result.failures
        first = next(iter(failures.values())) if failures else RuntimeError("no failures")
        super().__init__(first, "\n".join((tracebacks or {}).values()))
        self.result = result
        self.failures = dict(failures)
        self.tracebacks = dict(tracebacks or {})
        self.node_path = node_path
        self.action = action
        where = ".".join(p for p in (node_path, action) if p)
        self.args = (_failure_lines("Action %s failed on %d of %d hosts:" % (where, len(failures), len(result)),
                                    failures),)


class ParallelCommandFailed(ExecCommandFailed):
    """``hosts.run()``/``hosts.sudo()`` failed on some hosts (the others ran to the end).

    The sibling of :class:`ParallelActionFailed` for one command on several
    hosts: ``result`` is a :class:`ParallelActionResult` of every host's output
    (or exception), ``failures`` maps each failed host's slug to its exception.
    It is an :class:`~deployer.exceptions.ExecCommandFailed`, so code written
    for one host keeps catching it; ``host``, ``status_code`` and ``result``
    there describe the first failure::

        try:
            self.hosts.run('service nginx reload')
        except ParallelCommandFailed as e:
            print(sorted(e.failures))        # ['web1', 'web3']
    """

    def __init__(self, result: ParallelActionResult, command: str, use_sudo: bool = False,
                 tracebacks: Mapping[Any, str] | None = None) -> None:
        failures = result.failures
        first_key, first = next(iter(failures.items())) if failures else ("?", RuntimeError("no failures"))
        self.results = result
        self.failures = dict(failures)
        self.tracebacks = dict(tracebacks or {})
        self.inner_exception = first
        super().__init__(command, first_key, use_sudo, getattr(first, "status_code", None),
                         getattr(first, "result", None))

    def _message(self) -> str:
        how = "Sudo command" if self.use_sudo else "Command"
        return _failure_lines("%s failed on %d of %d hosts: %s" % (how, len(self.failures), len(self.results),
                                                                   self.command), self.failures)

    def __reduce__(self):
        return (type(self), (self.results, self.command, self.use_sudo, self.tracebacks))
