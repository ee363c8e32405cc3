"""The shell's ``runs`` command: the run history, the same views as ``deployer runs``.

::

    runs                                   the last 20 runs, newest first
    runs list [N] [--status S] [--node N] [--since 2h|2024-05-01] [--limit N] [--json]
    runs show ID [--json]
    runs follow ID                         Ctrl-C stops following

It is :func:`deployer.runs.cli.main` with the shell's terminal as its output
(the server-safe way: nothing goes to the process's own stdout).
"""
from __future__ import annotations

from typing import Any

from deployer.shell.errors import ShellCommandError

__all__ = ["runs_command", "DEFAULT_LIMIT"]

DEFAULT_LIMIT = 20
USAGE = "usage: runs [list [N] [--status S] [--node NODE] [--since DATE|AGE] | show RUN_ID | follow RUN_ID]"


class _PtyStream:
    """A text stream on the shell's terminal."""

    def __init__(self, shell: Any, error: bool = False) -> None:
        self.shell = shell
        self.error = error

    def write(self, text: str) -> int:
        if self.error and text.strip():
            self.shell.write_error(text.rstrip("\n"))
        elif not self.error:
            self.shell.write(text)
        return len(text)

    def flush(self) -> None:
        flush = getattr(self.shell.pty.stdout, "flush", None)
        if flush is not None:
            flush()


def runs_argv(args: list[str]) -> list[str]:
    """The shell's words as ``deployer runs`` arguments (``runs`` = ``runs list``; ``list 5`` = ``--limit 5``)."""
    if not args or args[0].startswith("-") and args[0] not in ("-h", "--help", "--store"):
        args = ["list", *args]
    if args[0] not in ("list", "show", "follow", "-h", "--help", "--store"):
        raise ShellCommandError(USAGE)
    if args[0] == "list":
        rest = args[1:]
        if rest and rest[0].isdigit():
            rest = ["--limit", rest[0], *rest[1:]]
        if not any(a == "--limit" or a.startswith("--limit=") for a in rest):
            rest += ["--limit", str(DEFAULT_LIMIT)]
        args = ["list", *rest]
    return args


def runs_command(shell: Any, args: list[str]) -> None:
    from deployer.runs.cli import main

    argv = runs_argv(args)
    status = main(argv, stdout=_PtyStream(shell), stderr=_PtyStream(shell, error=True), prog="runs")
    if status == 130 and argv[0] == "follow":
        shell.write("\n(stopped following; the run goes on)\n")
