"""Bases and dimensions: the exact elimination, basis selection = dim, rank of the spanning
set = dim, and the S_n orbit basis and change of basis (docs/conventions.md §4, §5)."""

import random
from itertools import product

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from catlayer import SO, Combination, O, PartitionDiagram, S, Sp
from catlayer.backend.memory import AllocationTooLarge
from catlayer.bases import (
    _first_independent_rows,
    coarsenings,
    diagram_to_orbit,
    exact_rank,
    gram_matrix,
    greedy_independent,
    independent_subset,
    orbit_to_diagram,
    rank_mod_p,
)
from catlayer.diagrams.permutations import permutation_sign
from catlayer.groups.base import LeviCivita

GROUPS = [S(1), S(2), S(3), S(4), O(1), O(2), O(3), O(4), SO(1), SO(2), SO(3), SO(4), Sp(2), Sp(4)]


def images(G, diagrams):
    if not diagrams:
        return np.zeros((0, 1), dtype=np.int64)
    return np.stack([G.functor(d).to_numpy(np.int64).ravel() for d in diagrams])


# -- exact elimination ---------------------------------------------------------------------------------
integer_matrices = st.integers(1, 6).flatmap(
    lambda rows: st.integers(1, 5).flatmap(
        lambda cols: st.lists(st.lists(st.integers(-3, 3), min_size=cols, max_size=cols), min_size=rows, max_size=rows)
    )
)


@given(integer_matrices)
def test_greedy_independent_is_the_first_basis(rows):
    a = np.array(rows, dtype=np.int64)
    chosen = greedy_independent(gram_matrix(a))
    expected, basis = [], []
    for i, row in enumerate(rows):  # sympy's exact rank, incrementally
        if sympy.Matrix([*basis, row]).rank() > len(basis):
            basis.append(row)
            expected.append(i)
    assert list(chosen) == expected
    assert exact_rank(a) == sympy.Matrix(rows).rank() >= rank_mod_p(a)
    assert rank_mod_p(a, 3) <= exact_rank(a)


def test_exact_elimination_handles_big_integers_and_rejects_non_gram_matrices():
    big = np.array([[10**30, 1], [2 * 10**30, 2], [1, 0]], dtype=object)
    assert exact_rank(big) == 2
    with pytest.raises(ValueError, match="positive semidefinite"):
        greedy_independent([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="square"):
        greedy_independent([[1, 2]])


# -- bases, dimensions, fullness -----------------------------------------------------------------------------
@pytest.mark.parametrize("G", GROUPS, ids=repr)
def test_basis_has_dim_elements_and_independent_images(G):
    for size in range(7):
        for k in (0, size // 2, size):
            l = size - k
            basis = G.basis(k, l)
            assert len(basis) == G.dim(k, l)
            assert set(basis) <= set(G.spanning_set(k, l))
            assert G.basis(k, l) is basis  # cached, deterministic
            if basis and G.n**size <= 4096:
                assert exact_rank(images(G, basis)) == len(basis)
            assert (G.basis_empty_reason(k, l) is None) == bool(basis)


@pytest.mark.parametrize("G", [g for g in GROUPS if g.n <= 3] + [S(4)], ids=repr)
def test_spanning_set_has_rank_dim(G):
    for size in range(6 if G == S(4) else 7):
        k = size // 2
        spanning = G.spanning_set(k, size - k)
        rank = exact_rank(images(G, spanning)) if spanning else 0
        assert rank == G.dim(k, size - k)


def test_known_independence_thresholds_and_selection():
    for G, (k, l) in [(O(2), (3, 3)), (SO(2), (2, 2)), (Sp(2), (2, 2)), (O(1), (2, 2))]:
        spanning = G.spanning_set(k, l)
        rows = images(G, spanning)
        expected, kept = [], []
        for i, d in enumerate(spanning):  # the first independent subset, by sympy's exact rank
            if sympy.Matrix([*kept, rows[i].tolist()]).rank() > len(kept):
                kept.append(rows[i].tolist())
                expected.append(d)
        assert G.basis(k, l) == tuple(expected)
    assert len(O(2).spanning_set(3, 3)) == 15 and len(O(2).basis(3, 3)) == 10
    assert O(3).basis(3, 3) == O(3).spanning_set(3, 3)  # 2n >= N
    assert Sp(4).basis(2, 2) == Sp(4).spanning_set(2, 2) and len(Sp(2).basis(2, 2)) == 2
    assert S(2).basis(2, 2) == tuple(d for d in S(2).spanning_set(2, 2) if len(d.blocks) <= 2)
    brauer_first = SO(2).basis(1, 1)
    assert [len(d.free_vertices) for d in brauer_first] == [0, 2]
    assert len(SO(3).basis(2, 1)) == 1 and SO(3).basis(2, 1)[0].free_vertices == (0, 1, 2)


def test_empty_spaces_say_why():
    assert O(3).basis(2, 1) == () and "odd" in O(3).basis_empty_reason(2, 1)
    assert Sp(2).basis(0, 3) == () and "no Brauer diagrams" in Sp(2).basis_empty_reason(0, 3)
    assert SO(2).basis(1, 0) == () and "n-diagrams" in SO(2).basis_empty_reason(1, 0)
    assert SO(3).basis_empty_reason(1, 2) is None and S(1).basis_empty_reason(3, 3) is None


def test_dim_rejects_bad_orders():
    with pytest.raises(ValueError, match="k must be an int >= 0"):
        S(2).dim(-1, 2)


# -- S_n: orbit basis ------------------------------------------------------------------------------------------
def test_orbit_images_vanish_exactly_beyond_n_blocks():
    G = S(2)
    for d in G.spanning_set(2, 2):
        assert bool(G.orbit_functor(d).to_numpy(np.int64).any()) == (len(d.blocks) <= 2)


def test_coarsenings_and_moebius():
    d = PartitionDiagram([[0], [1], [2]], dom=1, cod=2)
    pairs = coarsenings(d)
    assert len(pairs) == 5
    mus = {sigma: mu for sigma, mu in pairs}
    assert mus[d] == 1 and mus[PartitionDiagram([[0, 1, 2]], 1, 2)] == 2
    assert sorted(mus.values()) == [-1, -1, -1, 1, 2]


@given(st.sampled_from([S(1), S(2), S(3), S(4)]), st.integers(0, 4), st.data())
def test_change_of_basis_round_trip(G, size, data):
    k = data.draw(st.integers(0, size))
    spanning = G.spanning_set(k, size - k)
    chosen = data.draw(st.lists(st.sampled_from(spanning), min_size=1, max_size=4, unique=True))
    weights = data.draw(st.lists(st.integers(-5, 5), min_size=len(chosen), max_size=len(chosen)))
    c = Combination(dict(zip(chosen, weights, strict=True)), k, size - k)
    orbit = G.diagram_to_orbit(c)
    assert all(len(d.blocks) <= G.n for d in orbit.terms)
    assert G.functor(c) == G.orbit_functor(orbit)  # E-side and X-side are the same matrix
    back = G.orbit_to_diagram(orbit)
    assert G.functor(back) == G.functor(c)
    if all(len(d.blocks) <= G.n for d in chosen):  # in the basis, coordinates are unique
        assert back == Combination(c.terms, k, size - k, G.category)
    assert orbit_to_diagram(orbit, G.n) == back
    assert diagram_to_orbit(back, G.n) == orbit


# -- bases chosen from entries at a few index tuples -----------------------------------------------------------
def dense_first_basis(G, k, l):
    """Today's reference: dense integer images, Gram matrix, fraction-free greedy elimination."""
    spanning = G.spanning_set(k, l)
    if not spanning:
        return ()
    return tuple(spanning[i] for i in greedy_independent(gram_matrix(images(G, spanning))))


SMALL = [O(1), O(2), O(3), SO(1), SO(2), SO(3), SO(4), SO(5), Sp(2), Sp(4), Sp(6)]


@pytest.mark.parametrize("G", SMALL, ids=repr)
def test_basis_equals_dense_elimination(G):
    for size in range(7):
        for k in range(size + 1):
            assert G.basis(k, size - k) == dense_first_basis(G, k, size - k), (k, size - k)


@pytest.mark.parametrize("G, k, l", [(O(2), 4, 4), (O(3), 4, 4), (O(3), 1, 7), (Sp(2), 4, 4), (SO(3), 3, 4)], ids=repr)
def test_basis_equals_dense_elimination_at_order_8(G, k, l):
    assert G.basis(k, l) == dense_first_basis(G, k, l)


@pytest.mark.parametrize("G, k, l", [(SO(2), 4, 4), (SO(2), 2, 6), (SO(2), 1, 7)], ids=repr)
def test_basis_equals_elimination_of_the_dense_images_at_order_8(G, k, l):
    # Too many diagrams for the Gram elimination in a test: eliminate the dense images directly
    # (the eliminator itself is held against sympy in test_first_independent_rows below).
    spanning = G.spanning_set(k, l)
    chosen = _first_independent_rows(images(G, spanning), len(spanning))
    assert G.basis(k, l) == tuple(spanning[i] for i in chosen)


def test_bases_without_dense_images_at_sizes_that_used_to_fail():
    for G, k, l in [(SO(8), 4, 4), (SO(4), 4, 4), (SO(9), 5, 4), (SO(6), 4, 4), (Sp(6), 4, 4)]:
        basis = G.basis(k, l)
        assert len(basis) == G.dim(k, l)
        evaluate, witness = G.evaluate_many, G.witness
        rng = random.Random(7)
        x = np.stack([witness(d, rng) for d in G.spanning_set(k, l) for _ in range(2)])
        assert rank_mod_p(evaluate(basis, x).T) == len(basis)  # a nonzero minor mod p: independent over Q
    assert SO(8).basis(4, 4) == SO(8).spanning_set(4, 4) and len(SO(9).basis(5, 4)) == 1


@pytest.mark.parametrize("G", [S(2), S(5), O(4), O(5), SO(6), SO(7), Sp(8)], ids=repr)
def test_basis_has_dim_elements_at_order_8(G):
    for size in (7, 8):
        for k in (0, size // 2):
            assert len(G.basis(k, size - k)) == G.dim(k, size - k)


def test_entry_evaluators_match_the_dense_images():
    for G in [S(2), S(3), O(2), O(3), SO(2), SO(3), SO(4), Sp(2), Sp(4), O(1, 2), SO(1, 1), SO(2, 1)]:
        evaluate, witness = G.evaluate_many, G.witness
        rng = random.Random(3)
        for size in range(6):
            x = np.array(list(product(range(G.n), repeat=size)), dtype=np.int64).reshape(G.n**size, size)
            for k in sorted({0, size // 2, size - 1, size} - {-1}):
                spanning = G.spanning_set(k, size - k)
                if not spanning:
                    continue
                assert np.array_equal(evaluate(spanning, x), images(G, spanning)), (G, k)
                for d in spanning:
                    for w in (witness(d, None), witness(d, rng)):
                        assert evaluate((d,), w[None])[0, 0] != 0, (G, d, w)


def test_levi_civita_sign_by_formula():
    def sign(a):
        return LeviCivita(tuple(range(a.shape[1])), (), None).value(a)

    for n in range(1, 6):
        tuples = np.array(list(product(range(n), repeat=n)))
        expected = [permutation_sign(t) if len(set(t)) == n else 0 for t in map(tuple, tuples.tolist())]
        assert sign(tuples).tolist() == expected
    rng = random.Random(0)
    perms = [rng.sample(range(64), 64) for _ in range(20)]
    assert sign(np.array(perms)).tolist() == [permutation_sign(p) for p in perms]


@given(integer_matrices, st.booleans())
def test_first_independent_rows(rows, huge):
    a = np.array(rows, dtype=object) * (2**40 if huge else 1)  # huge: the Python-int path
    expected, basis = [], []
    for i, row in enumerate(rows):
        if sympy.Matrix([*basis, row]).rank() > len(basis):
            basis.append(row)
            expected.append(i)
    chosen = _first_independent_rows(a if huge else a.astype(np.int64), len(rows))
    assert chosen == expected


def test_independent_subset_checks_its_arguments():
    G = O(2)
    spanning = G.spanning_set(3, 3)
    evaluate, witness = G.evaluate_many, G.witness
    assert independent_subset(spanning, 10, evaluate, witness) == G.basis(3, 3)
    assert independent_subset(spanning[:3], 3, evaluate, witness) == spanning[:3]  # size = dim: as is
    assert independent_subset(spanning, 0, evaluate, witness) == ()
    with pytest.raises(ValueError, match="between 0 and 15"):
        independent_subset(spanning, 16, evaluate, witness)
    with pytest.raises(TypeError, match="dimension must be an int"):
        independent_subset(spanning, 2.0, evaluate, witness)
    with pytest.raises(ArithmeticError, match="rank 10 < dimension 11"):
        independent_subset(spanning, 11, evaluate, witness)


def test_independent_subset_guards_memory_before_evaluating():
    class Unused:
        def __init__(self, size):
            self.size = size

    def evaluate(diagrams, x):
        raise AssertionError("evaluated")

    huge = [Unused(16)] * 2_000_000  # e.g. the 15!! Brauer diagrams of O(3) at k + l = 16
    with pytest.raises(AllocationTooLarge):
        independent_subset(huge, 500_000, evaluate, evaluate)
