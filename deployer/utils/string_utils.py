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

    Backslash, double quote, dollar and backtick lose their meaning; ``!`` is
    closed out of the quotes because interactive bash expands it even there.
    """
    out = []
    for ch in string:
        if ch in '\\"$`':
            out.append("\\" + ch)
        elif ch == "!":
            out.append('"\'!\'"')
        else:
            out.append(ch)
    return "".join(out)


def indent(string: str, prefix: str = "    ") -> str:
    """Indent every line of this string."""
    return "".join(prefix + line for line in string.splitlines(True))
