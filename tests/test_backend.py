"""``catlayer.backend.apply``: the numba path against the independent dense oracle
(docs/conventions.md §3 entry formulas), against the numpy reference executor, and against the groups'
own dense functor images; all families, small (k, l, n) exhaustively, strides and batch sizes
by hypothesis.

Error measure (stated in catlayer.backend.execute): max|y − y_ref| / max|y_ref|, at most
TOLERANCE[dtype] (1e-12 float64, 1e-5 float32).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TOLERANCE
from hypothesis import given
from hypothesis import strategies as st
from test_backend_oracle import group, groups_up_to, hom, oracle_apply, relative_error

from catlayer import BrauerGroodDiagram, PartitionDiagram
from catlayer.backend import apply, apply_reference
from catlayer.testing.strategies import brauer_diagrams, brauer_grood_diagrams, partition_diagrams

#: The oracle's names for O(1, n−1) and SO(1, n−1) (η = diag(1, −1, …, −1)).
LORENTZ = ("lorentz", "special_lorentz")


def _check(family, n, d, x, dtype):
    y = apply(group(family, n), d, x)
    assert y.dtype == dtype
    assert y.shape == (x.shape[0],) + (n,) * d.cod
    ref = oracle_apply(family, n, d, x)
    assert relative_error(y, ref) <= TOLERANCE[dtype], (family, n, d)
    return y


@pytest.mark.parametrize("family, n", list(groups_up_to(4)))
def test_every_diagram_up_to_four_vertices(family, n, float_dtype):
    rng = np.random.default_rng(n)
    for k in range(5):
        for l in range(5 - k):
            for d in hom(family, n, k, l):
                x = rng.standard_normal((2,) + (n,) * k).astype(float_dtype)
                y = _check(family, n, d, x, float_dtype)
                r = apply_reference(group(family, n), d, x)
                assert relative_error(y, r.astype(np.float64)) <= TOLERANCE[float_dtype]


@pytest.mark.parametrize("family, n", [(f, n) for f, n in groups_up_to(3) if n >= 2])
def test_sample_of_five_and_six_vertices(family, n):
    rng = np.random.default_rng(7)
    for k, l in [(2, 3), (3, 2), (1, 4), (5, 0), (3, 3), (2, 4), (4, 2), (0, 6), (6, 0)]:
        diagrams = hom(family, n, k, l)
        if not diagrams:
            continue
        for index in rng.choice(len(diagrams), size=min(6, len(diagrams)), replace=False):
            x = rng.standard_normal((3,) + (n,) * k)
            _check(family, n, diagrams[index], x, np.float64)


def test_worked_example_of_the_conventions():
    d = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)
    v = np.random.default_rng(3).standard_normal((1,) + (4,) * 5)
    w = apply(group("partition", 4), d, v)[0]
    expected = np.einsum("cabac->bc", v[0])  # w[i0, i1, i2] = Σ_a v[i2, a, i0, a, i2]
    np.testing.assert_allclose(w, np.broadcast_to(expected[:, None, :], (4, 4, 4)), rtol=1e-12)


def test_levi_civita_cross_product():
    cross = BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1)
    a, b = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 2.0])
    out = apply(group("special_orthogonal", 3), cross, np.outer(a, b)[None])
    np.testing.assert_allclose(out[0], np.cross(a, b))


@pytest.mark.parametrize("batch", [0, 1, 5])
@pytest.mark.parametrize("k, l", [(0, 0), (0, 2), (2, 0), (1, 1), (2, 3)])
def test_batch_sizes_and_empty_rows(batch, k, l, float_dtype):
    n = 3
    rng = np.random.default_rng(batch)
    for d in hom("partition", n, k, l)[:12]:
        x = rng.standard_normal((batch,) + (n,) * k).astype(float_dtype)
        _check("partition", n, d, x, float_dtype)


def _layouts(draw, x):
    """A view of x with the same values but other strides: transposed storage, negative
    steps, or a slice of a larger array."""
    kind = draw(st.sampled_from(["contiguous", "fortran", "reversed", "sliced", "permuted"]))
    if kind == "fortran":
        return np.asfortranarray(x)
    if kind == "reversed":
        axis = draw(st.integers(0, x.ndim - 1))
        flipped = np.flip(np.ascontiguousarray(np.flip(x, axis)), axis)
        return flipped
    if kind == "sliced":
        big = np.zeros(tuple(2 * s + 1 for s in x.shape), dtype=x.dtype)
        view = big[tuple(slice(1, None, 2) for _ in x.shape)]
        view[...] = x
        return view
    if kind == "permuted" and x.ndim > 1:
        order = draw(st.permutations(range(x.ndim)))
        inverse = np.argsort(order)
        return np.ascontiguousarray(x.transpose(order)).transpose(inverse)
    return x


@st.composite
def _case(draw):
    family = draw(st.sampled_from(["partition", "orthogonal", "symplectic", "special_orthogonal", *LORENTZ]))
    if family == "partition":
        n = draw(st.integers(1, 4))
        d = draw(partition_diagrams(max_size=5))
    elif family in ("special_orthogonal", "special_lorentz"):
        n = draw(st.integers(2 if family == "special_lorentz" else 1, 4))
        d = draw(st.one_of(brauer_diagrams(max_size=6), brauer_grood_diagrams(n, max_size=5)))
    elif family == "lorentz":
        n = draw(st.integers(2, 4))
        d = draw(brauer_diagrams(max_size=6))
    else:
        n = draw(st.sampled_from([2, 4]) if family == "symplectic" else st.integers(1, 4))
        d = draw(brauer_diagrams(max_size=6))
    batch = draw(st.integers(0, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).standard_normal((batch,) + (n,) * d.dom).astype(dtype)
    return family, n, d, _layouts(draw, x), dtype


@given(_case())
def test_random_diagrams_strides_and_batches(case):
    family, n, d, x, dtype = case
    before = x.copy()
    y = _check(family, n, d, x, dtype)
    np.testing.assert_array_equal(x, before)  # the input is not modified
    ref = apply_reference(group(family, n), d, np.ascontiguousarray(x))
    assert relative_error(y, ref.astype(np.float64)) <= TOLERANCE[dtype]


def test_read_only_and_broadcast_inputs():
    n = 3
    d = PartitionDiagram([[0, 3], [1], [2]], dom=2, cod=2)
    x = np.broadcast_to(np.arange(9.0).reshape(1, 3, 3), (4, 3, 3))  # zero batch stride, read-only
    _check("partition", n, d, x, np.float64)
    frozen = np.random.default_rng(0).standard_normal((2, 3, 3))
    frozen.setflags(write=False)
    _check("partition", n, d, frozen, np.float64)


def test_against_group_functors():
    import catlayer

    if not all(hasattr(catlayer, name) for name in ("S", "O", "SO", "Sp")):
        pytest.skip("catlayer.S/O/SO/Sp are not available yet")
    rng = np.random.default_rng(11)
    indefinite = [catlayer.O(2, 2), catlayer.O(3, 1), catlayer.SO(2, 1), catlayer.SO(2, 2), catlayer.SO(3, 1)]
    for G in (catlayer.S(3), catlayer.O(3), catlayer.SO(3), catlayer.Sp(4), catlayer.SO(2), *indefinite):
        for k, l in [(1, 1), (2, 1), (1, 2), (2, 2), (3, 1), (0, 2)]:
            for d in G.category.hom(k, l):
                M = np.asarray(G.functor(d).to_numpy(), dtype=np.float64)
                x = rng.standard_normal((2,) + (G.n,) * k)
                ref = (x.reshape(2, -1) @ M.T).reshape((2,) + (G.n,) * l)
                assert relative_error(apply(G, d, x), ref) <= TOLERANCE[np.float64], (G, d)
