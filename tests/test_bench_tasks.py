"""The benchmark tasks' targets (bench/bench_emlp.py, bench/bench_graphs.py) against their
definitions: direct formulas on single samples, and the symmetry each task claims (invariant
scalars, an equivariant inertia tensor, a Lorentz-invariant amplitude, relabelling-invariant
triangle counts)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from catlayer import O, S

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
bench_emlp = pytest.importorskip("bench_emlp")
bench_graphs = pytest.importorskip("bench_graphs")


def test_o5_synthetic():
    x, y = bench_emlp.o5_synthetic(np.random.default_rng(0), 50)
    r1, r2 = x[1][3]
    norm = np.linalg.norm
    assert np.isclose(y[3, 0], np.sin(norm(r1)) - norm(r2) ** 3 / 2 + r1 @ r2 / (norm(r1) * norm(r2)))
    g = O(5).random_element(1)
    np.testing.assert_allclose(bench_emlp.o5_target(x[1] @ g.T), y, rtol=1e-10)


def test_inertia():
    x, y = bench_emlp.inertia(np.random.default_rng(0), 20)
    m, r = x[0], x[1]
    assert (m > 0).all() and y.shape == (20, 1, 3, 3)
    direct = sum(m[7, j] * (r[7, j] @ r[7, j] * np.eye(3) - np.outer(r[7, j], r[7, j])) for j in range(5))
    np.testing.assert_allclose(y[7, 0], direct, rtol=1e-12)
    g = O(3).random_element(2)
    np.testing.assert_allclose(bench_emlp.inertia_target(m, r @ g.T), g @ y @ g.T, atol=1e-10)


def test_particle_interaction_is_lorentz_invariant():
    x, y = bench_emlp.particle_interaction(np.random.default_rng(0), 30)
    eta = bench_emlp.ETA
    boost = np.eye(4)
    boost[:2, :2] = [[np.cosh(0.7), np.sinh(0.7)], [np.sinh(0.7), np.cosh(0.7)]]
    rotation = np.eye(4)
    rotation[1:, 1:] = O(3).random_element(3)
    for g in (boost, rotation, eta):  # a boost, a rotation, parity-and-time-reversal (η itself)
        assert np.allclose(g.T @ eta @ g, eta)
        np.testing.assert_allclose(bench_emlp.particle_target(x[1] @ g.T), y, rtol=1e-9, atol=1e-12)
    p1, p2, p3, p4 = x[1][0]
    lower = eta @ p2, eta @ p4
    le = np.outer(p1, p3) - (p1 @ eta @ p3 - p1 @ eta @ p1) * eta
    lm = np.outer(*lower) - (p2 @ eta @ p4 - p2 @ eta @ p2) * eta
    assert np.isclose(y[0, 0], 4 * (le * lm).sum())


def test_triangle_counts():
    a = bench_graphs.graphs(torch.Generator().manual_seed(0), 20)
    assert torch.equal(a, a.transpose(1, 2)) and not a.diagonal(0, -2, -1).any()
    t = bench_graphs.targets(a)
    nodes = range(a.shape[-1])
    direct = sum(int(a[4, u, v] * a[4, v, w] * a[4, u, w]) for u in nodes for v in nodes for w in nodes if u < v < w)
    assert t[0][4, 0] == direct
    assert torch.allclose(t[1][4, 0].sum(), 3 * t[0][4, 0])  # each triangle has three corners
    g = torch.tensor(S(12).random_element(3), dtype=a.dtype)
    relabelled = bench_graphs.targets(g @ a @ g.T)
    torch.testing.assert_close(relabelled[0], t[0])
    torch.testing.assert_close(relabelled[1], t[1] @ g.T)
