"""Validation and memory guards of ``catlayer.backend.apply`` / ``apply_layer``: every bad
argument is rejected before any work with a message naming what was given, requests over the
memory budget raise ``AllocationTooLarge`` naming the size, and nothing of size n^(k+l) is
ever allocated."""

from __future__ import annotations

import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
from test_backend_oracle import group, hom

from catlayer import BrauerGroodDiagram, PartitionDiagram
from catlayer.backend import AllocationTooLarge, apply, apply_layer, set_memory_budget

S3 = group("partition", 3)
SWAP = PartitionDiagram([[0, 3], [1, 2]], dom=2, cod=2)


@pytest.fixture
def small_budget():
    set_memory_budget(2**20)
    try:
        yield
    finally:
        set_memory_budget(None)


@pytest.mark.parametrize(
    "x, message",
    [
        ([[[1.0] * 3] * 3], "numpy ndarray"),
        (np.ones((1, 3, 3), dtype=np.int64), "got int64"),
        (np.ones((1, 3, 3), dtype=np.float16), "got float16"),
        (np.ones((1, 3, 3), dtype=np.complex128), "got complex128"),
        (np.ones((1, 3, 3), dtype=">f8"), "got >f8"),
        (np.ones((1, 4, 4)), r"\(batch, 3, 3\).*got shape \(1, 4, 4\)"),
        (np.ones((1, 3, 3, 3)), r"k = 2 inputs.*got shape \(1, 3, 3, 3\)"),
        (np.ones((3, 3)), r"\(batch, 3, 3\).*got shape \(3, 3\)"),
    ],
)
def test_apply_rejects_bad_inputs(x, message):
    with pytest.raises((TypeError, ValueError), match=message):
        apply(S3, SWAP, x)


@pytest.mark.parametrize(
    "G, d, message",
    [
        (object(), SWAP, "expected a catlayer group"),
        (SimpleNamespace(n=3, family="partition"), SWAP, "expected a catlayer group"),
        (group("orthogonal", 3), PartitionDiagram([[0, 1, 2]], dom=2, cod=1), "not a morphism of BrauerCategory"),
        (group("special_orthogonal", 3), BrauerGroodDiagram([[0], [1]], dom=1, cod=1), "has 2 free vertices"),
        (S3, "not a diagram", "expected a diagram"),
    ],
)
def test_apply_rejects_bad_groups_and_diagrams(G, d, message):
    with pytest.raises((TypeError, ValueError), match=message):
        apply(G, d, np.ones((1, 3, 3)))


def _layer_args(c_out=2, c_in=3, batch=2, n=3, dtype=np.float64):
    diagrams = hom("partition", n, 2, 1)
    return diagrams, np.ones((c_out, c_in, len(diagrams)), dtype), np.ones((batch, c_in, n, n), dtype)


def test_apply_layer_rejects_bad_arguments():
    diagrams, W, X = _layer_args()
    with pytest.raises(TypeError, match="W has dtype float32 but X has dtype float64"):
        apply_layer(S3, diagrams, W.astype(np.float32), X)
    with pytest.raises(ValueError, match=r"W must have shape \(c_out, c_in, 5\).*got shape \(2, 3, 4\)"):
        apply_layer(S3, diagrams, W[:, :, :4], X)
    with pytest.raises(ValueError, match="X has 2 input channels but W has 3"):
        apply_layer(S3, diagrams, W, X[:, :2])
    with pytest.raises(ValueError, match=r"\(batch, c_in, 3, 3\).*got shape \(2, 3, 3\)"):
        apply_layer(S3, diagrams, W, X[:, :, 0])
    with pytest.raises(ValueError, match="at least one diagram"):
        apply_layer(S3, [], W[:, :, :0], X)
    with pytest.raises(ValueError, match=r"must be \(2, 1\)-diagrams"):
        apply_layer(S3, [*diagrams[:2], SWAP], W[:, :, :3], X)
    with pytest.raises(TypeError, match=r"W must have dtype float32 or float64.*got int64"):
        apply_layer(S3, diagrams, W.astype(np.int64), X)
    with pytest.raises(TypeError, match="X must be a numpy ndarray"):
        apply_layer(S3, diagrams, W, X.tolist())


def test_budget_is_checked_before_allocating(small_budget):
    # the output alone would be 8 * 50 * 64^3 bytes = 100 MiB, over the 1 MiB budget
    with pytest.raises(AllocationTooLarge, match=r"apply: the output \(50, 64, 64, 64\).*104857600 bytes"):
        apply(group("partition", 64), PartitionDiagram([[0, 3], [1, 2]], dom=1, cod=3), np.ones((50, 64)))
    diagrams = hom("partition", 64, 1, 2)
    with pytest.raises(AllocationTooLarge, match=r"apply_layer: the output \(40, 8, 64, 64\)"):
        apply_layer(group("partition", 64), diagrams, np.ones((8, 1, len(diagrams))), np.ones((40, 1, 64)))


def test_budget_restored_default_allows_small_work():
    y = apply(S3, SWAP, np.ones((2, 3, 3)))
    assert y.shape == (2, 3, 3)


def test_no_allocation_of_size_n_to_the_k_plus_l():
    n = 48  # n^4 float64 entries would be 40 MiB; input and output are 2 x 18 KiB per sample
    x = np.random.default_rng(0).standard_normal((4, n, n))
    diagrams = hom("partition", n, 2, 2)
    W = np.ones((1, 1, len(diagrams)))
    apply(group("partition", n), SWAP, x)  # compile outside the measurement
    apply_layer(group("partition", n), diagrams, W, x[:, None])
    tracemalloc.start()
    try:
        for d in diagrams:
            apply(group("partition", n), d, x)
        apply_layer(group("partition", n), diagrams, W, x[:, None])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n**4 * 8 / 8, f"peak traced allocation {peak} bytes"
