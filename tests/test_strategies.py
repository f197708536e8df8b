"""The public hypothesis strategies: they draw valid values, reach every value, shrink well and
reject impossible requests at once."""

import itertools

import pytest
import sympy
from hypothesis import find, given, settings
from hypothesis import strategies as st

from catlayer import (
    BrauerCategory,
    BrauerDiagram,
    BrauerGroodCategory,
    BrauerGroodDiagram,
    Combination,
    PartitionCategory,
    PartitionDiagram,
)
from catlayer.testing import (
    bg_morphisms,
    brauer_diagrams,
    brauer_grood_diagrams,
    coefficients,
    combinations,
    composable_pairs,
    composable_triples,
    morphisms,
    objects,
    partition_diagrams,
    perfect_matchings,
    permutation_diagrams,
    permutations,
    set_partitions,
    strategies,
)

n = sympy.Symbol("n")
CATEGORIES = [
    PartitionCategory(n),
    BrauerCategory(-n),
    BrauerGroodCategory(1),
    BrauerGroodCategory(2),
    BrauerGroodCategory(3),
]


def test_all_is_complete():
    public = {name for name in dir(strategies) if not name.startswith("_")}
    strategy_like = {
        name
        for name in public
        if callable(getattr(strategies, name))
        and getattr(getattr(strategies, name), "__module__", "") == strategies.__name__
    }
    assert strategy_like <= set(strategies.__all__)


@given(st.integers(0, 6).flatmap(set_partitions))
def test_set_partitions_are_restricted_growth_strings(labels):
    top = -1
    for label in labels:
        assert 0 <= label <= top + 1
        top = max(top, label)


@given(st.integers(0, 4).flatmap(lambda m: perfect_matchings(range(0, 4 * m, 2))))
def test_perfect_matchings_cover_each_vertex_once(pairs):
    flat = [v for p in pairs for v in p]
    assert sorted(flat) == list(range(0, 2 * len(pairs) * 2, 2))
    assert all(a < b for a, b in pairs)


@given(st.integers(0, 6).flatmap(lambda k: st.tuples(st.just(k), permutations(k))))
def test_permutations(kp):
    k, p = kp
    assert sorted(p) == list(range(k))


@pytest.mark.parametrize(
    ("strategy", "category", "k", "l"),
    [
        (partition_diagrams(2, 1), PartitionCategory(n), 2, 1),
        (partition_diagrams(0, 3), PartitionCategory(n), 0, 3),
        (brauer_diagrams(2, 2), BrauerCategory(n), 2, 2),
        (brauer_diagrams(3, 1), BrauerCategory(n), 3, 1),
        (bg_morphisms(2, 1, 1), BrauerGroodCategory(2), 1, 1),
        (bg_morphisms(1, 1, 2), BrauerGroodCategory(1), 1, 2),
        (bg_morphisms(3, 2, 1), BrauerGroodCategory(3), 2, 1),
        (bg_morphisms(2, 2, 2), BrauerGroodCategory(2), 2, 2),
        (permutation_diagrams(3), None, 3, 3),
    ],
)
def test_every_diagram_is_reachable(strategy, category, k, l):
    targets = (
        category.hom(k, l)
        if category is not None
        else [PartitionDiagram.permutation(p) for p in itertools.permutations(range(3))]
    )
    for target in targets:
        found = find(strategy, lambda d, target=target: d == target, settings=settings(max_examples=2000))
        assert found == target and type(found) is type(target)


def test_shrinking_targets():
    assert find(partition_diagrams(2, 2), lambda d: True).blocks == ((0, 1, 2, 3),)
    assert find(brauer_diagrams(2, 2), lambda d: True).blocks == ((0, 1), (2, 3))
    assert find(permutations(5), lambda p: True) == (0, 1, 2, 3, 4)
    assert find(brauer_grood_diagrams(2, 2, 2), lambda d: True).blocks == ((0,), (1,), (2, 3))
    assert find(coefficients([n]), lambda c: True) == 0


@given(st.data())
def test_shapes_and_kinds(data):
    k = data.draw(st.integers(0, 3))
    d = data.draw(partition_diagrams(dom=k))
    assert d.dom == k and type(d) is PartitionDiagram
    b = data.draw(brauer_diagrams(cod=k, max_size=5))
    assert b.cod == k and type(b) is BrauerDiagram and (b.dom + k) % 2 == 0 and b.size <= max(5, k)
    h = data.draw(brauer_grood_diagrams(3, dom=k))
    assert type(h) is BrauerGroodDiagram and len(h.free_vertices) == 3 and h.dom == k
    assert all(len(block) <= 2 for block in h.blocks)
    free = data.draw(partition_diagrams(max_size=3))
    assert free.size <= 3


@pytest.mark.parametrize("category", CATEGORIES, ids=repr)
@given(data=st.data())
def test_category_strategies_draw_morphisms_of_the_category(category, data):
    chain = data.draw(objects(category, 4, max_points=3))
    assert all(category.empty_reason(a, b) is None for a, b in itertools.pairwise(chain))
    f, g = data.draw(composable_pairs(category))
    assert category.contains(f) and category.contains(g) and f.cod == g.dom
    f, g, h = data.draw(composable_triples(category, max_points=2))
    assert f.cod == g.dom and g.cod == h.dom and max(f.dom, f.cod, g.cod, h.cod) <= 2
    assert all(category.contains(d) for d in (f, g, h))
    d = data.draw(morphisms(category, dom=2))
    assert category.contains(d) and d.dom == 2
    c = data.draw(combinations(category, symbols=[n]))
    assert isinstance(c, Combination) and c.category == category
    assert all(category.contains(x) for x in c.terms)


@given(coefficients([n], bound=2))
def test_coefficients_are_small_and_exact(c):
    c = sympy.sympify(c)
    assert not c.atoms(sympy.Float) and c.free_symbols <= {n}
    assert all(abs(r) <= 2 for r in c.atoms(sympy.Rational))


def test_impossible_requests_fail_at_once():
    with pytest.raises(ValueError, match="no diagrams of this kind with dom=1, cod=2"):
        brauer_diagrams(1, 2)
    with pytest.raises(ValueError, match="no diagrams of this kind with dom=1, cod=0"):
        brauer_grood_diagrams(2, 1, 0)
    with pytest.raises(ValueError, match="must be None or an int >= 0"):
        partition_diagrams(-1)
    with pytest.raises(ValueError, match="n must be a positive int"):
        brauer_grood_diagrams(0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        bg_morphisms(True)
    with pytest.raises(ValueError, match="3 vertices cannot be perfectly matched"):
        perfect_matchings([0, 1, 2])
    with pytest.raises(TypeError, match="expected a diagram category"):
        morphisms("P")
