"""Start the interactive shell (or a server, or one action) for a node tree.

::

    #!/usr/bin/env python
    from deployer.client import start
    from deployer.node import Node

    class MyRootNode(Node):
        ...

    if __name__ == '__main__':
        start(MyRootNode)

Then ``python ./client.py run`` opens the shell; ``python ./client.py run
deploy v1.2`` runs one action and exits with its status (for CI); see
``--help`` for the servers. Imports are lazy: Twisted loads only for the
server commands, prompt_toolkit only for the prompt.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Sequence

__all__ = ["start", "main", "usage", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED"]

EXIT_OK = 0
#: The action (or command) ran and failed.
EXIT_FAILED = 1
#: The command line, the node path or the action name was wrong.
EXIT_USAGE = 2
#: Stopped by Ctrl-C.
EXIT_INTERRUPTED = 130

_USAGE = """\
Usage:
  {prog} run{spec} [-s | --single-threaded | --socket SOCKET] [--path PATH]
                  [--non-interactive] [--log LOGFILE] [--scp]
                  [--] [ACTION PARAMETER...]
  {prog} run{spec} --background [--path PATH] [--log LOGFILE]
                  [--] ACTION [PARAMETER...]
  {prog} listen{spec} [--log LOGFILE] [--non-interactive] [--socket SOCKET]
  {prog} connect{spec} (--socket SOCKET) [--path PATH] [--scp]
                  [--] [ACTION PARAMETER...]
  {prog} telnet-server{spec} [--port PORT] [--log LOGFILE] [--non-interactive]
  {prog} list-sessions{spec}
  {prog} scp{spec}
  {prog} serve{spec} [SERVE_OPTION...]
  {prog} runs [list | show RUN_ID | follow RUN_ID] [RUNS_OPTION...]
  {prog} -h | --help
  {prog} --version

Options:
  -h, --help             : Display this help text.
  -s, --single-threaded  : Single threaded mode.
  --path PATH            : Start the shell at the node with this location.
  --scp                  : Open a secure copy shell.
  --non-interactive      : If possible, run script with as few interactions as
                           possible.  This will always choose the default
                           options when asked for questions.
  --log LOGFILE          : Write logging info to this file. (For debugging.)
  --socket SOCKET        : The path of the unix socket.
  --port PORT            : TCP port of the telnet server (on 127.0.0.1 only).
  --background           : Run ACTION in a background process; print its run id.
  --version              : Show version information.

  serve and runs take their own options (see `{prog} runs --help`); run
  ACTION exits with 0 on success, 1 when the action fails, 2 on a usage error.
"""

DEFAULT_TELNET_PORT = 8023


def usage(prog: str | None = None, spec: bool = False) -> str:
    """The usage text (``spec``: the ``deployer`` command's form, with a SPEC argument)."""
    return _USAGE.format(prog=prog or _prog_name(), spec=" SPEC" if spec else "")


def _prog_name() -> str:
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "client.py"
    name = os.path.basename(argv0)
    return "./" + name if name.endswith(".py") else name


def start(root_node: Any, argv: Sequence[str] | None = None) -> None:
    """Parse the command line (``sys.argv[1:]`` by default) and run; exits the process."""
    sys.exit(main(root_node, list(sys.argv[1:] if argv is None else argv)))


def main(root_node: Any, argv: Sequence[str], prog: str | None = None, spec: str | None = None) -> int:
    """Parse ``argv`` for ``root_node`` and run the command; returns the exit status.

    ``spec`` is the ``file.py:Node`` the tree was loaded from (the ``deployer``
    command passes it, so that usage shows it and servers can re-load it).
    """
    argv = list(argv)
    if argv and argv[0] == "runs":
        return _runs_cli(argv[1:])
    if argv and argv[0] == "serve":
        from deployer.runs.service import main as serve_main

        return int(serve_main(root_node, argv[1:]) or 0)
    from docopt import DocoptExit, docopt

    text = usage(prog, spec=spec is not None)
    full_argv = argv[:1] + ([spec] if spec is not None and argv and not argv[0].startswith("-") else []) + argv[1:]
    import deployer

    try:
        args = docopt(text, argv=full_argv, default_help=False)
    except DocoptExit as e:
        sys.stderr.write("%s\n" % (e.usage or text))
        return EXIT_USAGE
    if args.get("--help"):
        sys.stdout.write(text)
        return EXIT_OK
    if args.get("--version"):
        return _print("deployer %s" % deployer.__version__)
    from deployer.shell.launch import Launcher

    return Launcher(root_node, args, spec=spec).dispatch()


def _print(text: str) -> int:
    sys.stdout.write(text + "\n")
    return EXIT_OK


def _runs_cli(argv: list[str]) -> int:
    from deployer.runs.cli import main as runs_main

    return int(runs_main(argv) or 0)
