"""The numba backend for product groups G × H (docs/conventions.md §10): ``apply`` and ``apply_layer``
against the dense Kronecker product of the independent oracle's matrices (tests/test_backend_oracle.py,
written without catlayer's group classes) and against the numpy reference executor; the layer plan
reduces once per distinct tuple of bottom halves; guards.

Error measure as in tests/test_backend.py: max|y − y_ref| / max|y_ref| ≤ TOLERANCE[dtype].
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import TOLERANCE
from hypothesis import given
from hypothesis import strategies as st
from test_backend_oracle import group, oracle_matrix, relative_error

from catlayer import ProductDiagram, S
from catlayer.backend import (
    apply,
    apply_layer,
    apply_layer_reference,
    apply_reference,
    dense_layer_matrix,
    dense_matrix,
)
from catlayer.diagrams import split
from catlayer.plan import plan_layer
from catlayer.testing.strategies import brauer_grood_diagrams, partition_diagrams

#: (family, n) of each factor, in the oracle's names: S(3) × O(2), S(2) × SO(3) (cross products:
#: free vertices in one factor), S(3) × Sp(2), O(1, 2) × S(2), S(2) × S(3), and two products with
#: free vertices in both factors (SO(2) × SO(3); SO(1, 1) × SO(2), whose bottom free vertices are
#: weighted by η).
PRODUCTS = [
    (("partition", 3), ("orthogonal", 2)),
    (("partition", 2), ("special_orthogonal", 3)),
    (("partition", 3), ("symplectic", 2)),
    (("lorentz", 3), ("partition", 2)),
    (("partition", 2), ("partition", 3)),
    (("special_orthogonal", 2), ("special_orthogonal", 3)),
    (("special_lorentz", 2), ("special_orthogonal", 2)),
]
IDS = ["S3xO2", "S2xSO3", "S3xSp2", "O12xS2", "S2xS3", "SO2xSO3", "SO11xSO2"]


def product_group(spec):
    return group(*spec[0]) * group(*spec[1])


def oracle_product(spec, p: ProductDiagram) -> np.ndarray:
    """kron of the oracle's matrices of the factors (first factor outermost)."""
    return np.kron(oracle_matrix(*spec[0], p.factors[0]), oracle_matrix(*spec[1], p.factors[1]))


def shape(G, orders) -> tuple[int, ...]:
    return tuple(n for n, a in zip(G.n, orders, strict=True) for _ in range(a))


def orders_up_to(total: int):
    """(k, l) order tuples of two factors with k + l at most ``total`` axes in all."""
    for o in itertools.product(range(total + 1), repeat=4):
        if sum(o) <= total:
            yield o[:2], o[2:]


@pytest.mark.parametrize("spec", PRODUCTS, ids=IDS)
def test_apply_matches_the_kronecker_oracle(spec, float_dtype):
    G = product_group(spec)
    rng = np.random.default_rng(0)
    both_free = 0
    # products with free vertices in both factors need n_0 + n_1 axes for such a pair
    total = 5 if all(g.free_singletons for g in G.factors) else 4
    for k, l in orders_up_to(total):
        x = rng.standard_normal((2, *shape(G, k))).astype(float_dtype)
        for p in G.spanning_set(k, l):
            ref = (x.reshape(2, -1).astype(np.float64) @ oracle_product(spec, p).T).reshape((2, *shape(G, l)))
            y = apply(G, p, x)
            assert y.dtype == float_dtype and y.shape == ref.shape
            assert relative_error(y, ref) <= TOLERANCE[float_dtype], (G, p)
            assert relative_error(apply_reference(G, p, x), ref) <= TOLERANCE[float_dtype], (G, p)
            both_free += all(d.free_vertices and G.factors[i].free_singletons for i, d in enumerate(p.factors))
    if all(g.free_singletons for g in G.factors):
        assert both_free > 0  # Levi-Civita contractions of both factors in one plan were exercised


@pytest.mark.parametrize("spec", PRODUCTS, ids=IDS)
def test_dense_reference_is_the_kronecker_product(spec):
    G = product_group(spec)
    for k, l in [((1, 1), (1, 1)), ((2, 0), (1, 1)), ((1, 2), (0, 1)), ((0, 2), (1, 1))]:
        diagrams = G.spanning_set(k, l)
        for p in diagrams:
            expected = oracle_product(spec, p)
            assert np.array_equal(G.functor(p).to_numpy(), expected), p
            assert np.array_equal(
                np.kron(dense_matrix(G.factors[0], p.factors[0]), dense_matrix(G.factors[1], p.factors[1])), expected
            )
        if diagrams:
            W = np.random.default_rng(1).standard_normal((2, 3, len(diagrams)))
            M = dense_layer_matrix(G, diagrams, W)
            rows, cols = expected.shape
            blocks = M.reshape(2, rows, 3, cols)
            for o, c in itertools.product(range(2), range(3)):
                want = sum(W[o, c, t] * oracle_product(spec, p) for t, p in enumerate(diagrams))
                assert np.allclose(blocks[o, :, c, :], want)


@pytest.mark.parametrize("spec", PRODUCTS, ids=IDS)
def test_apply_layer_matches_the_dense_layer(spec, float_dtype):
    G = product_group(spec)
    rng = np.random.default_rng(2)
    for k, l in [((1, 1), (1, 1)), ((2, 0), (1, 1)), ((1, 1), (0, 1)), ((2, 1), (0, 1)), ((1, 2), (1, 0)),
                 ((2, 2), (0, 0)), ((0, 2), (2, 1)), ((1, 1), (2, 1))]:  # fmt: skip
        diagrams = G.spanning_set(k, l)
        if not diagrams:
            continue
        W = rng.standard_normal((3, 2, len(diagrams))).astype(float_dtype)
        X = rng.standard_normal((5, 2, *shape(G, k))).astype(float_dtype)
        Y = apply_layer(G, diagrams, W, X)
        assert Y.shape == (5, 3, *shape(G, l)) and Y.dtype == float_dtype
        dense = np.zeros((3 * int(np.prod(shape(G, l))), 2 * int(np.prod(shape(G, k)))))
        blocks = dense.reshape(3, -1, 2, dense.shape[1] // 2)
        for t, p in enumerate(diagrams):
            blocks += W[:, None, :, None, t].astype(np.float64) * oracle_product(spec, p)[None, :, None, :]
        ref = (X.reshape(5, -1).astype(np.float64) @ dense.T).reshape(Y.shape)
        assert relative_error(Y, ref) <= 10 * TOLERANCE[float_dtype], (G, k, l)
        ref2 = apply_layer_reference(G, diagrams, W.astype(np.float64), X.astype(np.float64))
        assert relative_error(ref2, ref) <= 1e-12
        dense2 = dense_layer_matrix(G, diagrams, W.astype(np.float64))
        assert relative_error(dense2, dense) <= 1e-12


def test_a_layer_reduces_once_per_distinct_pair_of_bottom_halves():
    G = S(3) * group("orthogonal", 2)
    shared = 0
    for k, l in [((2, 2), (1, 0)), ((2, 1), (2, 1)), ((1, 2), (2, 0))]:
        diagrams = G.spanning_set(k, l)
        plan = plan_layer(G, diagrams)
        bottoms = {
            tuple(split(d, free_singletons=g.free_singletons).bottom for g, d in zip(G.factors, p.factors, strict=True))
            for p in diagrams
        }
        tops = {
            tuple(split(d, free_singletons=g.free_singletons).top for g, d in zip(G.factors, p.factors, strict=True))
            for p in diagrams
        }
        assert len(plan.reductions) == len(bottoms)
        assert len(plan.expansions) == len(tops)
        shared += len(bottoms) < len(diagrams)
        # every reduction is used by the diagrams whose bottoms it is, and only by them
        for t, p in enumerate(diagrams):
            assert plan.reductions[plan.reduction_of[t]].half.factors == tuple(
                split(d, free_singletons=g.free_singletons).bottom for g, d in zip(G.factors, p.factors, strict=True)
            )
    assert shared


@given(
    st.integers(1, 3),
    partition_diagrams(max_size=4),
    brauer_grood_diagrams(2, max_size=4),
    st.integers(0, 3),
    st.permutations(range(4)),
    st.booleans(),
)
def test_random_pairs_with_any_strides(n, d, e, batch, order, reverse):
    """S(n) × SO(2) on random pairs, with inputs laid out in memory in any axis order (and reversed)."""
    spec = (("partition", n), ("special_orthogonal", 2))
    G = product_group(spec)
    p = ProductDiagram(d, e)
    in_shape = (batch, *shape(G, p.dom))
    rank = len(in_shape)
    perm = [a for a in order if a < rank] + list(range(4, rank))
    base = np.random.default_rng(n).standard_normal(tuple(in_shape[a] for a in perm))
    x = np.transpose(base, np.argsort(perm))
    if reverse and rank > 1:
        x = x[:, ::-1]
        ref_x = np.ascontiguousarray(x)
    else:
        ref_x = x
    assert x.shape == in_shape
    ref = (ref_x.reshape(batch, int(np.prod(in_shape[1:]))) @ oracle_product(spec, p).T).reshape(
        (batch, *shape(G, p.cod))
    )
    assert relative_error(apply(G, p, x), ref) <= TOLERANCE[np.float64]


def test_three_factors():
    G = S(2) * group("orthogonal", 2) * group("special_orthogonal", 2)
    rng = np.random.default_rng(8)
    for k, l in [((1, 1, 1), (1, 1, 1)), ((2, 0, 1), (0, 2, 1)), ((1, 1, 2), (1, 1, 0))]:
        diagrams = G.spanning_set(k, l)
        W = rng.standard_normal((2, 2, len(diagrams)))
        X = rng.standard_normal((3, 2, *shape(G, k)))
        ref = (X.reshape(3, -1) @ dense_layer_matrix(G, diagrams, W).T).reshape((3, 2, *shape(G, l)))
        assert relative_error(apply_layer(G, diagrams, W, X), ref) <= 1e-12
        for p in diagrams:
            want = np.kron(np.kron(*(dense_matrix(g, d) for g, d in zip(G.factors[:2], p.factors[:2], strict=True))),
                           dense_matrix(G.factors[2], p.factors[2]))  # fmt: skip
            assert np.array_equal(G.functor(p).to_numpy(), want)
            assert (
                relative_error(apply(G, p, X[:, 0]), (X[:, 0].reshape(3, -1) @ want.T).reshape(ref[:, 0].shape))
                <= 1e-12
            )


def test_strided_and_empty_inputs():
    G = S(3) * group("special_orthogonal", 2)
    p = G.spanning_set((1, 2), (1, 0))[-1]
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2, 2, 2, 3))  # batch, then axes in another order
    x = np.transpose(base, (0, 3, 2, 1))[:, ::-1]  # a strided, reversed view of shape (2, 3, 2, 2)
    ref = apply(G, p, np.ascontiguousarray(x))
    assert np.array_equal(apply(G, p, x), ref)
    assert apply(G, p, np.zeros((0, 3, 2, 2))).shape == (0, 3)


def test_product_maps_apply_like_their_matrices():
    G = product_group(PRODUCTS[1])  # S(2) × SO(3)
    rng = np.random.default_rng(4)
    a = G.functor(G.spanning_set((1, 2), (1, 1))[-1])
    b = G.functor(G.spanning_set((1, 1), (0, 2))[0])
    c = G.functor(G.spanning_set((0, 1), (0, 1))[0])
    d = G.functor(G.spanning_set((0, 2), (0, 0))[0])
    maps = [a, a >> b, a @ b, b @ a, 2 * a - a, (a @ c) >> a, (c @ b) >> (c @ d)]
    for F in maps:
        x = rng.standard_normal((3, *F.in_shape))
        want = (x.reshape(3, -1) @ F.to_numpy().T).reshape((3, *F.out_shape))
        assert relative_error(F.apply(x), want) <= 1e-12, repr(F)
        assert relative_error(F.apply(x[0]), want[0]) <= 1e-12


def test_guards_name_the_problem():
    G = S() * group("orthogonal", 2)
    p = G.spanning_set((1, 1), (1, 1))[0]
    with pytest.raises(
        ValueError, match=r"S\(\) \* O\(2\) has the factor S\(\).*needs a size, e.g. \(S\(\) \* O\(2\)\)\.at\(5\)"
    ):
        apply(G, p, np.zeros((1, 3, 2)))
    F = S(3) * group("orthogonal", 2)
    with pytest.raises(
        ValueError, match=r"x must have shape \(batch, 3, 2\) for a diagram of S\(3\) \* O\(2\) of type"
    ):
        apply(F, p, np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"X must have shape \(batch, c_in, 3, 2\)"):
        apply_layer(F, [p], np.zeros((1, 1, 1)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(TypeError, match="a morphism of S\\(3\\) \\* O\\(2\\) is a ProductDiagram"):
        apply(F, p.factors[0], np.zeros((1, 3)))
