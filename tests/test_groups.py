"""Groups: construction, exact generators, samplers, the action ρ_k, dimensions."""

import pickle
from functools import reduce

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from catlayer import SO, BrauerCategory, BrauerGroodCategory, O, PartitionCategory, S, Sp
from catlayer.forms import symplectic_form

ALL = [S(1), S(2), S(3), S(4), O(1), O(2), O(3), O(4), SO(1), SO(2), SO(3), SO(4), Sp(2), Sp(4), Sp(6)]


def rho(g, k):
    return reduce(np.kron, [g] * k, np.eye(1))


def test_construction_and_identity():
    assert (S(4).family, O(3).family, SO(3).family, Sp(4).family) == (
        "partition",
        "orthogonal",
        "special_orthogonal",
        "symplectic",
    )
    assert S(4).category == PartitionCategory(4)
    assert O(3).category == BrauerCategory(3)
    assert Sp(4).category == BrauerCategory(-4) and Sp(4).delta == -4
    assert SO(3).category == BrauerGroodCategory(3)
    assert [repr(G) for G in (S(4), O(3), SO(3), Sp(4))] == ["S(4)", "O(3)", "SO(3)", "Sp(4)"]
    assert S(3) == S(3) and S(3) != O(3) and O(3) != SO(3) and hash(SO(3)) == hash(SO(3))
    assert pickle.loads(pickle.dumps(Sp(4))) == Sp(4) and S(np.int64(3)).n == 3
    for bad in (0, -1, 2.0, True, "3"):
        with pytest.raises(ValueError, match="int n >= 1"):
            S(bad)
    with pytest.raises(ValueError, match="even"):
        Sp(3)


@pytest.mark.parametrize("G", ALL, ids=repr)
def test_generators_are_exact_and_of_the_right_kind(G):
    n = G.n
    gens = G.generators()
    for g in gens:
        assert g.matrix.shape == (n, n) and g.matrix.dtype == object
        assert all(type(x) is int for x in g.matrix.flat)
        assert g.kind in ("group", "lie")
    lie = [g.matrix.astype(np.int64) for g in gens if g.kind == "lie"]
    group = [g.matrix.astype(np.int64) for g in gens if g.kind == "group"]
    if isinstance(G, S):
        assert not lie and len(group) == min(max(n - 1, 0), 2)
        closure = {tuple(np.eye(n, dtype=np.int64).ravel())}
        frontier = list(closure)
        while frontier:
            new = []
            for m in frontier:
                for g in group:
                    h = tuple((g @ np.array(m).reshape(n, n)).ravel())
                    if h not in closure:
                        closure.add(h)
                        new.append(h)
            frontier = new
        assert len(closure) == int(np.prod(range(1, n + 1)))  # they generate all of S_n
        return
    if isinstance(G, Sp):
        J = symplectic_form(n).astype(np.int64)
        assert len(lie) == n * (n + 1) // 2 and not group
        for X in lie:
            np.testing.assert_array_equal(X.T @ J + J @ X, 0)
    else:
        assert len(lie) == n * (n - 1) // 2
        for X in lie:
            np.testing.assert_array_equal(X.T + X, 0)
        if type(G) is O:
            assert len(group) == 1 and round(np.linalg.det(group[0])) == -1
        else:
            assert not group
    if lie:  # a basis: linearly independent
        assert np.linalg.matrix_rank(np.stack([X.ravel() for X in lie]).astype(float)) == len(lie)


@pytest.mark.parametrize("G", ALL, ids=repr)
def test_random_elements_belong_to_the_group(G):
    for seed in range(5):
        g = G.random_element(seed)
        assert g.dtype == np.float64 and g.shape == (G.n, G.n)
        assert G.is_element(g)
    np.testing.assert_array_equal(G.random_element(7), G.random_element(np.random.default_rng(7)))
    assert G.random_element(None).shape == (G.n, G.n)


def test_samplers_cover_the_group():
    dets = {round(np.linalg.det(O(3).random_element(s))) for s in range(20)}
    assert dets == {-1, 1}
    assert all(round(np.linalg.det(SO(3).random_element(s))) == 1 for s in range(20))
    g = Sp(4).random_element(3)
    assert not np.allclose(g.T @ g, np.eye(4))  # not only the compact part U(2)
    J = symplectic_form(4).astype(float)
    np.testing.assert_allclose(g.T @ J @ g, J, atol=1e-12)
    perms = {tuple(S(3).random_element(s).argmax(axis=0)) for s in range(60)}
    assert len(perms) == 6


def test_exact_membership():
    assert Sp(2).is_element(sympy.Matrix([[2, 3], [1, 2]]))
    assert not O(2).is_element(np.array([[2, 3], [1, 2]], dtype=object))
    assert SO(2).is_element([[0, -1], [1, 0]]) and not SO(2).is_element([[1, 0], [0, -1]])
    assert O(2).is_element([[1, 0], [0, -1]]) and not S(2).is_element([[1, 0], [0, -1]])
    assert not O(3).is_element(np.eye(2))


@given(st.sampled_from(ALL), st.integers(0, 3), st.integers(0, 2), st.integers(0, 2**32 - 1))
def test_act_equals_the_kronecker_power(G, order, batch_axes, seed):
    rng = np.random.default_rng(seed)
    lead = tuple(rng.integers(1, 3, batch_axes))
    x = rng.standard_normal(lead + (G.n,) * order)
    g = G.random_element(rng)
    expected = (x.reshape((*lead, -1)) @ rho(g, order).T).reshape(x.shape)
    np.testing.assert_allclose(G.act(g, x, order), expected, atol=1e-12)


def test_act_is_exact_on_exact_input_and_checks_shapes():
    G = S(3)
    x = np.arange(27, dtype=object).reshape(3, 3, 3)
    g = G.generators()[1]
    out = G.act(g.matrix, x, 3)
    assert out.dtype == object and out[1, 1, 1] == x[0, 0, 0]
    assert G.act(sympy.Matrix(g.matrix.tolist()), x, 2)[0, 1, 1] == x[0, 0, 0]
    with pytest.raises(ValueError, match="last 2 axes"):
        G.act(g.matrix, np.zeros((3, 2, 2)), 2)
    with pytest.raises(ValueError, match="3 x 3"):
        G.act(np.eye(2), x, 1)


#: docs/conventions.md §4 (N = 0..6), computed independently there; dim depends on N = k + l only.
TABLE = {
    S(2): [1, 1, 2, 4, 8, 16, 32],
    S(3): [1, 1, 2, 5, 14, 41, 122],
    S(4): [1, 1, 2, 5, 15, 51, 187],
    O(1): [1, 0, 1, 0, 1, 0, 1],
    O(2): [1, 0, 1, 0, 3, 0, 10],
    O(3): [1, 0, 1, 0, 3, 0, 15],
    O(4): [1, 0, 1, 0, 3, 0, 15],
    SO(2): [1, 0, 2, 0, 6, 0, 20],
    SO(3): [1, 0, 1, 1, 3, 6, 15],
    SO(4): [1, 0, 1, 0, 4, 0, 25],
    Sp(2): [1, 0, 1, 0, 2, 0, 5],
    Sp(4): [1, 0, 1, 0, 3, 0, 14],
}


@pytest.mark.parametrize("G", list(TABLE), ids=repr)
def test_dimension_table_of_the_conventions(G):
    for size, expected in enumerate(TABLE[G]):
        assert {G.dim(k, size - k) for k in range(size + 1)} == {expected}


def test_dimension_closed_forms():
    for N in range(1, 9):
        for n in range(1, 7):
            if 2 * n >= N:
                assert O(n).dim(N, 0) == (int(np.prod(range(N - 1, 0, -2))) if N % 2 == 0 else 0)
            if n % 2 == 0 and n >= N:
                assert Sp(n).dim(N, 0) == (int(np.prod(range(N - 1, 0, -2))) if N % 2 == 0 else 0)
            if N < n:
                assert SO(n).dim(N, 0) == O(n).dim(N, 0)
            if n >= N:  # Bell numbers
                assert S(n).dim(N, 0) == len(PartitionCategory(n).hom(N, 0))
    with pytest.raises(ValueError, match="k must be"):
        S(3).dim(-1, 2)


def _dense_invariants(G, size):
    """Exact nullity of the generator actions on (R^n)^{⊗N} (sympy), a method independent of
    both the diagrams and the Weyl integration."""
    n = G.n
    blocks = []
    for g in G.generators():
        X = sympy.Matrix(g.matrix.tolist())
        if g.kind == "group":
            power = rho(np.array(X.tolist(), dtype=np.int64), size).astype(int)
            blocks.append(sympy.Matrix(power) - sympy.eye(n**size))
        else:
            total = sympy.zeros(n**size, n**size)
            for a in range(size):
                factors = [X if b == a else sympy.eye(n) for b in range(size)]
                total += reduce(sympy.kronecker_product, factors, sympy.eye(1))
            blocks.append(total)
    if not blocks:
        return n**size
    return n**size - sympy.Matrix.vstack(*blocks).rank()


@pytest.mark.parametrize(
    ("G", "size"),
    [(G, N) for G in (S(2), S(3), O(2), O(3), SO(2), SO(3), Sp(2), Sp(4)) for N in range(5) if G.n**N <= 64],
    ids=str,
)
def test_dim_equals_the_dense_null_space(G, size):
    assert G.dim(size, 0) == _dense_invariants(G, size)


def test_dim_agrees_with_brute_force_character_average_for_s_n():
    from itertools import permutations

    for n in (1, 2, 3, 4):
        for size in range(6):
            fixed = [sum(p[i] == i for i in range(n)) ** size for p in permutations(range(n))]
            assert S(n).dim(size, 0) * len(fixed) == sum(fixed)
