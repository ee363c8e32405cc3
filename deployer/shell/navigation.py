"""The node tree as the shell sees it: names, actions, paths and colours.

Everything the shell asks of the tree goes through :class:`Tree`, on top of
:class:`deployer.inspection.Inspector`. Nothing is instantiated before it is
asked for: the root node is created on first use, a child node when the user
enters it, completes it or lists its parent. Answers are cached per
:class:`Tree` (one per shell), never globally.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

__all__ = ["Tree", "NodeNotFound", "format_path", "colored_name"]


class NodeNotFound(LookupError):
    """A name in a node path does not exist."""

    def __init__(self, path: Sequence[str], missing: str) -> None:
        self.path = tuple(path)
        self.missing = missing
        where = ".".join(path) if path else "the root node"
        super().__init__("No node %r in %s" % (missing, where))


def format_path(path: Sequence[str]) -> str:
    """``('Root', 'web')`` -> ``'Root.web'`` (the contract's node path string)."""
    return ".".join(path)


def colored_name(name: str, color: str | None, bold: bool = False) -> str:
    """``name`` in a termcolor colour (``None``: unchanged)."""
    if not color and not bold:
        return name
    from termcolor import colored

    try:
        return colored(name, color or None, attrs=["bold"] if bold else None, force_color=True)
    except (KeyError, TypeError):
        return name


class Tree:
    """Lazy, cached view of a node tree for one shell.

    :param root: a :class:`deployer.node.Node` subclass or instance.

    >>> tree = Tree(MyRootNode)                          # doctest: +SKIP
    >>> tree.child_names(tree.root)                      # doctest: +SKIP
    ['web', 'db']
    """

    def __init__(self, root: Any) -> None:
        self._root_spec = root
        self._root: Any = None
        self._children: dict[int, dict[str, Any]] = {}
        self._actions: dict[int, list[str]] = {}
        self._keep: list[Any] = []  # nodes whose id() is used as a cache key stay alive

    # -- nodes ---------------------------------------------------------------

    @property
    def root(self) -> Any:
        """The root node instance (created on first use)."""
        if self._root is None:
            spec = self._root_spec
            self._root = spec() if isinstance(spec, type) else spec
            self._keep.append(self._root)
        return self._root

    @staticmethod
    def inspector(node: Any) -> Any:
        """An :class:`~deployer.inspection.Inspector` for ``node``."""
        from deployer.inspection import Inspector

        return Inspector(node)

    def children(self, node: Any) -> dict[str, Any]:
        """``{name: child node}`` for ``node`` (instantiates the children once)."""
        key = id(node)
        cached = self._children.get(key)
        if cached is None:
            cached = {}
            for child in self.inspector(node).get_childnodes():
                cached[self.inspector(child).get_name()] = child
            self._children[key] = cached
            self._keep.append(node)
        return cached

    def child_names(self, node: Any, include_private: bool = False) -> list[str]:
        """Sorted names of the child nodes (private ones, ``_x``, only when asked)."""
        return sorted(n for n in self.children(node) if include_private or not n.startswith("_"))

    def action_names(self, node: Any, include_private: bool = False) -> list[str]:
        """Sorted names of the actions of ``node``."""
        key = id(node)
        names = self._actions.get(key)
        if names is None:
            names = sorted({_action_name(a) for a in self.inspector(node).get_actions()})
            self._actions[key] = names
            self._keep.append(node)
        return [n for n in names if include_private or not n.startswith("_")]

    def has_action(self, node: Any, name: str) -> bool:
        """True when ``node`` has an action called ``name``."""
        return name in self.action_names(node, include_private=True)

    def path(self, node: Any) -> tuple[str, ...]:
        """Names from the root down to ``node`` (root included)."""
        return tuple(self.inspector(node).get_path())

    def parent(self, node: Any) -> Any:
        """The parent of ``node`` (the root is its own parent, like ``/..``)."""
        try:
            parent = self.inspector(node).get_parent()
        except AttributeError:
            return node
        return node if parent is None else parent

    def resolve(self, start: Any, names: Sequence[str]) -> Any:
        """Follow ``names`` (``..``, ``/``, ``.`` or child names) from ``start``.

        Raises :class:`NodeNotFound` naming the first missing name.
        """
        node = start
        for name in names:
            for part in _split_name(name):
                if part == "/":
                    node = self.root
                elif part == "..":
                    node = self.parent(node)
                elif part in ("", "."):
                    continue
                else:
                    child = self.children(node).get(part)
                    if child is None:
                        raise NodeNotFound(self.path(node), part)
                    node = child
        return node

    def walk(self, node: Any) -> Iterator[Any]:
        """``node`` and all its descendants, top-down (children instantiated as reached)."""
        stack = [node]
        while stack:
            current = stack.pop()
            yield current
            children = self.children(current)
            stack.extend(children[n] for n in sorted(children, reverse=True))

    # -- presentation -------------------------------------------------------

    def color(self, node: Any) -> str | None:
        """The termcolor colour of the node's group (None: default)."""
        try:
            group = self.inspector(node).get_group()
        except Exception:  # a node without a group layer must still display
            return None
        return getattr(group, "color", None) or None

    def colored_path(self, node: Any) -> str:
        """The node path, each name coloured by the group of its node."""
        parts = []
        current = node
        chain = []
        while True:
            chain.append(current)
            parent = self.parent(current)
            if parent is current:
                break
            current = parent
        for n in reversed(chain):
            parts.append(colored_name(self.inspector(n).get_name(), self.color(n)))
        return ".".join(parts)


def _action_name(action: Any) -> str:
    for attr in ("name", "attr_name", "__name__"):
        value = getattr(action, attr, None)
        if isinstance(value, str):
            return value
    return str(action)


def _split_name(name: str) -> list[str]:
    """``'/'`` and ``'a/b'``-style words are accepted too (``cd /``, ``cd ../x``)."""
    if name == "/":
        return ["/"]
    parts = name.split("/")
    out = ["/"] if name.startswith("/") else []
    out.extend(p for p in parts if p)
    return out
