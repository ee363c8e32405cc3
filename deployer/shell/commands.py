"""Handlers of the shell's built-in and special (``--x``) commands.

Each handler is ``handler(shell, args)``; errors are raised as
:class:`~deployer.shell.errors.ShellCommandError` and printed by the shell.
"""
from __future__ import annotations

import inspect
import os
from typing import Any, Callable, Iterator

from deployer.shell.errors import ShellCommandError, describe_error
from deployer.shell.navigation import colored_name, format_path

__all__ = ["BUILTIN_HANDLERS", "SPECIAL_HANDLERS", "choose_host", "console_for"]


def console_for(shell: Any) -> Any:
    """A :class:`deployer.console.Console` on the shell's pty."""
    from deployer.console import Console

    return Console(shell.pty)


# -- navigation -------------------------------------------------------------

def cmd_cd(shell: Any, args: list[str]) -> None:
    shell.cd(args)


def cmd_pwd(shell: Any, args: list[str]) -> None:
    shell.write(shell.tree.colored_path(shell.node) + "\n")


def cmd_ls(shell: Any, args: list[str]) -> None:
    tree = shell.tree
    node = tree.resolve(shell.node, args) if args else shell.node
    items: list[tuple[str, int]] = []
    for name in tree.child_names(node):
        child = tree.children(node)[name]
        items.append((colored_name(name, tree.color(child) or "blue", bold=True), len(name)))
    for name in tree.action_names(node):
        items.append((name, len(name)))
    if not items:
        shell.write("(no child nodes and no actions)\n")
        return
    _in_columns(shell, items)


def _in_columns(shell: Any, items: list[tuple[str, int]]) -> None:
    console = console_for(shell)
    in_columns = getattr(console, "in_columns", None)
    if in_columns is not None:
        in_columns(items)
        return
    width = max(length for _, length in items) + 2
    per_line = max(1, shell.pty.get_width() // width)
    for i in range(0, len(items), per_line):
        shell.write("".join(text + " " * (width - length) for text, length in items[i:i + per_line]).rstrip() + "\n")


def cmd_find(shell: Any, args: list[str]) -> None:
    tree = shell.tree
    start = tree.resolve(shell.node, args) if args else shell.node
    base = len(tree.path(start))

    def lines() -> Iterator[str]:
        for node in tree.walk(start):
            path = tree.path(node)[base:]
            if not path:
                continue
            yield " ".join(path[:-1] + (colored_name(path[-1], tree.color(node) or "blue", bold=True),))

    console = console_for(shell)
    console.lesspipe(lines())


def cmd_clear(shell: Any, args: list[str]) -> None:
    shell.write("\x1b[2J\x1b[H")


def cmd_sandbox(shell: Any, args: list[str]) -> None:
    if not args:
        raise ShellCommandError("usage: sandbox ACTION [PARAMETER...]")
    shell.run_action_words(args, sandbox=True)


def cmd_runs(shell: Any, args: list[str]) -> None:
    from deployer.shell.runs import runs_command

    runs_command(shell, args)


# -- special commands -----------------------------------------------------

def cmd_version(shell: Any, args: list[str]) -> None:
    import deployer

    shell.write("deployer %s\n" % deployer.__version__)


def cmd_inspect(shell: Any, args: list[str]) -> None:
    tree = shell.tree
    node = tree.resolve(shell.node, args)
    cls = type(node)
    out = ["Node:        %s" % tree.colored_path(node),
           "Class:       %s.%s" % (cls.__module__, cls.__qualname__)]
    source = _source_location(cls)
    if source:
        out.append("Defined in:  %s" % source)
    group = None
    try:
        group = tree.inspector(node).get_group()
    except Exception:
        pass
    if group is not None:
        out.append("Group:       %s" % colored_name(getattr(group, "name", str(group)), tree.color(node)))
    out.append("Hosts:")
    try:
        mapping = shell.make_env(node).hosts.get_hosts_as_dict()
        if not mapping:
            out.append("  (none)")
        for role in sorted(mapping):
            slugs = sorted(_host_label(h) for h in mapping[role])
            out.append("  %-12s %s" % (role + ":", ", ".join(slugs) or "-"))
    except Exception as e:  # a broken Hosts definition is worth showing, not fatal
        out.append("  (cannot list hosts: %s)" % describe_error(e, with_traceback=False))
    actions = tree.action_names(node, include_private=True)
    children = tree.child_names(node, include_private=True)
    out.append("Actions:     %s" % (", ".join(actions) or "-"))
    out.append("Child nodes: %s" % (", ".join(children) or "-"))
    shell.write("\n".join(out) + "\n")


def cmd_source_code(shell: Any, args: list[str]) -> None:
    node = shell.tree.resolve(shell.node, args)
    cls = type(node)
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError) as e:
        raise ShellCommandError("No source code for %s: %s" % (cls.__qualname__, e)) from None
    header = "# %s\n" % (_source_location(cls) or cls.__qualname__)
    console_for(shell).lesspipe(iter((header + source).rstrip("\n").split("\n")))


def cmd_connect(shell: Any, args: list[str]) -> None:
    node = shell.tree.resolve(shell.node, args)
    host = choose_host(shell, node, "Connect to which host?")
    host.start_interactive_shell()


def cmd_scp(shell: Any, args: list[str]) -> None:
    from deployer.shell.scp import ScpShell

    node = shell.tree.resolve(shell.node, args)
    host = choose_host(shell, node, "Open an SCP shell to which host?")
    ScpShell(host, shell.pty, history_file=_scp_history(shell)).cmdloop()


def _scp_history(shell: Any) -> str | None:
    if not shell.history_file:
        return None
    return os.path.join(os.path.dirname(shell.history_file), "scp_history")


def cmd_run(shell: Any, args: list[str], use_sudo: bool = False) -> None:
    if not args or not args[0].strip():
        raise ShellCommandError("usage: %s COMMAND" % ("--run-with-sudo" if use_sudo else "--run"))
    hosts = shell.make_env(shell.node).hosts
    if not _host_classes(hosts):
        raise ShellCommandError("%s has no hosts" % format_path(shell.tree.path(shell.node)))
    try:
        (hosts.sudo if use_sudo else hosts.run)(args[0])
    except KeyboardInterrupt:
        raise
    except Exception as e:
        shell.write_error(describe_error(e))


def cmd_run_with_sudo(shell: Any, args: list[str]) -> None:
    cmd_run(shell, args, use_sudo=True)


# -- helpers --------------------------------------------------------------

def _host_classes(hosts: Any) -> list[type]:
    classes = hosts.get_hosts()
    return sorted(classes, key=_host_label)


def _host_label(host: Any) -> str:
    return getattr(host, "slug", "") or getattr(host, "__name__", "") or type(host).__name__


def choose_host(shell: Any, node: Any, question: str) -> Any:
    """A host instance of ``node`` on the shell's pty; asks when there are several."""
    classes = _host_classes(shell.make_env(node).hosts)
    if not classes:
        raise ShellCommandError("%s has no hosts" % format_path(shell.tree.path(node)))
    cls = classes[0]
    if len(classes) > 1:
        console = console_for(shell)
        cls = console.choice(question, [(_host_label(c), c) for c in classes])
    return cls(pty=shell.pty, logger=shell.logger)


def _source_location(cls: type) -> str:
    try:
        filename = inspect.getsourcefile(cls) or inspect.getfile(cls)
    except (TypeError, OSError):
        return ""
    try:
        line = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return filename
    return "%s:%s" % (filename, line)


BUILTIN_HANDLERS: dict[str, Callable[[Any, list[str]], None]] = {
    "cd": cmd_cd,
    "ls": cmd_ls,
    "pwd": cmd_pwd,
    "find": cmd_find,
    "clear": cmd_clear,
    "sandbox": cmd_sandbox,
    "runs": cmd_runs,
}

SPECIAL_HANDLERS: dict[str, Callable[[Any, list[str]], None]] = {
    "--inspect": cmd_inspect,
    "--source-code": cmd_source_code,
    "--connect": cmd_connect,
    "--version": cmd_version,
    "--scp": cmd_scp,
    "--run": cmd_run,
    "--run-with-sudo": cmd_run_with_sudo,
}
