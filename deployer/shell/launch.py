"""What each sub-command of :func:`deployer.client.main` does, once parsed.

Kept apart from :mod:`deployer.client` so that parsing stays cheap and each
command imports only what it needs (Twisted only for the servers).
"""
from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, Sequence

from deployer.client import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from deployer.pseudo_terminal import Pty

__all__ = ["Launcher", "split_node_path", "history_file", "make_logger"]


def split_node_path(path: str | None) -> list[str]:
    """``'web.db'``, ``'web db'`` or ``'web/db'`` -> ``['web', 'db']``."""
    if not path:
        return []
    return [p for p in re.split(r"[.\s/]+", path) if p]


def history_file(name: str = "shell_history") -> str | None:
    """The prompt history file in the user's state directory (None if unusable)."""
    from deployer.paths import state_dir

    try:
        return str(state_dir() / name)
    except OSError:
        return None


def make_logger(log_file: str | None) -> Any:
    """``--log``: a FileHandler on the ``deployer`` logging logger, and the DefaultLogger.

    Returns the :class:`~deployer.loggers.Logger` to give to every Env (None
    without ``--log``: the Env then uses its own text logger and the recorder).
    """
    if not log_file:
        return None
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    log = logging.getLogger("deployer")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    from deployer.loggers.default import DefaultLogger

    return DefaultLogger()


class Launcher:
    """Runs one parsed command line (the docopt dictionary) for ``root``."""

    def __init__(self, root: Any, args: dict[str, Any], spec: str | None = None) -> None:
        self.root = root
        self.args = args
        self.spec = spec
        self.path = split_node_path(args.get("--path"))
        self.interactive = not args.get("--non-interactive")

    def spec_or_derived(self) -> str:
        """The ``file.py:Name`` that loads the tree again in another process."""
        if self.spec:
            return self.spec
        from deployer.cli.loading import spec_for_class

        root_cls = self.root if isinstance(self.root, type) else type(self.root)
        return spec_for_class(root_cls)

    def dispatch(self) -> int:
        a = self.args
        if a.get("list-sessions"):
            from deployer.shell.sessions import print_sessions

            return print_sessions(sys.stdout)
        if a.get("connect"):
            return self._connect(a["--socket"])
        if a.get("listen"):
            from deployer.shell.server import serve_unix

            return serve_unix(self.root, a.get("--socket"), logger=make_logger(a.get("--log")),
                              interactive=self.interactive, spec=self.spec_or_derived())
        if a.get("telnet-server"):
            from deployer.shell.server import serve_telnet

            port = a.get("--port")
            try:
                port_number = int(port) if port is not None else None
            except ValueError:
                sys.stderr.write("--port must be a number, got %r\n" % port)
                return EXIT_USAGE
            return serve_telnet(self.root, port_number, logger=make_logger(a.get("--log")),
                                interactive=self.interactive)
        if a.get("scp"):
            return self._scp(tree_wide=True)
        if a.get("run"):
            return self._run()
        sys.stderr.write("Nothing to do.\n")
        return EXIT_USAGE

    # -- run ----------------------------------------------------------------

    def _run(self) -> int:
        a = self.args
        if a.get("--background"):
            return self._background()
        if a.get("--socket"):
            return self._connect(a["--socket"], start_server=True)
        logger = make_logger(a.get("--log"))
        if a.get("--scp"):
            return self._scp(tree_wide=False, logger=logger)
        if a.get("ACTION"):
            return self.run_once(a["ACTION"], a.get("PARAMETER") or [], logger)
        from deployer.shell.shell import Shell

        pty = Pty(interactive=self.interactive)
        shell = Shell(self.root, pty, logger=logger, path=self.path, history_file=history_file())
        try:
            shell.node  # a wrong --path fails here, before the prompt
        except LookupError as e:
            sys.stderr.write("%s\n" % e)
            return EXIT_USAGE
        return shell.cmdloop()

    def run_once(self, action: str, params: Sequence[str], logger: Any = None) -> int:
        """``run ACTION PARAMETER...``: one action, no prompt, an exit status for CI."""
        from deployer.shell.errors import ShellCommandError
        from deployer.shell.shell import RunNotStarted, Shell

        pty = Pty(interactive=self.interactive)
        shell = Shell(self.root, pty, logger=logger, path=self.path)
        shell.write_error = lambda text: (sys.stderr.write(text + "\n"), sys.stderr.flush())
        words = [action, *params]
        sandbox = False
        if action == "sandbox" and params:
            sandbox, words = True, list(params)
        try:
            if words[0].startswith("--"):
                # Special commands work here too (``run -- --inspect``).
                ok = self._special_once(shell, words)
                return EXIT_OK if ok else EXIT_FAILED
            node, name, rest = shell.split_action_words(words)
        except (ShellCommandError, LookupError) as e:
            shell.write_error(str(e))
            return EXIT_USAGE
        try:
            ok, error = shell.run_action(node, name, rest, sandbox=sandbox)
        except KeyboardInterrupt:
            shell.write_error("Interrupted.")
            return EXIT_INTERRUPTED
        if not ok:
            if isinstance(error, ShellCommandError):
                return EXIT_USAGE
            if isinstance(error, RunNotStarted):   # already said why
                return EXIT_FAILED
            shell.write_error(_failure_summary(shell, node, name, error))
            return EXIT_FAILED
        return EXIT_OK

    @staticmethod
    def _special_once(shell: Any, words: list[str]) -> bool:
        failed: list[str] = []
        original = shell.write_error

        def record(text: str) -> None:
            failed.append(text)
            original(text)

        shell.write_error = record
        shell.execute(" ".join(_quote(w) for w in words) if not words[0].startswith("--run") else
                      words[0] + " " + " ".join(words[1:]))
        return not failed

    def _background(self) -> int:
        from deployer.runs.background import parameter_names, start_background
        from deployer.runs.errors import BackgroundRunError, RunStoreError
        from deployer.shell.errors import ShellCommandError
        from deployer.shell.shell import Shell

        a = self.args
        words = [a["ACTION"], *(a.get("PARAMETER") or [])]
        sandbox = words[0] == "sandbox" and len(words) > 1
        if sandbox:
            words = words[1:]
        # Checked here, as ``run ACTION`` checks them, so that a typo is an error now
        # (exit 2), not a background run that fails later. Leading child names
        # (``web deploy 2.0``) become part of the node path of the record.
        shell = Shell(self.root, Pty(interactive=False), path=self.path)
        try:
            node, action, params = shell.split_action_words(words)
        except (ShellCommandError, LookupError) as e:
            return self._background_refused(str(e), EXIT_USAGE)
        problem = shell._check_parameters(node, action, params)
        if problem is not None:
            return self._background_refused(str(problem), EXIT_USAGE)
        path = ".".join(shell.tree.path(node)[1:])
        # The first record masks secret-looking parameters by name (e.g. ``password``).
        names = parameter_names(shell.tree.inspector(node).get_action(action).func)
        try:
            run_id = start_background(self.spec_or_derived(), path, action, params, sandbox, param_names=names)
        except (RunStoreError, BackgroundRunError) as e:
            return self._background_refused(str(e), EXIT_FAILED)
        sys.stdout.write("%s\n" % run_id)
        return EXIT_OK

    @staticmethod
    def _background_refused(why: str, status: int) -> int:
        sys.stderr.write("deployer: the background run did not start: %s\n" % why)
        return status

    # -- clients ----------------------------------------------------------

    def _connect(self, socket_path: str, start_server: bool = False) -> int:
        from deployer.shell.socket_client import connect

        a = self.args
        action = [a["ACTION"], *(a.get("PARAMETER") or [])] if a.get("ACTION") else None
        spec = self.spec_or_derived() if start_server else None
        return connect(socket_path, path=self.path, scp=bool(a.get("--scp")), action=action,
                       start_server_spec=spec,
                       server_options=["--non-interactive"] if not self.interactive else [])

    def _scp(self, tree_wide: bool, logger: Any = None) -> int:
        from deployer.exceptions import DeployerException
        from deployer.shell.commands import choose_host
        from deployer.shell.errors import ShellCommandError, describe_error
        from deployer.shell.scp import ScpShell
        from deployer.shell.shell import Shell

        pty = Pty(interactive=self.interactive)
        shell = Shell(self.root, pty, logger=logger, path=self.path)
        try:
            node = shell.node
            if tree_wide:
                host = _choose_host_in_tree(shell)
            else:
                host = choose_host(shell, node, "Open an SCP shell to which host?")
        except (ShellCommandError, LookupError) as e:
            sys.stderr.write("%s\n" % e)
            return EXIT_USAGE
        except DeployerException as e:       # e.g. no answer to "which host?" (--non-interactive)
            sys.stderr.write("%s\n" % describe_error(e, with_traceback=False))
            return EXIT_FAILED
        ScpShell(host, pty, history_file=history_file("scp_history")).cmdloop()
        return EXIT_OK


def _choose_host_in_tree(shell: Any) -> Any:
    """Every host class used anywhere in the tree; ask which one (the ``scp`` command)."""
    from deployer.shell.commands import _host_label, console_for
    from deployer.shell.errors import ShellCommandError

    found: dict[str, type] = {}
    for node in shell.tree.walk(shell.tree.root):
        try:
            for cls in shell.make_env(node).hosts.get_hosts():
                found.setdefault(_host_label(cls), cls)
        except Exception:
            continue
    if not found:
        raise ShellCommandError("No hosts anywhere in this tree")
    names = sorted(found)
    cls = found[names[0]] if len(names) == 1 else \
        console_for(shell).choice("Open an SCP shell to which host?", [(n, found[n]) for n in names])
    return cls(pty=shell.pty, logger=shell.logger)


def _failure_summary(shell: Any, node: Any, name: str, error: Any) -> str:
    from deployer.shell.errors import failing_commands
    from deployer.shell.navigation import format_path

    lines = []
    for failed in failing_commands(error) if isinstance(error, BaseException) else []:
        host = getattr(failed.host, "slug", None) or failed.host
        lines.append("Failing host: %s  command: %s  (exit status %s)" % (host, failed.command, failed.status_code))
    return "\n".join(lines) or "Action %s of %s failed." % (name, format_path(shell.tree.path(node)))


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)
