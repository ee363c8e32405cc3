"""Groups (``deployer.groups``): class decorators that set ``node_group``."""
from __future__ import annotations

import pytest

from deployer import groups
from deployer.groups import (Alpha, Beta, Group, Local, Other, Production, Staging, alpha, beta, local, other,
                             production, set_group, staging)

pytestmark = pytest.mark.timeout(30)


def test_ready_groups_names_and_colors():
    assert Production.color == "red"
    assert Other.color is None
    assert [g.name for g in (Production, Staging, Beta, Alpha, Local, Other)] == \
        ["production", "staging", "beta", "alpha", "local", "other"]
    for g in (Production, Staging, Beta, Alpha, Local, Other):
        assert issubclass(g, Group)
        assert g.color in (None, "grey", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


def test_decorators_set_node_group():
    for decorator, group in [(production, Production), (staging, Staging), (beta, Beta),
                             (alpha, Alpha), (local, Local), (other, Other)]:
        @decorator
        class N:
            pass
        assert N.node_group is group


def test_set_group_with_a_custom_group():
    class Testing(Group):
        color = "magenta"

    @set_group(Testing)
    class MyNode:
        pass

    assert MyNode.node_group is Testing
    assert Testing.name == "testing"

    class Named(Group):
        name = "my-name"
    assert Named.name == "my-name"


def test_set_group_rejects_what_is_not_a_group():
    with pytest.raises(TypeError, match="Group subclass"):
        set_group("production")
    with pytest.raises(TypeError, match="Group subclass"):
        set_group(Production())
    with pytest.raises(TypeError, match="decorates a Node class"):
        production(lambda: None)


def test_decorator_returns_the_class_unchanged_otherwise():
    class Base:
        x = 1

    Decorated = staging(Base)
    assert Decorated is Base and Base.x == 1
    assert groups.__all__  # the public names are listed


def test_doc_sample_with_nodes():
    from deployer.node import Node

    class N(Node):
        @production
        class Child(Node):
            pass

    @set_group(Staging)
    class MyNode(Node):
        pass

    assert N.Child.node_group is Production
    assert MyNode.node_group is Staging
    # an instance's child node carries its group too
    assert N().Child.node_group is Production


def test_groups_through_inspection_and_filters():
    from deployer.inspection import Inspector
    from deployer.inspection.filters import InGroup
    from deployer.node import Node

    class Root(Node):
        @production
        class Live(Node):
            class Web(Node):  # inherits its parent's group
                pass

        @staging
        class Test(Node):
            pass

        class Plain(Node):
            pass

    root = Root()
    assert Inspector(root.Live).get_group() is Production
    assert Inspector(root.Live.Web).get_group() is Production
    assert Inspector(root.Test).get_group() is Staging
    assert Inspector(root.Plain).get_group() is Other
    names = [Inspector(n).get_name() for n in Inspector(root).walk(InGroup(Production))]
    assert names == ["Live", "Web"]
    names = [Inspector(n).get_name() for n in Inspector(root).walk(~InGroup(Production) & ~InGroup(Staging))]
    assert names == ["Root", "Plain"]
