"""Escaping and formatting of strings for shell commands."""
from __future__ import annotations


def esc1(string: str) -> str:
    """Escape a string for use inside single quotes in a shell command.

    >>> "echo '%s'" % esc1("Here's some text")
    "echo 'Here'\\\\''s some text'"
    """
    return string.replace("'", "'\\''")


def esc2(string: str) -> str:
    """Escape a string for use inside double quotes in a shell command.

    Backslash, double quote, dollar and backtick lose their meaning; ``!`` and
    ``^`` are closed out of the quotes because interactive bash expands them even
    there (history expansion; ``^`` at the start of a line).
    """
    out = []
    for ch in string:
        if ch in '\\"$`':
            out.append("\\" + ch)
        elif ch in "!^":
            out.append('"\'%s\'"' % ch)
        else:
            out.append(ch)
    return "".join(out)


def indent(string: str, prefix: str = "    ") -> str:
    """Indent every line of this string."""
    return "".join(prefix + line for line in string.splitlines(True))
