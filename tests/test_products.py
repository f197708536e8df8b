"""Products of groups G × H (docs/conventions.md §10), symbolically and exactly: the product category
(composition and ⊗ componentwise, each factor's loops with its own parameter), product
combinations, the functor (Kronecker products of the factors' images, first factor's axes first),
functor laws, dimensions and spans against a dense null space of the joint generators, exact and
numeric verification, projection and coefficients, and the refusals of ``S()`` factors.
"""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import sympy

from catlayer import (
    SO,
    BrauerCategory,
    BrauerDiagram,
    BrauerGroodDiagram,
    O,
    PartitionCategory,
    PartitionDiagram,
    ProductCategory,
    ProductCombination,
    ProductDiagram,
    S,
    Sp,
)
from catlayer.projection import NotEquivariantError, diagram_gram, inner_products
from catlayer.verify import check_equivariance, check_functor_laws

GROUPS = [S(3) * O(2), S(2) * SO(3), S(3) * Sp(2), O(1, 2) * S(2), S(2) * S(3)]
IDS = ["S3xO2", "S2xSO3", "S3xSp2", "O12xS2", "S2xS3"]

#: The orders (a, b) → (c, d) at which S(3) × O(2) is checked against a dense null space of its generators.
ORDERS = [((1, 1), (1, 1)), ((2, 0), (1, 1)), ((1, 1), (0, 1)), ((2, 1), (0, 1)), ((1, 2), (1, 0)), ((2, 2), (0, 0))]

n0, n1 = sympy.symbols("n_0 n_1")


def orders(total: int):
    for o in itertools.product(range(total + 1), repeat=4):
        if sum(o) <= total:
            yield o[:2], o[2:]


# -- the acceptance interface ------------------------------------------------------------------
def test_the_issue_interface():
    G = S(5) * O(3)
    assert G.factors == (S(5), O(3))
    assert G.dim((1, 1), (1, 1)) == S(5).dim(1, 1) * O(3).dim(1, 1)
    basis = G.basis((2, 0), (1, 0))
    M = G.functor(basis[0]).to_numpy()
    d, e = basis[0].factors
    assert np.array_equal(M, np.kron(S(5).functor(d).to_numpy(), O(3).functor(e).to_numpy()))
    assert M.shape == (5, 25)
    assert bool(check_equivariance(G, G.functor(basis[0]).to_sympy(), (2, 0), (1, 0)))
    assert G.basis((2, 0), (1, 1)) == () and "factor 1 (O(3))" in G.basis_empty_reason((2, 0), (1, 1))
    assert G.functor(basis[0]).shape == (5, 25)


# -- the symbolic product category ---------------------------------------------------------------
def test_composition_multiplies_the_factors_coefficients_with_their_own_loops():
    d = PartitionDiagram([[0], [1]], 1, 1)  # in P: d >> d = n · d
    cap, cup = BrauerDiagram([[0, 1]], 0, 2), BrauerDiagram([[0, 1]], 2, 0)
    c = ProductDiagram(d, cap) >> ProductDiagram(d, cup)
    assert c.terms == {ProductDiagram(d, BrauerDiagram([], 0, 0)): n0 * n1}
    assert c.category == ProductCategory(PartitionCategory(n0), BrauerCategory(n1))
    # the loop values of the groups: 3 for S(3), −2 for Sp(2) (B(−n)), 2 for O(2)
    assert (S(3) * Sp(2)).specialise(c)[0][1] == -6
    assert (S(3) * O(2)).specialise(c)[0][1] == 6
    C = (S(3) * Sp(2)).category
    assert C.compose(ProductDiagram(d, cap), ProductDiagram(d, cup)).terms == {
        ProductDiagram(d, BrauerDiagram([], 0, 0)): -6
    }


def test_tensor_is_componentwise_and_expands_epsilon_pairs():
    H = BrauerGroodDiagram([[0], [1]], 1, 1)  # an n-diagram of BG(2)
    d = PartitionDiagram([[0, 1]], 1, 1)
    t = ProductDiagram(d, H) @ ProductDiagram(d, H)
    assert t.dom == (2, 2) and t.cod == (2, 2)
    # H ⊗ H = Σ_σ sgn(σ) E (two Brauer diagrams), the partition factor d ⊗ d once
    assert len(t) == 2 and set(t.terms.values()) == {1, -1}
    assert all(p.factors[0] == d @ d for p in t.terms)
    G = S(3) * SO(2)
    assert G.functor(t) == G.functor(ProductDiagram(d, H)) @ G.functor(ProductDiagram(d, H))


def test_category_hom_identity_and_errors():
    C = (S(3) * O(2)).category
    assert len(C.hom((1, 1), (1, 1))) == C.count((1, 1), (1, 1)) == 2 * 1
    assert list(C.iter_hom((2, 0), (1, 2))) == list(C.hom((2, 0), (1, 2)))
    p = C.hom((2, 1), (1, 1))[3]
    assert C.compose(C.identity((2, 1)), p) == ProductCombination(p) == C.compose(p, C.identity((1, 1)))
    assert C.contains(p) and not C.contains(ProductDiagram(p.factors[0], PartitionDiagram([[0], [1]], 1, 1)))
    assert C.empty_reason((1, 0), (0, 0)) is None
    assert C.empty_reason((1, 1), (0, 0)) == "factor 1 (BrauerCategory(2)): k + l = 1 is odd: no Brauer diagrams"
    with pytest.raises(ValueError, match="cannot compose"):
        C.compose(p, p)
    with pytest.raises(
        ValueError, match=r"factor 1 \(BrauerCategory\(2\)\): a Brauer diagram has only blocks of size 2"
    ):
        C.compose(ProductDiagram(p.factors[0], PartitionDiagram([[0], [1]], 1, 1)), C.identity((1, 1)))
    with pytest.raises(ValueError, match="must be a tuple of 2 orders"):
        C.hom(1, 1)
    with pytest.raises(ValueError, match="at least two factors"):
        ProductCategory(PartitionCategory(3))
    assert pickle.loads(pickle.dumps(C)) == C and hash(C) == hash(pickle.loads(pickle.dumps(C)))


def test_two_symbolic_factors_get_their_own_parameters():
    G = S() * S()
    assert G.category == ProductCategory(PartitionCategory(n0), PartitionCategory(n1))
    d = PartitionDiagram([[0], [1]], 1, 1)
    c = G.category.compose(ProductDiagram(d, d), ProductDiagram(d, d))
    assert c.terms == {ProductDiagram(d, d): n0 * n1}
    assert G.at(3, 4).specialise(c) == ((ProductDiagram(d, d), 12),)
    with pytest.raises(ValueError, match="different loop values"):
        (S(3) * S(4)).specialise(
            ProductCombination(c.terms, (1, 1), (1, 1), ProductCategory(*[PartitionCategory(n0)] * 2))
        )
    with pytest.raises(ValueError, match="but the functor of Sp\\(2\\) starts at BrauerCategory\\(-2\\)"):
        (S(3) * Sp(2)).specialise(ProductCombination({}, (0, 0), (0, 0), (S(3) * O(2)).category))


def test_product_combinations_are_exact_values():
    d, e = PartitionDiagram([[0, 1]], 1, 1), PartitionDiagram([[0], [1]], 1, 1)
    p, q = ProductDiagram(d, e), ProductDiagram(e, e)
    c = sympy.Rational(1, 2) * ProductCombination(p) + 3 * ProductCombination(q) - q
    assert c.terms == {p: sympy.Rational(1, 2), q: 2} and c.coefficient(ProductDiagram(d, d)) == 0
    assert c - c == ProductCombination({}, (1, 1), (1, 1)) and not (c - c)
    assert eval(repr(c)) == c and pickle.loads(pickle.dumps(c)) == c and hash(c) == hash(eval(repr(c)))
    assert str(c) == "2·[{1} {1'} × {1} {1'}] + 1/2·[{1,1'} × {1} {1'}] : (1, 1) → (1, 1)"
    with pytest.raises(TypeError, match="float"):
        c * 0.5
    with pytest.raises(ValueError, match="shapes differ"):
        c + ProductDiagram(d, PartitionDiagram([[0]], 0, 1))
    # bilinear composition: (p + q) >> (p − q) = p>>p − p>>q + q>>p − q>>q
    left = (ProductCombination(p) + q) >> (ProductCombination(p) - q)
    right = (p >> p) - (p >> q) + (q >> p) - (q >> q)
    assert left == right


def test_drawing_side_by_side(tmp_path):
    p = ProductDiagram(PartitionDiagram([[0, 2], [1]], 1, 2), BrauerDiagram([[0, 1]], 2, 0))
    lines = p.draw_ascii().split("\n")
    assert len(lines) == 3 and all("│" in line for line in lines)
    assert lines[0].startswith("top    : a b")
    pytest.importorskip("matplotlib")
    fig = p.draw(tmp_path / "pair.png")
    assert (tmp_path / "pair.png").stat().st_size > 0 and len(fig.axes) == 2


# -- the functor ----------------------------------------------------------------------------------
@pytest.mark.parametrize("G", GROUPS, ids=IDS)
def test_images_are_kronecker_products(G):
    for k, l in orders(3):
        for p in G.spanning_set(k, l):
            F = G.functor(p)
            want = np.kron(*(g.functor(d).to_numpy() for g, d in zip(G.factors, p.factors, strict=True)))
            assert F.shape == want.shape and np.array_equal(F.to_numpy(), want), p
            assert F.to_sympy() == sympy.Matrix(want.astype(int)), p
            assert np.array_equal(F.to_numpy(np.int64), want.astype(np.int64))


@pytest.mark.parametrize("G", GROUPS, ids=IDS)
def test_functor_laws(G):
    rng = np.random.default_rng(5)
    checked = 0
    for (k, l), (_, m) in itertools.product(orders(3), repeat=2):
        first, second = G.spanning_set(k, l), G.spanning_set(l, m)
        if not first or not second:
            continue
        d, e = first[rng.integers(len(first))], second[rng.integers(len(second))]
        report = check_functor_laws(G, d, e)
        assert report, report
        assert G.functor(d >> e) == G.functor(d) >> G.functor(e)  # natural categories, loops specialised
        checked += 1
        if checked > 40:
            break
    # the tensor law on maps whose types differ in both factors (the axes must be regrouped)
    a, b = G.spanning_set((1, 1), (1, 1)), G.spanning_set((1, 0), (0, 1))
    if a and b:
        assert G.functor(G.category.tensor(a[0], b[0])) == G.functor(a[0]) @ G.functor(b[0])
        assert G.functor(G.category.tensor(b[0], a[-1])) == G.functor(b[0]) @ G.functor(a[-1])


def test_linear_combinations_and_printing():
    G = S(2) * O(2)
    p, q = G.basis((1, 1), (1, 1))
    F = G.functor(2 * ProductCombination(p) - q)
    assert F == 2 * G.functor(p) - G.functor(q)
    names = {"S": S, "O": O, "ProductDiagram": ProductDiagram, "PartitionDiagram": PartitionDiagram}
    assert eval(repr(G.functor(p)), {**names, "BrauerDiagram": BrauerDiagram}) == G.functor(p)
    assert str(G.functor(p)) == "S(2) * O(2)-equivariant map (R^2)^⊗1 ⊗ (R^2)^⊗1 → (R^2)^⊗1 ⊗ (R^2)^⊗1"
    with pytest.raises(TypeError, match="ProductDiagrams and ProductCombinations"):
        G.functor(p.factors[0])
    with pytest.raises(ValueError, match="maps of different groups"):
        G.functor(p) >> (S(2) * O(3)).functor(p)


def test_s_factors_need_a_size():
    G = S() * O(3)
    assert G.at(5) == S(5) * O(3) and len(G.basis((2, 1), (1, 1))) == 5
    p = G.basis((1, 1), (1, 1))[0]
    message = (
        r"S\(\) \* O\(3\) has the factor S\(\), S_n for every n: {} needs a size, e.g. \(S\(\) \* O\(3\)\)\.at\(5\)"
    )
    for what, call in [
        ("the functor", lambda: G.functor(p)),
        ("the generators", G.generators),
        ("a random element", G.random_element),
        ("a projection", lambda: G.project(np.eye(9), (1, 1), (1, 1))),
        ("the coefficients of a matrix", lambda: G.coefficients(np.eye(9), (1, 1), (1, 1))),
    ]:
        with pytest.raises(ValueError, match=message.format(what)):
            call()
    with pytest.raises(ValueError, match="dim Hom depends on n"):
        G.dim((1, 1), (1, 1))


# -- dimensions and spans against a dense null space ----------------------------------------------
def _power(matrices, kind: str) -> np.ndarray:
    """ρ = kron of the matrices (group), or the derivation Σ_a 1 ⊗ … ⊗ X_a ⊗ … ⊗ 1 (Lie) where
    ``matrices`` lists X on the acting axes and None elsewhere."""
    sizes = [len(m) for m, _ in matrices]
    if kind == "group":
        out = np.ones((1, 1))
        for m, _ in matrices:
            out = np.kron(out, m)
        return out
    total = np.zeros((int(np.prod(sizes)),) * 2)
    for a, (m, acts) in enumerate(matrices):
        if not acts:
            continue
        term = np.ones((1, 1))
        for b, (other, _) in enumerate(matrices):
            term = np.kron(term, m if b == a else np.eye(len(other)))
        total += term
    return total


def _representation(G, matrix, factor: int, kind: str, orders_) -> np.ndarray:
    """The dense action on a tensor of type ``orders_`` of the element (or Lie element) that is
    ``matrix`` on ``factor`` and the identity (zero) on the other factors."""
    axes = []
    for f, (n, a) in enumerate(zip(G.n, orders_, strict=True)):
        axes += [(matrix if f == factor else np.eye(n), f == factor)] * a
    return _power(axes or [(np.ones((1, 1)), False)], kind)


def _null_space_dim(G, generators, k, l):
    """dim of {M : ρ_l(g) M = M ρ_k(g) for all generators}, generators = (factor, matrix, kind),
    and the stacked constraint matrix acting on vec(M) (C order: vec(A M B) = (A ⊗ Bᵀ) vec(M))."""
    blocks = []
    for factor, matrix, kind in generators:
        out = _representation(G, matrix, factor, kind, l)
        inp = _representation(G, matrix, factor, kind, k)
        blocks.append(np.kron(out, np.eye(len(inp))) - np.kron(np.eye(len(out)), inp.T))
    A = np.vstack(blocks)
    return A.shape[1] - np.linalg.matrix_rank(A), A


def _own_generators_s3_o2():
    """S(3): a transposition and the 3-cycle; O(2): the rotation generator and a reflection —
    written here, not taken from catlayer."""
    t = np.eye(3)[[1, 0, 2]]
    c = np.eye(3)[[2, 0, 1]]
    return [
        (0, t, "group"),
        (0, c, "group"),
        (1, np.array([[0.0, -1.0], [1.0, 0.0]]), "lie"),
        (1, np.diag([1.0, -1.0]), "group"),
    ]


@pytest.mark.parametrize("k, l", ORDERS)
def test_s3_times_o2_dims_and_spans_against_a_dense_null_space(k, l):
    G = S(3) * O(2)
    dim, A = _null_space_dim(G, _own_generators_s3_o2(), k, l)
    assert G.dim(k, l) == dim == len(G.basis(k, l))
    images = np.array([G.functor(p).to_numpy().ravel() for p in G.basis(k, l)]).reshape(-1, A.shape[1])
    assert np.abs(A @ images.T).max(initial=0) < 1e-12  # every image is in the null space
    assert np.linalg.matrix_rank(images) == dim  # and they span it


@pytest.mark.parametrize("G", GROUPS[1:], ids=IDS[1:])
def test_dims_and_spans_for_other_products(G):
    generators = [(g.factor, g.matrix.astype(float), g.kind) for g in G.generators()]
    for k, l in [((1, 1), (1, 1)), ((2, 1), (0, 1)), ((1, 2), (1, 0)), ((0, 2), (1, 1)), ((1, 1), (0, 2))]:
        dim, A = _null_space_dim(G, generators, k, l)
        assert G.dim(k, l) == dim, (G, k, l)
        spanning = G.spanning_set(k, l)
        images = np.array([G.functor(p).to_numpy().ravel() for p in spanning]).reshape(-1, A.shape[1])
        assert np.abs(A @ images.T).max(initial=0) < 1e-12
        assert np.linalg.matrix_rank(images) == dim == len(G.basis(k, l))


# -- verification -----------------------------------------------------------------------------------
@pytest.mark.parametrize("G", GROUPS, ids=IDS)
def test_basis_images_are_proved_equivariant(G):
    for k, l in [((1, 1), (1, 1)), ((2, 0), (1, 1)), ((1, 2), (0, 1)), ((1, 1), (0, 2))]:
        for p in G.basis(k, l):
            M = G.functor(p).to_sympy()
            report = check_equivariance(G, M, k, l)
            assert report and report.exact, report
            assert len(report.checked) == len(G.generators())
            assert check_equivariance(G.functor(p)) and check_equivariance(G, p)


def test_a_counterexample_names_the_factor_and_both_elements():
    G = S(3) * O(2)
    M = sympy.Matrix(np.kron(np.diag([1, 2, 3]), np.eye(2, dtype=int)))  # not S(3)-equivariant
    report = check_equivariance(G, M, (1, 1), (1, 1))
    assert not report and report.exact
    assert report.failure.startswith(
        "group generator (transposition (0 1), 1): transposition (0 1) of factor 0 (S(3)), identity of O(2): "
        "largest entry of ρ_l(g)·M − M·ρ_k(g) is"
    )
    M = sympy.Matrix(np.kron(np.eye(3, dtype=int), np.array([[1, 1], [0, 1]])))  # not O(2)-equivariant
    failure = check_equivariance(G, M, (1, 1), (1, 1)).failure
    assert "(0, rotation L[0,1] in O(2)): rotation L[0,1] in O(2) of factor 1 (O(2)), zero of S(3)" in failure
    # a Gaussian-rational matrix: both parts are checked
    assert not check_equivariance(G, sympy.Matrix(np.eye(6, dtype=int)) + sympy.I * M, (1, 1), (1, 1))
    assert check_equivariance(G, sympy.Matrix(np.eye(6, dtype=int)) * (1 + 2 * sympy.I), (1, 1), (1, 1))


def test_numeric_checks_visit_every_pair_of_components():
    G = O(2) * O(3)
    assert G.num_components == 4
    P = G.project(np.random.default_rng(0).standard_normal((6, 6)), (1, 1), (1, 1))
    report = check_equivariance(G, P, (1, 1), (1, 1), rng=0)
    assert report and not report.exact and len(report.checked) == 4
    assert "component 1 of O(2), component 1 of O(3)" in report.checked[3]
    dets = [tuple(round(np.linalg.det(m)) for m in G.random_element(0, component=c)) for c in range(4)]
    assert dets == [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    bad = check_equivariance(G, np.kron(np.diag([1.0, 2.0]), np.eye(3)), (1, 1), (1, 1), rng=0)
    assert not bad and "random element 0 (component 0 of O(2), component 0 of O(3))" in bad.failure
    assert check_equivariance(G, P.astype(np.float32), (1, 1), (1, 1), rng=1)


def test_verification_arguments():
    G = S(3) * O(2)
    with pytest.raises(TypeError, match="needs the order tuples k and l"):
        check_equivariance(G, np.eye(6))
    with pytest.raises(ValueError, match="is a 6 x 6 matrix, got shape"):
        check_equivariance(G, np.eye(4), (1, 1), (1, 1))
    with pytest.raises(ValueError, match="must be a tuple of 2 orders"):
        check_equivariance(G, np.eye(6), 1, 1)
    p = G.basis((1, 1), (1, 1))[0]
    with pytest.raises(ValueError, match="the map is"):
        check_equivariance(G, G.functor(p), (1, 0), (1, 1))


# -- projection and coefficients --------------------------------------------------------------------
@pytest.mark.parametrize("G", GROUPS, ids=IDS)
def test_coefficients_and_projection(G):
    rng = np.random.default_rng(6)
    for k, l in [((1, 1), (1, 1)), ((2, 0), (1, 1)), ((1, 2), (0, 1)), ((2, 1), (1, 0))]:
        basis = G.basis(k, l)
        images = [G.functor(p).to_numpy() for p in basis]
        if not basis:
            continue
        c = rng.integers(-3, 4, len(basis))
        M = sum(ci * m for ci, m in zip(c, images, strict=True)).astype(np.int64)
        assert G.coefficients(M, k, l) == tuple(sympy.Integer(int(x)) for x in c)
        assert np.allclose(G.coefficients(M.astype(float), k, l), c)
        R = rng.standard_normal(M.shape)
        P = G.project(R, k, l)
        assert max(abs(float(((R - P) * m).sum())) for m in images) < 1e-9  # orthogonal residual
        assert np.allclose(G.project(P, k, l), P)
        exact = G.project(sympy.Matrix(M + (np.arange(M.size).reshape(M.shape) % 3)), k, l)
        assert check_equivariance(G, exact, k, l)
        # the factorised solve agrees with the full Gram matrix (Kronecker product of the factors')
        gram = diagram_gram(G, k, l).astype(float)
        A = np.array([m.ravel() for m in images])
        assert np.array_equal(A @ A.T, gram)
        b = inner_products(G, R, k, l)
        assert np.allclose(np.linalg.solve(gram, b), G.coefficients(P, k, l))


def test_coefficients_refuse_non_equivariant_input():
    G = S(3) * O(2)
    with pytest.raises(
        NotEquivariantError, match=r"not S\(3\) \* O\(2\)-equivariant.*\(output indices ; input indices\)"
    ):
        G.coefficients(np.kron(np.diag([1, 2, 3]), np.eye(2, dtype=int)), (1, 1), (1, 1))
    with pytest.raises(ValueError, match=r"a map \(R\^3\)\^⊗1 ⊗ \(R\^2\)\^⊗1 → \(R\^3\)\^⊗1 ⊗ \(R\^2\)\^⊗1 is a 6 x 6"):
        G.project(np.eye(5), (1, 1), (1, 1))
    with pytest.raises(NotEquivariantError) as info:
        G.coefficients(np.kron(np.ones((3, 3)), np.array([[0.0, 1.0], [0.0, 0.0]])), (1, 1), (1, 1))
    assert len(info.value.index[0]) == 2 and len(info.value.index[1]) == 2


def test_projection_of_torch_tensors():
    torch = pytest.importorskip("torch")
    G = S(2) * Sp(2)
    R = np.random.default_rng(7).standard_normal((8, 8))
    P = G.project(torch.tensor(R), (1, 2), (1, 2))
    assert isinstance(P, torch.Tensor) and np.allclose(P.numpy(), G.project(R, (1, 2), (1, 2)))
    c = G.coefficients(P, (1, 2), (1, 2))
    assert isinstance(c, torch.Tensor) and c.shape == (len(G.basis((1, 2), (1, 2))),)


def test_empty_hom_spaces():
    G = S(3) * O(2)
    assert G.basis((1, 1), (0, 0)) == () and G.dim((1, 1), (0, 0)) == 0
    assert G.project(np.ones((1, 6)), (1, 1), (0, 0)).tolist() == [[0.0] * 6]
    assert G.coefficients(np.zeros((1, 6), dtype=int), (1, 1), (0, 0)) == ()


# -- the group --------------------------------------------------------------------------------------
def test_generators_membership_and_action():
    G = S(3) * O(2)
    names = [g.name for g in G.generators()]
    assert len(names) == len(S(3).generators()) + len(O(2).generators())
    assert [g.factor for g in G.generators()] == [0, 0, 1, 1]
    assert G.is_element(G.random_element(1)) and not G.is_element((np.eye(3), 2 * np.eye(2)))
    assert not G.is_element((np.eye(3),))
    g = G.random_element(2)
    x = np.random.default_rng(3).standard_normal((4, 3, 3, 2))
    acted = G.act(g, x, (2, 1))
    assert np.allclose(acted, np.einsum("ia,jb,kc,nabc->nijk", g[0], g[0], g[1], x))
    points, how = (S(4) * O(1, 1)).relabelling_orbits((2, 1))
    assert points.shape[1] == 3 and "factor 0" in how and "factor 1" in how
    assert pickle.loads(pickle.dumps(G)) == G


def test_products_of_three_factors():
    G = S(2) * O(2) * SO(2)
    assert G.factors == (S(2), O(2), SO(2)) and G.num_components == 2
    k, l = (1, 1, 1), (1, 1, 1)
    assert G.dim(k, l) == S(2).dim(1, 1) * O(2).dim(1, 1) * SO(2).dim(1, 1) == len(G.basis(k, l))
    for p in G.basis(k, l):
        want = np.kron(np.kron(*(g.functor(d).to_numpy() for g, d in zip(G.factors[:2], p.factors[:2], strict=True))),
                       SO(2).functor(p.factors[2]).to_numpy())  # fmt: skip
        assert np.array_equal(G.functor(p).to_numpy(), want)
        assert check_equivariance(G, G.functor(p))
