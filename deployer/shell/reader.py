"""Reading command lines: prompt_toolkit on a terminal, plain lines otherwise.

The prompt_toolkit session is bound to the shell's own :class:`Pty` streams
(not the process's), so the same code serves a local terminal, a unix-socket
client and a telnet client.
"""
from __future__ import annotations

from typing import Any, Callable

__all__ = ["make_reader", "PromptReader", "LineReader"]


class LineReader:
    """Reads lines from a non-terminal input (a pipe, a file): no prompt, no editing."""

    def __init__(self, pty: Any, prompt: Callable[[], str] | None = None) -> None:
        self.pty = pty
        self.prompt = prompt

    def read_line(self) -> str | None:
        if self.prompt is not None and self.pty.interactive:
            self.pty.write(self.prompt())
        line = self.pty.stdin.readline()
        if not line:
            return None
        return line.rstrip("\r\n")


class PromptReader:
    """A prompt_toolkit ``PromptSession`` on the pty's streams.

    :param pty: the terminal (its stdin/stdout must be a tty).
    :param prompt: returns the prompt (ANSI escapes allowed) each time.
    :param completer: a prompt_toolkit completer.
    :param history_file: where the history is kept (None: in memory).
    """

    def __init__(self, pty: Any, prompt: Callable[[], str], completer: Any = None,
                 history_file: str | None = None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory
        from prompt_toolkit.input import create_input
        from prompt_toolkit.output.vt100 import Vt100_Output

        self.pty = pty
        self.prompt = prompt
        history = FileHistory(history_file) if history_file else InMemoryHistory()
        self.input = create_input(pty.stdin)
        self.output = Vt100_Output.from_pty(pty.stdout, term=pty.term_var)
        self.session: Any = PromptSession(
            input=self.input,
            output=self.output,
            history=history,
            completer=completer,
            complete_while_typing=False,
        )
        # SIGWINCH only reaches the main thread: shells in a server poll the size.
        self.session.app.terminal_size_polling_interval = 0.5

    def stop(self) -> None:
        """Make a running ``read_line`` raise EOFError (callable from any thread)."""
        app = self.session.app
        loop = getattr(app, "loop", None)
        if app.is_running and loop is not None:
            loop.call_soon_threadsafe(lambda: app.is_running and app.exit(exception=EOFError()))

    def read_line(self) -> str | None:
        from prompt_toolkit.formatted_text import ANSI

        from prompt_toolkit.application import create_app_session

        # prompt_toolkit keeps "the current app" in a context variable whose default
        # is shared by all threads: each shell (server sessions) needs its own.
        with create_app_session(input=self.input, output=self.output):
            return self.session.prompt(ANSI(self.prompt()))


def make_reader(shell: Any) -> Any:
    """The right reader for ``shell.pty``: a prompt with completion on a terminal."""
    pty = shell.pty
    if not pty.isatty():
        return LineReader(pty, shell.prompt_text)
    from deployer.shell.completion import ShellCompleter

    return PromptReader(pty, shell.prompt_text, ShellCompleter(shell), shell.history_file)
