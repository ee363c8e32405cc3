"""The SCP (secure copy) shell: browse one host and a local directory, move files.

Both working directories live in the :class:`ScpShell` instance, never in the
process (``os.chdir`` would leak between the sessions of a server)::

    ScpShell(MyHost(pty=pty), pty).cmdloop()
"""
from __future__ import annotations

import os
import posixpath
import shlex
import stat as statmod
import subprocess
import time
from typing import Any, Callable

from prompt_toolkit.completion import Completer, Completion

from deployer.shell.errors import ShellCommandError, describe_error
from deployer.shell.navigation import colored_name
from deployer.utils import esc1

__all__ = ["ScpShell", "SCP_COMMANDS"]

#: The reference's table: remote, local, file operations, other.
SCP_COMMANDS = ("cd", "pwd", "stat", "edit", "connect",
                "lcd", "lpwd", "lstat", "ledit", "lconnect",
                "put", "get", "exit", "clear")
_REMOTE_PATH_ARGS = ("cd", "stat", "edit", "get")
_LOCAL_PATH_ARGS = ("lcd", "lstat", "ledit", "put")


class ScpShell:
    """An SCP shell on ``host`` (a Host instance), reading from ``pty``."""

    def __init__(self, host: Any, pty: Any, local_dir: str | None = None,
                 history_file: str | None = None) -> None:
        self.host = host
        self.pty = pty
        self.history_file = history_file
        self.local_dir = os.path.abspath(local_dir or os.getcwd())
        self._remote_dir: str | None = None
        self._listing_cache: dict[str, tuple[float, list[tuple[str, bool]]]] = {}
        self.write_error: Callable[[str], None] = lambda text: self.write(colored_name(text, "red") + "\n")

    @property
    def slug(self) -> str:
        return getattr(self.host, "slug", "") or type(self.host).__name__

    @property
    def remote_dir(self) -> str:
        """The remote working directory (the host's start directory at first)."""
        if self._remote_dir is None:
            self._remote_dir = self.host.getcwd()
        return self._remote_dir

    def write(self, text: str) -> None:
        self.pty.write(text)

    def prompt_text(self) -> str:
        return "%s:%s (local %s) scp > " % (colored_name(self.slug, "cyan"), self.remote_dir, self.local_dir)

    def remote_path(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.remote_dir, path))

    def local_path(self, path: str) -> str:
        return os.path.normpath(os.path.join(self.local_dir, os.path.expanduser(path)))

    # -- loop ---------------------------------------------------------------

    def cmdloop(self) -> None:
        """Read and run SCP commands until ``exit`` or Ctrl-D."""
        from deployer.shell.reader import LineReader, PromptReader

        if self.pty.isatty():
            reader: Any = PromptReader(self.pty, self.prompt_text, ScpCompleter(self), self.history_file)
        else:
            reader = LineReader(self.pty, self.prompt_text)
        while True:
            try:
                line = reader.read_line()
            except KeyboardInterrupt:
                continue
            except (EOFError, OSError):
                return
            if line is None:
                return
            try:
                if not self.execute(line):
                    return
            except KeyboardInterrupt:
                self.write("\n")

    def execute(self, line: str) -> bool:
        """Run one SCP command. Returns False on ``exit``."""
        try:
            words = shlex.split(line)
        except ValueError as e:
            self.write_error("Cannot parse %r: %s" % (line, e))
            return True
        if not words:
            return True
        head, args = words[0], words[1:]
        if head == "exit":
            return False
        handler = getattr(self, "do_" + head, None)
        if head not in SCP_COMMANDS or handler is None:
            self.write_error("Unknown SCP command %r (commands: %s)" % (head, ", ".join(SCP_COMMANDS)))
            return True
        try:
            handler(args)
        except ShellCommandError as e:
            self.write_error(str(e))
        except KeyboardInterrupt:
            raise
        except Exception as e:
            self.write_error(describe_error(e, with_traceback=False))
        return True

    # -- remote ---------------------------------------------------------------

    def _one_arg(self, args: list[str], usage: str) -> str:
        if len(args) != 1:
            raise ShellCommandError("usage: " + usage)
        return args[0]

    def do_cd(self, args: list[str]) -> None:
        target = self.remote_path(args[0]) if args else self.host.get_start_path() \
            if hasattr(self.host, "get_start_path") else "/"
        st = self._remote_stat(target)
        if st is None:
            raise ShellCommandError("%s: no such directory on %s" % (target, self.slug))
        if not _is_dir(st):
            raise ShellCommandError("%s: not a directory on %s" % (target, self.slug))
        self._remote_dir = target

    def do_pwd(self, args: list[str]) -> None:
        self.write(self.remote_dir + "\n")

    def do_stat(self, args: list[str]) -> None:
        path = self.remote_path(self._one_arg(args, "stat FILE"))
        st = self._remote_stat(path)
        if st is None:
            raise ShellCommandError("%s: no such file on %s" % (path, self.slug))
        self.write(_describe_stat(path, st))

    def do_edit(self, args: list[str]) -> None:
        path = self.remote_path(self._one_arg(args, "edit FILE"))
        self.host.start_interactive_shell(command="${EDITOR:-vim} '%s'" % esc1(path))

    def do_connect(self, args: list[str]) -> None:
        self.host.start_interactive_shell(command="cd '%s' && exec \"${SHELL:-/bin/bash}\"" % esc1(self.remote_dir))

    def _remote_stat(self, path: str) -> Any:
        if path == "/":
            return _RootStat()
        parent, name = posixpath.split(path.rstrip("/"))
        try:
            listing = self.host.listdir_stat(parent or "/")
        except Exception:  # a missing or unreadable parent: the path is not there for us
            return None
        for st in listing:
            if _stat_name(st) == name:
                return st
        return None

    def remote_listing(self, directory: str) -> list[tuple[str, bool]]:
        """``[(name, is_dir)]`` of a remote directory, cached for a few seconds (completion)."""
        cached = self._listing_cache.get(directory)
        if cached and time.monotonic() - cached[0] < 5:
            return cached[1]
        entries = [(_stat_name(st), _is_dir(st)) for st in self.host.listdir_stat(directory)]
        self._listing_cache[directory] = (time.monotonic(), entries)
        return entries

    # -- local ----------------------------------------------------------------

    def do_lcd(self, args: list[str]) -> None:
        target = self.local_path(args[0]) if args else os.path.expanduser("~")
        if not os.path.isdir(target):
            raise ShellCommandError("%s: no such local directory" % target)
        self.local_dir = target

    def do_lpwd(self, args: list[str]) -> None:
        self.write(self.local_dir + "\n")

    def do_lstat(self, args: list[str]) -> None:
        path = self.local_path(self._one_arg(args, "lstat FILE"))
        try:
            st = os.stat(path)
        except OSError as e:
            raise ShellCommandError("%s: %s" % (path, e.strerror)) from None
        self.write(_describe_stat(path, st))

    def do_ledit(self, args: list[str]) -> None:
        path = self.local_path(self._one_arg(args, "ledit FILE"))
        self._local_interactive([os.environ.get("EDITOR", "vim"), path])

    def do_lconnect(self, args: list[str]) -> None:
        self._local_interactive([os.environ.get("SHELL", "/bin/bash")])

    def _local_interactive(self, argv: list[str]) -> None:
        # The pty's own descriptors: works for the local terminal and for a server session's pty.
        try:
            subprocess.call(argv, cwd=self.local_dir, stdin=self.pty.stdin.fileno(),
                            stdout=self.pty.stdout.fileno(), stderr=self.pty.stdout.fileno())
        except OSError as e:
            raise ShellCommandError("cannot start %s: %s" % (argv[0], e)) from None

    # -- file operations ------------------------------------------------------

    def do_put(self, args: list[str]) -> None:
        local = self.local_path(self._one_arg(args, "put FILE"))
        if not os.path.isfile(local):
            raise ShellCommandError("%s: no such local file" % local)
        remote = posixpath.join(self.remote_dir, os.path.basename(local))
        self.host.put_file(local, remote)
        self._listing_cache.pop(self.remote_dir, None)
        self.write("Uploaded %s to %s:%s\n" % (local, self.slug, remote))

    def do_get(self, args: list[str]) -> None:
        remote = self.remote_path(self._one_arg(args, "get FILE"))
        local = os.path.join(self.local_dir, posixpath.basename(remote))
        self.host.get_file(remote, local)
        self.write("Downloaded %s:%s to %s\n" % (self.slug, remote, local))

    def do_clear(self, args: list[str]) -> None:
        self.write("\x1b[2J\x1b[H")


class _RootStat:
    st_mode = statmod.S_IFDIR | 0o755
    is_dir = True
    is_file = False


def _stat_name(st: Any) -> str:
    for attr in ("filename", "name"):
        value = getattr(st, attr, None)
        if isinstance(value, str):
            return value
    return str(st)


def _is_dir(st: Any) -> bool:
    value = getattr(st, "is_dir", None)
    if callable(value):
        value = value()
    if value is not None:
        return bool(value)
    return statmod.S_ISDIR(getattr(st, "st_mode", 0) or 0)


def _describe_stat(path: str, st: Any) -> str:
    mode = getattr(st, "st_mode", None)
    kind = "directory" if _is_dir(st) else "file"
    lines = ["%s (%s)" % (path, kind)]
    if mode is not None:
        lines.append("  mode:  %s" % statmod.filemode(mode))
    for attr, label in (("st_size", "size"), ("st_uid", "uid"), ("st_gid", "gid")):
        value = getattr(st, attr, None)
        if value is not None:
            lines.append("  %-6s %s" % (label + ":", value))
    mtime = getattr(st, "st_mtime", None)
    if mtime:
        lines.append("  mtime: %s" % time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime)))
    return "\n".join(lines) + "\n"


def path_candidates(scp: ScpShell, text: str) -> tuple[str, list[str]]:
    """Completion for ``text`` (the line up to the cursor): commands, remote or local paths."""
    from deployer.shell.completion import split_for_completion

    done, word = split_for_completion(text)
    if not done:
        return word, [c for c in SCP_COMMANDS if c.startswith(word)]
    head = done[0]
    if len(done) > 1 or head not in _REMOTE_PATH_ARGS + _LOCAL_PATH_ARGS:
        return word, []
    directory, prefix = posixpath.split(word)
    if head in _REMOTE_PATH_ARGS:
        entries = scp.remote_listing(scp.remote_path(directory or "."))
    else:
        base = scp.local_path(directory or ".")
        try:
            entries = [(e.name, e.is_dir()) for e in os.scandir(base)]
        except OSError:
            return word, []
    dirs_only = head in ("cd", "lcd")
    out = []
    for name, is_dir in sorted(entries):
        if not name.startswith(prefix) or (dirs_only and not is_dir):
            continue
        if name.startswith(".") and not prefix.startswith("."):
            continue
        out.append(posixpath.join(directory, name) + ("/" if is_dir else ""))
    return word, out


class ScpCompleter(Completer):
    """prompt_toolkit completer for :class:`ScpShell`."""

    def __init__(self, scp: ScpShell) -> None:
        self.scp = scp

    def get_completions(self, document: Any, complete_event: Any):
        try:
            word, found = path_candidates(self.scp, document.text_before_cursor)
        except Exception:  # an unreachable host must not kill the prompt
            return
        for text in found:
            yield Completion(text, start_position=-len(word))
