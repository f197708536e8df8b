"""``catlayer.backend.apply_layer``: the shared-work layer against the dense oracle, against the
sum of per-diagram applications, and against the numpy reference; weights, channels, strides,
batch sizes and chunking by hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TOLERANCE
from hypothesis import given
from hypothesis import strategies as st
from test_backend_oracle import group, groups_up_to, hom, oracle_layer, relative_error

import catlayer.backend.execute as execute
from catlayer.backend import apply, apply_layer, apply_layer_reference, layer_plan


def _per_diagram(G, diagrams, W, X):
    batch, c_in = X.shape[:2]
    n, l = G.n, diagrams[0].cod
    flat = X.reshape((batch * c_in, *X.shape[2:]))
    Y = np.zeros((batch, W.shape[0]) + (n,) * l)
    for t, d in enumerate(diagrams):
        term = apply(G, d, flat).reshape((batch, c_in) + (n,) * l)
        Y += np.einsum("oc,bc...->bo...", W[:, :, t].astype(np.float64), term.astype(np.float64))
    return Y


@pytest.mark.parametrize("family, n", [(f, n) for f, n in groups_up_to(4) if n in (1, 2, 3, 4)])
def test_full_layers_against_oracle(family, n, float_dtype):
    rng = np.random.default_rng(n)
    G = group(family, n)
    for k, l in [(0, 0), (1, 0), (0, 2), (1, 1), (2, 1), (1, 2), (2, 2), (3, 1), (1, 3)]:
        diagrams = hom(family, n, k, l)
        if not diagrams:
            continue
        W = rng.standard_normal((3, 2, len(diagrams))).astype(float_dtype)
        X = rng.standard_normal((4, 2) + (n,) * k).astype(float_dtype)
        Y = apply_layer(G, diagrams, W, X)
        assert Y.dtype == float_dtype and Y.shape == (4, 3) + (n,) * l
        ref = oracle_layer(family, n, diagrams, W, X)
        assert relative_error(Y, ref) <= TOLERANCE[float_dtype], (family, n, k, l)


@pytest.mark.parametrize(
    "family, n",
    [
        ("partition", 3),
        ("orthogonal", 2),
        ("symplectic", 2),
        ("special_orthogonal", 2),
        ("special_orthogonal", 3),
        ("lorentz", 3),
        ("special_lorentz", 3),
    ],
)
def test_three_to_three_layer(family, n):
    diagrams = hom(family, n, 3, 3)
    rng = np.random.default_rng(5)
    G = group(family, n)
    W = rng.standard_normal((2, 2, len(diagrams)))
    X = rng.standard_normal((3, 2) + (n,) * 3)
    Y = apply_layer(G, diagrams, W, X)
    assert relative_error(Y, oracle_layer(family, n, diagrams, W, X)) <= TOLERANCE[np.float64]
    assert relative_error(Y, _per_diagram(G, diagrams, W, X)) <= TOLERANCE[np.float64]


def test_reference_layer_equals_numba_layer(float_dtype):
    rng = np.random.default_rng(2)
    for family, n in [("partition", 4), ("symplectic", 4), ("special_orthogonal", 3), ("special_lorentz", 4)]:
        G = group(family, n)
        for k, l in [(2, 2), (3, 1), (1, 2)]:
            diagrams = hom(family, n, k, l)
            if not diagrams:
                continue
            W = rng.standard_normal((2, 3, len(diagrams))).astype(float_dtype)
            X = rng.standard_normal((2, 3) + (n,) * k).astype(float_dtype)
            ref = apply_layer_reference(G, diagrams, W, X).astype(np.float64)
            assert relative_error(apply_layer(G, diagrams, W, X), ref) <= TOLERANCE[float_dtype]


def test_layer_plan_shares_work():
    plan = layer_plan(group("partition", 5), hom("partition", 5, 3, 3))
    assert len(plan) == 203
    assert len(plan.reductions) < 203 and len(plan.expansions) < 203
    assert sum(len(g) for g in plan.groups) == 203


def _layout(draw, a):
    kind = draw(st.sampled_from(["contiguous", "fortran", "reversed", "sliced", "channels-transposed"]))
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "reversed":
        return np.flip(np.ascontiguousarray(np.flip(a, 0)), 0)
    if kind == "sliced":
        big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if kind == "channels-transposed":
        return np.ascontiguousarray(np.swapaxes(a, 0, 1)).swapaxes(0, 1)
    return a


@st.composite
def _layer_case(draw):
    family, n = draw(
        st.sampled_from(
            [
                ("partition", 2),
                ("partition", 3),
                ("orthogonal", 3),
                ("symplectic", 2),
                ("symplectic", 4),
                ("special_orthogonal", 2),
                ("special_orthogonal", 3),
                ("lorentz", 4),
                ("special_lorentz", 2),
                ("special_lorentz", 3),
            ]
        )
    )
    k = draw(st.integers(0, 3))
    l = draw(st.integers(0, 3))
    available = hom(family, n, k, l)
    if not available:
        k, l = 1, 1
        available = hom(family, n, k, l)
    indices = draw(st.lists(st.integers(0, len(available) - 1), min_size=1, max_size=8))
    diagrams = tuple(available[i] for i in indices)  # any subset, any order, repeats allowed
    batch = draw(st.integers(0, 5))
    c_in = draw(st.integers(0, 3))
    c_out = draw(st.integers(0, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    W = _layout(draw, rng.standard_normal((c_out, c_in, len(diagrams))).astype(dtype))
    X = _layout(draw, rng.standard_normal((batch, c_in) + (n,) * k).astype(dtype))
    chunk_bytes = draw(st.sampled_from([1, 200, execute.CHUNK_BYTES]))
    return family, n, diagrams, W, X, dtype, chunk_bytes


@given(_layer_case())
def test_random_layers(case):
    family, n, diagrams, W, X, dtype, chunk_bytes = case
    G = group(family, n)
    saved = execute.CHUNK_BYTES
    execute.CHUNK_BYTES = chunk_bytes  # 1 byte: one batch element per chunk
    try:
        Y = apply_layer(G, diagrams, W, X)
    finally:
        execute.CHUNK_BYTES = saved
    assert Y.dtype == dtype
    assert Y.shape == (X.shape[0], W.shape[0]) + (n,) * diagrams[0].cod
    if Y.size:
        assert relative_error(Y, oracle_layer(family, n, diagrams, W, X)) <= TOLERANCE[dtype]
        assert relative_error(Y, _per_diagram(G, diagrams, W, X)) <= TOLERANCE[dtype]


def test_single_diagram_layer_equals_apply():
    G = group("special_orthogonal", 3)
    d = hom("special_orthogonal", 3, 2, 1)[-1]
    X = np.random.default_rng(0).standard_normal((4, 1, 3, 3))
    np.testing.assert_allclose(
        apply_layer(G, [d], np.ones((1, 1, 1)), X)[:, 0], apply(G, d, X[:, 0]), rtol=1e-13, atol=1e-13
    )


def test_against_group_basis():
    import catlayer

    if not hasattr(catlayer, "S"):
        pytest.skip("catlayer.S is not available yet")
    rng = np.random.default_rng(4)
    for G in (catlayer.S(4), catlayer.O(3), catlayer.SO(3), catlayer.Sp(2), catlayer.O(2, 2), catlayer.SO(2, 1)):
        for k, l in [(2, 2), (1, 2), (2, 1)]:
            diagrams = G.basis(k, l)
            if not diagrams:
                continue
            W = rng.standard_normal((2, 2, len(diagrams)))
            X = rng.standard_normal((3, 2) + (G.n,) * k)
            ref = np.zeros((3, 2, G.n**l))
            for t, d in enumerate(diagrams):
                M = np.asarray(G.functor(d).to_numpy(), dtype=np.float64)
                ref += np.einsum("oc,bcj->boj", W[:, :, t], X.reshape(3, 2, -1) @ M.T)
            Y = apply_layer(G, diagrams, W, X)
            assert relative_error(Y, ref.reshape(Y.shape)) <= TOLERANCE[np.float64], (G, k, l)
