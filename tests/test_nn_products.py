"""Torch modules of product groups G × H (docs/conventions.md §10): features keyed by order tuples,
a tensor of type (a, b) of shape (B, C) + (N,)·a + (m,)·b, masks on the factor that permutes.

References, all independent of the torch code: the dense matrix Σ_d w_d · kron(F_G(d₁), F_H(d₂))
built from each factor's own functor (numpy); random group elements of every component of each
factor applied axis by axis; for masks, each sample alone at its own N. Tolerances: 1e-10
relative in float64, 1e-4 in float32.
"""

import numpy as np
import pytest
import torch

from catlayer import SO, O, S, Sp
from catlayer.nn import (
    EquivariantLinear,
    EquivariantMLP,
    GatedNonlinearity,
    InvariantPooling,
    PointwiseNonlinearity,
    TypedBilinear,
    TypedLinear,
)
from catlayer.testing import assert_equivariant
from catlayer.verify import check_equivariance
from tests.torch_threads import one_torch_thread  # noqa: F401

F64 = torch.float64


def _as_tuple(order):
    return order if isinstance(order, tuple) else (order,)


def _axes(order):
    """The factor of each index axis of a feature of this order (first factor's axes first)."""
    return [f for f, count in enumerate(_as_tuple(order)) for _ in range(count)]


def _act(t, elements, order):
    """Each index axis of t (B, C, ...) multiplied by its factor's matrix (float64 tensors)."""
    for a, f in enumerate(_axes(order)):
        t = torch.movedim(torch.tensordot(t, elements[f].T, dims=([2 + a], [0])), -1, 2 + a)
    return t


def _elements(group, seed):
    """One element of each component of each factor, as float64 tensors, paired up."""
    factors = group.factors
    out = []
    for c in range(max(g.num_components for g in factors)):
        out.append(
            [
                torch.tensor(np.asarray(g.random_element(seed + c, c % g.num_components), dtype=float), dtype=F64)
                for g in factors
            ]
        )
    return out


# -- linear layers against Kronecker products of the factors' images ---------------------------------
LINEAR = [
    (S(4) * O(3), (1, 1), (1, 1)),
    (S(4) * O(3), (2, 1), (1, 1)),
    (S(3) * O(3), (1, 2), (0, 0)),
    (S(3) * SO(3), (1, 1), (0, 2)),
    (S(3) * O(1, 3), (1, 1), (0, 1)),
    (S(3) * S(2), (1, 1), (1, 1)),
    (S(3) * Sp(2), (0, 2), (1, 0)),
]


@pytest.mark.parametrize(("group", "k", "l"), LINEAR, ids=str)
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_linear_layer_is_the_sum_of_kronecker_products(group, k, l, reduce):
    torch.manual_seed(0)
    layer = EquivariantLinear(group, k, l, 2, 3, reduce=reduce, dtype=F64)
    with torch.no_grad():
        if layer.bias is not None:
            layer.bias.normal_()
    diagrams = layer.blocks[(k, l)]
    sizes = [g.n for g in group.factors]
    rows = int(np.prod([sizes[f] for f in _axes(l)]))
    cols = int(np.prod([sizes[f] for f in _axes(k)]))
    images = []
    for d in diagrams:
        image = np.kron(*[g.functor(e).to_numpy() for g, e in zip(group.factors, d.factors, strict=True)])
        if reduce == "mean":  # each closed bottom block of factor f sums over n_f values
            for g, e in zip(group.factors, d.factors, strict=True):
                image = image / g.n ** sum(1 for block in _closed_bottom_blocks(e))
        images.append(image)
    w = layer.weight.detach().numpy()
    dense = np.einsum("oid,dlk->olik", w, np.stack(images)).reshape(3 * rows, 2 * cols)
    x = torch.randn((4, 2, *(sizes[f] for f in _axes(k))), dtype=F64)
    y = layer(x).reshape(4, -1).detach().numpy()
    expected = x.reshape(4, -1).numpy() @ dense.T
    if layer.bias is not None:
        expected = expected + layer.bias_tensor().reshape(-1).detach().numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


def _closed_bottom_blocks(diagram):
    """The blocks of a diagram with bottom vertices only (the sums a mean divides by); the free
    vertices of a Brauer–Grood diagram (singletons, contracted with ε) are not sums."""
    l = diagram.cod
    free = type(diagram).__name__ == "BrauerGroodDiagram"
    return [b for b in diagram.blocks if all(v >= l for v in b) and not (free and len(b) == 1)]


@pytest.mark.parametrize(("group", "k", "l"), LINEAR, ids=str)
def test_linear_layer_commutes_with_every_component(group, k, l):
    torch.manual_seed(1)
    layer = EquivariantLinear(group, k, l, 2, 2, dtype=F64)
    sizes = [g.n for g in group.factors]
    x = torch.randn((3, 2, *(sizes[f] for f in _axes(k))), dtype=F64)
    for elements in _elements(group, 5):
        got = layer(_act(x, elements, k))
        want = _act(layer(x), elements, l)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


# -- masks on the permuting factor ---------------------------------------------------------------------
def _padded_vs_alone(module, features, mask, call=None):
    """module on a padded batch (garbage in the padding) against each sample alone; features:
    dict order tuple → (B, C) + axes, the S factor first and of any size."""
    call = call or (lambda f, m: module(f, m))
    junk = {}
    for k, x in features.items():
        keep = torch.ones(x.shape, dtype=torch.bool)
        for a in range(_as_tuple(k)[0]):
            shape = [x.shape[0]] + [1] * (x.dim() - 1)
            shape[2 + a] = mask.shape[1]
            keep = keep & mask.reshape(shape)
        junk[k] = torch.where(keep, x, torch.full_like(x, float("nan")))
    out = call(junk, mask)
    for b in range(mask.shape[0]):
        index = mask[b].nonzero().flatten()
        alone = call(
            {k: _select(x[b : b + 1], index, _as_tuple(k)[0]) for k, x in features.items()},
            torch.ones(1, len(index), dtype=torch.bool),
        )
        for k, y in out.items():
            assert torch.isfinite(y[b]).all()
            got = _select(y[b : b + 1], index, _as_tuple(k)[0])
            torch.testing.assert_close(got, alone[k], rtol=1e-10, atol=1e-10)
            n_axes = _as_tuple(k)[0]
            for a in range(n_axes):  # exactly 0 wherever an index of the S factor is padded
                padded = (~mask[b]).nonzero().flatten()
                assert torch.equal(y[b].index_select(1 + a, padded), torch.zeros_like(y[b].index_select(1 + a, padded)))
    return out


def _select(t, index, n_axes):
    for a in range(n_axes):
        t = t.index_select(2 + a, index)
    return t


def _mask(batch=4, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch, n, generator=g) < 0.6
    mask[0] = True
    mask[1] = False
    mask[1, 2] = True  # a sample of one point
    return mask


@pytest.mark.parametrize(
    ("group", "in_type", "out_type"),
    [
        (S() * O(3), {(1, 1): 2, (0, 0): 1}, {(0, 1): 2, (1, 1): 1, (2, 0): 1}),
        (S() * SO(3), {(1, 1): 2, (0, 2): 1}, {(1, 1): 2, (0, 0): 1}),
        (S() * O(1, 3), {(1, 1): 1}, {(2, 1): 1, (0, 1): 1}),
    ],
    ids=str,
)
def test_typed_linear_with_a_mask_equals_each_sample_alone(group, in_type, out_type):
    torch.manual_seed(2)
    layer = TypedLinear(group, in_type, out_type, dtype=F64)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("bias"):
                p.normal_()
    m = group.factors[1].n
    mask = _mask()
    features = {k: torch.randn((4, c) + (6,) * k[0] + (m,) * k[1], dtype=F64) for k, c in in_type.items()}
    _padded_vs_alone(layer, features, mask)


def test_every_module_kind_with_a_mask():
    """Bilinear products, nonlinearities, pooling and the MLP of S() * O(3): padded = alone."""
    G = S() * O(3)
    torch.manual_seed(3)
    mask = _mask(seed=1)
    x = {(1, 1): torch.randn(4, 2, 6, 3, dtype=F64), (0, 0): torch.randn(4, 2, dtype=F64)}
    bilinear = TypedBilinear(G, {(0, 0): 2, (1, 1): 2}, {(2, 0): 2, (1, 1): 1, (0, 0): 1}, dtype=F64)
    _padded_vs_alone(bilinear, x, mask, lambda f, m: bilinear(f, f, m))
    gated = GatedNonlinearity(G, {(0, 0): 2, (1, 1): 2})  # takes a gate per gated channel too
    gates = {k: torch.randn((4, c) + (6,) * k[0] + (3,) * k[1], dtype=F64) for k, c in gated.in_type.items()}
    _padded_vs_alone(gated, gates, mask)
    pooling = InvariantPooling(G, {(0, 0): 2, (2, 2): 1}, dtype=F64)
    _padded_vs_alone(pooling, {(0, 0): x[(0, 0)], (2, 2): torch.randn(4, 1, 6, 6, 3, 3, dtype=F64)}, mask)
    pairs = {(2, 0): torch.randn(4, 2, 6, 6, dtype=F64)}
    pointwise = PointwiseNonlinearity(G, {(2, 0): 2}, "relu")
    _padded_vs_alone(pointwise, pairs, mask)
    model = EquivariantMLP(G, {(1, 1): 2, (0, 0): 2}, {(0, 0): 1, (0, 1): 1}, depth=1, dtype=F64)
    _padded_vs_alone(model, x, mask)


def test_nonlinearity_rules_for_products():
    """Entrywise where every factor acting on an order permutes indices, gated otherwise."""
    model = EquivariantMLP(S() * O(3), {(1, 1): 1}, {(0, 0): 1}, hidden={(0, 0): 8, (2, 0): 4, (1, 1): 4})
    act = model.blocks[0].act
    assert isinstance(act, GatedNonlinearity)
    assert act.pointwise and (1, 1) in act.gated and (2, 0) not in act.gated
    with pytest.raises(ValueError, match="O\\(3\\)"):
        PointwiseNonlinearity(S() * O(3), {(1, 1): 2})


# -- products: Minkowski dots, cross products -----------------------------------------------------------
def test_minkowski_dot_products_as_a_pair_feature():
    G = S() * O(1, 3)
    dots = TypedBilinear(G, {(1, 1): 1}, {(2, 0): 1}, "canonical", reduce="sum", dtype=F64)
    with torch.no_grad():
        dots.weight_1x1_1x1_2x0.fill_(1.0)
    p, mask = torch.randn(4, 6, 4, dtype=F64), _mask()
    d = dots({(1, 1): p[:, None]}, {(1, 1): p[:, None]}, mask)[(2, 0)][:, 0]
    eta = torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=F64))
    valid = mask[:, :, None] & mask[:, None, :]
    torch.testing.assert_close(d, torch.einsum("bia,ac,bjc->bij", p, eta, p) * valid, rtol=1e-12, atol=1e-12)
    boost = torch.tensor(np.asarray(O(1, 3).random_element(3, 1), dtype=float), dtype=F64)  # a reflection too
    moved = dots({(1, 1): (p @ boost.T)[:, None]}, {(1, 1): (p @ boost.T)[:, None]}, mask)[(2, 0)][:, 0]
    torch.testing.assert_close(moved, d, rtol=1e-9, atol=1e-9)


def test_cross_products_under_s_times_so3():
    """The canonical products (1, 1) × (1, 1) → (1, 1) of S() * SO(3) hold the pointwise cross
    product p_i × q_i (Levi-Civita), which O(3) does not allow."""
    product = TypedBilinear(S() * SO(3), {(1, 1): 1}, {(1, 1): 1}, "canonical", reduce="sum", dtype=F64)
    assert not TypedBilinear(S() * O(3), {(1, 1): 1, (0, 0): 1}, {(1, 1): 1}, "canonical").blocks.get(
        ((1, 1), (1, 1), (1, 1))
    )
    weights = dict(product.named_parameters())
    (name,) = [n for n in weights if n.startswith("weight_1x1_1x1_1x1")]
    p, q = torch.randn(3, 5, 3, dtype=F64), torch.randn(3, 5, 3, dtype=F64)
    with torch.no_grad():
        weights[name].fill_(1.0)
    out = product({(1, 1): p[:, None]}, {(1, 1): q[:, None]})[(1, 1)][:, 0]
    cross = torch.linalg.cross(p, q, dim=-1)
    assert torch.allclose(out, cross, atol=1e-12) or torch.allclose(out, -cross, atol=1e-12)


# -- checks name both elements, every component -------------------------------------------------------
def test_a_check_of_the_wrong_product_names_both_elements():
    """An S() * SO(3) layer is not S() * O(3)-equivariant: the check finds a reflection and says
    which permutation and which matrix it used."""
    layer = EquivariantLinear(S() * SO(3), (1, 2), (1, 1), 1, 1, dtype=F64)
    for seed in range(4):
        with pytest.raises(AssertionError) as failure:
            assert_equivariant(layer, group=S() * O(3), seed=seed)
        text = str(failure.value)
        assert "permutation" in text and "matrix" in text, text
    assert assert_equivariant(layer)
    assert check_equivariance(EquivariantMLP(S() * O(3), {(1, 1): 1}, {(0, 1): 1}, depth=1))


def test_acceptance_interface():
    layer = EquivariantLinear(S() * O(3), (1, 1), (0, 1), 4, 2)
    x, mask = torch.randn(5, 4, 7, 3), _mask(5, 7)
    assert layer(x, mask).shape == (5, 2, 3)
    model = EquivariantMLP(S() * O(1, 3), in_type={(1, 1): 1}, out_type={(0, 0): 1})
    p = torch.randn(5, 7, 4)
    assert model({(1, 1): p[:, None]}, mask)[(0, 0)].shape == (5, 1)


@pytest.mark.parametrize("task", ["point clouds", "particles"])
def test_the_default_mlp_learns_on_sets_of_varying_size(task):
    """EquivariantMLP with its defaults fits an invariant of clouds / particle sets of 3–10
    points in 90 Adam steps: the radius of gyration under S() * O(3), the invariant mass² of the
    total 4-momentum under S() * O(1, 3) (normalised targets: the loss starts near 1)."""
    torch.manual_seed(0)
    sizes = torch.randint(3, 11, (64,))
    mask = torch.arange(10) < sizes[:, None]
    if task == "point clouds":
        group, x = S() * O(3), torch.randn(64, 10, 3) * mask[..., None]
        centre = x.sum(1) / sizes[:, None]
        y = ((x - centre[:, None]).square().sum(-1) * mask).sum(1) / sizes
    else:
        momenta = torch.randn(64, 10, 3) * 0.5
        group = S() * O(1, 3)
        x = torch.cat([momenta.norm(dim=-1, keepdim=True) + 0.1, momenta], -1) * mask[..., None]
        total = x.sum(1)
        y = total[:, 0] ** 2 - total[:, 1:].square().sum(-1)
    y = (y - y.mean()) / y.std()
    model = EquivariantMLP(group, {(1, 1): 1}, {(0, 0): 1})
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(90):
        loss = (model({(1, 1): x[:, None]}, mask)[(0, 0)][:, 0] - y).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1, loss.item()
