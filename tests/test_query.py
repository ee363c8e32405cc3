"""Query expressions (``deployer.query``): on plain classes and on Nodes inside an Env."""
from __future__ import annotations

import copy
import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deployer.exceptions import QueryException
from deployer.query import Q, Query, resolve

pytestmark = pytest.mark.timeout(60)


# -- plain Python classes ----------------------------------------------------

class Inner:
    length = 4
    width = 5
    attribute = "value"
    items = {"a": 1, "b": [10, 20]}

    def get_url(self, domain, scheme="http"):
        return "%s://%s" % (scheme, domain)


class Outer:
    do_something = True

    def __init__(self):
        self.A = Inner()
        self.child = Child(self)

    attribute_of_a = Q.A.attribute
    url_of_a = Q.A.get_url("example.com")
    url_https = Q.A.get_url("example.com", scheme="https")
    size = Q.A.length * Q.A.width
    size_2 = (Q.A.length + 1) * Q.A.width
    size_3 = Q.A.length + 1 * Q.A.width
    size_str = Q("The size is %s x %s") % (Q.A.length, Q.A.width)
    size_str_missing = Q("The size is %s x %s") % (Q.A.height, Q.A.width)
    item = Q.A.items["b"][1]
    item_by_query = Q.A.items[Q.key]
    key = "a"
    me = Q


class Child:
    def __init__(self, parent):
        self.parent = parent

    do_something = Q.parent.do_something
    not_do_something = ~Q.parent.do_something
    url_via_parent = Q.parent.url_of_a


def test_attribute_and_parent():
    o = Outer()
    assert o.attribute_of_a == "value"
    assert o.child.do_something is True
    assert o.child.not_do_something is False
    assert o.child.url_via_parent == "http://example.com"  # a query reaching another query
    assert o.me is o


def test_calls_with_arguments():
    o = Outer()
    assert o.url_of_a == "http://example.com"
    assert o.url_https == "https://example.com"


def test_arithmetic_and_precedence():
    o = Outer()
    assert o.size == 20
    assert o.size_2 == 25
    assert o.size_3 == 9


def test_interpolation():
    assert Outer().size_str == "The size is 4 x 5"


def test_indexing_with_constants_and_queries():
    o = Outer()
    assert o.item == 20
    assert o.item_by_query == 1


def test_class_access_returns_the_query_itself():
    assert isinstance(Outer.size, Query)
    assert Outer.__dict__["size"] is Outer.size


@pytest.mark.parametrize("query, text", [
    (Q.A.get_url("example.com"), "Q.A.get_url('example.com')"),
    (Q.A.get_url("x", scheme="https"), "Q.A.get_url('x', scheme='https')"),
    ((Q.A.length + 1) * Q.A.width, "(Q.A.length + 1) * Q.A.width"),
    (Q.A.length + 1 * Q.A.width, "Q.A.length + 1 * Q.A.width"),
    (Q("The size is %s x %s") % (Q.A.height, Q.A.width), "Q('The size is %s x %s') % (Q.A.height, Q.A.width)"),
    (Q.parent.do_something, "Q.parent.do_something"),
    (~(Q.a & Q.b) | Q.c[0], "~(Q.a & Q.b) | Q.c[0]"),
    (Q.a - (Q.b - Q.c), "Q.a - (Q.b - Q.c)"),
    ((Q.a == 1) & (Q.b != 2), "(Q.a == 1) & (Q.b != 2)"),
    (2 ** Q.x, "2 ** Q.x"),
    ((-Q.x) ** 2, "(-Q.x) ** 2"),
    (Q, "Q"),
])
def test_readable_repr(query, text):
    assert repr(query) == text
    assert str(query) == text


def test_comparisons():
    class C:
        x = 3
        eq = Q.x == 3
        ne = Q.x != 3
        lt = Q.x < 4
        le = Q.x <= 2
        gt = Q.x > 2
        ge = Q.x >= 4
    c = C()
    assert (c.eq, c.ne, c.lt, c.le, c.gt, c.ge) == (True, False, True, False, True, False)


def test_logical_operators_short_circuit():
    calls = []

    class C:
        yes = True
        no = False

        def boom(self):
            calls.append(1)
            raise RuntimeError("must not be called")

        and_ = Q.no & Q.boom()
        or_ = Q.yes | Q.boom()
        both = Q.yes & ~Q.no
        either = Q.no | Q.yes
        value_or = Q.no | "fallback"
    c = C()
    assert c.and_ is False
    assert c.or_ is True
    assert c.both is True
    assert c.either is True
    assert c.value_or == "fallback"
    assert calls == []


def test_failure_names_node_attribute_and_query():
    o = Outer()
    with pytest.raises(QueryException) as info:
        o.size_str_missing
    e = info.value
    assert e.node is o
    assert e.attr_name == "size_str_missing"
    assert isinstance(e.inner_exception, AttributeError)
    message = str(e)
    assert "size_str_missing" in message
    assert "Q('The size is %s x %s') % (Q.A.height, Q.A.width)" in message
    assert "height" in message


def test_failure_in_a_call_and_in_a_nested_query():
    class C:
        def fail(self):
            raise ValueError("no such domain")
        bad = Q.fail()
        via = Q.bad
    c = C()
    with pytest.raises(QueryException) as info:
        c.bad
    assert isinstance(info.value.inner_exception, ValueError)
    with pytest.raises(QueryException) as info:
        c.via
    # the outer error names the outer attribute, and wraps the inner error
    assert info.value.attr_name == "via"
    assert isinstance(info.value.inner_exception, QueryException)
    assert info.value.inner_exception.attr_name == "bad"


def test_attribute_name_per_class_when_shared():
    shared = Q.missing

    class One:
        first = shared

    class Two:
        second = shared

    with pytest.raises(QueryException) as info:
        One().first
    assert info.value.attr_name == "first"
    with pytest.raises(QueryException) as info:
        Two().second
    assert info.value.attr_name == "second"

    class Sub(One):
        pass
    with pytest.raises(QueryException) as info:
        Sub().first
    assert info.value.attr_name == "first"


def test_query_on_class_and_resolve_function():
    class C:
        x = 2
    assert resolve(Q.x * 3, C()) == 6
    assert resolve((Q.x, [Q.x + 1], {"k": Q.x}), C()) == (2, [3], {"k": 2})
    with pytest.raises(QueryException) as info:
        resolve(Q.y, C(), "attr")
    assert info.value.attr_name == "attr"


def test_unresolved_queries_refuse_truth_and_iteration():
    with pytest.raises(TypeError, match="&, \\| and ~"):
        bool(Q.a)
    with pytest.raises(TypeError):
        Q.a and Q.b  # noqa: B018 - the mistake the error is for
    with pytest.raises(TypeError):
        list(Q.a)
    with pytest.raises(TypeError):
        1 in Q.a  # noqa: B015


def test_queries_are_hashable_and_copyable():
    q = Q.A.length + 1
    assert {q: 1}[q] == 1
    q2 = copy.deepcopy(q)
    assert repr(q2) == repr(q)
    with pytest.raises(AttributeError):
        Q.__wrapped__  # dunder names are never part of an expression


def test_q_call_takes_exactly_one_value():
    with pytest.raises(TypeError):
        Q(1, 2)


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
        "%": operator.mod}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=3, max_size=3),
       st.sampled_from(sorted(_OPS)), st.sampled_from(sorted(_OPS)), st.booleans())
def test_arithmetic_matches_python(values, op1, op2, group_right):
    """A query evaluates exactly like the same Python expression, precedence included."""
    a, b, c = values

    class C:
        pass
    obj = C()
    obj.a, obj.b, obj.c = a, b, c
    python = "a %s (b %s c)" % (op1, op2) if group_right else "a %s b %s c" % (op1, op2)
    query_src = python.replace("a", "Q.a").replace("b", "Q.b").replace("c", "Q.c")
    try:
        expected = eval(python, {}, {"a": a, "b": b, "c": c})
    except ZeroDivisionError:
        with pytest.raises(QueryException):
            resolve(eval(query_src, {"Q": Q}), obj)
        return
    query = eval(query_src, {"Q": Q})
    assert resolve(query, obj) == expected
    # the printed form parses back to the same value
    assert resolve(eval(repr(query), {"Q": Q}), obj) == expected


# -- Node classes inside an Env (the reference's samples) -------------------------

def _env(node_class):
    from deployer.node import Env
    from deployer.pseudo_terminal import DummyPty
    from deployer.loggers import NullLogger
    return Env(node_class(), pty=DummyPty(), logger=NullLogger())


def test_doc_sample_parent_query_in_nodes():
    from deployer.node import Node
    seen = []

    class MyNode(Node):
        do_something = True

        class MyChildNode(Node):
            do_something = Q.parent.do_something

            def setup(self):
                if self.do_something:
                    seen.append("did it")

    env = _env(MyNode)
    assert env.MyChildNode.do_something is True
    env.MyChildNode.setup()
    assert seen == ["did it"]


def test_doc_sample_property_equivalent():
    from deployer.node import Node

    class WithQuery(Node):
        do_something = "yes"

        class Child(Node):
            value = Q.parent.do_something

    class WithProperty(Node):
        do_something = "yes"

        class Child(Node):
            @property
            def value(self):
                return self.parent.do_something

    assert _env(WithQuery).Child.value == _env(WithProperty).Child.value == "yes"


def test_doc_samples_inner_node_attribute_call_and_calculations():
    from deployer.node import Node
    results = []

    class Root(Node):
        class A(Node):
            attribute = "value"
            length = 4
            width = 5

            def get_url(self, domain):
                return "http://%s" % domain

        attribute_of_a = Q.A.attribute
        url_of_a = Q.A.get_url("example.com")
        # Multiply
        size = Q.A.length * Q.A.width
        # Operator priority
        size_2 = (Q.A.length + 1) * Q.A.width
        # String interpolation (the reference's sample asks for a `height` that A lacks)
        size_str = Q("The size is %s x %s") % (Q.A.height, Q.A.width)
        size_str_ok = Q("The size is %s x %s") % (Q.A.length, Q.A.width)

        def action(self):
            if self.attribute_of_a == "value":
                results.append(self.url_of_a)

        def print_url(self):
            print(self.url_of_a)
            return self.url_of_a

    env = _env(Root)
    assert env.attribute_of_a == "value"
    assert env.url_of_a == "http://example.com"
    assert env.size == 20
    assert env.size_2 == 25
    assert env.size_str_ok == "The size is 4 x 5"
    env.action()
    assert results == ["http://example.com"]
    assert env.print_url() == "http://example.com"
    with pytest.raises(QueryException) as info:
        env.size_str
    message = str(info.value)
    assert "size_str" in message and "Q.A.height" in message and "height" in str(info.value.inner_exception)
    # on the bare class the query is still the query
    assert repr(Root.size_2) == "(Q.A.length + 1) * Q.A.width"


def test_queries_in_nodes_with_logic_and_double_underscore_override():
    from deployer.node import Node

    class Base(Node):
        enabled = True
        debug = False

        class Web(Node):
            port = 8000
            public = Q.parent.enabled & ~Q.parent.debug
            url = Q("http://localhost:%s/") % Q.port

    class Override(Base):
        Web__port = 9000
        debug = True

    env = _env(Base)
    assert env.Web.public is True
    assert env.Web.url == "http://localhost:8000/"
    env2 = _env(Override)
    assert env2.Web.public is False
    assert env2.Web.url == "http://localhost:9000/"
