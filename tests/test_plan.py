"""Plans: the index tables describe the diagram exactly, halves are shared, signs are s(d)."""

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catlayer import (
    SO,
    BrauerDiagram,
    O,
    PartitionCategory,
    PartitionDiagram,
    S,
    Sp,
)
from catlayer.diagrams.factorisation import split
from catlayer.groups import symplectic_sign
from catlayer.plan import plan_diagram, plan_layer
from catlayer.testing import brauer_diagrams, brauer_grood_diagrams, partition_diagrams

EXAMPLE = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)  # the worked example of the docs
# (group, diagrams of its category); SO(3) draws n-diagrams of BG(3) and Brauer diagrams.
CASES = {
    "S(8)": (S(8), partition_diagrams(max_size=7)),
    "O(3)": (O(3), brauer_diagrams(max_size=8)),
    "O(1, 3)": (O(1, 3), brauer_diagrams(max_size=8)),
    "Sp(4)": (Sp(4), brauer_diagrams(max_size=8)),
    "SO(3)": (SO(3), st.one_of(brauer_grood_diagrams(3), brauer_diagrams())),
    "SO(2)": (SO(2), brauer_grood_diagrams(2)),
}


def rebuild(plan, t):
    """The diagram that term t of ``plan`` describes, read back from its tables only."""
    reduction = plan.reductions[plan.reduction_of[t]]
    expansion = plan.expansions[plan.expansion_of[t]]
    l = plan.cod
    first_free_slot = reduction.num_slots - reduction.num_free_slots
    blocks = []
    for i, outputs in enumerate(expansion.slot_axes):
        source = plan.matching[t][i]
        if source >= first_free_slot:  # a Levi-Civita slot: a free top vertex
            assert len(outputs) == 1 and reduction.slot_axes[source] == ()
            blocks.append(outputs)
        else:
            blocks.append((*outputs, *(l + a for a in reduction.slot_axes[source])))
    blocks += [tuple(l + a for a in axes) for axes in reduction.closed]
    blocks += [(l + a,) for a in reduction.free_axes]
    blocks += list(expansion.closed)
    return PartitionDiagram(blocks, dom=plan.dom, cod=l)


@pytest.mark.parametrize("name", CASES)
@given(data=st.data())
def test_plan_tables_describe_the_diagram(name, data):
    group, strategy = CASES[name]
    d = data.draw(strategy)
    plan = plan_diagram(group, d)
    assert len(plan) == 1 and plan.diagrams == (d,)
    assert rebuild(plan, 0) == d
    reduction, expansion = plan.reductions[0], plan.expansions[0]
    form = group.pair_form is not None
    assert reduction.closed_form == tuple(form for _ in reduction.closed)
    assert expansion.closed_form == tuple(form for _ in expansion.closed)
    assert set(reduction.axis_factor) <= {0} and set(reduction.slot_factor) <= {0}
    labels = reduction.axis_labels
    assert len(labels) == d.dom and all(labels[a] == i for i, axes in enumerate(reduction.slot_axes) for a in axes)
    assert len(expansion.axis_labels) == d.cod
    assert plan.sign == ((symplectic_sign(d) if isinstance(group, Sp) else 1),)
    assert plan.max_slots == reduction.num_slots


@pytest.mark.parametrize(
    ("group", "k", "l"),
    [(S(3), 2, 2), (S(3), 3, 1), (O(3), 2, 2), (O(2, 1), 2, 2), (Sp(4), 3, 1), (SO(2), 2, 2), (SO(3), 2, 1)],
    ids=repr,
)
def test_layer_plan_shares_halves(group, k, l):
    hom = group.category.hom(k, l)
    plan = plan_layer(group, hom)
    assert plan is plan_layer(group, list(hom))  # cached on the tuple of diagrams
    free = group.free_singletons
    assert len(plan) == len(hom) and (plan.dom, plan.cod) == (k, l)
    for t, d in enumerate(hom):
        assert rebuild(plan, t) == d
        s = split(d, free_singletons=free)
        assert plan.reductions[plan.reduction_of[t]].half == s.bottom
        assert plan.expansions[plan.expansion_of[t]].half == s.top
        assert plan.matching[t] == s.matching
    halves = {split(d, free_singletons=free).bottom for d in hom}
    assert len(plan.reductions) == len(halves)
    assert sorted(t for group in plan.groups for t in group) == list(range(len(hom)))
    assert all(plan.expansion_of[t] == e for e, group in enumerate(plan.groups) for t in group)


def test_plan_of_worked_example():
    plan = plan_diagram(S(5), EXAMPLE)
    reduction, expansion = plan.reductions[0], plan.expansions[0]
    assert reduction.slot_axes == ((0, 4), (2,)) and reduction.closed == ((1, 3),)
    assert reduction.axis_labels == (0, 2, 1, 2, 0)
    assert plan.matching == ((1, 0),)
    assert expansion.slot_axes == ((0,), (2,)) and expansion.closed == ((1,),)
    assert expansion.axis_labels == (0, 2, 1)
    assert plan.max_slots == 2 and plan.groups == ((0,),)


def test_layer_plan_counts():
    plan = plan_layer(S(5), PartitionCategory(5).hom(2, 2))
    assert (len(plan), len(plan.reductions), len(plan.expansions), plan.max_slots) == (15, 6, 6, 2)


def _crossing_pairs(d):
    """Independent crossing count of a Brauer diagram from docs/conventions.md §1.3, §3.3: boundary positions
    a<b of one pair and c<d of the other cross iff a<c<b<d or c<a<d<b."""
    l, k = d.cod, d.dom

    def position(v):
        return v if v < l else l + (k - 1 - (v - l))

    spans = [tuple(sorted(map(position, b))) for b in d.blocks]
    return sum(a < c < b < e or c < a < e < b for (a, b), (c, e) in combinations(spans, 2))


@given(brauer_diagrams(max_size=8))
def test_symplectic_sign_matches_definition(d):
    caps = sum(1 for b in d.blocks if b[1] < d.cod)
    assert symplectic_sign(d) == (-1) ** (caps + _crossing_pairs(d))


def test_symplectic_sign_examples():
    assert symplectic_sign(BrauerDiagram.swap()) == -1
    assert symplectic_sign(BrauerDiagram([[0, 1]], 0, 2)) == -1
    assert symplectic_sign(BrauerDiagram([[0, 1]], 2, 0)) == 1
    assert symplectic_sign(BrauerDiagram.identity(3)) == 1


def test_plan_errors():
    with pytest.raises(ValueError, match="a layer plan needs at least one diagram"):
        plan_layer(S(3), [])
    with pytest.raises(ValueError, match="all diagrams of a layer must be"):
        plan_layer(S(3), [EXAMPLE, PartitionDiagram([[0, 1]], 1, 1)])
    with pytest.raises(ValueError, match="is not a morphism of BrauerCategory"):
        plan_diagram(O(3), EXAMPLE)
    with pytest.raises(ValueError, match="is not a morphism of BrauerGroodCategory"):
        plan_diagram(SO(3), EXAMPLE)
    with pytest.raises(TypeError, match="expected a diagram"):
        plan_layer(S(3), ["x"])
