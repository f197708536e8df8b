"""The product-group benchmarks' targets and generators (bench/bench_pointclouds.py,
bench/bench_particles.py, bench/set_models.py) against their definitions and the symmetries they
claim: S_N × O(3) invariance and covariance of the point-cloud targets (padding ignored), exact
four-momentum conservation and the advertised invariant masses of the particle generator,
Lorentz invariance and covariance of its targets, PELICAN's input being exactly the Minkowski
products, and the AUC. Nothing is trained; the whole file runs in a few seconds."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from catlayer import O, S

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
pointclouds = pytest.importorskip("bench_pointclouds")
particles = pytest.importorskip("bench_particles")
set_models = pytest.importorskip("set_models")
emlp_products = pytest.importorskip("bench_emlp_products")

ETA = np.diag([1.0, -1.0, -1.0, -1.0])


def relabel(rng, arrays: dict, mask: np.ndarray) -> dict:
    """Each sample's valid entries permuted at random (padding stays last)."""
    out = {k: v.copy() for k, v in arrays.items()}
    for b, n in enumerate(mask.sum(1)):
        perm = rng.permutation(n)
        for k in out:
            out[k][b, :n] = arrays[k][b, perm]
    return out


# -- point clouds -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clouds():
    return pointclouds.point_clouds(np.random.default_rng(0), 40, 4, 12)


def test_clouds_are_padded_with_zeros(clouds):
    mask = clouds["mask"]
    assert mask.shape == (40, 12) and mask.sum(1).min() >= 4
    assert (mask[:, :4]).all() and (np.diff(mask.astype(int), axis=1) <= 0).all()  # valid entries first
    for key in ("r", "m", "q"):
        assert not clouds[key][~mask].any()
    assert (clouds["m"][mask] >= 0.5).all()


def test_point_cloud_targets_match_their_formulas(clouds):
    b = 5
    n = clouds["mask"][b].sum()
    r, m, q = clouds["r"][b, :n], clouds["m"][b, :n], clouds["q"][b, :n]
    centre = (m[:, None] * r).sum(0) / m.sum()
    radius = np.sqrt((m * ((r - centre) ** 2).sum(1)).sum() / m.sum())
    assert np.isclose(pointclouds.gyration(clouds["r"], clouds["m"], clouds["mask"])[b, 0], radius)
    np.testing.assert_allclose(pointclouds.dipole(clouds["r"], clouds["q"], clouds["mask"])[b], q @ r)
    inertia = sum(mi * (ri @ ri * np.eye(3) - np.outer(ri, ri)) for mi, ri in zip(m, r, strict=True))
    np.testing.assert_allclose(pointclouds.inertia(clouds["r"], clouds["m"], clouds["mask"])[b], inertia)


@pytest.mark.parametrize("name", list(pointclouds.TASKS))
def test_point_cloud_targets_under_s_n_and_o3(clouds, name):
    target, order, _ = pointclouds.TASKS[name]
    y = target(clouds)
    rng = np.random.default_rng(1)
    for component in (0, 1):  # a rotation and a reflection
        g = O(3).random_element(rng, component)
        moved = relabel(rng, {k: clouds[k] for k in ("r", "m", "q")}, clouds["mask"])
        moved["r"] = moved["r"] @ g.T
        moved["mask"] = clouds["mask"]
        expected = y if order == (0, 0) else (y @ g.T if order == (0, 1) else g @ y @ g.T)
        np.testing.assert_allclose(target(moved), expected, atol=1e-10)


@pytest.mark.parametrize("name", list(pointclouds.TASKS))
def test_point_cloud_targets_ignore_padding(clouds, name):
    target, _, _ = pointclouds.TASKS[name]
    noisy = {k: v.copy() for k, v in clouds.items()}
    rng = np.random.default_rng(2)
    for key in ("r", "m", "q"):
        noisy[key][~clouds["mask"]] = rng.standard_normal(noisy[key][~clouds["mask"]].shape)
    np.testing.assert_allclose(target(noisy), target(clouds), atol=1e-12)


def test_point_cloud_transform_moves_inputs_and_targets_together(clouds):
    batch = pointclouds.as_batch(clouds)
    moved, g = pointclouds.transform(batch, 0)
    back = {"r": moved["r"].double().numpy(), "m": moved["s"][..., 0].double().numpy(), "mask": moved["mask"].numpy()}
    y = torch.tensor(pointclouds.inertia(clouds["r"], clouds["m"], clouds["mask"]))
    moved_y = torch.tensor(pointclouds.inertia(back["r"], back["m"], back["mask"]))
    torch.testing.assert_close(moved_y, pointclouds.act(g.double(), y, (0, 2)), atol=1e-4, rtol=1e-4)


# -- particles ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def events():
    return particles.events(np.random.default_rng(0), 60)


def test_boost_and_two_body_kinematics():
    rng = np.random.default_rng(0)
    beta = np.array([0.3, -0.5, 0.6])
    p = rng.standard_normal((5, 4))
    boosted = particles.boost(p, beta)
    np.testing.assert_allclose(particles.minkowski(boosted, boosted), particles.minkowski(p, p), atol=1e-12)
    at_rest = particles.boost(np.array([2.0, 0, 0, 0]), beta)
    np.testing.assert_allclose(at_rest[1:] / at_rest[0], beta)  # moves with velocity beta
    parent = particles.boost(np.array([1.0, 0, 0, 0]), np.array([0.0, 0.8, 0.1]))
    a, b = particles.two_body(parent, 0.3, 0.1, 0.4, 1.0)
    np.testing.assert_allclose(a + b, parent, atol=1e-12)
    np.testing.assert_allclose([particles.minkowski(a, a), particles.minkowski(b, b)], [0.09, 0.01], atol=1e-12)


def test_signal_prongs_have_the_advertised_masses():
    rng = np.random.default_rng(1)
    for counts in ([1, 1, 1], [3, 2, 4], [1, 4, 2]):
        b, q, r = particles.signal_prongs(rng, 1.05, counts)
        mass = particles.minkowski
        assert np.isclose(mass(b + q + r, b + q + r), 1.05**2)  # the heavy particle
        assert np.isclose(np.sqrt(mass(q + r, q + r)), particles.M_Y)  # the intermediate Y
        for prong, k, top in ((b, counts[0], 0.15), (q, counts[1], 0.10), (r, counts[2], 0.10)):
            m = np.sqrt(max(mass(prong, prong), 0.0))
            assert (m < 1e-7) if k == 1 else (0.02 - 1e-9 <= m <= top + 1e-9)


def test_shower_conserves_four_momentum():
    rng = np.random.default_rng(2)
    parent = particles.boost(np.array([0.9, 0, 0, 0]), np.array([0.5, 0.2, -0.4]))
    for count in (1, 2, 5, 12):
        out = np.stack(particles.shower(rng, parent, count))
        assert len(out) == count
        np.testing.assert_allclose(out.sum(0), parent, atol=1e-12)
        squares = particles.minkowski(out, out)
        assert (squares > -1e-12).all() and (out[:, 0] > 0).all()  # physical: time-like or light-like


def test_events_have_the_advertised_lorentz_properties(events):
    p, mask = events["p"], events["mask"]
    n = mask.sum(1)
    assert ((n >= 3) & (n <= 12)).all() and not p[~mask].any()
    assert set(np.unique(events["label"])) == {0, 1}
    total = (p * mask[..., None]).sum(1)
    np.testing.assert_allclose(np.sqrt(particles.minkowski(total, total)), events["mass"], rtol=1e-10)
    assert ((events["mass"] >= 0.8) & (events["mass"] <= 1.2)).all()
    # the boost: the total momentum moves with rapidity y, i.e. |P| / E = tanh(y)
    speed = np.linalg.norm(total[:, 1:], axis=1) / total[:, 0]
    np.testing.assert_allclose(speed, np.tanh(events["rapidity"]), atol=1e-9)
    squares = particles.minkowski(p, p)[mask]
    assert (squares > -1e-9).all() and (p[..., 0][mask] > 0).all()


def lorentz_elements():
    rng = np.random.default_rng(5)
    boost = np.eye(4)
    boost[:2, :2] = [[np.cosh(0.8), np.sinh(0.8)], [np.sinh(0.8), np.cosh(0.8)]]
    rotation = np.eye(4)
    rotation[1:, 1:] = O(3).random_element(rng)
    return [boost, rotation, ETA, np.asarray(O(1, 3).random_element(rng, 1), dtype=float)]


@pytest.mark.parametrize("g", lorentz_elements(), ids=["boost", "rotation", "PT", "random"])
def test_particle_targets_under_s_n_and_lorentz(events, g):
    assert np.allclose(g.T @ ETA @ g, ETA)
    rng = np.random.default_rng(3)
    moved = relabel(rng, {"p": events["p"]}, events["mask"])["p"] @ g.T
    mask = events["mask"]
    y = particles.pair_mass_sum(events["p"], mask)
    np.testing.assert_allclose(particles.pair_mass_sum(moved, mask), y, rtol=1e-8)
    v = particles.weighted_momentum(events["p"], mask)
    np.testing.assert_allclose(particles.weighted_momentum(moved, mask), v @ g.T, atol=1e-8)


def test_particle_targets_match_their_formulas(events):
    b = 3
    n = events["mask"][b].sum()
    p = events["p"][b, :n]
    dot = particles.minkowski
    pairs = sum(np.sqrt(max(dot(p[i] + p[j], p[i] + p[j]), 0.0)) for i in range(n) for j in range(i + 1, n))
    assert np.isclose(particles.pair_mass_sum(events["p"], events["mask"])[b, 0], pairs)
    total = p.sum(0)
    x = dot(p, total[None]) / dot(total, total)
    assert np.isclose(x.sum(), 1.0)
    np.testing.assert_allclose(particles.weighted_momentum(events["p"], events["mask"])[b], np.sqrt(x) @ p)


def test_pelican_input_is_the_minkowski_products_and_model_is_invariant(events):
    torch.manual_seed(0)
    model = particles.Pelican()
    p = torch.tensor(events["p"][:8], dtype=torch.float64)
    mask = torch.tensor(events["mask"][:8])
    model = model.double()
    d = model.dots({(1, 1): p[:, None]}, {(1, 1): p[:, None]}, mask)[(2, 0)][:, 0]
    eta = torch.tensor(ETA)
    expected = torch.einsum("bim,mn,bjn->bij", p, eta, p) * (mask[:, :, None] & mask[:, None, :])
    torch.testing.assert_close(d, expected)
    g = torch.tensor(lorentz_elements()[3])
    with torch.no_grad():
        torch.testing.assert_close(model(p @ g.T, mask), model(p, mask), atol=1e-6, rtol=1e-6)


def test_roc_auc():
    auc = set_models.roc_auc
    assert auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert auc([1, 2, 3], [0, 1, 1]) == 1.0 and auc([3, 2, 1], [0, 1, 1]) == 0.0
    assert auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5  # ties count one half
    rng = np.random.default_rng(0)
    scores, labels = rng.standard_normal(300), rng.integers(0, 2, 300)
    positives, negatives = scores[labels == 1], scores[labels == 0]
    pairs = np.mean((positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :]))
    assert np.isclose(auc(scores, labels), pairs)


def test_random_orthogonal_covers_both_components():
    g = set_models.random_orthogonal(np.random.default_rng(0), 50)
    np.testing.assert_allclose(g @ g.transpose(0, 2, 1), np.broadcast_to(np.eye(3), g.shape), atol=1e-12)
    assert set(np.round(np.linalg.det(g)).astype(int)) == {-1, 1}


def test_catlayer_side_of_the_emlp_comparison():
    """catlayer's rows of bench/bench_emlp_products.py (no EMLP needed): exact dimensions at small N
    (some S_N diagrams become dependent below N = a + c) and a dense basis that is equivariant."""
    row = emlp_products.catlayer_row(4, (3, 1), (2, 1), 1)
    assert row["dim"] == 51 and row["dense"].shape == (16 * 3 * 64 * 3, 51)
    assert emlp_products.catlayer_row(5, (3, 1), (2, 1), 1)["dim"] == 52
    row = emlp_products.catlayer_row(4, (1, 1), (1, 1), 1)
    g = (S(4) * O(3)).random_element(0)
    rho = np.kron(g[0], g[1])  # the action on (1, 1): S axis first
    for column in row["dense"].T:
        matrix = column.reshape(12, 12)
        np.testing.assert_allclose(rho @ matrix, matrix @ rho, atol=1e-12)
    assert emlp_products.factor_size(8, (3, 1), (2, 1)) == 8**5
