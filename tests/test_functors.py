"""The functors against dense matrices written here straight from the entry formulas of docs/conventions.md §3,
functoriality and monoidality on random composable pairs, equivariance, Sp signs, apply."""

from functools import reduce
from itertools import permutations, product

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from catlayer import (
    SO,
    BrauerCategory,
    BrauerDiagram,
    BrauerGroodDiagram,
    Combination,
    O,
    PartitionDiagram,
    S,
    Sp,
)
from catlayer.backend.memory import AllocationTooLarge, set_memory_budget
from tests.test_backend_oracle import group as oracle_group
from tests.test_backend_oracle import oracle_matrix

GROUPS = [S(1), S(2), S(3), O(1), O(2), O(3), Sp(2), Sp(4), SO(1), SO(2), SO(3), SO(4)]
GROUPS += [O(1, 1), O(2, 1), O(1, 3), O(2, 2), SO(1, 1), SO(1, 2), SO(3, 1), SO(2, 2)]  # η = diag(+1 ×p, −1 ×q)


# -- independent reference: the entry formulas, one index tuple at a time ------------------------
def _epsilon(n):
    return lambda a, b: 1 if (a % 2 == 0 and b == a + 1) else -1 if (b % 2 == 0 and a == b + 1) else 0


def _levi_civita(values):
    if len(set(values)) < len(values):
        return 0
    inversions = sum(1 for i in range(len(values)) for j in range(i + 1, len(values)) if values[i] > values[j])
    return -1 if inversions % 2 else 1


def _sp_sign(d):
    l, k = d.cod, d.dom
    pos = [(v if v < l else l + (k - 1 - (v - l))) for v in range(d.size)]
    pairs = [tuple(sorted(pos[v] for v in b)) for b in d.blocks]
    cross = sum(1 for i, (a, b) in enumerate(pairs) for (c, e) in pairs[i + 1 :] if a < c < b < e or c < a < e < b)
    caps = sum(1 for b in d.blocks if b[-1] < l)
    return (-1) ** (cross + caps)


def reference(G, d, orbit=False):
    """Dense integer matrix of the image of d, entry by entry (docs/conventions.md §3). O and SO
    carry their metric η (the identity for O(n), SO(n)) on same-row pairs and on the input
    indices of the Levi-Civita symbol."""
    n, l, k = G.n, d.cod, d.dom
    eps = _epsilon(n)
    eta = np.diagonal(G.metric) if isinstance(G, (O, SO)) else np.ones(n, dtype=np.int64)
    out = np.zeros((n**l, n**k), dtype=np.int64)
    for x in product(range(n), repeat=l + k):
        value = 1
        for b in d.blocks:
            same_row = (b[-1] < l) or (b[0] >= l)
            if G.family == "symplectic" and same_row:
                value *= eps(x[b[0]], x[b[1]])
            elif G.family == "special_orthogonal" and len(b) == 1:
                value *= eta[x[b[0]]] if b[0] >= l else 1
            else:
                value *= all(x[v] == x[b[0]] for v in b)
                if same_row and len(b) == 2:
                    value *= eta[x[b[0]]]
        if G.family == "special_orthogonal" and d.free_vertices:
            value *= _levi_civita([x[f] for f in d.free_vertices])
        if orbit:
            value *= len({x[b[0]] for b in d.blocks}) == len(d.blocks)
        if G.family == "symplectic":
            value *= _sp_sign(d)
        row = sum(x[a] * n ** (l - 1 - a) for a in range(l))
        col = sum(x[l + j] * n ** (k - 1 - j) for j in range(k))
        out[row, col] += value
    return out


def rho(g, k):
    return reduce(np.kron, [g] * k, np.eye(1))


@st.composite
def group_and_diagram(draw, max_size=4):
    G = draw(st.sampled_from(GROUPS))
    size = draw(st.integers(0, max_size))
    k = draw(st.integers(0, size))
    hom = G.spanning_set(k, size - k)
    if not hom:
        hom = G.spanning_set(k, size - k + 1) or G.spanning_set(0, 0)
    return G, draw(st.sampled_from(hom))


@st.composite
def composable(draw):
    G = draw(st.sampled_from(GROUPS))
    k, l, m = draw(st.integers(0, 3)), draw(st.integers(0, 3)), draw(st.integers(0, 3))
    first, second = G.spanning_set(k, l), G.spanning_set(l, m)
    if not first or not second:
        k, l, m = 1, 1, 1
        first, second = G.spanning_set(1, 1), G.spanning_set(1, 1)
    return G, draw(st.sampled_from(first)), draw(st.sampled_from(second))


@st.composite
def tensorable(draw):
    G = draw(st.sampled_from(GROUPS))
    sizes = [draw(st.integers(0, 3)) for _ in range(2)]
    out = []
    for size in sizes:
        k = draw(st.integers(0, size))
        hom = G.spanning_set(k, size - k) or G.spanning_set(1, 1)
        out.append(draw(st.sampled_from(hom)))
    return G, out[0], out[1]


# -- entry formulas ------------------------------------------------------------------------------------
@given(group_and_diagram())
def test_images_match_the_entry_formulas(case):
    G, d = case
    expected = reference(G, d)
    F = G.functor(d)
    assert F.shape == expected.shape == (G.n**d.cod, G.n**d.dom)
    np.testing.assert_array_equal(F.to_numpy(np.int64), expected)
    np.testing.assert_array_equal(F.to_numpy(), expected.astype(np.float64))
    assert F.to_sympy() == sympy.Matrix(expected.tolist())


@given(st.sampled_from([S(1), S(2), S(3)]), st.integers(0, 4), st.data())
def test_orbit_basis_matches_its_entry_formula(G, size, data):
    k = data.draw(st.integers(0, size))
    d = data.draw(st.sampled_from(G.spanning_set(k, size - k)))
    np.testing.assert_array_equal(G.orbit_functor(d).to_numpy(np.int64), reference(G, d, orbit=True))


def test_worked_examples_of_the_conventions():
    H = BrauerGroodDiagram([[0], [1]], dom=1, cod=1)
    assert SO(2).functor(H).to_numpy(np.int64).tolist() == [[0, 1], [-1, 0]]
    cross = SO(3).functor(BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1)).to_numpy()
    a, b = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(cross @ np.kron(a, b), np.cross(a, b))
    d = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)
    v = np.random.default_rng(0).standard_normal((3,) * 5)
    w = (S(3).functor(d).to_numpy() @ v.ravel()).reshape(3, 3, 3)
    expected = np.einsum("zcxcz->xz", v)[:, None, :].repeat(3, axis=1)
    np.testing.assert_allclose(w, expected)


# -- functor laws ----------------------------------------------------------------------------------------
@given(composable())
def test_functoriality(case):
    G, d, e = case
    composite = G.category.compose(d, e)
    expected = sum(int(c) * reference(G, t) for t, c in composite.terms.items()) if composite else 0
    np.testing.assert_array_equal(reference(G, e) @ reference(G, d), np.zeros((G.n**e.cod, G.n**d.dom)) + expected)
    assert G.functor(composite) == (G.functor(d) >> G.functor(e))


@given(tensorable())
def test_monoidality(case):
    G, d, e = case
    product_ = G.category.tensor(d, e)
    expected = sum(int(c) * reference(G, t) for t, c in product_.terms.items())
    np.testing.assert_array_equal(np.kron(reference(G, d), reference(G, e)), expected)
    assert G.functor(product_) == (G.functor(d) @ G.functor(e))


def test_bare_diagram_composition_uses_the_groups_loop_value():
    cap, cup = BrauerDiagram([[0, 1]], dom=0, cod=2), BrauerDiagram([[0, 1]], dom=2, cod=0)
    assert Sp(4).functor(cap >> cup).to_sympy() == sympy.Matrix([[-4]])
    assert O(3).functor(cap >> cup).to_sympy() == sympy.Matrix([[3]])
    assert Sp(4).functor(cap >> cup) == (Sp(4).functor(cap) >> Sp(4).functor(cup))
    with pytest.raises(ValueError, match="BrauerCategory"):
        Sp(4).functor(BrauerCategory(4).compose(cap, cup))
    assert O(1, 3).functor(cap >> cup).to_sympy() == sympy.Matrix([[4]])  # η·η summed: the loop is n


def test_bare_n_diagram_composition_is_refused_where_det_eta_is_minus_one():
    """``H >> H`` on bare n-diagrams expands ε·ε in BG(n) with det η = +1; for SO(p, q) with q
    odd that has the wrong sign, so the functor refuses it instead of returning −F(H)F(H)."""
    H = BrauerGroodDiagram([[0], [1]], dom=1, cod=1)
    G = SO(1, 1)
    square = G.functor(H).to_numpy() @ G.functor(H).to_numpy()
    np.testing.assert_array_equal(square, np.eye(2))  # H^η = [[0, −1], [−1, 0]]
    with pytest.raises(ValueError, match=r"det_eta=-1.*compose with SO\(1, 1\)\.category\.compose"):
        G.functor(H >> H)
    np.testing.assert_array_equal(G.functor(G.category.compose(H, H)).to_numpy(), square)
    np.testing.assert_array_equal(SO(2).functor(H >> H).to_numpy(), -np.eye(2))  # ε·ε = −I
    H4 = BrauerGroodDiagram([[0], [1], [2], [3]], dom=2, cod=2)
    for G in (SO(4), SO(2, 2)):  # det η = +1: bare composition is right
        M = G.functor(H4).to_numpy()
        np.testing.assert_array_equal(G.functor(H4 >> H4).to_numpy(), M @ M)


def test_linear_combinations_and_operators():
    G = S(3)
    d, e = G.basis(1, 1)
    c = Combination({d: 2, e: sympy.Rational(-1, 3)})
    np.testing.assert_array_equal(
        G.functor(c).to_sympy(), 2 * G.functor(d).to_sympy() - sympy.Rational(1, 3) * G.functor(e).to_sympy()
    )
    assert G.functor(c) == 2 * G.functor(d) - sympy.Rational(1, 3) * G.functor(e)
    assert G.functor(d) != G.functor(e)
    assert sum([G.functor(d), G.functor(e)]) == G.functor(Combination({d: 1, e: 1}))
    symbolic = G.functor(Combination({d: sympy.Symbol("w")})).to_sympy()
    assert symbolic == sympy.Symbol("w") * G.functor(d).to_sympy()
    with pytest.raises(ValueError, match="non-integer"):
        G.functor(c).to_numpy(np.int64)
    with pytest.raises(ValueError, match="compose"):
        G.functor(d) >> G.functor(G.basis(2, 2)[0])
    with pytest.raises(ValueError, match="different groups"):
        G.functor(d) >> S(2).functor(d)
    with pytest.raises(ValueError, match="not a morphism"):
        O(3).functor(PartitionDiagram([[0, 1, 2]], dom=1, cod=2))
    with pytest.raises(ValueError, match="0 or 2"):
        SO(2).functor(BrauerGroodDiagram([[0], [1, 2], [3]], dom=2, cod=2) @ BrauerGroodDiagram([[0]], 1, 0))


def test_to_numpy_is_size_guarded():
    d = PartitionDiagram.identity(4)
    set_memory_budget(10**6)
    try:
        with pytest.raises(AllocationTooLarge, match="dense"):
            S(20).functor(d).to_numpy()
    finally:
        set_memory_budget(None)


# -- equivariance of the images -----------------------------------------------------------------------
@given(group_and_diagram(max_size=5), st.integers(0, 2**32 - 1))
def test_images_are_equivariant_under_random_elements(case, seed):
    G, d = case
    g = G.random_element(seed)
    M = G.functor(d).to_numpy()
    residual = np.abs(rho(g, d.cod) @ M - M @ rho(g, d.dom)).max(initial=0)
    scale = max(np.abs(rho(g, d.cod) @ M).max(initial=0), 1.0)
    assert residual <= 1e-10 * scale


#: float32 bound on the relative residual max|ρ(g)M − Mρ(g)| / max|ρ(g)M| for k + l ≤ 4.
FLOAT32_TOLERANCE = 1e-5


@given(group_and_diagram(max_size=4), st.integers(0, 2**32 - 1))
def test_images_are_equivariant_in_float32(case, seed):
    G, d = case
    g = G.random_element(seed).astype(np.float32)
    M = G.functor(d).to_numpy(np.float32)
    left = (rho(g, d.cod).astype(np.float32) @ M).astype(np.float64)
    right = (M @ rho(g, d.dom).astype(np.float32)).astype(np.float64)
    assert np.abs(left - right).max(initial=0) <= FLOAT32_TOLERANCE * max(np.abs(left).max(initial=0), 1.0)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_levi_civita_images_are_anti_equivariant_under_reflections(n):
    G = SO(n)
    reflection = np.diag([1.0] * (n - 1) + [-1.0])
    g = O(n).random_element(0)
    if np.linalg.det(g) > 0:
        g = g @ reflection
    powers = {id(r): [rho(r, k) for k in range(n + 3)] for r in (reflection, g)}  # ρ_6 is 4096 × 4096 for n = 4
    for size in range(n, n + 3):
        for k in range(size + 1):
            for d in G.basis(k, size - k):
                if not d.free_vertices:
                    continue
                M = G.functor(d).to_numpy()
                for r in (reflection, g):
                    left, right = powers[id(r)][d.cod] @ M, M @ powers[id(r)][d.dom]
                    np.testing.assert_allclose(left, -right, atol=1e-12)
                    assert r is g or np.abs(left - right).max() > 1


@pytest.mark.parametrize("family, n", [(f, n) for f in ("lorentz", "special_lorentz") for n in (2, 3, 4)])
def test_lorentz_images_match_the_backend_oracle(family, n):
    """Every image with k + l ≤ 5 of O(1, n−1) / SO(1, n−1) against the oracle's entry formula."""
    G = oracle_group(family, n)
    assert G == (O(1, n - 1) if family == "lorentz" else SO(1, n - 1))
    checked = 0
    for size in range(6):
        for k in range(size + 1):
            for d in G.spanning_set(k, size - k):
                F, expected = G.functor(d), oracle_matrix(family, n, d)
                np.testing.assert_array_equal(F.to_numpy(), expected, err_msg=repr(d))
                np.testing.assert_array_equal(F.to_numpy(np.int64), expected.astype(np.int64), err_msg=repr(d))
                if size <= 3:
                    assert F.to_sympy() == sympy.Matrix(expected.astype(np.int64).tolist())
                checked += 1
    assert checked >= 19  # 1 + 3 + 15 Brauer diagrams with k + l = 0, 2, 4 alone


@pytest.mark.parametrize("p, q", [(1, 1), (2, 1), (1, 2), (1, 3), (2, 2)])
def test_indefinite_levi_civita_images_are_anti_equivariant_under_the_other_components(p, q):
    """H^η is SO(p, q)-equivariant and changes sign under the elements of O(p, q) with det −1."""
    n = p + q
    G = SO(p, q)
    for seed in range(2):
        g = O(p, q).random_element(seed, component=1)  # det of the "+" block −1: det g = −1
        assert np.linalg.det(g) < 0
        for size in (n, n + 2) if n < 4 else (n,):  # ρ_6(g) for n = 4 would be 4096 × 4096
            for k in range(size + 1):
                for d in G.spanning_set(k, size - k):
                    if not d.free_vertices:
                        continue
                    M = G.functor(d).to_numpy()
                    scale = np.abs(rho(g, d.cod) @ M).max()
                    np.testing.assert_allclose(rho(g, d.cod) @ M, -M @ rho(g, d.dom), atol=1e-12 * scale)


# -- the symplectic signs -------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 4])
def test_unsigned_symplectic_matrices_break_the_snake_and_signed_ones_satisfy_it(n):
    G = Sp(n)
    cap, cup = BrauerDiagram([[0, 1]], dom=0, cod=2), BrauerDiagram([[0, 1]], dom=2, cod=0)
    one = BrauerDiagram.identity(1)

    def unsigned(d):
        return reference(G, d) * _sp_sign(d)

    snake = unsigned(one @ cup) @ unsigned(cap @ one)
    np.testing.assert_array_equal(snake, -np.eye(n, dtype=np.int64))
    assert (G.functor(cap @ one) >> G.functor(one @ cup)) == G.functor(one)
    assert (G.functor(one @ cap) >> G.functor(cup @ one)) == G.functor(one)
    np.testing.assert_array_equal(G.functor(BrauerDiagram.swap()).to_numpy(np.int64), -unsigned(BrauerDiagram.swap()))
    for p in permutations(range(3)):
        sigma = BrauerDiagram.permutation(p)
        sign = 1 if sum(p[i] > p[j] for i in range(3) for j in range(i + 1, 3)) % 2 == 0 else -1
        np.testing.assert_array_equal(G.functor(sigma).to_numpy(np.int64), sign * unsigned(sigma))


# -- matrix-free application (delegated to catlayer.backend) ---------------------------------------------
@given(group_and_diagram(max_size=4), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_apply_matches_the_dense_matrix(case, batch, seed):
    G, d = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + (G.n,) * d.dom)
    F = G.functor(d)
    expected = (x.reshape(batch, -1) @ F.to_numpy().T).reshape((batch,) + (G.n,) * d.cod)
    np.testing.assert_allclose(F.apply(x), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.apply(x[0]), expected[0], rtol=1e-12, atol=1e-12)


def test_apply_of_combinations_composites_and_tensors():
    rng = np.random.default_rng(1)
    for G in (S(3), O(3), Sp(2), SO(3)):
        a, b = G.basis(1, 1)[0], G.basis(2, 2)[-1]
        maps = [
            G.functor(G.category.compose(a, a) + Combination(a) * 3),
            G.functor(a) >> G.functor(a),
            G.functor(a) @ G.functor(b),
            G.functor(b) - 2 * (G.functor(a) @ G.functor(a)),
        ]
        for F in maps:
            x = rng.standard_normal((2,) + (G.n,) * F.dom)
            expected = (x.reshape(2, -1) @ F.to_numpy().T).reshape((2,) + (G.n,) * F.cod)
            np.testing.assert_allclose(F.apply(x), expected, rtol=1e-12, atol=1e-12)
    G = S(3)
    d = G.basis(2, 2)[3]
    x = rng.standard_normal((2, 3, 3))
    X = G.orbit_functor(d)
    np.testing.assert_allclose(X.apply(x), (x.reshape(2, -1) @ X.to_numpy().T).reshape(2, 3, 3), atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        G.functor(d).apply(np.zeros((2, 4, 4)))


def test_repr_and_shape():
    G = S(2)
    d = PartitionDiagram([[0], [1]], dom=1, cod=1)
    F = G.functor(d)
    assert repr(F) == "S(2).functor(PartitionDiagram([[0], [1]], dom=1, cod=1))"
    assert eval(repr(F), {"S": S, "PartitionDiagram": PartitionDiagram}) == F
    assert "(R^2)^⊗1" in str(F) and F.group == G and F.terms == ((d, 1),)
