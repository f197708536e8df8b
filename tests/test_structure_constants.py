"""The numba multiplication table against the symbolic ``compose``."""

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from catlayer import BrauerCategory, BrauerGroodCategory, PartitionCategory, PartitionDiagram
from catlayer.backend import multiplication_table
from catlayer.backend.structure_constants import diagram_keys

n = sympy.Symbol("n")


def assert_table_matches(category, k, idx, loops):
    hom = category.hom(k, k)
    assert idx.shape == loops.shape == (len(hom), len(hom))
    assert idx.dtype.kind == loops.dtype.kind == "i"
    for i, f in enumerate(hom):
        for j, g in enumerate(hom):
            assert category.compose(f, g).terms == {hom[idx[i, j]]: n ** int(loops[i, j])}


@pytest.mark.parametrize(
    ("category", "k"),
    [(PartitionCategory(n), k) for k in range(4)] + [(BrauerCategory(n), k) for k in range(5)],
    ids=lambda x: repr(x),
)
def test_full_table_matches_compose(category, k):
    idx, loops = multiplication_table(category, k)
    assert_table_matches(category, k, idx, loops)


@pytest.fixture(scope="module")
def p4_table():
    return multiplication_table(PartitionCategory(n), 4)


@given(st.integers(0, 4139), st.integers(0, 4139))
def test_p4_sample_matches_compose(p4_table, i, j):
    idx, loops = p4_table
    P = PartitionCategory(n)
    hom = P.hom(4, 4)
    assert P.compose(hom[i], hom[j]).terms == {hom[idx[i, j]]: n ** int(loops[i, j])}


def test_p4_table_structure(p4_table):
    idx, loops = p4_table
    hom = PartitionCategory(n).hom(4, 4)
    e = hom.index(PartitionDiagram.identity(4))
    everything = np.arange(len(hom))
    assert (idx[e] == everything).all() and (idx[:, e] == everything).all()
    assert (loops[e] == 0).all() and (loops[:, e] == 0).all()
    assert 0 <= loops.min() and loops.max() == 4  # four middle singletons
    # associativity of the structure constants on a slice: (a b) c = a (b c), loops included
    a, b = np.meshgrid(np.arange(0, 4140, 37), np.arange(0, 4140, 41), indexing="ij")
    for c in range(0, 4140, 97):
        ab = idx[a, b]
        left = idx[ab, c], loops[a, b] + loops[ab, c]
        bc = idx[b, c]
        right = idx[a, bc], loops[b, c] + loops[a, bc]
        assert (left[0] == right[0]).all() and (left[1] == right[1]).all()


def test_subsets_and_validation():
    hom = PartitionCategory(n).hom(2, 2)
    with pytest.raises(ValueError, match="not closed under composition"):
        multiplication_table((PartitionDiagram.swap(),), 2)
    with pytest.raises(ValueError, match=r"is a \(1, 1\)-diagram; the table needs \(2, 2\)-diagrams"):
        multiplication_table(PartitionCategory(n).hom(1, 1), 2)
    with pytest.raises(TypeError, match=r"BG\(n\) rules"):
        multiplication_table(BrauerGroodCategory(2).hom(1, 1), 1)
    with pytest.raises(TypeError, match="is not a diagram"):
        multiplication_table(["x"], 0)
    with pytest.raises(ValueError, match="must be an int >= 0"):
        multiplication_table(hom, -1)
    with pytest.raises(ValueError, match="not distinct"):
        multiplication_table(hom + hom[:1], 2)
    with pytest.raises(TypeError, match="no single-diagram multiplication table"):
        multiplication_table(BrauerGroodCategory(2), 1)
    idx, loops = multiplication_table((), 2)
    assert idx.shape == loops.shape == (0, 0)


def test_order_of_diagrams_is_respected():
    hom = PartitionCategory(n).hom(2, 2)
    reordered = hom[::-1]
    idx, loops = multiplication_table(reordered, 2)
    forward, forward_loops = multiplication_table(hom, 2)
    last = len(hom) - 1
    assert (last - idx[::-1, ::-1] == forward).all() and (loops[::-1, ::-1] == forward_loops).all()


def test_keys_follow_canonical_order():
    keys = diagram_keys(PartitionCategory(n).hom(3, 3))
    assert (np.diff(keys) > 0).all()
    brauer = diagram_keys(BrauerCategory(n).hom(3, 3))
    assert len(set(brauer.tolist())) == len(brauer)
