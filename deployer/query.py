"""Query expressions: ``Q`` builds lazy expressions that nodes resolve on access.

A query placed on a class is a descriptor: reading the attribute on an
instance evaluates the expression against that instance (a ``Node`` or its
``Env`` proxy) with plain ``getattr`` chains and calls::

    >>> class A:
    ...     length, width = 4, 5
    ...     def get_url(self, domain):
    ...         return 'http://%s' % domain
    >>> class Root:
    ...     A = A()
    ...     size = (Q.A.length + 1) * Q.A.width
    ...     url = Q.A.get_url('example.com')
    >>> Root().size, Root().url
    (25, 'http://example.com')
    >>> Root.url
    Q.A.get_url('example.com')

Python cannot overload ``and``, ``or`` and ``not``: use ``&``, ``|`` and ``~``.
Wrap a string in ``Q()`` before ``%``: ``'%s' % Q.a`` formats the query's
text right away, ``Q('%s') % Q.a`` formats the resolved value.
A failure while resolving raises :class:`deployer.exceptions.QueryException`
naming the node, the attribute and the query.
"""
from __future__ import annotations

import abc

import operator
import weakref
from typing import Any, Callable

from deployer.exceptions import QueryException

__all__ = ["Q", "Query", "resolve"]

# Precedence levels as Python parses them; used only to print a query with
# the parentheses it needs (``(Q.a + 1) * Q.b``), never for evaluation, which
# Python's own parser already ordered when the query was built.
_PREC_COMPARE = 1
_PREC_OR = 2
_PREC_AND = 3
_PREC_ADD = 5
_PREC_MUL = 6
_PREC_UNARY = 7
_PREC_POW = 8
_PREC_PRIMARY = 9


class Query(abc.ABC):
    """Base class of every query expression (see :data:`Q`).

    Only underscore-prefixed names live on this class: every other attribute
    name is part of the expression (``Q.parent.setup``).
    """

    _query_precedence = _PREC_PRIMARY

    def __init__(self) -> None:
        # Per owner class, so that one query object shared by two classes (or
        # ``Q`` itself placed on a class) reports the right name for each.
        self._query_names: "weakref.WeakKeyDictionary[type, str]" = weakref.WeakKeyDictionary()

    # -- evaluation -------------------------------------------------------
    @abc.abstractmethod
    def _query_execute(self, instance: Any) -> Any:
        """Evaluate this expression against ``instance``."""
        raise NotImplementedError

    @abc.abstractmethod
    def _query_repr(self) -> str:
        raise NotImplementedError

    # -- descriptor protocol ---------------------------------------------
    def __set_name__(self, owner: type, name: str) -> None:
        self._query_names[owner] = name

    def _query_attr_name(self, owner: type | None) -> str | None:
        """The attribute name this query has on ``owner`` (or a base of it)."""
        for klass in getattr(owner, "__mro__", ()):
            try:
                name = self._query_names.get(klass)
            except TypeError:  # not weak-referenceable
                name = None
            if name is not None:
                return name
        return None

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if owner is None:
            owner = type(instance)
        return resolve(self, instance, self._query_attr_name(owner))

    # -- building expressions --------------------------------------------
    def __getattr__(self, name: str) -> "Query":
        # Dunder lookups come from Python machinery (copy, pickle, pydoc,
        # abc...), never from a user's expression.
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Attr(self, name)

    def __getitem__(self, key: Any) -> "Query":
        return _Item(self, key)

    def __call__(self, *args: Any, **kwargs: Any) -> "Query":
        return _Call(self, args, kwargs)

    def __iter__(self):
        # Without this, __getitem__ would make every query an endless iterable.
        raise TypeError("A query cannot be iterated before it is resolved: %r" % self)

    def __contains__(self, item: Any) -> bool:
        raise TypeError("'in' cannot be used on an unresolved query: %r" % self)

    def __bool__(self) -> bool:
        raise TypeError("A query has no truth value before it is resolved: %r "
                        "(use &, | and ~ instead of and, or, not)" % self)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return self._query_repr()

    __str__ = __repr__


def resolve(query: Any, instance: Any, attr_name: str | None = None) -> Any:
    """Evaluate ``query`` against ``instance``; wrap failures in ``QueryException``.

    ``query`` may also be a constant, or a tuple/list/dict holding queries.
    This is what the descriptor does; the node layer may call it directly.
    """
    try:
        return _evaluate(query, instance)
    except QueryException as e:
        if e.node is instance and e.query is query:
            raise
        raise QueryException(instance, attr_name or "?", query, e) from e
    except Exception as e:
        raise QueryException(instance, attr_name or "?", query, e) from e


def _evaluate(value: Any, instance: Any) -> Any:
    """Resolve a query, or the queries inside a plain container, or a constant."""
    if isinstance(value, Query):
        return value._query_execute(instance)
    kind = type(value)
    if kind in (tuple, list, set, frozenset):
        return kind(_evaluate(v, instance) for v in value)
    if kind is dict:
        return {k: _evaluate(v, instance) for k, v in value.items()}
    return value


def _operand_repr(value: Any, min_precedence: int) -> str:
    text = repr(value)
    precedence = value._query_precedence if isinstance(value, Query) else _PREC_PRIMARY
    return "(%s)" % text if precedence < min_precedence else text


class _Identity(Query):
    """``Q``: the instance itself. ``Q(value)`` wraps a constant."""

    def _query_execute(self, instance: Any) -> Any:
        return instance

    def _query_repr(self) -> str:
        return "Q"

    def __call__(self, *args: Any, **kwargs: Any) -> Query:
        if len(args) != 1 or kwargs:
            raise TypeError("Q(value) takes exactly one value, e.g. Q('%s x %s') % (Q.a, Q.b)")
        return _Literal(args[0])


class _Literal(Query):
    def __init__(self, value: Any) -> None:
        super().__init__()
        self._query_value = value

    def _query_execute(self, instance: Any) -> Any:
        return _evaluate(self._query_value, instance)

    def _query_repr(self) -> str:
        return "Q(%r)" % (self._query_value,)


class _Attr(Query):
    def __init__(self, subject: Query, name: str) -> None:
        super().__init__()
        self._query_subject = subject
        self._query_attr = name

    def _query_execute(self, instance: Any) -> Any:
        return getattr(self._query_subject._query_execute(instance), self._query_attr)

    def _query_repr(self) -> str:
        return "%s.%s" % (_operand_repr(self._query_subject, _PREC_PRIMARY), self._query_attr)


class _Item(Query):
    def __init__(self, subject: Query, key: Any) -> None:
        super().__init__()
        self._query_subject = subject
        self._query_key = key

    def _query_execute(self, instance: Any) -> Any:
        return self._query_subject._query_execute(instance)[_evaluate(self._query_key, instance)]

    def _query_repr(self) -> str:
        return "%s[%r]" % (_operand_repr(self._query_subject, _PREC_PRIMARY), self._query_key)


class _Call(Query):
    def __init__(self, subject: Query, args: tuple, kwargs: dict) -> None:
        super().__init__()
        self._query_subject = subject
        self._query_args = args
        self._query_kwargs = kwargs

    def _query_execute(self, instance: Any) -> Any:
        func = self._query_subject._query_execute(instance)
        args = [_evaluate(a, instance) for a in self._query_args]
        kwargs = {k: _evaluate(v, instance) for k, v in self._query_kwargs.items()}
        return func(*args, **kwargs)

    def _query_repr(self) -> str:
        parts = [repr(a) for a in self._query_args]
        parts += ["%s=%r" % item for item in self._query_kwargs.items()]
        return "%s(%s)" % (_operand_repr(self._query_subject, _PREC_PRIMARY), ", ".join(parts))


class _Binary(Query):
    def __init__(self, lhs: Any, rhs: Any, symbol: str) -> None:
        super().__init__()
        self._query_lhs = lhs
        self._query_rhs = rhs
        self._query_symbol = symbol
        self._query_precedence = _BINARY[symbol][1]

    def _query_execute(self, instance: Any) -> Any:
        func = _BINARY[self._query_symbol][0]
        return func(_evaluate(self._query_lhs, instance), _evaluate(self._query_rhs, instance))

    def _query_repr(self) -> str:
        prec = self._query_precedence
        if self._query_symbol == "**":  # right-associative
            left, right = _operand_repr(self._query_lhs, prec + 1), _operand_repr(self._query_rhs, prec)
        else:
            left, right = _operand_repr(self._query_lhs, prec), _operand_repr(self._query_rhs, prec + 1)
        return "%s %s %s" % (left, self._query_symbol, right)


class _Logical(Query):
    """``&`` and ``|`` mean ``and`` and ``or``, short-circuiting like Python's."""

    def __init__(self, lhs: Any, rhs: Any, symbol: str) -> None:
        super().__init__()
        self._query_lhs = lhs
        self._query_rhs = rhs
        self._query_symbol = symbol
        self._query_precedence = _PREC_AND if symbol == "&" else _PREC_OR

    def _query_execute(self, instance: Any) -> Any:
        left = _evaluate(self._query_lhs, instance)
        if self._query_symbol == "&":
            return left and _evaluate(self._query_rhs, instance)
        return left or _evaluate(self._query_rhs, instance)

    def _query_repr(self) -> str:
        prec = self._query_precedence
        return "%s %s %s" % (_operand_repr(self._query_lhs, prec), self._query_symbol,
                             _operand_repr(self._query_rhs, prec + 1))


class _Unary(Query):
    def __init__(self, operand: Query, symbol: str) -> None:
        super().__init__()
        self._query_operand = operand
        self._query_symbol = symbol
        self._query_precedence = _PREC_UNARY

    def _query_execute(self, instance: Any) -> Any:
        value = _evaluate(self._query_operand, instance)
        return _UNARY[self._query_symbol](value)

    def _query_repr(self) -> str:
        return "%s%s" % (self._query_symbol, _operand_repr(self._query_operand, _PREC_UNARY))


_BINARY: dict[str, tuple[Callable[[Any, Any], Any], int]] = {
    "+": (operator.add, _PREC_ADD),
    "-": (operator.sub, _PREC_ADD),
    "*": (operator.mul, _PREC_MUL),
    "/": (operator.truediv, _PREC_MUL),
    "//": (operator.floordiv, _PREC_MUL),
    "%": (operator.mod, _PREC_MUL),
    "**": (operator.pow, _PREC_POW),
    "==": (operator.eq, _PREC_COMPARE),
    "!=": (operator.ne, _PREC_COMPARE),
    "<": (operator.lt, _PREC_COMPARE),
    "<=": (operator.le, _PREC_COMPARE),
    ">": (operator.gt, _PREC_COMPARE),
    ">=": (operator.ge, _PREC_COMPARE),
}

# ``~`` is logical not (the reference's convention); ``-`` and ``+`` are arithmetic.
_UNARY: dict[str, Callable[[Any], Any]] = {
    "~": operator.not_,
    "-": operator.neg,
    "+": operator.pos,
}


def _install_operators() -> None:
    """Give Query its operator methods, each building an expression node."""
    def binary(symbol: str, reflected: bool = False):
        if reflected:
            return lambda self, other: _Binary(other, self, symbol)
        return lambda self, other: _Binary(self, other, symbol)

    names = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv",
             "%": "mod", "**": "pow"}
    for symbol, name in names.items():
        setattr(Query, "__%s__" % name, binary(symbol))
        setattr(Query, "__r%s__" % name, binary(symbol, reflected=True))
    for symbol, name in {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}.items():
        setattr(Query, "__%s__" % name, binary(symbol))
    Query.__and__ = lambda self, other: _Logical(self, other, "&")
    Query.__rand__ = lambda self, other: _Logical(other, self, "&")
    Query.__or__ = lambda self, other: _Logical(self, other, "|")
    Query.__ror__ = lambda self, other: _Logical(other, self, "|")
    Query.__invert__ = lambda self: _Unary(self, "~")
    Query.__neg__ = lambda self: _Unary(self, "-")
    Query.__pos__ = lambda self: _Unary(self, "+")


_install_operators()

#: The root of every query: ``Q`` is the instance itself, ``Q.parent`` its
#: parent, ``Q('text')`` a constant.
Q: Query = _Identity()
