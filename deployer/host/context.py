"""Building a command line from the ``cd``/``env``/``prefix`` context of a host."""
from __future__ import annotations

import contextlib
import re
from typing import Iterator

from deployer.utils.string_utils import esc1

__all__ = ["HostContext", "quote", "shell_path"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TILDE_PREFIX = re.compile(r"~[A-Za-z0-9._-]*")


def quote(value: str) -> str:
    """``value`` as one single-quoted shell word."""
    return "'%s'" % esc1(value)


def shell_path(path: str) -> str:
    """A path as a shell word, quoted except for a leading ``~``/``~user`` (so it expands)."""
    match = _TILDE_PREFIX.match(path)
    if match and (match.end() == len(path) or path[match.end()] == "/"):
        rest = path[match.end():]
        return match.group(0) + (("/" + quote(rest[1:]) if len(rest) > 1 else rest) if rest else "")
    return quote(path)


class HostContext:
    """A push/pop stack of ``cd``, ``env`` and ``prefix`` entries, applied to every command.

    Entries apply in the order they were entered, so ``prefix('source bin/activate')``
    inside ``cd('/srv/app')`` runs in ``/srv/app``.
    """

    def __init__(self) -> None:
        # (kind, shell text) — kind is 'cd', 'env' or 'prefix'.
        self._entries: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def _push(self, kind: str, text: str) -> Iterator[None]:
        entry = (kind, text)
        self._entries.append(entry)
        try:
            yield
        finally:
            # Remove this very entry (by identity): contexts may exit out of order.
            for i in range(len(self._entries) - 1, -1, -1):
                if self._entries[i] is entry:
                    del self._entries[i]
                    break

    def cd(self, path: str, expand: bool = False) -> contextlib.AbstractContextManager[None]:
        """Execute commands in this directory; nested relative paths stack up.

        :param expand: expand a leading ``~`` / ``~user``.
        """
        if not path:
            raise ValueError("cd() needs a path")
        return self._push("cd", "cd -- %s" % (shell_path(path) if expand else quote(path)))

    def env(self, variable: str, value: str, escape: bool = True) -> contextlib.AbstractContextManager[None]:
        """Set this environment variable; ``escape=False`` lets the shell expand ``value``."""
        if not _ENV_NAME.match(variable or ""):
            raise ValueError("not a valid environment variable name: %r" % (variable,))
        return self._push("env", "export %s=%s" % (variable, quote(value) if escape else value))

    def prefix(self, command: str) -> contextlib.AbstractContextManager[None]:
        """Prefix all commands with this command plus ``&&``."""
        return self._push("prefix", command)

    def copy(self) -> "HostContext":
        """An independent copy of this context."""
        clone = HostContext()
        clone._entries = list(self._entries)
        return clone

    @property
    def has_cd(self) -> bool:
        """True when a ``cd`` is in effect (relative paths then need resolving)."""
        return any(kind == "cd" for kind, _ in self._entries)

    def build(self, command: str) -> str:
        """``command`` with this context applied."""
        if not self._entries:
            return command
        # Braces (with a newline, in case the command ends in a comment) keep a
        # ';' or '||' in the command from escaping a failed cd.
        return " && ".join(text for _, text in self._entries) + " && {\n%s\n}" % command
