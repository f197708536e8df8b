"""catlayer.projection: G.coefficients, G.project and EquivariantLinear.from_dense, against
independent definitions (dense basis matrices, least squares, orbit averages, exact sympy
solves, a hand transcription of Maron et al.'s fifteen 2 → 2 operations)."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given
from hypothesis import strategies as st

from catlayer import SO, O, S, Sp
from catlayer.nn import EquivariantLinear
from catlayer.projection import NotEquivariantError, coefficients, diagram_gram, inner_products, project
from catlayer.verify import check_equivariance
from tests.dense_reference import dense

GROUPS = [S(2), S(3), S(4), O(2), O(3), SO(2), SO(3), SO(4), Sp(2), Sp(4), O(1, 3), O(2, 1), SO(1, 2), SO(1, 3)]
GROUPS += [SO(1, 1), SO(2, 2)]


def _cases(max_entries=1024, max_size=6):
    out = []
    for G in GROUPS:
        for size in range(max_size + 1):
            if G.n**size > max_entries:
                continue
            for k in range(size + 1):
                if G.basis(k, size - k):
                    out.append((G, k, size - k))
    return out


CASES = _cases(max_entries=729)
SMALL_CASES = _cases(max_entries=81)


def _ids(case):
    G, k, l = case
    return f"{G!r}-{k}-{l}"


def _basis_matrix(G, k, l) -> np.ndarray:
    """The dense basis as rows (D, n^(k+l)); S_n, O(n), SO(n) from tests/dense_reference.py."""
    if isinstance(G, Sp) or G.pair_form is not None:
        return np.stack([G.functor(d).to_numpy().ravel() for d in G.basis(k, l)])
    return np.stack([dense(d, G.n).ravel() for d in G.basis(k, l)]).astype(np.float64)


# -- the Gram matrix ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _cases(max_entries=4096), ids=_ids)
def test_gram_is_the_dense_gram(case):
    G, k, l = case
    F = _basis_matrix(G, k, l)
    assert np.array_equal(diagram_gram(G, k, l).astype(np.int64), np.rint(F @ F.T).astype(np.int64))


# -- projection: least squares, idempotent, self-adjoint --------------------------------------------------------
@given(st.sampled_from(CASES), st.integers(0, 2**32 - 1))
def test_projection_is_the_least_squares_fit_on_the_dense_basis(case, seed):
    G, k, l = case
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((2, G.n**l, G.n**k))
    F = _basis_matrix(G, k, l)
    fit, *_ = np.linalg.lstsq(F.T, A.ravel(), rcond=None)  # EMLP-style: the dense basis
    P = project(G, A, k, l)
    assert P.shape == A.shape and P.dtype == np.float64
    assert np.allclose(P.ravel(), F.T @ fit, atol=1e-10 * max(1.0, np.abs(A).max()))
    assert np.allclose(project(G, P, k, l), P, atol=1e-12 * A.size)  # idempotent
    assert np.isclose(np.vdot(P, B), np.vdot(A, project(G, B, k, l)))  # self-adjoint
    assert np.allclose(F @ (A - P).ravel(), 0, atol=1e-9 * A.size)  # the residual is orthogonal to Hom_G


@given(st.sampled_from(SMALL_CASES), st.integers(0, 2**32 - 1))
def test_coefficients_round_trip(case, seed):
    G, k, l = case
    rng = np.random.default_rng(seed)
    exact = [Fraction(int(a), int(b)) for a, b in rng.integers(1, 9, size=(len(G.basis(k, l)), 2))]
    M = sum((c * G.functor(d).to_numpy(np.int64).astype(object) for c, d in zip(exact, G.basis(k, l), strict=True)))
    assert coefficients(G, M, k, l) == tuple(sympy.Rational(c.numerator, c.denominator) for c in exact)
    assert G.coefficients(M.astype(np.float64), k, l) == pytest.approx([float(c) for c in exact], rel=1e-9, abs=1e-9)
    got = G.coefficients(torch.as_tensor(M.astype(np.float64)), k, l)
    assert isinstance(got, torch.Tensor) and np.allclose(got.numpy(), [float(c) for c in exact])


def test_s_n_projection_is_the_average_over_orbits():
    """For S_n the orbit basis is orthogonal: P(M)[x] is the mean of M over the multi-indices
    with the same equality pattern as x (computed here by brute force)."""
    G, k, l = S(3), 2, 1
    M = np.random.default_rng(0).standard_normal((3**l, 3**k))
    tensor = M.reshape((3,) * (k + l))
    pattern = {}
    for x in itertools.product(range(3), repeat=k + l):
        key = tuple(x.index(v) for v in x)
        pattern.setdefault(key, []).append(x)
    expected = np.zeros_like(tensor)
    for members in pattern.values():
        mean = np.mean([tensor[x] for x in members])
        for x in members:
            expected[x] = mean
    assert np.allclose(project(G, M, k, l), expected.reshape(M.shape))


# -- exactness ---------------------------------------------------------------------------------------------------------
EXACT = [(S(2), 1, 1), (S(3), 1, 1), (S(2), 2, 1), (O(2), 2, 2), (O(3), 1, 1), (SO(2), 1, 1), (SO(3), 2, 1)]
EXACT += [(Sp(2), 1, 1), (Sp(2), 2, 2), (Sp(4), 1, 1), (O(1, 1), 2, 2), (SO(1, 2), 2, 1)]


@pytest.mark.parametrize("case", EXACT, ids=_ids)
def test_exact_input_gives_the_exact_projection(case):
    G, k, l = case
    n = G.n
    rng = np.random.default_rng(1)
    M = sympy.Matrix(n**l, n**k, [sympy.Rational(int(a), int(b)) for a, b in rng.integers(1, 7, (n ** (k + l), 2))])
    F = sympy.Matrix([list(G.functor(d).to_sympy()) for d in G.basis(k, l)])  # (D, n^(k+l))
    fit = (F * F.T).LUsolve(F * sympy.Matrix(list(M)))  # the exact normal equations, on the dense basis
    expected = sympy.Matrix(n**l, n**k, list(F.T * fit))
    P = project(G, M, k, l)
    assert isinstance(P, sympy.MatrixBase) and P == expected
    assert project(G, P, k, l) == P
    assert check_equivariance(G, P, k, l).exact and check_equivariance(G, P, k, l)
    assert coefficients(G, P, k, l) == tuple(fit)
    integers = np.array(rng.integers(-4, 5, (n**l, n**k)))
    as_object = project(G, integers, k, l)
    assert as_object.dtype == object and all(isinstance(x, sympy.Rational) for x in as_object.flat)
    fractions = np.array([[Fraction(int(x)) for x in row] for row in integers], dtype=object)
    assert np.array_equal(project(G, fractions, k, l), as_object)
    assert inner_products(G, integers, k, l) == tuple(F * sympy.Matrix(list(integers.ravel())))


def test_non_equivariant_input_names_the_residual():
    G = S(3)
    M = np.zeros((9, 9), dtype=int)
    M[0, 1] = 6
    with pytest.raises(NotEquivariantError, match=r"residual M − project\(M\) has the entry") as info:
        G.coefficients(M, 2, 2)
    error = info.value
    assert isinstance(error, ValueError) and error.residual == sympy.Rational(6) - project(G, M, 2, 2)[0, 1]
    assert error.index == ((0, 0), (0, 1))
    with pytest.raises(NotEquivariantError, match="relative"):
        G.coefficients(M + 0.0, 2, 2)
    near = G.project(M + 0.0, 2, 2) + 1e-13
    assert len(G.coefficients(near, 2, 2, tolerance=1e-8)) == len(G.basis(2, 2))
    with pytest.raises(ValueError, match="tolerance"):
        G.coefficients(near, 2, 2, tolerance=float("nan"))


def test_types_shapes_and_bad_input():
    G = SO(3)  # 1 → 2: the cross product's transpose, one Levi-Civita diagram
    M = np.random.default_rng(2).standard_normal((9, 3))
    tensor = M.reshape(3, 3, 3)
    assert project(G, tensor, 1, 2).shape == (3, 3, 3)
    assert np.allclose(project(G, tensor, 1, 2).reshape(9, 3), project(G, M, 1, 2))
    assert project(G, M.astype(np.float32), 1, 2).dtype == np.float32
    t = torch.as_tensor(M, dtype=torch.float32)
    assert project(G, t, 1, 2).dtype == torch.float32 and isinstance(project(G, t, 1, 2), torch.Tensor)
    assert np.allclose(project(G, t, 1, 2).numpy(), project(G, M, 1, 2), atol=1e-5)
    floats = sympy.Matrix(9, 3, [sympy.Float(x) for x in M.ravel()])
    assert isinstance(project(G, floats, 1, 2), sympy.MatrixBase)
    assert np.allclose(np.array(project(G, floats, 1, 2), dtype=float), project(G, M, 1, 2))
    complex_matrix = M + 1j * M[::-1]
    assert np.allclose(project(G, complex_matrix, 1, 2), project(G, M, 1, 2) + 1j * project(G, M[::-1], 1, 2))
    with pytest.raises(ValueError, match="9 x 3 matrix or a tensor of shape"):
        project(G, np.zeros((3, 9)), 1, 2)
    with pytest.raises(ValueError, match="NaN"):
        project(G, np.full((9, 3), np.nan), 1, 2)
    with pytest.raises(ValueError, match="k must be"):
        project(G, M, -1, 2)
    assert not np.any(project(O(3), M, 1, 2))  # Hom_O(3) is 0 for k + l odd
    assert coefficients(O(3), np.zeros((9, 3)), 1, 2).shape == (0,)


def test_torch_projection_is_differentiable_and_self_adjoint():
    G = Sp(4)
    A = torch.randn(16, 16, dtype=torch.float64, requires_grad=True)
    B = torch.randn(16, 16, dtype=torch.float64)
    (project(G, A, 2, 2) * B).sum().backward()
    assert torch.allclose(A.grad, project(G, B, 2, 2))


# -- Maron et al.'s fifteen 2 -> 2 operations -----------------------------------------------------------------------
def _maron_operations(X):
    """The 15 basis operations of Maron, Ben-Hamu, Shamir, Lipman, "Invariant and Equivariant Graph
    Networks" (ICLR 2019), equivariant R^{n×n} → R^{n×n}, written as plain numpy (as in their
    ops_2_to_2), independently of catlayer."""
    n = X.shape[0]
    diag = np.diagonal(X)
    trace, total = diag.sum(), X.sum()
    rows, cols = X.sum(axis=1), X.sum(axis=0)  # rows[i] = Σ_j X[i, j], cols[j] = Σ_i X[i, j]
    ones = np.ones((n, n), dtype=X.dtype)
    return [
        np.diag(diag),  # 1: the diagonal, kept on the diagonal
        trace * np.eye(n, dtype=X.dtype),  # 2: the trace on the diagonal
        np.diag(rows),  # 3: row sums on the diagonal
        np.diag(cols),  # 4: column sums on the diagonal
        total * np.eye(n, dtype=X.dtype),  # 5: the total on the diagonal
        cols[:, None] * ones,  # 6: column sum i along row i
        rows[:, None] * ones,  # 7: row sum i along row i
        cols[None, :] * ones,  # 8: column sum j along column j
        rows[None, :] * ones,  # 9: row sum j along column j
        X.copy(),  # 10: identity
        X.T.copy(),  # 11: transpose
        diag[:, None] * ones,  # 12: X[i, i] along row i
        diag[None, :] * ones,  # 13: X[j, j] along column j
        trace * ones,  # 14: the trace everywhere
        total * ones,  # 15: the total everywhere
    ]


def _dense_operation(op: int, n: int) -> np.ndarray:
    """The n² × n² matrix of operation ``op`` (columns: the operation on each unit matrix)."""
    columns = []
    for index in range(n * n):
        unit = np.zeros(n * n, dtype=np.int64)
        unit[index] = 1
        columns.append(_maron_operations(unit.reshape(n, n))[op].ravel())
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("n", [4, 5])
def test_maron_operations_decompose_into_fifteen_coefficients(n):
    G = S(n)
    assert len(G.basis(2, 2)) == 15
    matched = set()
    for op in range(15):
        M = _dense_operation(op, n)
        c = G.coefficients(M, 2, 2)
        assert len(c) == 15 and sorted(c) == [0] * 14 + [1]  # each operation is one diagram's image
        matched.add(c.index(1))
        assert np.array_equal(G.functor(G.basis(2, 2)[c.index(1)]).to_numpy(np.int64), M)
    assert matched == set(range(15))  # the fifteen operations are the fifteen basis elements
    weights = np.random.default_rng(n).integers(-9, 10, 15)
    M = sum(w * _dense_operation(op, n) for op, w in enumerate(weights))
    c = G.coefficients(M, 2, 2)
    rebuilt = sum(int(ci) * G.functor(d).to_numpy(np.int64) for ci, d in zip(c, G.basis(2, 2), strict=True))
    assert np.array_equal(rebuilt, M) and sorted(abs(int(x)) for x in c) == sorted(abs(int(w)) for w in weights)
    X = np.random.default_rng(0).standard_normal((n, n))
    layer_output = (G.project(M.astype(np.float64), 2, 2) @ X.ravel()).reshape(n, n)
    assert np.allclose(layer_output, sum(w * o for w, o in zip(weights, _maron_operations(X), strict=True)))


# -- EquivariantLinear.from_dense ------------------------------------------------------------------------------------
@pytest.mark.parametrize("group,k,l", [(S(3), 2, 1), (O(3), 1, 1), (SO(3), 2, 1), (Sp(4), 1, 1), (S(2), 0, 2)])
def test_from_dense_round_trips_and_projects(group, k, l):
    torch.manual_seed(0)
    layer = EquivariantLinear(group, k, l, 2, 3, dtype=torch.float64)
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.normal_()
    again = EquivariantLinear.from_dense(group, layer.to_dense(), k, l)
    assert torch.allclose(again.weight, layer.weight) and again.weight.dtype == torch.float64
    assert (again.bias is None) == (layer.bias is None)
    if layer.bias is not None:
        assert torch.allclose(again.bias, layer.bias)
    n = group.n
    linear = torch.nn.Linear(2 * n**k, 3 * n**l, dtype=torch.float64)
    nearest = EquivariantLinear.from_dense(group, linear, k, l)
    assert check_equivariance(nearest, rng=0)
    blocks = linear.weight.detach().numpy().reshape(3, n**l, 2, n**k)
    expected = np.stack([[project(group, blocks[o, :, c], k, l) for c in range(2)] for o in range(3)])
    assert np.allclose(
        nearest.to_dense().weight.detach().numpy().reshape(3, n**l, 2, n**k), expected.transpose(0, 2, 1, 3)
    )
    four_axes = EquivariantLinear.from_dense(group, torch.as_tensor(blocks.transpose(0, 2, 1, 3)), k, l)
    assert torch.allclose(four_axes.weight, nearest.weight)
    if nearest.bias is not None:
        bias = linear.bias.detach().numpy().reshape(3, n**l)
        expected_bias = np.stack([project(group, bias[o].reshape(n**l, 1), 0, l).ravel() for o in range(3)])
        assert np.allclose(nearest.bias_tensor().detach().numpy().reshape(3, -1), expected_bias)
    with pytest.raises(ValueError, match="dense weight"):
        EquivariantLinear.from_dense(group, torch.zeros(5, 7), k, l)


def _dense_eta(d, eta):
    """E^η_d from its entry formula: same-row pairs carry η, propagating pairs δ."""
    n, size = len(eta), d.size
    x = np.indices((n,) * size).reshape(size, -1)
    entry = np.ones(x.shape[1], dtype=np.int64)
    for u, v in d.blocks:
        entry *= x[u] == x[v]
        if (u < d.cod) == (v < d.cod):
            entry *= eta[x[u]]
    return entry


@pytest.mark.parametrize("p,q", [(1, 3), (2, 2), (1, 2), (3, 0)])
def test_the_metric_gram_is_the_dense_gram_of_the_eta_images(p, q):
    group = O(p, q)
    eta = np.array([1] * p + [-1] * q)
    for k, l in [(1, 1), (2, 0), (2, 2), (1, 3), (3, 1)]:
        diagrams = O(p + q).spanning_set(k, l)
        images = [_dense_eta(d, eta) for d in diagrams]
        for d, a in zip(diagrams, images, strict=True):
            for e, b in zip(diagrams, images, strict=True):
                assert group.gram(d, e) == int(a @ b)


def test_a_family_must_give_its_gram():
    from catlayer.groups import Group

    class Incomplete(Group):  # a new family without its inner products cannot be built
        parameters = (2,)

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()
