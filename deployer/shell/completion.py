"""Tab completion for the main shell: commands, actions, node names and paths.

:func:`candidates` is plain (no prompt_toolkit) so the benchmark and tests can
call it; :class:`ShellCompleter` adapts it to prompt_toolkit.
"""
from __future__ import annotations

from typing import Any, Iterable

from prompt_toolkit.completion import Completer, Completion

__all__ = ["candidates", "ShellCompleter", "split_for_completion"]


def split_for_completion(text: str) -> tuple[list[str], str]:
    """``'cd web d'`` -> (['cd', 'web'], 'd'): finished words and the word being typed."""
    words = text.split()
    if text and not text[-1].isspace() and words:
        return words[:-1], words[-1]
    return words, ""


def candidates(shell: Any, text: str) -> tuple[str, list[tuple[str, str]]]:
    """What may follow ``text`` (the line up to the cursor).

    Returns ``(word, [(completion, kind), ...])`` where ``word`` is the part
    being replaced and ``kind`` is one of ``node``, ``action``, ``command``.
    """
    from deployer.shell.shell import BUILTINS, NODE_PATH_COMMANDS, RUNS_SUBCOMMANDS, SPECIAL_COMMANDS

    done, word = split_for_completion(text)
    tree = shell.tree
    show_private = word.startswith("_")
    out: list[tuple[str, str]] = []
    if not done:
        out += [(c, "command") for c in BUILTINS if c.startswith(word)]
        out += [(c, "command") for c in SPECIAL_COMMANDS if c.startswith(word)]
        out += _actions_and_nodes(tree, shell.node, word, show_private)
        return word, out
    head, args = done[0], done[1:]
    if head in NODE_PATH_COMMANDS:
        node = _resolve_quietly(tree, shell.node, args)
        if node is None:
            return word, []
        out += [(n, "node") for n in tree.child_names(node, show_private) if n.startswith(word)]
        out += [(n, "node") for n in ("..", "/") if n.startswith(word) and word]
        if head == "cd" and not args and word == "-":
            out.append(("-", "node"))
        return word, out
    if head == "runs":
        if not args:
            return word, [(c, "command") for c in RUNS_SUBCOMMANDS if c.startswith(word)]
        return word, []
    if head == "sandbox":
        done = done[1:]
        if not done:
            return word, _actions_and_nodes(tree, shell.node, word, show_private)
        head, args = done[0], done[1:]
    if head.startswith("--") or head in BUILTINS:
        return word, []
    # ``child grandchild action``: leading child names, then an action.
    node = shell.node
    for name in done:
        if tree.has_action(node, name):
            return word, []  # parameters: free text
        node = tree.children(node).get(name)
        if node is None:
            return word, []
    return word, _actions_and_nodes(tree, node, word, show_private)


def _actions_and_nodes(tree: Any, node: Any, word: str, show_private: bool) -> list[tuple[str, str]]:
    out = [(a, "action") for a in tree.action_names(node, show_private) if a.startswith(word)]
    out += [(n, "node") for n in tree.child_names(node, show_private) if n.startswith(word)]
    return out


def _resolve_quietly(tree: Any, start: Any, names: Iterable[str]) -> Any:
    try:
        return tree.resolve(start, list(names))
    except LookupError:
        return None


class ShellCompleter(Completer):
    """prompt_toolkit completer for a :class:`~deployer.shell.Shell`."""

    _STYLE = {"node": "fg:ansiblue", "action": "", "command": "fg:ansigreen"}

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def get_completions(self, document: Any, complete_event: Any):
        try:
            word, found = candidates(self.shell, document.text_before_cursor)
        except Exception:  # a broken node must not kill the prompt
            return
        for text, kind in found:
            yield Completion(text, start_position=-len(word), display_meta=kind, style=self._STYLE.get(kind, ""))
