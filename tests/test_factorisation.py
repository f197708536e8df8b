"""Planar factorisation (docs/conventions.md §6) and the bottom/permutation/top split."""

from functools import reduce
from operator import matmul

import numpy as np
import pytest
import sympy
from dense_reference import dense
from hypothesis import given
from hypothesis import strategies as st

from catlayer import (
    BrauerCategory,
    BrauerGroodCategory,
    PartitionCategory,
    PartitionDiagram,
    factorise,
)
from catlayer.diagrams.factorisation import split
from catlayer.testing import brauer_diagrams, brauer_grood_diagrams, partition_diagrams

n = sympy.Symbol("n")
EXAMPLE = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)  # docs/conventions.md §8

#: (strategy, category to compose in, matrix size for the dense check)
CASES = {
    "partition": (partition_diagrams(max_size=7), PartitionCategory(n), 2),
    "brauer": (brauer_diagrams(max_size=8), BrauerCategory(n), 2),
    "bg2": (brauer_grood_diagrams(2, max_size=7), BrauerGroodCategory(2), 2),
    "bg3": (brauer_grood_diagrams(3, max_size=7), BrauerGroodCategory(3), 3),
}


def _is_permutation_of(p, k):
    return sorted(p) == list(range(k))


@pytest.mark.parametrize("case", CASES)
@given(data=st.data())
def test_factorisation_composes_back_exactly(case, data):
    strategy, category, _ = CASES[case]
    d = data.draw(strategy)
    f = factorise(d)
    assert f.diagram == d
    step = category.compose(f.input_permutation, f.planar)
    assert len(step) == 1 and set(step.terms.values()) == {1}  # no loops, no sign
    assert category.compose(step, f.output_permutation).terms == {d: 1}
    assert f.planar.is_planar() and (f.planar.dom, f.planar.cod) == (d.dom, d.cod)
    assert f.input_permutation.is_permutation() and f.output_permutation.is_permutation()
    assert _is_permutation_of(f.top_order, d.cod) and _is_permutation_of(f.bottom_order, d.dom)
    assert all(f.pos_top[f.top_order[a]] == a for a in range(d.cod))
    assert all(f.pos_bottom[f.bottom_order[a]] == a for a in range(d.dom))
    assert f.input_permutation.permutation_of() == f.pos_bottom
    assert f.output_permutation.permutation_of() == f.top_order


@pytest.mark.parametrize("case", CASES)
@given(data=st.data())
def test_planar_layout_and_elementary_decomposition(case, data):
    strategy, _, _ = CASES[case]
    d = data.draw(strategy)
    f = factorise(d)
    l = d.cod
    product = reduce(matmul, f.elementary, type(d).identity(0))
    assert product == f.planar
    assert all(len(e.blocks) == 1 for e in f.elementary)
    assert len(f.elementary) == len(d.blocks)
    tops = len(d.top_only_blocks())
    assert f.num_top_only == tops and f.num_propagating == len(d.propagating_blocks())
    kinds = ["top" if e.dom == 0 else "bottom" if e.cod == 0 else "prop" for e in f.elementary]
    assert kinds == sorted(kinds, key=["top", "prop", "bottom"].index)
    # the planar top row: top-only blocks first; each block on consecutive positions, keeping
    # its vertices' left-to-right order
    for b in f.planar.blocks:
        top = [v for v in b if v < l]
        bottom = [v for v in b if v >= l]
        assert top == list(range(top[0], top[0] + len(top))) if top else True
        assert bottom == list(range(bottom[0], bottom[0] + len(bottom))) if bottom else True
    # propagating blocks in the order of their smallest top vertex, in both planar rows
    prop = sorted(d.propagating_blocks(), key=lambda b: b[0])
    assert prop == sorted(prop, key=lambda b: f.pos_top[b[0]])
    assert prop == sorted(prop, key=lambda b: f.pos_bottom[next(v for v in b if v >= l) - l])
    assert all(f.pos_top[b[0]] < f.pos_top[p[0]] for b in d.top_only_blocks() for p in prop)
    for b in d.blocks:
        mapped = [f.pos_top[v] for v in b if v < l]
        assert mapped == sorted(mapped)
        mapped = [f.pos_bottom[v - l] for v in b if v >= l]
        assert mapped == sorted(mapped)


@pytest.mark.parametrize("case", CASES)
@given(data=st.data())
def test_factorised_application_matches_dense_matrix(case, data):
    """docs/conventions.md §6, §7: M(d) v = transpose(M(planar) transpose(v, bottom_order), pos_top), sign +1."""
    strategy, _, size = CASES[case]
    d = data.draw(strategy.filter(lambda x: x.size <= 6))
    f = factorise(d)
    v = np.arange(1, size**d.dom + 1).reshape((size,) * d.dom) % 7 - 3
    vp = np.transpose(v, f.bottom_order)
    planar_out = (dense(f.planar, size) @ vp.ravel()).reshape((size,) * d.cod)
    w = np.transpose(planar_out, f.pos_top)
    assert (w.ravel() == dense(d, size) @ v.ravel()).all()


def test_worked_example_of_the_conventions():
    f = factorise(EXAMPLE)
    assert f.top_order == (1, 0, 2) and f.bottom_order == (2, 0, 4, 1, 3)
    assert f.pos_top == (1, 0, 2) and f.pos_bottom == (1, 3, 0, 4, 2)
    assert f.planar == PartitionDiagram([[0], [1, 3], [2, 4, 5], [6, 7]], dom=5, cod=3)
    assert [(e.dom, e.cod) for e in f.elementary] == [(0, 1), (1, 1), (2, 1), (2, 0)]
    # (E v)[i0, i1, i2] = Σ_a v[i2, a, i0, a, i2]
    size = 3
    v = np.arange(size**5).reshape((size,) * 5)
    expected = np.zeros((size,) * 3, dtype=np.int64)
    for i0, i1, i2 in np.ndindex(size, size, size):
        expected[i0, i1, i2] = sum(v[i2, a, i0, a, i2] for a in range(size))
    assert ((dense(EXAMPLE, size) @ v.ravel()).reshape((size,) * 3) == expected).all()


@pytest.mark.parametrize("case", CASES)
@given(data=st.data())
def test_split_composes_back_and_halves_are_shared(case, data):
    strategy, category, _ = CASES[case]
    d = data.draw(strategy)
    s = split(d)
    assert s.diagram == d and s.num_slots == s.bottom.cod == s.top.dom
    assert sorted(s.matching) == list(range(s.num_slots))
    step = category.compose(category.compose(s.bottom, s.permutation), s.top)
    assert step.terms == {d: 1}
    # the bottom half sees only the bottom row's connections, the top half only the top row's
    l = d.cod
    bottom_pattern = sorted(tuple(v for v in b if v >= l) for b in d.blocks if b[-1] >= l)
    assert (
        sorted(
            tuple(v + l - s.num_slots for v in b if v >= s.num_slots) for b in s.bottom.blocks if b[-1] >= s.num_slots
        )
        == bottom_pattern
    )
    top_pattern = sorted(tuple(v for v in b if v < l) for b in d.blocks if b[0] < l)
    assert sorted(tuple(v for v in b if v < l) for b in s.top.blocks if b[0] < l) == top_pattern
    free_top = [v for v in d.free_vertices if v < l] if case.startswith("bg") else []
    assert s.num_free_slots == len(free_top)


def test_split_example():
    s = split(EXAMPLE)
    assert s.bottom == PartitionDiagram([[0, 2, 6], [1, 4], [3, 5]], dom=5, cod=2)
    assert s.matching == (1, 0) and s.permutation == PartitionDiagram.swap()
    assert s.top == PartitionDiagram([[0, 3], [1], [2, 4]], dom=2, cod=3)
