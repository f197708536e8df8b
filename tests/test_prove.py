"""prove_module: proofs of third-party and catlayer modules, refutations naming the offending op,
undecided cases, and adversarial soundness checks (a proof must never be wrong).

Third-party modules are small reimplementations with the op patterns of the public code: the IGN
``layer_2_to_2`` (15 basis ops from ``diagonal``/``diag_embed``/sums/``repeat``), DeepSets, a PPGN
block (1×1 ``Conv2d`` and ``torch.matmul`` over nodes), a PELICAN-like aggregator on padded
tensors with a mask, and torch's own ``TransformerEncoderLayer`` / ``MultiheadAttention``.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402

from catlayer import SO, O, S, Sp  # noqa: E402
from catlayer.verify import ProofReport, prove_module  # noqa: E402


def independent_check(module, group_elements, inputs, roles_in, roles_out, trials=3, seed=1):
    """Max relative residual of f(g·x) vs g·f(x) on fresh random inputs: written without the
    prover's own numeric code (permutations by index, matrices by einsum)."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    module = module.double().eval()
    torch.set_grad_enabled(False)
    try:
        return _check(module, group_elements, inputs, roles_in, roles_out, trials, rng, worst)
    finally:
        torch.set_grad_enabled(True)


def _check(module, group_elements, inputs, roles_in, roles_out, trials, rng, worst):

    def act(t, roles, g):
        for axis, r in enumerate(roles):
            if r is None:
                continue
            m = torch.as_tensor(g[r], dtype=torch.float64)
            t = torch.movedim(torch.tensordot(t.double(), m, dims=([axis], [1])), -1, axis)
        return t

    for _ in range(trials):
        xs = [torch.as_tensor(rng.standard_normal(tuple(x.shape))) if x.is_floating_point() else x for x in inputs]
        for g in group_elements:
            ys = module(*xs)
            ys = ys if isinstance(ys, tuple) else (ys,)
            gx = [
                act(x, r, g) if x.is_floating_point() else act(x.double(), r, g).round().to(x.dtype)
                for x, r in zip(xs, roles_in, strict=True)
            ]
            yg = module(*gx)
            yg = yg if isinstance(yg, tuple) else (yg,)
            for a, b, r in zip(ys, yg, roles_out, strict=True):
                ga = act(a, r, g)
                scale = max(float(ga.abs().max()), float(b.abs().max()), 1e-7)
                worst = max(worst, float((ga - b).abs().max()) / scale)
    return worst


def elements(group, count=4, seed=3):
    rng = np.random.default_rng(seed)
    return [[np.asarray(group.random_element(rng, component=c))] for c in range(count)]


# -- third-party modules -----------------------------------------------------------------------------
def tile(x, axis, copies, how):
    """``copies`` copies of x along a new axis: by ``repeat`` or, as the public IGN port does, by
    concatenating unsqueezed copies."""
    if how == "repeat":
        reps = [1] * (x.dim() + 1)
        reps[axis] = copies
        return x.unsqueeze(axis).repeat(*reps)
    return torch.cat([x.unsqueeze(axis) for _ in range(copies)], dim=axis)


def ops_2_to_2(inputs, dim, how):
    """The 15 basis ops of the IGN 2 → 2 layer (N x D x m x m), mean-normalised."""
    diag_part = torch.diagonal(inputs, dim1=2, dim2=3)
    sum_diag_part = torch.sum(diag_part, dim=2, keepdim=True)
    sum_of_rows = torch.sum(inputs, dim=3)
    sum_of_cols = torch.sum(inputs, dim=2)
    sum_all = torch.sum(sum_of_rows, dim=2)
    ops = [
        torch.diag_embed(diag_part),
        torch.diag_embed(tile(sum_diag_part[..., 0], 2, dim, how)),
        torch.diag_embed(sum_of_rows),
        torch.diag_embed(sum_of_cols),
        torch.diag_embed(tile(sum_all, 2, dim, how)),
        tile(sum_of_cols, 3, dim, how),
        tile(sum_of_rows, 3, dim, how),
        tile(sum_of_cols, 2, dim, how),
        tile(sum_of_rows, 2, dim, how),
        inputs,
        torch.transpose(inputs, 2, 3),
        tile(diag_part, 3, dim, how),
        tile(diag_part, 2, dim, how),
        tile(tile(sum_diag_part[..., 0], 2, dim, how), 3, dim, how),
        tile(tile(sum_all, 2, dim, how), 3, dim, how),
    ]
    for i in (1, 2, 3, 5, 6, 7, 8, 13):  # the ops that sum over one index: means
        ops[i] = ops[i] / dim
    for i in (4, 14):
        ops[i] = ops[i] / dim**2
    return ops


class Layer2to2(nn.Module):
    def __init__(self, input_depth, output_depth, how="cat"):
        super().__init__()
        self.how = how
        self.coeffs = nn.Parameter(torch.randn(input_depth, output_depth, 15) * 0.3)
        self.diag_bias = nn.Parameter(torch.randn(1, output_depth, 1, 1))
        self.all_bias = nn.Parameter(torch.randn(1, output_depth, 1, 1))

    def forward(self, inputs):  # N x D x m x m
        m = inputs.size(3)
        ops_out = torch.stack(ops_2_to_2(inputs, m, self.how), dim=2)
        output = torch.einsum("dsb,ndbij->nsij", self.coeffs, ops_out)
        mat_diag_bias = torch.eye(inputs.size(3)).unsqueeze(0).unsqueeze(0) * self.diag_bias
        return output + self.all_bias + mat_diag_bias


class DeepSets(nn.Module):
    def __init__(self, d_in=3, hidden=8, d_out=2, positional=False, n=6):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.rho = nn.Sequential(nn.Linear(hidden, hidden), nn.ELU(), nn.Linear(hidden, d_out))
        self.pos = nn.Parameter(torch.randn(n, d_in)) if positional else None

    def forward(self, x):  # (B, n, d)
        if self.pos is not None:
            x = x + self.pos
        return self.rho(self.phi(x).sum(dim=1))


class EquivariantDeepSets(nn.Module):
    """Zaheer et al.'s permutation-equivariant layer: Λx + Γ·max or mean over the set."""

    def __init__(self, d=4):
        super().__init__()
        self.lam, self.gam = nn.Linear(d, d), nn.Linear(d, d, bias=False)

    def forward(self, x):
        return torch.tanh(self.lam(x) - self.gam(x.amax(dim=1, keepdim=True)) + x.mean(1, keepdim=True))


class PPGNBlock(nn.Module):
    def __init__(self, c_in=3, c_out=4):
        super().__init__()
        self.m1 = nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.ReLU(), nn.Conv2d(c_out, c_out, 1), nn.ReLU())
        self.m2 = nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.ReLU(), nn.Conv2d(c_out, c_out, 1), nn.ReLU())
        self.m4 = nn.Conv2d(c_in + c_out, c_out, 1)

    def forward(self, x):  # (B, C, n, n)
        mult = torch.matmul(self.m1(x), self.m2(x))
        return self.m4(torch.cat((x, mult), dim=1))


class PelicanAggregator(nn.Module):
    """Permutation-equivariant 2 → 2 aggregations of PELICAN's kind on padded (B, N, N, C)
    tensors with a particle mask (B, N): masked means over rows, columns, the diagonal and all
    entries, normalised by the number of real particles, then a linear map and the mask again."""

    def __init__(self, c=3, out=4):
        super().__init__()
        self.lin = nn.Linear(6 * c, out)

    def forward(self, x, mask):
        m = mask.to(x.dtype)
        m2 = (m[:, :, None] * m[:, None, :])[..., None]
        x = x * m2
        count = m.sum(dim=1).clamp(min=1.0)[:, None, None, None]
        rows = x.sum(dim=2, keepdim=True).expand_as(x) / count
        cols = x.sum(dim=1, keepdim=True).expand_as(x) / count
        diag = torch.diagonal(x, dim1=1, dim2=2).transpose(1, 2)
        on_diag = torch.diag_embed(diag.transpose(1, 2), dim1=1, dim2=2)
        total = x.sum(dim=(1, 2), keepdim=True).expand_as(x) / count**2
        trace = diag.sum(dim=1)[:, None, None, :].expand_as(x) / count
        feats = torch.cat([x, rows, cols, on_diag, total, trace], dim=-1)
        return torch.relu(self.lin(feats)).masked_fill(m2 == 0, 0.0)


def pelican_inputs(batch=2, n=5, c=3):
    x = torch.randn(batch, n, n, c)
    mask = torch.ones(batch, n, dtype=torch.bool)
    mask[0, 3:] = False
    return x, mask


# -- proofs ------------------------------------------------------------------------------------------
def check_proved(report, module=None, group=None, inputs=None, axes=None):
    assert isinstance(report, ProofReport)
    assert report, str(report)
    assert report.ok and report.exact and report.status == "proved"
    assert report.node is None and report.counterexample is None
    if module is not None:  # soundness: an independent numeric check agrees with the proof
        worst = independent_check(module, elements(group), inputs, axes, report.output_axes)
        assert worst < 1e-7, (worst, str(report))


@pytest.mark.parametrize("how", ["cat", "repeat"])
def test_ign_layer_2_to_2(how):
    module = Layer2to2(3, 4, how).eval()
    x = torch.randn(2, 3, 5, 5)
    report = prove_module(module, S(5), (x,), axes=[(None, None, 0, 0)])
    check_proved(report, module, S(5), (x,), [(None, None, 0, 0)])
    assert report.output_axes == ((None, None, 0, 0),)
    assert "aten.diag_embed.default" in report.ops and "aten.einsum.default" in report.ops


def test_deepsets_invariant_and_equivariant():
    x = torch.randn(2, 6, 3)
    report = prove_module(DeepSets(), S(6), (x,), axes=[(None, 0, None)])
    check_proved(report)
    assert report.output_axes == ((None, None),)  # invariant
    layer = EquivariantDeepSets()
    x = torch.randn(2, 6, 4)
    report = prove_module(layer, S(6), (x,), axes=[(None, 0, None)])
    check_proved(report, layer, S(6), (x,), [(None, 0, None)])
    assert report.output_axes == ((None, 0, None),)


def test_ppgn_block():
    module = PPGNBlock()
    x = torch.randn(2, 3, 5, 5)
    report = prove_module(module, S(5), (x,), axes=[(None, None, 0, 0)])
    check_proved(report, module, S(5), (x,), [(None, None, 0, 0)])
    assert report.output_axes == ((None, None, 0, 0),)


def test_pelican_aggregator_with_mask():
    module = PelicanAggregator()
    x, mask = pelican_inputs()
    report = prove_module(module, S(5), (x, mask), axes=[(None, 0, 0, None), (None, 0)])
    check_proved(report)
    assert report.output_axes == ((None, 0, 0, None),)


def test_transformer_encoder_layer_and_attention_on_sets():
    x = torch.randn(2, 5, 8)
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    report = prove_module(layer, S(5), (x,), axes=[(None, 0, None)])
    check_proved(report)
    assert report.output_axes == ((None, 0, None),)
    assert "aten.scaled_dot_product_attention.default" in report.ops
    attention = nn.MultiheadAttention(8, 2, batch_first=True)
    report = prove_module(attention, S(5), (x, x, x), axes=[(None, 0, None)] * 3)
    check_proved(report)
    assert report.output_axes == ((None, 0, None), (None, 0, 0))  # output and attention weights


class PaddedEncoder(nn.Module):
    """Two pre-norm GELU transformer layers on padded sets with a key padding mask."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, x, padding):
        return self.encoder(x, src_key_padding_mask=padding)


class EmbeddedPositions(nn.Module):
    def __init__(self):
        super().__init__()
        self.positions = nn.Embedding(5, 8)
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)

    def forward(self, x):
        with torch.no_grad():  # a region export wraps in a higher-order op
            index = torch.arange(x.shape[1])
        return self.layer(x + self.positions(index))


def test_transformer_with_padding_mask_and_positional_embedding():
    x = torch.randn(2, 5, 8)
    padding = torch.zeros(2, 5, dtype=torch.bool)
    padding[0, 3:] = True
    report = prove_module(PaddedEncoder(), S(5), (x, padding), axes=[(None, 0, None), (None, 0)])
    check_proved(report)
    assert report.output_axes == ((None, 0, None),)
    report = prove_module(EmbeddedPositions(), S(5), (x,), axes=[(None, 0, None)])
    assert report.status == "refuted" and report.node.startswith("aten.add.Tensor"), str(report)
    assert "self.positions(index)" in report.source


def test_catlayer_networks():
    from catlayer.nn import EquivariantLinear, EquivariantMLP, TensorInterface

    torch.manual_seed(0)
    model = TensorInterface(EquivariantMLP(S(5), {2: 1}, {0: 1}))
    x = torch.randn(2, 1, 5, 5)
    report = prove_module(model, S(5), (x,), axes=[(None, None, 0, 0)])
    check_proved(report)
    assert report.output_axes == ((None, None),)
    layer = EquivariantLinear(O(3), 1, 1, 2, 2)
    report = prove_module(layer, O(3), (torch.randn(2, 2, 3),), axes=[(None, None, 0)])
    check_proved(report)
    assert report.output_axes == ((None, None, 0),)


@pytest.mark.parametrize(
    "group, k, l", [(SO(3), 2, 1), (Sp(4), 2, 2), (O(1, 3), 3, 1), (S(4), 3, 1)], ids=["SO3", "Sp4", "O13", "S4"]
)
def test_catlayer_layers_of_every_family(group, k, l):
    from catlayer.nn import EquivariantLinear

    for execution in ("dense", "plan"):
        layer = EquivariantLinear(group, k, l, 1, 2, execution=execution)
        x = torch.randn(2, 1, *(group.n,) * k)
        report = prove_module(layer, group, (x,), axes=[(None, None) + (0,) * k], confirm=False)
        check_proved(report)
        assert report.output_axes == ((None, None) + (0,) * l,)


_AXES = {0: (None, None), 1: (None, None, 0), 2: (None, None, 0, 0)}


def _typed_inputs(in_type, n):
    return tuple(torch.randn(2, c, *(n,) * k) for k, c in in_type.items())


def test_dense_typed_layer_of_mixed_orders():
    # Regression: the dense path gathers each block from weight @ patterns by a constant index;
    # with a block of a single pattern (order 1 → 0: every entry the same) the gather broadcast a
    # learned value along the S(5) axis and was read as a plain axis ("an axis acted on by factor
    # 0 meets an axis not acted on (operands: parameter module.bias_0 [1])").
    from catlayer.nn import TensorInterface, TypedLinear

    in_type = {0: 64, 1: 16, 2: 4}
    for execution in ("dense", "plan"):
        layer = TensorInterface(TypedLinear(S(5), in_type, {0: 1}, execution=execution))
        report = prove_module(layer, S(5), _typed_inputs(in_type, 5), axes=[_AXES[k] for k in in_type])
        check_proved(report)
        assert report.output_axes == ((None, None),)


@pytest.mark.parametrize(
    "group, in_type, out_type",
    [
        (S(4), {1: 2}, {0: 1}),
        (S(4), {0: 2, 1: 2}, {1: 1, 2: 2}),
        (S(4), {0: 1, 1: 1, 2: 1}, {0: 2, 2: 1}),
        (O(3), {0: 2, 1: 2, 2: 1}, {0: 1, 2: 1}),
        (O(3), {1: 2}, {1: 1}),
        (SO(3), {1: 2, 2: 1}, {1: 1}),
        (Sp(4), {0: 1, 2: 2}, {0: 1, 2: 1}),
    ],
    ids=["S4-1to0", "S4-01to12", "S4-012to02", "O3-012to02", "O3-1to1", "SO3-12to1", "Sp4-02to02"],
)
def test_dense_typed_layers_of_every_family(group, in_type, out_type):
    from catlayer.nn import TensorInterface, TypedLinear

    torch.manual_seed(0)
    inputs = _typed_inputs(in_type, group.n)
    axes = [_AXES[k] for k in in_type]
    layer = TensorInterface(TypedLinear(group, in_type, out_type, execution="dense"))
    report = prove_module(layer, group, inputs, axes=axes, confirm=False)
    check_proved(report, layer, group, inputs, axes)
    assert report.output_axes == tuple(_AXES[l] for l in out_type)


@pytest.mark.parametrize("group", [S(4), O(3)], ids=["S4", "O3"])
def test_dense_layer_with_a_wrong_gather_is_not_proved(group):
    # Soundness of the reading of gathered matrices: an index that sends one entry of a block
    # to another pattern breaks equivariance, and the prover must not prove it.
    from catlayer.nn import TensorInterface, TypedLinear

    in_type, out_type = {1: 2, 2: 1}, {1: 1}
    inputs = _typed_inputs(in_type, group.n)
    axes = [_AXES[k] for k in in_type]
    for name, _ in TypedLinear(group, in_type, out_type, execution="dense").named_buffers():
        if not name.startswith("_gather_"):
            continue
        layer = TypedLinear(group, in_type, out_type, execution="dense")
        gather = getattr(layer, name)
        with torch.no_grad():
            gather[0] = (gather[0] + 1) % (int(gather.max()) + 1)
        report = prove_module(TensorInterface(layer), group, inputs, axes=axes)
        assert report.status != "proved", (name, str(report))


def test_sets_of_any_size_with_a_mask():
    from catlayer.nn import EquivariantMLP, TensorInterface

    torch.manual_seed(0)
    model = TensorInterface(EquivariantMLP(S(), {1: 2}, {0: 1, 1: 1}), mask=True)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[0, 4:] = False
    report = prove_module(model, S(), (torch.randn(2, 2, 6), mask), axes=[(None, None, 0), (None, 0)])
    check_proved(report)
    assert report.output_axes == ((None, None), (None, None, 0))


def test_product_groups_proved_and_refuted():
    from catlayer.nn import EquivariantMLP, TensorInterface

    torch.manual_seed(0)
    G = S() * O(3)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, :2] = False
    x = torch.randn(2, 1, 6, 3)
    axes = [(None, None, 0, 1), (None, 0)]
    model = TensorInterface(EquivariantMLP(G, {(1, 1): 1}, {(0, 0): 1}), mask=True)
    report = prove_module(model, G, (x, mask), axes=axes)
    check_proved(report)
    assert report.output_axes == ((None, None),)

    class ReLUOnVectors(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = TensorInterface(EquivariantMLP(G, {(1, 1): 1}, {(1, 1): 1}), mask=True)

        def forward(self, x, mask):
            return torch.relu(self.inner(x, mask)[0])

    report = prove_module(ReLUOnVectors(), G, (x, mask), axes=axes)
    assert report.status == "refuted" and not report
    assert "relu" in report.node and "O(3)" in report.reason
    element = report.counterexample.element
    assert isinstance(element, tuple) and len(element) == 2
    assert element[0].shape == (6, 6) and element[1].shape == (3, 3)
    name = report.counterexample.element_name
    assert name.startswith("permutation [") and " × matrix [[" in name


# -- refutations ---------------------------------------------------------------------------------------
class Select(nn.Module):
    def forward(self, x):
        return x[:, 0]


class Roll(nn.Module):
    def forward(self, x):
        return torch.roll(x, 1, dims=1) + x


class VectorReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.mix = nn.Linear(4, 4, bias=False)

    def forward(self, v):  # (B, n, 3) vectors: mix channels, then ReLU per component
        return torch.relu(self.mix(v.transpose(1, 2)).transpose(1, 2))


class ComponentSum(nn.Module):
    def forward(self, v):
        return v.sum(dim=-1)


@pytest.mark.parametrize(
    "module, group, shape, axes, op, line",
    [
        (DeepSets(positional=True), S(6), (2, 6, 3), (None, 0, None), "aten.add.Tensor", "x = x + self.pos"),
        (Select(), S(6), (2, 6, 3), (None, 0, None), "aten.select.int", "return x[:, 0]"),
        (Roll(), S(6), (2, 6, 3), (None, 0, None), "aten.roll.default", "torch.roll(x, 1, dims=1)"),
        (VectorReLU(), O(3), (2, 4, 3), (None, None, 0), "aten.relu.default", "torch.relu"),
        (ComponentSum(), O(3), (2, 4, 3), (None, None, 0), "aten.sum.dim_IntList", "v.sum(dim=-1)"),
    ],
    ids=["positional-encoding", "fixed-position", "roll", "relu-on-vectors", "sum-of-components"],
)
def test_refuted_with_the_offending_op(module, group, shape, axes, op, line):
    x = torch.randn(*shape)
    report = prove_module(module, group, (x,), axes=[axes])
    assert not report and report.status == "refuted" and not report.exact, str(report)
    assert report.node.startswith(op), report.node
    assert line in report.source, report.source
    ce = report.counterexample
    assert ce is not None and ce.max_residual > 1e-3
    # the counterexample is real: recompute f(g·x) and g·f(x)
    g = np.asarray(ce.element)
    (x0,) = ce.inputs
    m = module.double()
    gx = torch.movedim(torch.tensordot(x0.double(), torch.as_tensor(g), dims=([axes.index(0)], [1])), -1, axes.index(0))
    with torch.no_grad():
        fgx = m(gx)
        fx = m(x0.double())
    out_axes = report.output_axes[0]
    if 0 in out_axes:
        a = out_axes.index(0)
        gfx = torch.movedim(torch.tensordot(fx, torch.as_tensor(g), dims=([a], [1])), -1, a)
    else:
        gfx = fx
    assert float((fgx - gfx).abs().max()) > 1e-6
    assert "NOT equivariant" in str(report) and op in str(report)


# -- adversarial cases: tricky modules, exact decisions ----------------------------------------------------
class Fn(nn.Module):
    def __init__(self, fn, *buffers):
        super().__init__()
        self.fn = fn
        for i, b in enumerate(buffers):
            self.register_buffer(f"b{i}", b)

    def forward(self, *xs):
        return self.fn(self, *xs)


def _write_first(m, x):
    y = x.clone()
    y[:, 0] = 0.0
    return y


def _scale_view(m, x):
    y = x.clone()
    view = y[:, :2]
    view.mul_(2.0)
    return y


def _zero_diagonal(m, x):
    y = x.clone()
    y.diagonal(dim1=1, dim2=2).zero_()
    return y.relu()


ETA = torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0]))
J4 = torch.tensor([[0.0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1], [0, 0, -1, 0]])
EPS = torch.zeros(3, 3, 3)
for (i, j, k), s in {(0, 1, 2): 1, (1, 2, 0): 1, (2, 0, 1): 1, (0, 2, 1): -1, (2, 1, 0): -1, (1, 0, 2): -1}.items():
    EPS[i, j, k] = s

CASES = [
    # name, group, fn, buffers, inputs shapes, axes, expected status
    ("S: mean-centering", S(5), lambda m, x: x - x.mean(1, keepdim=True), (), [(2, 5, 3)], [(None, 0, None)], "proved"),
    (
        "S: softmax over set",
        S(5),
        lambda m, x: torch.softmax(x, dim=1) * x,
        (),
        [(2, 5, 3)],
        [(None, 0, None)],
        "proved",
    ),
    ("S: logsumexp pool", S(5), lambda m, x: torch.logsumexp(x, dim=1), (), [(2, 5, 3)], [(None, 0, None)], "proved"),
    ("S: invariant buffer", S(5), lambda m, x: x * m.b0, (torch.ones(5, 1),), [(2, 5, 3)], [(None, 0, None)], "proved"),
    (
        "S: arange buffer",
        S(5),
        lambda m, x: x * m.b0,
        (torch.arange(5.0)[:, None],),
        [(2, 5, 3)],
        [(None, 0, None)],
        "refuted",
    ),
    (
        "S: -inf on the diagonal",
        S(5),
        lambda m, x: torch.softmax(x @ x.transpose(1, 2) + m.b0, -1),
        (torch.diag(torch.full((5,), -float("inf"))),),
        [(2, 5, 3)],
        [(None, 0, None)],
        "proved",
    ),
    (
        "S: causal attention",
        S(5),
        lambda m, x: nn.functional.scaled_dot_product_attention(x, x, x, is_causal=True),
        (),
        [(2, 5, 3)],
        [(None, 0, None)],
        "refuted",
    ),
    ("S: cumsum", S(5), lambda m, x: x.cumsum(1), (), [(2, 5, 3)], [(None, 0, None)], "refuted"),
    ("S: flip", S(5), lambda m, x: torch.maximum(x, x.flip(1)), (), [(2, 5, 3)], [(None, 0, None)], "refuted"),
    (
        "S: cancelling rolls",
        S(5),
        lambda m, x: x + x.roll(1, 1) - x.roll(1, 1),
        (),
        [(2, 5, 3)],
        [(None, 0, None)],
        "undecided",
    ),
    (
        "S: merge batch and set",
        S(5),
        lambda m, x: x.reshape(10, 3).relu().reshape(2, 5, 3).sum(1),
        (),
        [(2, 5, 3)],
        [(None, 0, None)],
        "proved",
    ),
    (
        "S: split the set axis",
        S(4),
        lambda m, x: x.reshape(2, 2, 2, 3).sum(2),
        (),
        [(2, 4, 3)],
        [(None, 0, None)],
        "refuted",
    ),
    ("S: fixed permutation", S(4), lambda m, x: x[:, [1, 0, 2, 3]], (), [(2, 4, 3)], [(None, 0, None)], "refuted"),
    (
        "S: outer product",
        S(4),
        lambda m, x: torch.einsum("bic,bjc->bijc", x, x).relu(),
        (),
        [(2, 4, 3)],
        [(None, 0, None)],
        "proved",
    ),
    ("S: max values", S(5), lambda m, x: x.max(dim=1).values, (), [(2, 5, 3)], [(None, 0, None)], "proved"),
    (
        "S: argmax positions",
        S(5),
        lambda m, x: x.max(dim=1).indices.float(),
        (),
        [(2, 5, 3)],
        [(None, 0, None)],
        "refuted",
    ),
    (
        "O: masked vectors",
        O(3),
        lambda m, v: torch.where(v.norm(dim=-1, keepdim=True) > 1, v, 0.0),
        (),
        [(2, 4, 3)],
        [(None, None, 0)],
        "proved",
    ),
    (
        "O: filled with a constant",
        O(3),
        lambda m, v: torch.where(v.norm(dim=-1, keepdim=True) > 1, v, 5.0),
        (),
        [(2, 4, 3)],
        [(None, None, 0)],
        "refuted",
    ),
    (
        "O13: metric as a vector",
        O(1, 3),
        lambda m, v: (v * m.b0 * v).sum(-1),
        (torch.tensor([1.0, -1, -1, -1]),),
        [(2, 4)],
        [(None, 0)],
        "proved",
    ),
    (
        "O13: wrong signature",
        O(1, 3),
        lambda m, v: (v * m.b0 * v).sum(-1),
        (torch.tensor([1.0, 1, -1, -1]),),
        [(2, 4)],
        [(None, 0)],
        "refuted",
    ),
    (
        "S: convolution mixing set channels",
        S(4),
        lambda m, x: torch.conv2d(x, m.b0),
        (torch.randn(4, 4, 1, 1),),
        [(2, 4, 3, 3)],
        [(None, 0, None, None)],
        "refuted",
    ),
    (
        "S: group norm over set channels",
        S(4),
        lambda m, x: nn.functional.group_norm(x, 2),
        (),
        [(2, 4, 3)],
        [(None, 0, None)],
        "refuted",
    ),
    (
        "S: group norm over set positions",
        S(4),
        lambda m, x: nn.functional.group_norm(x, 3),
        (),
        [(2, 6, 4)],
        [(None, None, 0)],
        "proved",
    ),
    ("S: in-place relu", S(5), lambda m, x: x.clone().relu_() + 1, (), [(2, 5, 3)], [(None, 0, None)], "proved"),
    ("S: write at a fixed position", S(5), _write_first, (), [(2, 5, 3)], [(None, 0, None)], "refuted"),
    ("S: write through a view", S(5), _scale_view, (), [(2, 5, 3)], [(None, 0, None)], "refuted"),
    ("S: write on the diagonal", S(4), _zero_diagonal, (), [(2, 4, 4)], [(None, 0, 0)], "proved"),
    (
        "O: norm gate",
        O(3),
        lambda m, v: v * torch.sigmoid(v.norm(dim=-1, keepdim=True)),
        (),
        [(2, 4, 3)],
        [(None, None, 0)],
        "proved",
    ),
    (
        "O: dot products",
        O(3),
        lambda m, v: torch.einsum("bci,bdi->bcd", v, v).tanh(),
        (),
        [(2, 4, 3)],
        [(None, None, 0)],
        "proved",
    ),
    ("O: elementwise square", O(3), lambda m, v: v * v, (), [(2, 4, 3)], [(None, None, 0)], "refuted"),
    ("O: abs", O(3), lambda m, v: v.abs(), (), [(2, 4, 3)], [(None, None, 0)], "refuted"),
    ("O: eye", O(3), lambda m, v: v @ (2 * torch.eye(3, dtype=v.dtype)), (), [(2, 4, 3)], [(None, None, 0)], "proved"),
    (
        "O: reflection matrix",
        O(3),
        lambda m, v: v @ m.b0,
        (torch.diag(torch.tensor([1.0, 1, -1])),),
        [(2, 4, 3)],
        [(None, None, 0)],
        "refuted",
    ),
    (
        "O: cross product",
        O(3),
        lambda m, a, b: torch.einsum("ijk,bj,bk->bi", m.b0, a, b),
        (EPS,),
        [(2, 3), (2, 3)],
        [(None, 0), (None, 0)],
        "refuted",
    ),
    (
        "SO: cross product",
        SO(3),
        lambda m, a, b: torch.einsum("ijk,bj,bk->bi", m.b0, a, b),
        (EPS,),
        [(2, 3), (2, 3)],
        [(None, 0), (None, 0)],
        "proved",
    ),
    (
        "SO: triple product",
        SO(3),
        lambda m, a, b, c: torch.linalg.cross(a, b).mul(c).sum(-1),
        (),
        [(2, 3), (2, 3), (2, 3)],
        [(None, 0)] * 3,
        "undecided-or-proved",
    ),
    (
        "O13: Minkowski product",
        O(1, 3),
        lambda m, v: torch.einsum("bi,ij,bj->b", v, m.b0, v).exp(),
        (ETA,),
        [(2, 4)],
        [(None, 0)],
        "proved",
    ),
    ("O13: Euclidean product", O(1, 3), lambda m, v: (v * v).sum(-1), (), [(2, 4)], [(None, 0)], "refuted"),
    ("O13: eta eta v", O(1, 3), lambda m, v: v @ m.b0 @ m.b0, (ETA,), [(2, 4)], [(None, 0)], "proved"),
    (
        "Sp: symplectic product",
        Sp(4),
        lambda m, a, b: torch.einsum("bi,ij,bj->b", a, m.b0, b),
        (J4,),
        [(2, 4), (2, 4)],
        [(None, 0), (None, 0)],
        "proved",
    ),
    (
        "Sp: dot product",
        Sp(4),
        lambda m, a, b: (a * b).sum(-1),
        (),
        [(2, 4), (2, 4)],
        [(None, 0), (None, 0)],
        "refuted",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_adversarial(case):
    name, group, fn, buffers, shapes, axes, expected = case
    module = Fn(fn, *buffers)
    torch.manual_seed(0)
    inputs = tuple(torch.randn(*s) for s in shapes)
    report = prove_module(module, group, inputs, axes=axes)
    if expected == "undecided-or-proved":
        assert report.status in ("proved", "undecided"), str(report)
    else:
        assert report.status == expected, str(report)
    if report.status == "proved":
        worst = independent_check(module, elements(group), inputs, axes, report.output_axes)
        assert worst < 1e-7, (name, worst)
    if report.status == "refuted":
        assert report.counterexample is not None and report.node


def test_type_embeddings_and_random_ops():
    class Typed(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.out = nn.Embedding(7, 4), nn.Linear(4, 2)

        def forward(self, types, x):  # integer types per element, features per element
            return self.out(torch.relu(self.embed(types) + x)).sum(1)

    types, x = torch.randint(0, 7, (2, 5)), torch.randn(2, 5, 4)
    report = prove_module(Typed(), S(5), (types, x), axes=[(None, 0), (None, 0, None)])
    check_proved(report)
    assert report.output_axes == ((None, None),)

    class Dropout(nn.Module):
        def forward(self, x):
            return nn.functional.dropout(x, 0.5, training=True)

    report = prove_module(Dropout(), S(5), (x,), axes=[(None, 0, None)])
    assert not report and report.node.startswith("aten.dropout") and "random" in report.reason


def test_learned_parameter_on_a_group_axis_is_never_proved():
    """A positional encoding that happens to be zero now is still a learned tensor on the set
    axis: not proved (the proof must hold for every value of the weights), and no counterexample
    exists, so the report is undecided."""
    module = DeepSets(positional=True)
    with torch.no_grad():
        module.pos.zero_()
    report = prove_module(module, S(6), (torch.randn(2, 6, 3),), axes=[(None, 0, None)])
    assert report.status == "undecided" and report.counterexample is None
    assert report.node.startswith("aten.add.Tensor") and "parameter pos" in report.reason


def test_op_without_a_rule_is_undecided_with_a_numeric_check():
    class Sorted(nn.Module):
        def forward(self, x):
            return torch.sort(x, dim=1).values.sum(1)  # invariant, but sort has no rule

    report = prove_module(Sorted(), S(5), (torch.randn(2, 5, 3),), axes=[(None, 0, None)])
    assert report.status == "undecided" and not report.exact
    assert report.node.startswith("aten.sort") and "numeric" in report.numeric
    assert "not a proof" in report.numeric
    assert "undecided" in str(report)


def test_untraceable_module_is_undecided():
    class DataDependent(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: export cannot trace it
                return x
            return -x

    report = prove_module(DataDependent(), S(4), (torch.randn(2, 4),), axes=[(None, 0)], output_axes=[(None, 0)])
    assert report.status in ("undecided", "refuted") and not report.ok
    assert "could not trace" in report.reason


def test_product_groups_per_factor():
    """Roles are factor indices; each factor is checked with its own category (a stand-in for
    ``S(n) * O(3)``: anything with a ``factors`` tuple)."""

    class Product:
        def __init__(self, *factors):
            self.factors = factors

        def __repr__(self):
            return " * ".join(map(repr, self.factors))

    group = Product(S(4), O(3))
    points = torch.randn(2, 4, 3)  # a point cloud: points (S_4) × coordinates (O(3))
    axes = [(None, 0, 1)]
    centred = Fn(lambda m, x: x - x.mean(1, keepdim=True))
    report = prove_module(centred, group, (points,), axes=axes)
    check_proved(report)
    assert report.output_axes == ((None, 0, 1),)
    gram = Fn(lambda m, x: torch.relu(x @ x.transpose(1, 2)))  # pairwise dot products: (S_4, S_4)
    report = prove_module(gram, group, (points,), axes=axes)
    check_proved(report)
    assert report.output_axes == ((None, 0, 0),)
    bad = Fn(lambda m, x: torch.relu(x).sum(1))
    report = prove_module(bad, group, (points,), axes=axes)
    assert report.status == "refuted" and report.node.startswith("aten.relu")
    assert isinstance(report.counterexample.element, tuple) and len(report.counterexample.element) == 2


def test_arguments_are_checked():
    x = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match="entries"):
        prove_module(DeepSets(), S(5), (x,), axes=[(None, 0)])
    with pytest.raises(ValueError, match="length 4"):
        prove_module(DeepSets(), S(4), (x,), axes=[(None, 0, None)])
    with pytest.raises(ValueError, match="factor index"):
        prove_module(DeepSets(), S(5), (x,), axes=[(None, 1, None)])


def test_report_reads_well():
    report = prove_module(Select(), S(4), (torch.randn(2, 4, 3),), axes=[(None, 0, None)])
    text = str(report)
    assert text.splitlines()[0] == "Select under S(4): NOT equivariant (refuted by a counterexample)"
    assert "first op that breaks: aten.select.int" in text and "counterexample: g = " in text
    assert report.output_axes == ((None, None),)


def test_import_catlayer_verify_stays_torch_free():
    import subprocess
    import sys

    code = "import sys, catlayer, catlayer.verify; assert 'torch' not in sys.modules; catlayer.verify.prove_module"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- fuzzing soundness: random compositions of ops, a proof is never contradicted --------------------------
SET_OPS = {
    "relu": lambda x: torch.relu(x),
    "center": lambda x: x - x.mean(1, keepdim=True),
    "max-pool": lambda x: x + x.amax(1, keepdim=True),
    "square": lambda x: x * x,
    "gram": lambda x: (x @ x.transpose(1, 2)) @ x / 5,
    "roll": lambda x: x.roll(1, 1),
    "first": lambda x: x + x[:, :1],
    "cumsum": lambda x: x.cumsum(1),
    "channel-mix": lambda x: x @ torch.ones(3, 3, dtype=x.dtype) / 3,
    "flip-channels": lambda x: x.flip(2),
    "softmax-set": lambda x: torch.softmax(x, 1),
    "sort-channels": lambda x: torch.sort(x, 2).values,
}
VECTOR_OPS = {
    "gate": lambda v: v * torch.sigmoid((v * v).sum(-1, keepdim=True)),
    "mix": lambda v: torch.einsum("bci,cd->bdi", v, torch.full((4, 4), 0.25, dtype=v.dtype)),
    "cross-dots": lambda v: torch.einsum("bci,bdi,bdj->bcj", v, v, v) / 10,
    "relu": lambda v: torch.relu(v),
    "component-sum": lambda v: v + v.sum(-1, keepdim=True),
    "normalize": lambda v: v / (1 + v.norm(dim=-1, keepdim=True)),
    "shift": lambda v: v + 1.0,
    "swap-components": lambda v: v[..., [1, 0, 2]],
}


@settings(max_examples=10)
@given(st.lists(st.sampled_from(sorted(SET_OPS)), min_size=1, max_size=3), st.booleans())
def test_fuzz_sets(names, pool):
    def fn(m, x):
        for name in names:
            x = SET_OPS[name](x)
        return x.sum(1) if pool else x

    module = Fn(fn)
    x = torch.randn(2, 5, 3)
    report = prove_module(module, S(5), (x,), axes=[(None, 0, None)])
    if report.status == "proved":
        assert independent_check(module, elements(S(5)), (x,), [(None, 0, None)], report.output_axes) < 1e-7
    elif report.status == "refuted":
        assert report.counterexample.max_residual > 1e-6


@settings(max_examples=10)
@given(st.lists(st.sampled_from(sorted(VECTOR_OPS)), min_size=1, max_size=3))
def test_fuzz_vectors(names):
    def fn(m, v):
        for name in names:
            v = VECTOR_OPS[name](v)
        return v

    module = Fn(fn)
    v = torch.randn(2, 4, 3)
    report = prove_module(module, O(3), (v,), axes=[(None, None, 0)])
    if report.status == "proved":
        assert independent_check(module, elements(O(3)), (v,), [(None, None, 0)], report.output_axes) < 1e-7
    elif report.status == "refuted":
        assert report.counterexample.max_residual > 1e-6
