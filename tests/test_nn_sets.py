"""Sets and graphs of any size: ``S()`` layers, padded batches with masks, and fixed n agreeing
with every n (docs/conventions.md §11).

The reference for a padded sample is the same module applied to that sample alone, at its own n
(its valid indices, in order): the output restricted to the valid indices must equal it, every
output entry touching a padded index must be exactly 0, and whatever the padding holds (huge
numbers, NaN, inf) must not matter. Tolerance: 1e-12 relative to the largest entry, float64.
"""

import numpy as np
import pytest
import torch

from catlayer import S
from catlayer.nn import (
    EquivariantBilinear,
    EquivariantLinear,
    EquivariantMLP,
    GatedNonlinearity,
    InvariantPooling,
    NormNonlinearity,
    PointwiseNonlinearity,
    TypedBilinear,
    TypedLinear,
)
from catlayer.testing import assert_equivariant
from catlayer.verify import check_equivariance
from tests.torch_threads import one_torch_thread  # noqa: F401

ORDERS = [(k, l) for k in range(4) for l in range(4) if (k, l) != (0, 0)]


def _mask(batch=5, n=7, seed=0):
    """Random valid sets (not prefixes), one full sample, one empty sample, one of size 1."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch, n, generator=g) < 0.55
    mask[0] = True
    mask[1] = False
    mask[2] = False
    mask[2, 3] = True
    return mask


def _garbage(x, mask, order):
    """x with every entry whose multi-index touches a padded index replaced by junk."""
    keep = torch.ones(x.shape, dtype=torch.bool)
    for a in range(order):
        shape = [x.shape[0]] + [1] * (x.dim() - 1)
        shape[x.dim() - order + a] = mask.shape[1]
        keep = keep & mask.reshape(shape)
    junk = torch.full_like(x, 1e30)
    junk[..., 0] = float("nan")
    return torch.where(keep, x, junk)


def _restrict(t, index, order):
    """The sample's entries on its valid indices (the last ``order`` axes)."""
    for a in range(order):
        t = t.index_select(t.dim() - order + a, index)
    return t


def _valid(t, mask_b, order):
    keep = torch.ones(t.shape, dtype=torch.bool)
    for a in range(order):
        shape = [1] * t.dim()
        shape[t.dim() - order + a] = mask_b.shape[0]
        keep = keep & mask_b.reshape(shape)
    return keep


def _check_padded(run_padded, run_alone, features, mask):
    """Compare a padded run with per-sample runs; features: dict order → (B, c) + (N,)*order."""
    out = run_padded({k: _garbage(x, mask, k) for k, x in features.items()}, mask)
    for b in range(mask.shape[0]):
        index = mask[b].nonzero().flatten()
        for k, y in out.items():
            assert torch.isfinite(y[b]).all(), "padding leaked a non-finite value"
            outside = ~_valid(y[b], mask[b], k)
            assert torch.equal(y[b][outside], torch.zeros_like(y[b][outside])), f"order {k}: non-zero on padding"
        if len(index) == 0:
            for y in out.values():
                assert torch.equal(y[b], torch.zeros_like(y[b])), "an empty sample must give zeros"
            continue
        alone = run_alone(
            {k: _restrict(x[b : b + 1], index, k) for k, x in features.items()},
            torch.ones(1, len(index), dtype=torch.bool),
        )
        for k, y in out.items():
            got, want = _restrict(y[b : b + 1], index, k), alone[k]
            scale = max(1.0, float(want.abs().max()))
            assert float((got - want).abs().max()) <= 1e-12 * scale, (k, b)
    return out


# -- linear layers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize(("k", "l"), ORDERS, ids=str)
def test_padded_linear_equals_each_sample_alone(k, l, reduce):
    torch.manual_seed(k * 4 + l)
    layer = EquivariantLinear(S(), k, l, 2, 3, reduce=reduce, dtype=torch.float64)
    with torch.no_grad():
        if layer.bias is not None:
            layer.bias.normal_()
    mask = _mask(n=6 if k + l > 4 else 7)
    x = torch.randn((mask.shape[0], 2) + (mask.shape[1],) * k, dtype=torch.float64)

    def run(features, m):
        return {l: layer(features[k], m)}

    _check_padded(run, run, {k: x}, mask)


def test_acceptance_interface():
    layer = EquivariantLinear(S(), 2, 2, 3, 4)
    assert tuple(layer.weight.shape) == (4, 3, 15)
    exact = EquivariantLinear(S(), 2, 2, 3, 4, reduce="sum")
    x, mask = torch.randn(5, 3, 8, 8), _mask(5, 8)
    assert layer(x, mask).shape == (5, 4, 8, 8) and exact(x, mask).shape == (5, 4, 8, 8)
    assert layer(x).shape == (5, 4, 8, 8)
    readout = EquivariantLinear(S(), 0, 2, 3, 2)
    assert readout(torch.randn(5, 3), mask).shape == (5, 2, 8, 8)  # n from the mask
    with pytest.raises(ValueError, match="pass a mask"):
        readout(torch.randn(5, 3))


@pytest.mark.parametrize(("k", "l"), [(2, 2), (3, 1), (1, 3), (2, 0)], ids=str)
def test_sum_form_is_the_functor_image_at_every_n(k, l):
    layer = EquivariantLinear(S(), k, l, 1, 1, bias=False, reduce="sum", dtype=torch.float64)
    for n in (1, 2, 3, 5):
        fixed = S(n)
        x = torch.randn((2, 1) + (n,) * k, dtype=torch.float64)
        matrix = sum(float(layer.weight[0, 0, t]) * fixed.functor(d).to_numpy() for t, d in enumerate(layer.diagrams))
        expected = x.reshape(2, -1).numpy() @ np.asarray(matrix).T
        got = layer(x, torch.ones(2, n, dtype=torch.bool) if k == 0 else None).detach().reshape(2, -1).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_fixed_n_equals_every_n_and_state_dicts_load_both_ways():
    torch.manual_seed(0)
    anyn = EquivariantLinear(S(), 2, 2, 3, 4, dtype=torch.float64)
    fixed = EquivariantLinear(S(12), 2, 2, 3, 4, dtype=torch.float64, execution="plan")
    assert fixed.diagrams == anyn.diagrams
    fixed.load_state_dict(anyn.state_dict())
    x = torch.randn(4, 3, 12, 12, dtype=torch.float64)
    torch.testing.assert_close(fixed(x), anyn(x), rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        fixed.weight.mul_(2)
    anyn.load_state_dict(fixed.state_dict())
    torch.testing.assert_close(fixed(x), anyn(x), rtol=1e-12, atol=1e-12)
    dense = EquivariantLinear(S(12), 2, 2, 3, 4, dtype=torch.float64, execution="dense")
    dense.load_state_dict(anyn.state_dict())
    torch.testing.assert_close(dense(x), anyn(x), rtol=1e-12, atol=1e-12)


def test_masked_fixed_size_layer_is_the_layer_at_each_samples_size():
    torch.manual_seed(1)
    fixed = EquivariantLinear(S(7), 2, 2, 2, 2, dtype=torch.float64)
    anyn = EquivariantLinear(S(), 2, 2, 2, 2, dtype=torch.float64)
    anyn.load_state_dict(fixed.state_dict())
    mask = _mask(4, 7)
    x = torch.randn(4, 2, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(fixed(x, mask), anyn(x, mask), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="7 entries per sample"):
        fixed(x, torch.ones(4, 8, dtype=torch.bool))


@pytest.mark.parametrize(("k", "l"), [(2, 2), (1, 2), (2, 0), (0, 1)], ids=str)
def test_gradients_of_a_padded_batch_are_the_sums_over_samples(k, l):
    torch.manual_seed(2)
    layer = EquivariantLinear(S(), k, l, 2, 2, dtype=torch.float64)
    mask = _mask(4, 6)
    x = torch.randn((4, 2) + (6,) * k, dtype=torch.float64, requires_grad=True)
    g = torch.randn((4, 2) + (6,) * l, dtype=torch.float64)
    (layer(_garbage(x, mask, k) if k else x, mask) * g).sum().backward()
    padded = {name: p.grad.clone() for name, p in layer.named_parameters()}
    layer.zero_grad()
    for b in range(4):
        index = mask[b].nonzero().flatten()
        if len(index) == 0:
            continue
        xb = _restrict(x.detach()[b : b + 1], index, k)
        yb = layer(xb, torch.ones(1, len(index), dtype=torch.bool))
        (yb * _restrict(g[b : b + 1], index, l)).sum().backward()
    for name, p in layer.named_parameters():
        torch.testing.assert_close(padded[name], p.grad, rtol=1e-10, atol=1e-12)
    # The input gradient is zero on the padding (the output does not depend on it).
    keep = torch.stack([_valid(x[b], mask[b], k) for b in range(4)])
    assert torch.equal(x.grad[~keep], torch.zeros_like(x.grad[~keep]))


def test_relabelling_each_sample_commutes():
    torch.manual_seed(3)
    layer = EquivariantLinear(S(), 2, 2, 2, 2, dtype=torch.float64)
    mask = _mask(4, 7)
    x = torch.randn(4, 2, 7, 7, dtype=torch.float64)
    y = layer(x, mask)
    for b in range(4):
        p = torch.randperm(7)
        xb, yb = x[b : b + 1][..., p, :][..., p], y[b : b + 1][..., p, :][..., p]
        torch.testing.assert_close(layer(xb, mask[b : b + 1, p]), yb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [2, 7, 40])
def test_means_keep_activations_order_one(n):
    torch.manual_seed(4)
    layer = EquivariantLinear(S(), 2, 2, 4, 16)
    ones = torch.ones(8, 4, n, n)
    assert float(layer(ones).detach().square().mean()) < 4
    summed = EquivariantLinear(S(), 2, 2, 4, 16, reduce="sum")
    summed.load_state_dict(layer.state_dict() | {"_group": summed.state_dict()["_group"]})
    if n == 40:  # the same weights as sums grow like n^2 on a constant input
        assert float(summed(ones).detach().square().mean()) > 100 * float(layer(ones).detach().square().mean())


def test_reduce_must_match_on_load():
    mean = EquivariantLinear(S(), 1, 1, 1, 1)
    summed = EquivariantLinear(S(), 1, 1, 1, 1, reduce="sum")
    with pytest.raises(ValueError, match="reduce='mean'"):
        summed.load_state_dict(mean.state_dict())


# -- every module with masks ---------------------------------------------------------------------------
def _typed_cases():
    torch.manual_seed(5)
    f64 = {"dtype": torch.float64}
    return [
        ("typed linear", TypedLinear(S(), {0: 1, 1: 2, 2: 2}, {0: 2, 1: 1, 2: 2}, **f64), {0: 1, 1: 2, 2: 2}),
        ("pointwise", PointwiseNonlinearity(S(), {0: 2, 2: 2}, "sigmoid").double(), {0: 2, 2: 2}),
        ("gated", GatedNonlinearity(S(), {0: 1, 1: 2}), {0: 3, 1: 2}),
        ("norm", NormNonlinearity(S(), {0: 1, 2: 2}, **f64), {0: 1, 2: 2}),
        ("pooling", InvariantPooling(S(), {1: 2, 2: 1}, **f64), {1: 2, 2: 1}),
        ("mlp", EquivariantMLP(S(), {0: 1, 2: 1}, {0: 1, 1: 1, 2: 1}, depth=1, **f64), {0: 1, 2: 1}),
        ("mlp, products off", EquivariantMLP(S(), {1: 2}, {0: 2}, depth=2, product_width=0, **f64), {1: 2}),
    ]


@pytest.mark.parametrize("case", range(7), ids=lambda i: _typed_cases()[i][0])
def test_every_module_with_masks(case):
    _, module, ftype = _typed_cases()[case]
    mask = _mask(5, 6)
    features = {k: torch.randn((5, c) + (6,) * k, dtype=torch.float64) for k, c in ftype.items()}
    _check_padded(module, module, features, mask)


@pytest.mark.parametrize("diagrams", ["canonical", "all"])
def test_bilinear_products_sum_over_valid_indices_only(diagrams):
    torch.manual_seed(6)
    layer = TypedBilinear(S(), {1: 2, 2: 2}, {0: 1, 1: 2, 2: 2}, diagrams, dtype=torch.float64)
    mask = _mask(5, 6)
    x = {1: torch.randn(5, 2, 6, dtype=torch.float64), 2: torch.randn(5, 2, 6, 6, dtype=torch.float64)}
    y = {1: torch.randn(5, 2, 6, dtype=torch.float64), 2: torch.randn(5, 2, 6, 6, dtype=torch.float64)}

    def run(features, m):
        half = {k: v[:, :2] for k, v in features.items()}
        other = {k: v[:, 2:] for k, v in features.items()}
        return layer(half, other, m)

    both = {k: torch.cat([x[k], y[k]], dim=1) for k in x}
    _check_padded(run, run, both, mask)
    ppgn = EquivariantBilinear(S(), 2, 2, 2, 1, 1, "canonical", reduce="sum", dtype=torch.float64)
    with torch.no_grad():
        ppgn.weight_2_2_2.copy_(torch.tensor([[[0.0, 1.0]]]))
    a, b = torch.randn(5, 1, 6, 6, dtype=torch.float64), torch.randn(5, 1, 6, 6, dtype=torch.float64)
    keep = mask[:, None, :, None] & mask[:, None, None, :]
    got = ppgn(_garbage(a, mask, 2), _garbage(b, mask, 2), mask)
    expected = torch.where(keep, a, 0) @ torch.where(keep, b, 0).transpose(-1, -2)  # Σ_k over valid k only
    torch.testing.assert_close(got, expected * keep, rtol=1e-12, atol=1e-12)


# -- networks learn counts across sizes ------------------------------------------------------------------
def test_mlp_learns_an_extensive_target_across_sizes():
    """Edge counts of random graphs of 4–16 nodes: means erase the size; the size input and the
    learned (n / n̄)^α scale let the default network fit a count (relative error < 10%)."""
    torch.manual_seed(7)
    model = EquivariantMLP(S(), {2: 1}, {0: 1}, depth=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def batch(size=64):
        n = torch.randint(4, 17, (size,))
        mask = torch.arange(16) < n[:, None]
        a = (torch.rand(size, 16, 16) < torch.rand(size, 1, 1)).float().triu(1)
        a = (a + a.transpose(1, 2)) * mask[:, :, None] * mask[:, None, :]
        return a[:, None], mask, a.sum((1, 2)) / 2

    for _ in range(300):
        a, mask, count = batch()
        loss = ((model({2: a}, mask)[0][:, 0] - count) / 10).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    a, mask, count = batch(256)
    with torch.no_grad():
        error = (model({2: a}, mask)[0][:, 0] - count).abs().mean() / count.mean()
    assert error < 0.1, float(error)


# -- checks of S() modules -------------------------------------------------------------------------------
def test_check_equivariance_certifies_every_n_and_checks_padded_sizes():
    layer = EquivariantLinear(S(), 2, 2, 1, 2)
    report = check_equivariance(layer, rng=0)
    assert report and report.parts[0].exact
    assert any("n = (4,)" in line for line in report.parts[0].checked)
    assert "sizes (1,), (3,), (6,) (padded, masked)" in report.parts[-1].checked[0]
    assert_equivariant(EquivariantMLP(S(), {2: 1}, {0: 1, 1: 1}, depth=1))


class _Leaky(torch.nn.Module):
    """An S() layer whose padding leaks into its output: not equivariant once masks move."""

    def __init__(self):
        super().__init__()
        self.layer = EquivariantLinear(S(), 1, 1, 1, 1, dtype=torch.float64)
        self.group, self.in_type, self.out_type = S(), {1: 1}, {1: 1}

    def forward(self, features, mask=None):
        y = self.layer(features[1], mask)
        return {1: y + features[1].sum(-1, keepdim=True)}  # sums the padding too


def test_a_module_that_reads_the_padding_fails_the_padded_check():
    report = check_equivariance(S(), _Leaky(), {1: 1}, {1: 1}, rng=0)
    assert not report


# -- compile, export ---------------------------------------------------------------------------------------
def test_compile_takes_a_new_n_without_failing():
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    layer = EquivariantLinear(S(), 2, 2, 2, 2, execution="plan")
    compiled = torch.compile(layer, fullgraph=True)
    frames = []
    for n in (5, 6, 9, 12):
        x, mask = torch.randn(3, 2, n, n), torch.rand(3, n) < 0.7
        torch.testing.assert_close(compiled(x, mask), layer(x, mask), rtol=1e-5, atol=1e-5)
        frames.append(torch._dynamo.utils.counters["stats"]["unique_graphs"])
    assert frames[-1] <= 2  # the first size, then one dynamic graph for every other n


@pytest.mark.parametrize("kind", ["linear 2→2", "linear 3→1", "bilinear", "mlp S() * O(3)"])
def test_gradcheck_with_a_mask(kind):
    """Finite differences agree with the backward (the adjoint plan, masks, per-sample means) for
    inputs and parameters, float64."""
    from catlayer import O

    torch.manual_seed(0)
    mask = _mask(batch=3, n=4)
    if kind.startswith("linear"):
        k, l = (2, 2) if kind == "linear 2→2" else (3, 1)
        module = EquivariantLinear(S(), k, l, 2, 2, dtype=torch.float64)
        x = torch.randn((3, 2) + (4,) * k, dtype=torch.float64, requires_grad=True)

        def f(x, *params):
            return module(x, mask)
    elif kind == "bilinear":
        module = TypedBilinear(S(), {1: 2, 2: 2}, {1: 1, 2: 1}, dtype=torch.float64)
        x = torch.randn(3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
        v = torch.randn(3, 2, 4, dtype=torch.float64)

        def f(x, *params):
            out = module({1: v, 2: x}, {1: v, 2: x}, mask)
            return out[1], out[2]
    else:
        group = S() * O(3)
        hidden = {(0, 0): 3, (1, 0): 2, (1, 1): 2}
        module = EquivariantMLP(group, {(1, 1): 1}, {(0, 0): 1, (1, 1): 1}, hidden=hidden, depth=1)
        module = module.double()
        x = torch.randn(3, 1, 4, 3, dtype=torch.float64, requires_grad=True)

        def f(x, *params):
            out = module({(1, 1): x}, mask)
            return out[(0, 0)], out[(1, 1)]

    params = [p for p in module.parameters()][:3]
    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-6)


def test_pickle_deepcopy_and_state_dict_round_trips():
    """Modules of S() and S() * O(3) survive pickle, deepcopy and a state_dict round trip into a
    fresh module, computing the same function on a padded batch afterwards."""
    import copy
    import pickle

    from catlayer import O

    torch.manual_seed(0)
    mask = _mask(batch=3, n=5)
    cases = [
        (EquivariantMLP(S(), {2: 1}, {0: 1, 1: 1}, depth=1), {2: torch.randn(3, 1, 5, 5)}),
        (EquivariantMLP(S() * O(3), {(1, 1): 1}, {(0, 1): 1}, depth=1), {(1, 1): torch.randn(3, 1, 5, 3)}),
        (TypedBilinear(S(), {1: 2, 2: 2}, {2: 1}), None),
    ]
    for module, x in cases:
        if x is None:
            x = {1: torch.randn(3, 2, 5), 2: torch.randn(3, 2, 5, 5)}
            run = lambda m, x=x: m(x, x, mask)  # noqa: E731
        else:
            run = lambda m, x=x: m(x, mask)  # noqa: E731
        expected = run(module)
        for other in (pickle.loads(pickle.dumps(module)), copy.deepcopy(module)):
            for k, y in run(other).items():
                assert torch.equal(y, expected[k])
        again = copy.deepcopy(module)
        for p in again.parameters():
            torch.nn.init.normal_(p)
        again.load_state_dict(module.state_dict())
        for k, y in run(again).items():
            assert torch.equal(y, expected[k])
