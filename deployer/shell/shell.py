"""The interactive deployment shell: navigate a node tree, run its actions.

A :class:`Shell` reads lines from a :class:`~deployer.pseudo_terminal.Pty`
(prompt_toolkit when it is a terminal, plain lines otherwise) and executes
them. It holds no global state, so a server runs one per client::

    from deployer.pseudo_terminal import Pty
    from deployer.shell import Shell

    Shell(MyRootNode, Pty()).cmdloop()
"""
from __future__ import annotations

import shlex
import threading
from typing import Any, Callable, Sequence

from deployer.exceptions import DeployerException
from deployer.pseudo_terminal import Pty
from deployer.shell.errors import ShellCommandError, describe_error
from deployer.shell.navigation import NodeNotFound, Tree, colored_name, format_path

__all__ = ["Shell", "BUILTINS", "SPECIAL_COMMANDS", "RUNS_SUBCOMMANDS"]

#: Navigation and other commands of the main shell.
BUILTINS = ("cd", "ls", "pwd", "find", "exit", "clear", "sandbox", "runs")
#: The reference's special commands (all start with a double dash).
SPECIAL_COMMANDS = ("--inspect", "--source-code", "--connect", "--version", "--scp", "--run", "--run-with-sudo")
#: ``runs`` sub-commands (the run history).
RUNS_SUBCOMMANDS = ("list", "show", "follow")
#: Commands whose arguments are a node path.
NODE_PATH_COMMANDS = ("cd", "find", "ls", "--inspect", "--source-code", "--connect", "--scp")


class Shell:
    """One interactive session on a node tree.

    :param root: the root :class:`~deployer.node.Node` class (or instance).
    :param pty: where the session reads and writes.
    :param logger: extra :class:`~deployer.loggers.Logger` for every action
        (``--log``); the Env adds its text logger and the run recorder.
    :param path: node path to start in (names, e.g. ``['web', 'db']``).
    :param history_file: prompt history file (None: no history kept).
    """

    def __init__(self, root: Any, pty: Pty, logger: Any = None, path: Sequence[str] = (),
                 history_file: str | None = None) -> None:
        self.tree = Tree(root)
        self.pty = pty
        self.logger = logger
        self.history_file = history_file
        self._start_path = tuple(path)
        self._node: Any = None
        self._previous: Any = None
        #: Set while an action or a command runs (a server interrupts only then).
        self.busy = threading.Event()
        #: Set by a server when the client went away: the loop ends.
        self.closed = threading.Event()
        self._reader: Any = None
        #: Where error text goes (``run ACTION`` sends it to stderr).
        self.write_error: Callable[[str], None] = self._write_error

    # -- state --------------------------------------------------------------

    @property
    def node(self) -> Any:
        """The current node (the root, or ``path``, on first use)."""
        if self._node is None:
            self._node = self.tree.resolve(self.tree.root, self._start_path)
        return self._node

    def cd(self, names: Sequence[str]) -> None:
        """Change the current node (``..``, ``/``, ``-`` and child names)."""
        if list(names) == ["-"]:
            if self._previous is None:
                raise ShellCommandError("cd -: no previous node")
            target = self._previous
        elif not names:
            target = self.tree.root
        else:
            target = self.tree.resolve(self.node, names)
        self._previous, self._node = self.node, target

    def prompt_text(self) -> str:
        """The prompt: the node path coloured by group, then ``>``."""
        return self.tree.colored_path(self.node) + " > "

    def write(self, text: str) -> None:
        """Write text to the session's terminal."""
        self.pty.write(text)

    def _write_error(self, text: str) -> None:
        self.write(colored_name(text, "red") + "\n")

    # -- loop ---------------------------------------------------------------

    def cmdloop(self) -> int:
        """Read and execute commands until ``exit``, Ctrl-D or the end of input."""
        from deployer.shell.reader import make_reader

        self._reader = make_reader(self)
        while not self.closed.is_set():
            try:
                line = self._reader.read_line()
            except KeyboardInterrupt:
                continue
            except (EOFError, OSError):
                break
            if line is None:
                break
            try:
                if not self.execute(line):
                    break
            except KeyboardInterrupt:
                # Ctrl-C that arrived between two commands.
                self.write("\n")
        return 0

    def stop_prompt(self) -> None:
        """End a waiting prompt from another thread (a server whose client left)."""
        stop = getattr(self._reader, "stop", None)
        if stop is not None:
            stop()

    def execute(self, line: str) -> bool:
        """Execute one command line. Returns False when the shell must end."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        try:
            words = shlex.split(line)
        except ValueError as e:
            self.write_error("Cannot parse %r: %s" % (line, e))
            return True
        if not words:
            return True
        if line.startswith("--run-with-sudo") or line.startswith("--run"):
            # The rest of the line is a shell command: keep its quoting intact.
            cmd, _, rest = line.partition(" ")
            words = [cmd, rest.strip()] if rest.strip() else [cmd]
        self.busy.set()
        try:
            return self._dispatch(words)
        except KeyboardInterrupt:
            self.write("\n")
            self.write_error("Interrupted.")
            self._discard_typeahead()
            return True
        except (ShellCommandError, NodeNotFound) as e:
            self.write_error(str(e))
            return True
        except DeployerException as e:
            # A question without an answer, a host that cannot be reached, ...: say so, go on.
            self.write_error(describe_error(e, with_traceback=False))
            return True
        except Exception as e:
            # A bug in a command must not end the session; the traceback is what a user reports.
            self.write_error(describe_error(e))
            return True
        finally:
            self.busy.clear()

    def _discard_typeahead(self) -> None:
        """Drop unread input (the Ctrl-C itself) so it does not hit the next prompt."""
        import termios

        try:
            termios.tcflush(self.pty.stdin.fileno(), termios.TCIFLUSH)
        except (OSError, ValueError, AttributeError, termios.error):
            pass

    def _dispatch(self, words: list[str]) -> bool:
        from deployer.shell import commands

        head, args = words[0], words[1:]
        if head == "exit":
            return False
        handler = commands.BUILTIN_HANDLERS.get(head)
        if handler is not None:
            handler(self, args)
            return True
        if head.startswith("--"):
            special = commands.SPECIAL_HANDLERS.get(head)
            if special is None:
                raise ShellCommandError("Unknown special command %r (try: %s)" % (head, ", ".join(SPECIAL_COMMANDS)))
            special(self, args)
            return True
        self.run_action_words(words, sandbox=False)
        return True

    # -- actions ------------------------------------------------------------

    def split_action_words(self, words: Sequence[str]) -> tuple[Any, str, list[str]]:
        """``['web', 'deploy', 'x']`` -> (web node, 'deploy', ['x']): child names may lead."""
        node = self.node
        for i, word in enumerate(words):
            if self.tree.has_action(node, word):
                return node, word, list(words[i + 1:])
            child = self.tree.children(node).get(word)
            if child is None:
                where = format_path(self.tree.path(node))
                raise ShellCommandError("Unknown command or action %r in %s (type ls to list)" % (word, where))
            node = child
        raise ShellCommandError("%s is a node; type cd %s to enter it" % (" ".join(words), " ".join(words)))

    def run_action_words(self, words: Sequence[str], sandbox: bool) -> bool:
        """Run the action named by ``words`` with the remaining words as parameters."""
        node, name, params = self.split_action_words(words)
        ok, _ = self.run_action(node, name, params, sandbox=sandbox)
        return ok

    def make_env(self, node: Any, sandbox: bool = False) -> Any:
        """An :class:`~deployer.node.Env` for ``node`` on this session's pty."""
        from deployer.node import Env

        return Env(node, pty=self.pty, logger=self.logger, is_sandbox=sandbox)

    def run_action(self, node: Any, name: str, params: Sequence[Any] = (), sandbox: bool = False
                   ) -> tuple[bool, Any]:
        """Run one action; print its result (unless suppressed) or its error.

        The run is recorded (:func:`deployer.runs.recorder_from_environment`); a
        run store that cannot be used stops the action before it starts, with
        the reason. Returns ``(succeeded, result)``. KeyboardInterrupt is passed on.
        """
        from deployer.loggers import MultiLogger
        from deployer.node import Env
        from deployer.runs import RunStoreError, recorder_from_environment

        problem = self._check_parameters(node, name, params)
        if problem is not None:
            self.write_error(str(problem))
            return False, problem
        try:
            recorder = recorder_from_environment()
        except RunStoreError as e:
            error = RunNotStarted("%s.%s did not start: %s" % (format_path(self.tree.path(node)), name, e))
            self.write_error(str(error))
            return False, error
        env = Env(node, pty=self.pty, logger=MultiLogger([recorder, self.logger]), is_sandbox=sandbox)
        try:
            result = getattr(env, name)(*params)
        except KeyboardInterrupt:
            raise
        except Exception as e:
            self.write_error(describe_error(e))
            return False, e
        finally:
            if recorder is not None:
                recorder.close()
        if result is not None and not self._suppressed(node, name):
            self.write(format_result(result) + "\n")
        return True, result

    def _check_parameters(self, node: Any, name: str, params: Sequence[Any]) -> ShellCommandError | None:
        """A clear usage message when the parameters do not fit the action's signature."""
        import inspect

        try:
            func = self.tree.inspector(node).get_action(name).func
            signature = inspect.signature(func)
        except (AttributeError, TypeError, ValueError):
            return None
        try:
            signature.bind(None, *params)
        except TypeError as e:
            wanted = [("[%s]" % p.name if p.default is not p.empty else p.name) if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                      else "[%s...]" % p.name for p in list(signature.parameters.values())[1:] if p.kind != p.VAR_KEYWORD]
            return ShellCommandError("%s: %s. Usage: %s %s" % (name, e, name, " ".join(wanted)))
        return None

    def _suppressed(self, node: Any, name: str) -> bool:
        try:
            return bool(self.tree.inspector(node).suppress_result_for_action(name))
        except AttributeError:
            return False


class RunNotStarted(DeployerException):
    """The action did not start: its run could not be recorded (the store is unusable)."""


def format_result(result: Any) -> str:
    """Text for an action's return value (one line per isolation for parallel results)."""
    import pprint

    items = getattr(result, "items", None)
    if callable(items) and type(result).__name__ == "ParallelActionResult":
        lines = []
        for key, value in items():
            label = _isolation_label(key)
            lines.append("%s: %s" % (label, value if isinstance(value, str) else pprint.pformat(value)))
        return "\n".join(lines)
    if isinstance(result, str):
        return result
    return pprint.pformat(result)


def _isolation_label(key: Any) -> str:
    if isinstance(key, (tuple, list)):
        return ", ".join(_isolation_label(k) for k in key)
    slug = getattr(key, "slug", None)
    if slug:
        return str(slug)
    return getattr(key, "__name__", None) or str(key)
