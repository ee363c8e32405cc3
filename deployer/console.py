"""User interaction from within a node: questions, pagers, columns and progress bars.

::

    class MyNode(Node):
        def do_something(self):
            if self.console.confirm('Should we really do this?', default=True):
                ...

Everything goes through a :class:`deployer.pseudo_terminal.Pty`. When the pty
is not interactive (``--non-interactive``), questions return their default
without asking, and a question without a default raises :class:`NoInput`
instead of waiting for an answer that will never come. The same error comes
when the input ends (EOF) before an answer was given.
"""
from __future__ import annotations

import codecs
import functools
import math
import os
import random
import re
import termios
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from termcolor import colored

from deployer.exceptions import DeployerException, NoInput
from deployer.pseudo_terminal import Pty

__all__ = ["Console", "NoInput", "ProgressBar", "ProgressBarSteps", "ProgressBarWithSteps"]

F = TypeVar("F", bound=Callable[..., Any])

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _one_question_at_a_time(method: F) -> F:
    """Hold the terminal's question lock while ``method`` talks to the user."""
    @functools.wraps(method)
    def wrapper(self: "Console", *args: Any, **kwargs: Any) -> Any:
        with self._question_lock():
            return method(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]


def visible_len(text: str) -> int:
    """Length of ``text`` on screen, ignoring ANSI colour codes."""
    return len(_ANSI.sub("", text))


class Console:
    """Interface for user interaction from within a Node.

    :param pty: the :class:`deployer.pseudo_terminal.Pty` to talk through.
    """

    def __init__(self, pty: Pty) -> None:
        self._pty = pty

    def _question_lock(self) -> Any:
        """One question at a time per terminal: parallel cells share the input.

        ``Pty.input_lock`` when the pty has one. Otherwise the lock is kept on
        the input stream, which every ``Pty.copy()`` of a terminal shares (a
        lock on the pty object itself would not reach copies made earlier).
        """
        lock = getattr(self._pty, "input_lock", None)
        if lock is not None:
            return lock
        for holder in (self._pty.stdin, self._pty):
            try:
                # dict.setdefault is atomic: two threads cannot install two locks.
                return vars(holder).setdefault("_deployer_input_lock", threading.RLock())
            except TypeError:  # no __dict__ on this stream
                continue
        raise TypeError("cannot lock the input of %r" % (self._pty,))

    @property
    def pty(self) -> Pty:
        """The :class:`deployer.pseudo_terminal.Pty` of this console."""
        return self._pty

    @property
    def is_interactive(self) -> bool:
        """When False don't ask for input and choose the default options when possible."""
        return bool(getattr(self._pty, "interactive", True))

    # -- questions ---------------------------------------------------------
    @_one_question_at_a_time
    def input(self, label: str, is_password: bool = False, answers: Sequence[str] | None = None,
              default: str | None = None) -> str:
        """Ask for plain text input (similar to ``input()``).

        :param is_password: show stars instead of the actual user input.
        :param answers: a list of the accepted answers, or None.
        :param default: the answer for an empty line (and when not interactive).
        """
        if not self.is_interactive:
            return self._default_or_fail(label, default)
        answers = list(answers) if answers is not None else None
        while True:
            prompt = label
            if default is not None and not is_password:
                prompt += " [%s]" % default
            prompt += ": "
            if is_password:
                self._write(prompt)
                value = self._read_password()
            elif answers and self._stdin_tty_fd() is not None:
                value = self._prompt_with_completion(prompt, answers)
            else:
                self._write(prompt)
                value = self._read_line()
            if value is None:
                return self._default_or_fail(label, default, "the input ended before an answer was given")
            if value == "" and default is not None:
                return default
            if answers is not None and value not in answers:
                self._write("Invalid answer %r. Choose one of: %s\n" % (value, ", ".join(answers)))
                continue
            return value

    @_one_question_at_a_time
    def confirm(self, question: str, default: bool | None = None) -> bool:
        """Print this yes/no question, and return True when the user answers 'Yes'."""
        if not self.is_interactive:
            return bool(self._default_or_fail(question, default))
        hint = {True: "[Y/n]", False: "[y/N]", None: "[y/n]"}[None if default is None else bool(default)]
        while True:
            self._write("%s %s " % (question, hint))
            line = self._read_line()
            if line is None:
                return bool(self._default_or_fail(question, default, "the input ended before an answer was given"))
            answer = line.strip().lower()
            if answer == "" and default is not None:
                return bool(default)
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self._write("Please answer 'y' or 'n'.\n")

    @_one_question_at_a_time
    def choice(self, question: str, options: Sequence[tuple[str, Any]], allow_random: bool = False,
               default: Any = None) -> Any:
        """Let the user pick one of ``options`` by number or name; return its value.

        :param options: list of ``(name, value)`` tuples.
        :param allow_random: if True, the default option becomes 'choose random'.
        :param default: the value (or name) chosen for an empty answer.
        """
        options = [(str(name), value) for name, value in options]
        if not options:
            raise ValueError("choice() needs at least one option: %r" % question)
        default_index = None
        if default is not None:
            for i, (name, value) in enumerate(options):
                if value == default or name == default:
                    default_index = i
                    break
            else:
                raise ValueError("The default %r of %r is not one of its options" % (default, question))
        use_random = allow_random and default_index is None

        def fallback(reason: str | None = None) -> Any:
            if use_random:
                return random.choice(options)[1]
            if default_index is not None:
                return options[default_index][1]
            raise NoInput(question, reason) if reason else NoInput(question)

        if not self.is_interactive:
            return fallback()
        self._write(question + "\n")
        width = len(str(len(options)))
        self.in_columns(("%*i %s%s" % (width, i + 1, name, " (default)" if i == default_index else "")
                         for i, (name, _) in enumerate(options)), margin_left=2)
        hint = " [random]" if use_random else (" [%s]" % options[default_index][0] if default_index is not None else "")
        while True:
            self._write("Choose a number or name%s: " % hint)
            line = self._read_line()
            if line is None:
                return fallback("the input ended before an answer was given")
            answer = line.strip()
            if answer == "" and (use_random or default_index is not None):
                return fallback()
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return options[int(answer) - 1][1]
            for name, value in options:
                if name == answer:
                    return value
            self._write("Invalid choice %r.\n" % answer)

    def select_node(self, root_node: Any, prompt: str = "Select a node", filter: Any = None) -> Any:
        """Ask for a node under ``root_node`` (with completion of node paths); return it.

        Paths are the names from ``root_node`` down, joined by ``.``.
        ``filter`` is a :mod:`deployer.inspection.filters` filter.
        """
        from deployer.inspection import Inspector  # lazy: the tree layer sits above us

        root_path = list(Inspector(root_node).get_path())
        nodes: dict[str, Any] = {}
        for node in Inspector(root_node).walk(filter):
            path = list(Inspector(node).get_path())[len(root_path):]
            if path:
                nodes.setdefault(".".join(str(p) for p in path), node)
        if not nodes:
            raise DeployerException("No node under %r matches the filter %r" % ("/".join(root_path), filter))
        if not self.is_interactive:
            raise NoInput(prompt)
        return nodes[self.input(prompt, answers=list(nodes))]

    def select_node_isolation(self, node: Any) -> Any:
        """Ask for a host, from a list of hosts; return the node's isolation for that host."""
        try:
            from deployer.node import IsolationIdentifierType, iter_isolations
        except ImportError:  # the names may live in the base module only
            from deployer.node.base import IsolationIdentifierType, iter_isolations

        options = []
        for key, isolation in iter_isolations(node, IsolationIdentifierType.HOSTS_SLUG):
            name = " ".join(str(k) for k in key) if isinstance(key, tuple) else str(key)
            options.append((name, isolation))
        if not options:
            raise DeployerException("Node %r has no hosts to choose from" % (node,))
        if len(options) == 1:
            return options[0][1]
        return self.choice("Choose a host", options)

    # -- output ------------------------------------------------------------
    def warning(self, text: str) -> None:
        """Print a warning."""
        self._write(self._color("*** WARNING: %s" % text, "yellow", ["bold"]) + "\n")

    def in_columns(self, item_iterator: Iterable[str | tuple[str, int]], margin_left: int = 0) -> None:
        """Print items in as many columns as fit the terminal width (column by column, like ``ls``).

        :param item_iterator: yields strings, or ``(colored_item, length)``
            tuples where ``length`` is the visible length.
        """
        items = [(item, visible_len(item)) if isinstance(item, str) else (item[0], int(item[1]))
                 for item in item_iterator]
        if not items:
            return
        gap = 2
        column_width = max(length for _, length in items) + gap
        available = max(1, self._pty.get_width() - margin_left)
        columns = max(1, (available + gap) // column_width)
        rows = math.ceil(len(items) / columns)
        lines = []
        for row in range(rows):
            cells = []
            for col in range(columns):
                index = col * rows + row
                if index < len(items):
                    text, length = items[index]
                    cells.append(text + " " * (column_width - length))
            lines.append(" " * margin_left + "".join(cells).rstrip(" ") + "\n")
        self._write("".join(lines))

    @_one_question_at_a_time
    def lesspipe(self, line_iterator: Iterable[str]) -> None:
        """Paginator for output: one page at a time, a key press shows the next page.

        Ctrl-C or ``q`` quits. Lines are pulled from the iterator only as they
        are shown. Without a terminal (or when not interactive) everything is
        printed at once.
        """
        fd = self._stdin_tty_fd()
        paging = fd is not None and self.is_interactive and self._pty.isatty()
        used = 0
        for line in line_iterator:
            line = line.rstrip("\n")
            if paging:
                height, width = self._pty.get_size()
                rows = max(1, math.ceil(visible_len(line) / max(1, width)))
                if used and used + rows > max(1, height - 1):
                    key = self._more_prompt(fd)
                    if key is None or key in ("q", "Q", "\x03"):
                        return
                    used = 0
                used += rows
            self._write(line + "\n")

    def progress_bar(self, message: str, expected: int | None = None, clear_on_finish: bool = False,
                     format_str: str | None = None) -> "ProgressBar":
        """Display a progress bar: a context manager; call ``next()`` to count.

        ::

            with console.progress_bar('Looking for nodes') as p:
                for i in range(0, 1000):
                    p.next()
        """
        return ProgressBar(self._pty, message, expected=expected, clear_on_finish=clear_on_finish,
                           format_str=format_str)

    def progress_bar_with_steps(self, message: str, steps: "ProgressBarSteps",
                                format_str: str | None = None) -> "ProgressBarWithSteps":
        """Display a progress bar with named steps; call ``set_progress(n)``."""
        return ProgressBarWithSteps(self._pty, message, steps, format_str=format_str)

    # -- plumbing ------------------------------------------------------------
    def _write(self, text: str) -> None:
        self._pty.write(text)

    def _color(self, text: str, color: str | None, attrs: list[str] | None = None) -> str:
        return colored(text, color, attrs=attrs, force_color=True) if self._pty.isatty() else text

    def _default_or_fail(self, question: str, default: Any, reason: str | None = None) -> Any:
        if default is None:
            raise NoInput(question, reason) if reason else NoInput(question)
        if reason:
            self._write("\n")
        return default

    def _stdin_tty_fd(self) -> int | None:
        """The file descriptor of stdin when it is a terminal, else None."""
        try:
            fd = self._pty.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return None
        return fd if os.isatty(fd) else None

    def _read_line(self, echo: bool = True) -> str | None:
        """One line without its newline; None at end of input."""
        fd = self._stdin_tty_fd()
        if fd is None:
            line = self._pty.stdin.readline()
            if not line:
                return None
            line = line.rstrip("\r\n")
            # No terminal echoes it: echo it ourselves so the transcript reads
            # like a session (but never a password).
            self._write((line if echo else "") + "\n")
            return line
        # Read the descriptor directly, in canonical mode so the terminal
        # does the echo and the line editing: the same path as the raw reads
        # below, so nothing is left behind in a Python-level buffer.
        buf = b""
        with _terminal_mode(fd, raw=False):
            while True:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return buf.decode("utf-8", "replace") if buf else None
                buf += chunk
                if buf.endswith(b"\n"):
                    return buf[:-1].decode("utf-8", "replace").rstrip("\r")

    def _read_password(self) -> str | None:
        """Read a line showing a star per character typed; None at end of input."""
        fd = self._stdin_tty_fd()
        if fd is None:
            return self._read_line(echo=False)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        chars: list[str] = []
        with _terminal_mode(fd, raw=True):
            while True:
                data = os.read(fd, 1)
                if not data:
                    self._write("\n")
                    return "".join(chars) if chars else None
                for ch in decoder.decode(data):
                    if ch in "\r\n":
                        self._write("\n")
                        return "".join(chars)
                    if ch == "\x03":
                        self._write("\n")
                        raise KeyboardInterrupt
                    if ch == "\x04":
                        if not chars:
                            self._write("\n")
                            return None
                    elif ch in "\x7f\x08":
                        if chars:
                            chars.pop()
                            self._write("\b \b")
                    elif ch == "\x15":  # Ctrl-U: erase the line
                        self._write("\b \b" * len(chars))
                        chars.clear()
                    elif ch >= " " or ch == "\t":
                        chars.append(ch)
                        self._write("*")

    def _more_prompt(self, fd: int) -> str | None:
        """Show the pager prompt and wait for one key; None at end of input."""
        self._write(self._color(" -- More -- (any key: next page, q: quit) ", None, ["reverse"]))
        try:
            with _terminal_mode(fd, raw=True):
                data = os.read(fd, 32)
        finally:
            self._write("\r\x1b[K")
        return data.decode("utf-8", "replace")[:1] if data else None

    def _prompt_with_completion(self, prompt: str, words: Sequence[str]) -> str | None:
        """Read a line on a terminal with tab completion of ``words``; None at end of input."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.input import create_input
        from prompt_toolkit.output import create_output
        from prompt_toolkit.shortcuts import CompleteStyle

        class _Words(Completer):
            def get_completions(self, document, complete_event):
                text = document.text_before_cursor
                for word in words:
                    if word.startswith(text):
                        yield Completion(word, start_position=-len(text))

        session: PromptSession = PromptSession(input=create_input(self._pty.stdin),
                                               output=create_output(self._pty.stdout))
        try:
            # in_thread: the action may run where an event loop is already
            # running (shell servers); prompt_toolkit then needs its own thread.
            # Readline-like: Tab completes the common part, as in the shell.
            return session.prompt(prompt, completer=_Words(), complete_while_typing=False,
                                  complete_style=CompleteStyle.READLINE_LIKE, in_thread=True)
        except EOFError:
            return None


@contextmanager
def _terminal_mode(fd: int, raw: bool) -> Iterator[None]:
    """Raw (no echo, char by char, Ctrl-C as a byte) or canonical mode, restored after."""
    old = termios.tcgetattr(fd)
    new = termios.tcgetattr(fd)
    if raw:
        new[0] &= ~(termios.ICRNL | termios.IXON | termios.INLCR | termios.IGNCR)
        new[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
        new[6][termios.VMIN] = 1
        new[6][termios.VTIME] = 0
    else:
        new[0] |= termios.ICRNL
        new[3] |= termios.ECHO | termios.ICANON
    termios.tcsetattr(fd, termios.TCSANOW, new)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


class ProgressBarSteps:
    """Named steps of a progress bar: ``ProgressBarSteps({1: 'Resolving address', ...})``."""

    def __init__(self, steps: dict[int, str]) -> None:
        if not steps:
            raise ValueError("ProgressBarSteps needs at least one step")
        self.steps = dict(steps)

    @property
    def last(self) -> int:
        """The number of the last step."""
        return max(self.steps)

    def get_step_description(self, step: int) -> str:
        """The label of step ``step`` ('' for an unknown step)."""
        return self.steps.get(step, "")


class ProgressBar:
    """A progress bar on a pty; a context manager. Thread-safe ``next()``.

    ``format_str`` is a ``%``-style format with the keys ``message``,
    ``counter``, ``expected``, ``percentage``, ``bar``, ``spinner``,
    ``elapsed`` (seconds) and ``status`` ('' while running, then 'Done' or
    'Failed'). On a terminal the line is redrawn at most every ``interval``
    seconds; elsewhere only the final line is written.
    """

    interval = 0.1
    bar_width = 30
    _spinner = "-\\|/"

    def __init__(self, pty: Pty, message: str, expected: int | None = None, clear_on_finish: bool = False,
                 format_str: str | None = None) -> None:
        self.pty = pty
        self.message = message
        self.expected = expected
        self.clear_on_finish = clear_on_finish
        self.format_str = format_str
        self.counter = 0
        self.status = ""
        self._lock = threading.Lock()
        self._start = 0.0
        self._last_draw = 0.0
        self._live = pty.isatty()

    def __enter__(self) -> "ProgressBar":
        self._start = time.monotonic()
        self._draw(force=True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        with self._lock:
            self.status = "Failed" if exc_type is not None else "Done"
            if self.clear_on_finish and exc_type is None:
                if self._live:
                    self.pty.write("\r\x1b[K")
                return
            text = self.render()
            self.pty.write(("\r%s\x1b[K\n" % text) if self._live else text + "\n")

    def next(self) -> "ProgressBar":
        """Count one more item."""
        with self._lock:
            self.counter += 1
        self._draw()
        return self

    __next__ = next

    def render(self) -> str:
        """The text of the bar now."""
        expected = self.expected
        if expected:
            fraction = min(1.0, self.counter / expected)
            filled = int(fraction * self.bar_width)
            bar = "#" * filled + " " * (self.bar_width - filled)
            percentage = "%i" % (fraction * 100)
        else:
            bar, percentage = "", ""
        fmt = self.format_str or self._default_format()
        return fmt % dict(self._extra_fields(), message=self.message, counter=self.counter,
                          expected=expected if expected is not None else "?", percentage=percentage,
                          bar=bar, spinner=self._spinner[self.counter % len(self._spinner)],
                          elapsed="%.1f" % (time.monotonic() - self._start), status=self.status)

    def _default_format(self) -> str:
        if self.expected:
            return "%(message)s: [%(bar)s] %(counter)s/%(expected)s (%(percentage)s%%) %(status)s"
        return "%(message)s: %(spinner)s %(counter)s %(status)s"

    def _extra_fields(self) -> dict[str, Any]:
        return {}

    def _draw(self, force: bool = False) -> None:
        if not self._live:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_draw < self.interval:
                return
            self._last_draw = now
            text = self.render()
            width = self.pty.get_width()
            if visible_len(text) >= width:
                text = text[:max(0, width - 1)]
            self.pty.write("\r%s\x1b[K" % text)


class ProgressBarWithSteps(ProgressBar):
    """A progress bar that moves through :class:`ProgressBarSteps`; adds the key ``step``."""

    def __init__(self, pty: Pty, message: str, steps: ProgressBarSteps, format_str: str | None = None) -> None:
        super().__init__(pty, message, expected=steps.last, format_str=format_str)
        self.steps = steps

    def set_progress(self, step: int) -> "ProgressBarWithSteps":
        """Move to step ``step``."""
        with self._lock:
            self.counter = step
        self._draw(force=True)
        return self

    def _default_format(self) -> str:
        return "%(message)s: [%(bar)s] %(counter)s/%(expected)s %(step)s %(status)s"

    def _extra_fields(self) -> dict[str, Any]:
        return {"step": self.steps.get_step_description(self.counter)}
