"""The ``deployer`` console command: the shell for a node named on the command line.

::

    deployer run path/to/deploy.py:RootNode            # the interactive shell
    deployer run deploy.py:RootNode --path web deploy  # one action, for CI
    deployer listen deploy.py:RootNode                 # a unix-socket server
    deployer runs list                                 # the run history

Every sub-command of :func:`deployer.client.start` works, with the
``FILE.py:NodeName`` (or ``package.module:NodeName``) after the sub-command, so
deploy scripts need no ``if __name__ == '__main__'`` boilerplate.
"""
from __future__ import annotations

import sys
from typing import Sequence

__all__ = ["main"]

#: Sub-commands that take no SPEC.
_NO_SPEC = ("runs", "-h", "--help", "--version")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deployer`` command with ``argv`` (``sys.argv[1:]`` by default)."""
    from deployer import client

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(client.usage("deployer", spec=True))
        return client.EXIT_OK if args else client.EXIT_USAGE
    if args[0] == "--version":
        import deployer

        sys.stdout.write("deployer %s\n" % deployer.__version__)
        return client.EXIT_OK
    if args[0] == "runs":
        return client._runs_cli(args[1:])
    if len(args) < 2 or args[1].startswith("-"):
        sys.stderr.write("deployer %s: expected FILE.py:NodeName after %r\n\n" % (args[0], args[0]))
        sys.stderr.write(client.usage("deployer", spec=True))
        return client.EXIT_USAGE
    from deployer.cli.loading import NodeSpecError, load_node_class

    command, spec, rest = args[0], args[1], args[2:]
    try:
        root = load_node_class(spec)
    except NodeSpecError as e:
        sys.stderr.write("deployer: %s\n" % e)
        return client.EXIT_USAGE
    return client.main(root, [command, *rest], prog="deployer", spec=spec)


if __name__ == "__main__":
    sys.exit(main())
