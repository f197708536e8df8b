"""Groups: construction, exact generators, samplers, the action ρ_k, dimensions."""

import pickle
from fractions import Fraction
from functools import reduce

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from catlayer import SO, BrauerCategory, BrauerGroodCategory, O, PartitionCategory, S, Sp
from catlayer.forms import symplectic_form

ALL = [S(1), S(2), S(3), S(4), O(1), O(2), O(3), O(4), SO(1), SO(2), SO(3), SO(4), Sp(2), Sp(4), Sp(6)]
SIGNATURES = [(1, 1), (1, 2), (2, 1), (1, 3), (2, 2), (3, 1), (0, 2), (0, 3), (2, 3)]
#: The indefinite orthogonal groups, with p = 0 (η = −I, the compact group with a negated form) too.
INDEFINITE = [O(p, q) for p, q in SIGNATURES] + [SO(p, q) for p, q in SIGNATURES]


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


@pytest.mark.parametrize("G", ALL + INDEFINITE, ids=repr)
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


@given(st.sampled_from(ALL + INDEFINITE), st.integers(0, 3), st.integers(0, 2), st.integers(0, 2**32 - 1))
def test_act_equals_the_kronecker_power(G, order, batch_axes, seed):
    rng = np.random.default_rng(seed)
    lead = tuple(rng.integers(1, 3, batch_axes))
    x = rng.standard_normal(lead + (G.n,) * order)
    g = G.random_element(rng)
    expected = (x.reshape((*lead, -1)) @ rho(g, order).T).reshape(x.shape)
    np.testing.assert_allclose(G.act(g, x, order), expected, atol=1e-12 * max(1.0, np.abs(expected).max(initial=0)))


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
    [
        (G, N)
        for G in (S(2), S(3), O(2), O(3), SO(2), SO(3), Sp(2), Sp(4), O(1, 1), SO(1, 1), O(1, 2), SO(2, 1))
        for N in range(5)
        if G.n**N <= 64
    ],
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


# -- the indefinite orthogonal groups O(p, q), SO(p, q) ---------------------------------------------------------
def _eta(G):
    p, q = G.signature
    return np.diag([1] * p + [-1] * q)


def _components(g, p):
    """(sign det of the "+" block, sign det of the "−" block): which of the four components of
    O(p, q) (p, q ≥ 1) g lies in."""
    plus = np.sign(np.linalg.det(g[:p, :p])) if p else 1.0
    return int(plus), int(np.sign(np.linalg.det(g[p:, p:])))


def test_indefinite_construction_equality_and_errors():
    L = O(1, 3)
    assert (L.n, L.signature, repr(L), repr(SO(1, 3))) == (4, (1, 3), "O(1, 3)", "SO(1, 3)")
    assert L.metric.dtype.kind == "i" and L.metric.tolist() == np.diag([1, -1, -1, -1]).tolist()
    assert not L.metric.flags.writeable and not SO(2, 2).metric.flags.writeable
    assert O(3) == O(3, 0) and SO(3) == SO(3, 0) and O(3, 0).signature == (3, 0)
    assert O(3).metric.tolist() == np.eye(3, dtype=int).tolist()
    assert isinstance(L, O) and isinstance(SO(1, 3), SO) and L.family == "orthogonal"
    assert O(1, 3) == O(1, 3) and hash(O(1, 3)) == hash(O(np.int64(1), 3))
    assert len({O(1, 3), O(3, 1), SO(1, 3), O(4), O(0, 4)}) == 5  # different metrics or groups
    for G in (O(1, 3), SO(2, 1), O(0, 2)):
        assert pickle.loads(pickle.dumps(G)) == G
    assert O(1, 3).category == BrauerCategory(4) and O(1, 3).delta == 4
    assert SO(1, 3).category == BrauerGroodCategory(4, det_eta=-1)
    assert SO(2, 2).category == BrauerGroodCategory(4) and SO(2, 1).category == BrauerGroodCategory(3, det_eta=-1)
    assert len(L.basis(2, 2)) == L.dim(2, 2) == 3 and SO(1, 3).dim(2, 2) == 4
    for bad in ((-1, 2), (1, 2.0), (True, 1), (1, "3"), (2, 0.0), (3, False), (0, 0)):
        for family in (O, SO):
            with pytest.raises(ValueError, match=r"ints p, q >= 0|int n >= 1"):
                family(*bad)


@pytest.mark.parametrize("G", INDEFINITE, ids=repr)
def test_indefinite_generators_are_exact_and_reach_every_component(G):
    p, _ = G.signature
    n, eta = G.n, _eta(G)
    gens = G.generators()
    assert all(type(x) is int for g in gens for x in g.matrix.flat)
    lie = [g for g in gens if g.kind == "lie"]
    group = [g.matrix.astype(np.int64) for g in gens if g.kind == "group"]
    assert len(lie) == n * (n - 1) // 2
    for g in lie:
        X = g.matrix.astype(np.int64)
        np.testing.assert_array_equal(X.T @ eta + eta @ X, 0)  # in the Lie algebra of O(p, q)
        ((i, j),) = {tuple(sorted(ij)) for ij in zip(*np.nonzero(X), strict=True)}
        assert g.name.startswith("rotation" if eta[i, i] == eta[j, j] else "boost")
    assert np.linalg.matrix_rank(np.stack([g.matrix.ravel() for g in lie]).astype(float)) == len(lie)
    reached = {(1, 1)}
    for g in group:
        assert G.is_element(g) and G.is_element(np.array(g, dtype=object))
        reached |= {(a * c, b * d) for a, b in list(reached) for c, d in [_components(g.astype(float), p)]}
    if p == 0:
        wanted = {(1, 1)} if isinstance(G, SO) else {(1, 1), (1, -1)}
    else:
        wanted = {(1, 1), (-1, -1)} if isinstance(G, SO) else {(1, 1), (1, -1), (-1, 1), (-1, -1)}
    assert reached == wanted and G.num_components == len(wanted)


@pytest.mark.parametrize("G", INDEFINITE, ids=repr)
def test_indefinite_random_elements_every_component_and_the_rapidity_bound(G):
    p, _ = G.signature
    eta = _eta(G).astype(float)
    components = set()
    for c in range(G.num_components):
        for seed in range(4):
            g = G.random_element(seed, component=c)
            np.testing.assert_allclose(g.T @ eta @ g, eta, atol=1e-12 * max(1.0, np.abs(g).max() ** 2))
            assert G.is_element(g) and np.linalg.norm(g, 2) <= np.e * (1 + 1e-12)
            components.add(_components(g, p))
            assert G.random_element(seed, component=c + G.num_components).tolist() == g.tolist()
    assert len(components) == G.num_components  # each component index gives its own component
    for rapidity in (0.0, 0.3, 2.5):
        norms = [np.linalg.norm(G.random_element(s, rapidity=rapidity), 2) for s in range(20)]
        assert max(norms) <= np.exp(rapidity) * (1 + 1e-12)
        if rapidity and p:  # boosts happen: not only the compact subgroup O(p) × O(q)
            assert max(norms) > np.exp(rapidity / 4)
        if rapidity == 0:
            assert all(abs(norm - 1) < 1e-12 for norm in norms)
    assert {_components(G.random_element(s), p) for s in range(40)} == components
    for rapidity in (-0.5, np.inf, np.nan, True, "1"):
        with pytest.raises(ValueError, match="rapidity must be a finite real number >= 0"):
            G.random_element(0, rapidity=rapidity)
    for component in (1.5, True, "0"):
        with pytest.raises(ValueError, match="component must be None or an int"):
            G.random_element(0, component=component)


def test_indefinite_exact_and_float_membership():
    boost = sympy.Matrix([[sympy.Rational(5, 4), sympy.Rational(3, 4)], [sympy.Rational(3, 4), sympy.Rational(5, 4)]])
    assert O(1, 1).is_element(boost) and SO(1, 1).is_element(boost)
    assert not O(2).is_element(boost)
    parity = [[-1, 0], [0, 1]]
    assert O(1, 1).is_element(parity) and not SO(1, 1).is_element(parity)
    assert SO(1, 1).is_element([[-1, 0], [0, -1]])
    assert not O(1, 1).is_element([[0, -1], [1, 0]])  # a rotation of the plane does not preserve η
    L = O(1, 3)
    fractions = np.array(
        [[Fraction(5, 4), Fraction(3, 4), 0, 0], [Fraction(3, 4), Fraction(5, 4), 0, 0], [0, 0, 0, 1], [0, 0, -1, 0]],
        dtype=object,
    )
    assert L.is_element(fractions) and SO(1, 3).is_element(fractions)
    assert not L.is_element(np.eye(4, dtype=int) * 2) and not L.is_element(np.eye(3))
    g = L.random_element(3, rapidity=2.0)
    assert L.is_element(g) and L.is_element(g.astype(np.float32), tolerance=1e-5)
    bent = g.copy()
    bent[0, 1] += 1e-6
    assert not L.is_element(bent) and L.is_element(bent, tolerance=1e-3)
    assert not L.is_element(np.full((4, 4), np.nan))
    assert not SO(1, 3).is_element(L.random_element(0, component=1))  # time reversal: det −1


@pytest.mark.parametrize("G", INDEFINITE, ids=repr)
def test_indefinite_dimensions_are_those_of_the_compact_group(G):
    compact = SO(G.n) if isinstance(G, SO) else O(G.n)
    assert [G.dim(N, 0) for N in range(7)] == [compact.dim(N, 0) for N in range(7)]
    assert [G.dim(k, 4 - k) for k in range(5)] == [compact.dim(4, 0)] * 5


def test_act_of_a_boost_by_hand():
    t = np.arctanh(0.6)  # cosh = 1.25, sinh = 0.75
    g = np.eye(4)
    g[:2, :2] = [[np.cosh(t), np.sinh(t)], [np.sinh(t), np.cosh(t)]]
    L = O(1, 3)
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(L.act(g, x, 1), [1.25 + 1.5, 0.75 + 2.5, 3.0, 4.0])
    T = np.outer(x, x)
    np.testing.assert_allclose(L.act(g, T, 2), np.outer(g @ x, g @ x))
    minkowski = x @ np.diag([1.0, -1, -1, -1]) @ x
    y = L.act(g, x, 1)
    assert np.isclose(y @ np.diag([1.0, -1, -1, -1]) @ y, minkowski)
