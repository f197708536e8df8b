"""Training paths of EquivariantLinear: the backward by the adjoint plan (gradcheck in float64 for
every family, orders with 0 in or out), dense execution of small layers and the cost model that
chooses it, and the training path under torch.compile and torch.func.

References: ``torch.autograd.gradcheck`` (finite differences), the transposes of the dense functor
images (tests/test_nn_linear.py), and autograd through the plain functional forward
(:func:`catlayer.nn.function.plan_forward`).
"""

import pickle

import numpy as np
import pytest
import torch

from catlayer import SO, O, S, Sp
from catlayer.memory import AllocationTooLarge, set_memory_budget
from catlayer.nn import EquivariantLinear
from catlayer.nn.dense import REFERENCE_BATCH
from catlayer.verify import check_equivariance
from tests.test_nn_linear import CASES, _dense_reference, _ids, _random_layer, scales

#: CASES plus order 3 in and out, 0 → 0 excluded (no non-constant layer), and the SO(1, 2) /
#: SO(2, 1) layers whose bottom halves carry free (Levi-Civita) axes weighted by η.
GRAD_CASES = [
    *CASES,
    (S(2), 3, 3),
    (SO(2), 1, 1),
    (SO(3), 1, 1),
    (O(2), 2, 2),
    (Sp(2), 2, 2),
    (SO(1, 2), 2, 1),
    (SO(2, 1), 1, 2),
    (O(1, 3), 0, 2),
    (O(1, 3), 2, 0),
]


def _x(layer, batch=2, requires_grad=False):
    shape = (batch, layer.in_channels) + (layer.n,) * layer.in_order
    return torch.randn(shape, dtype=layer.weight.dtype, requires_grad=requires_grad)


def _functional(layer):
    names = [name for name, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def f(x, *ps):
        return torch.func.functional_call(layer, dict(zip(names, ps, strict=True)), (x,))

    return f, params


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_gradcheck_adjoint_plan(case):
    """Finite differences against the adjoint plan's backward, for input, weight and bias."""
    group, k, l = case
    layer = _random_layer(group, k, l, c_in=2, c_out=2)
    f, params = _functional(layer)
    x = _x(layer, requires_grad=True)
    assert f(x, *params).grad_fn.name() == "PlanFunctionBackward"
    assert torch.autograd.gradcheck(f, (x, *params))


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_input_and_weight_gradients_from_the_dense_functor_images(case, reduce):
    """∂L/∂x = Mᵀ g with M the dense matrix of the functor images, and ∂L/∂W[o, c, d] =
    Σ_batch g[o]ᵀ F_d x[c] (F_d divided by its sizes for means): both from
    tests/test_nn_linear.py's independent references."""
    group, k, l = case
    layer = _random_layer(group, k, l, c_in=3, c_out=2, reduce=reduce)
    batch = 3
    x = _x(layer, batch=batch, requires_grad=True)
    y = layer(x)
    g = torch.randn_like(y)
    params = [x, layer.weight] + ([layer.bias] if layer.bias is not None else [])
    grads = torch.autograd.grad(y, params, g)
    matrix, _ = _dense_reference(layer)
    g_flat = g.detach().reshape(batch, -1).numpy()
    np.testing.assert_allclose(grads[0].reshape(batch, -1).numpy(), g_flat @ matrix, rtol=1e-10, atol=1e-10)
    images = np.stack([group.functor(d).to_numpy() for d in layer.diagrams])  # (D, n^l, n^k)
    images = images * scales(layer)[:, None, None]
    xs = x.detach().reshape(batch, layer.in_channels, -1).numpy()
    gs = g_flat.reshape(batch, layer.out_channels, -1)
    expected = np.einsum("boi,dij,bcj->ocd", gs, images, xs)
    np.testing.assert_allclose(grads[1].numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_adjoint_gradients_equal_autograd_of_the_forward(case):
    """The adjoint plan's gradients (bias included) equal autograd's through the plain forward."""
    group, k, l = case
    layer = _random_layer(group, k, l, c_in=3, c_out=2)
    x = _x(layer, batch=4, requires_grad=True)
    y = layer(x)
    grad = torch.randn_like(y)
    params = [x, layer.weight] + ([layer.bias] if layer.bias is not None else [])
    ours = torch.autograd.grad(y, params, grad)
    (plain,) = layer.plain_outputs(layer.check_inputs({k: x}))
    assert plain.grad_fn.name() != "PlanFunctionBackward"
    torch.testing.assert_close(plain, y, rtol=1e-12, atol=1e-12)
    for a, b in zip(ours, torch.autograd.grad(plain, params, grad), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_gradgradcheck_through_the_adjoint_backward():
    """The backward is itself made of differentiable ops (second derivatives, e.g. penalties)."""
    layer = _random_layer(Sp(4), 2, 2, c_in=1, c_out=2)
    x = _x(layer, batch=1, requires_grad=True)
    assert torch.autograd.gradgradcheck(
        lambda x, w: torch.func.functional_call(layer, {"weight": w}, (x,)),
        (x, layer.weight.detach().clone().requires_grad_()),
    )


def test_only_requested_gradients_are_computed():
    layer = _random_layer(S(4), 2, 2)
    layer.weight.requires_grad_(False)
    x = _x(layer, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is None and layer.bias.grad is not None
    layer.weight.requires_grad_(True)
    layer(_x(layer)).sum().backward()
    assert layer.weight.grad is not None


def test_inference_runs_the_plain_forward():
    layer = _random_layer(O(3), 2, 2)
    with torch.no_grad():
        assert layer(_x(layer)).grad_fn is None
    frozen = _random_layer(O(3), 2, 2).requires_grad_(False)
    assert frozen(_x(frozen)).grad_fn is None


# -- dense execution -------------------------------------------------------------------------


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_dense_execution_matches_functor_images(case):
    """Dense tables read off the plan (balanced-ternary keys) reproduce the functor images."""
    group, k, l = case
    layer = _random_layer(group, k, l, execution="dense")
    assert layer.execution == "dense"
    x = _x(layer, batch=3)
    matrix, bias = _dense_reference(layer)
    expected = x.reshape(3, -1).numpy() @ matrix.T + bias
    torch.testing.assert_close(layer(x).detach().reshape(3, -1), torch.from_numpy(expected), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [(S(3), 2, 2), (SO(3), 2, 1), (Sp(4), 1, 3), (SO(2, 1), 0, 3)], ids=_ids)
def test_dense_gradcheck(case):
    layer = _random_layer(*case, c_in=2, c_out=2, execution="dense")
    f, params = _functional(layer)
    assert torch.autograd.gradcheck(f, (_x(layer, requires_grad=True), *params))


def test_dense_matrix_follows_weights_state_dict_and_dtype():
    """No stale matrix: in-place weight edits, load_state_dict and .to(dtype) are seen at once,
    equal to the plan on the same parameters."""
    dense = _random_layer(O(1, 3), 2, 2, execution="dense")
    plan = _random_layer(O(1, 3), 2, 2, seed=1)
    x = _x(dense, batch=3)

    def same():
        with torch.no_grad():
            torch.testing.assert_close(dense(x.to(dense.weight.dtype)), plan(x.to(plan.weight.dtype)))

    plan.load_state_dict(dense.state_dict())
    same()
    with torch.no_grad():
        dense.weight.mul_(-2.0).add_(1.0)
        dense.bias.add_(3.0)
    plan.load_state_dict(dense.state_dict())
    same()
    other = _random_layer(O(1, 3), 2, 2, seed=2)
    dense.load_state_dict(other.state_dict())
    plan.load_state_dict(other.state_dict())
    same()
    dense.float()
    plan.float()
    assert dense._patterns_0.dtype == torch.float32
    same()
    again = pickle.loads(pickle.dumps(dense))
    assert again.execution == "dense"
    with torch.no_grad():
        torch.testing.assert_close(again(x.float()), dense(x.float()))


def test_cost_model_picks_dense_for_small_and_plan_for_large_layers():
    """The model's choice follows its own estimates; the issue's S_8 3 → 3 example (1.19 ms by
    the plan against 0.21 ms dense) goes dense, a large layer stays with the plan."""
    small = EquivariantLinear(S(8), 3, 3, 1, 1)
    large = EquivariantLinear(S(48), 2, 2, 16, 16)
    assert small.execution == "dense" and large.execution == "plan"
    for layer in (small, large):
        dense, plan = layer.dense_cost(), layer.plan_cost()
        assert (dense.seconds() < plan.seconds()) == (layer.execution == "dense")
        assert dense.ops + dense.views < plan.ops + plan.views  # three ops, against tens to hundreds
    # The dense GEMM's flops grow with n^(k+l), the plan's with n^k: the model sees both.
    assert large.dense_cost().flops > 100 * large.plan_cost().flops
    assert large.plan_cost(2 * REFERENCE_BATCH).flops == 2 * large.plan_cost().flops
    assert EquivariantLinear(S(8), 3, 3, 1, 1, device="meta").execution == "plan"


def test_dense_layer_is_certified_and_guarded():
    layer = _random_layer(SO(2, 1), 2, 1, execution="dense")
    report = check_equivariance(layer, rng=0)
    assert report, report
    assert any("dense execution's tables" in line for line in report.parts[0].checked)
    with torch.no_grad():
        layer._patterns_0[0, 0] += 1  # a corrupted table is caught
    assert not check_equivariance(layer, rng=0)
    small = _random_layer(S(3), 2, 2, execution="dense")
    set_memory_budget(2**16)
    try:
        small(_x(small, batch=1))
        with pytest.raises(AllocationTooLarge, match="forward"):
            small(_x(small, batch=1000))
    finally:
        set_memory_budget(None)


@pytest.mark.parametrize(
    "case",
    [
        (S(16), 2, 2, 8),
        (S(8), 3, 3, 2),
        (O(6), 4, 4, 1),
        (Sp(8), 2, 2, 4),
        (SO(3), 2, 2, 3),
        (S(6), 1, 3, 2),
        (O(1, 3), 4, 4, 1),
        (SO(2, 1), 3, 2, 2),
    ],
    ids=str,
)
def test_forward_temporaries_at_most_twice_input_plus_output(case):
    """Peak bytes of the tensors the plan's forward allocates, its output excluded, as a
    multiple of input + output bytes (measured on meta tensors, tensor lifetimes tracked op by
    op): at most 2, also where the identity expansion stacks k! permuted copies of the input
    (24 for O(n) 4 → 4), because that stack is built and consumed chunk by chunk."""
    group, k, l, c = case
    layer = EquivariantLinear(group, k, l, c, c, execution="plan")
    batch = 4
    cost = layer.plan_cost(batch)
    inputs, outputs = (batch * c * group.n**order * 4 for order in (k, l))
    assert cost.peak >= outputs
    assert (cost.peak - outputs) / (inputs + outputs) <= 2


def test_peak_counter_sees_every_fresh_tensor():
    """The counter's peak is the largest sum of live allocations (checked on a known sequence),
    so the bound above cannot pass by missing tensors."""
    from catlayer.nn.dense import measure

    def f(a):
        b = a * 2  # 400 bytes live besides a
        c = b + 1  # 800
        del b
        return torch.cat([c, c])  # 400 (c) + 800 (result)

    assert measure(f, torch.ones(100)).peak == 1200
    # An in-place op writes into memory already counted: the peak does not grow.
    assert measure(lambda a: (a * 2).add_(1).mul_(3), torch.ones(100)).peak == 400


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_in_place_accumulation_equals_the_functional_forward(case):
    """Without autograd recording the expansions accumulate in place (into tensors the forward
    created); with it, every op is out-of-place (the graph tracers see). Same numbers, input
    and weights untouched, and a second call gives the same output."""
    group, k, l = case
    layer = _random_layer(group, k, l, c_in=3, c_out=2)
    x = _x(layer, batch=3)
    x_before, w_before = x.clone(), layer.weight.detach().clone()
    # The plain forward with parameters that require grad: out-of-place ops, recorded by autograd.
    (functional,) = layer.plain_outputs(layer.check_inputs({k: x}))
    assert functional.grad_fn is not None and functional.grad_fn.name() != "PlanFunctionBackward"
    with torch.no_grad():
        first, second = layer(x), layer(x)
    torch.testing.assert_close(first, functional.detach(), rtol=1e-12, atol=1e-12)
    assert torch.equal(first, second)
    assert torch.equal(x, x_before) and torch.equal(layer.weight.detach(), w_before)


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_autocast_bfloat16_forward_and_backward(case):
    """Under CPU autocast (bfloat16 matmuls) inference and training run, in both execution
    modes, and agree with float32 to bfloat16's precision (8-bit significand: a few parts in
    a thousand per op; bound 5% of the largest entry)."""
    group, k, l = case
    layer = _random_layer(group, k, l, c_in=3, c_out=2).float()
    x = _x(layer, batch=3).float()
    expected = layer(x).detach()
    scale = expected.abs().max()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.no_grad():
            inferred = layer(x)
        xs = x.clone().requires_grad_()
        trained = layer(xs)
        trained.float().square().sum().backward()
    for y in (inferred, trained.detach()):
        assert (y.float() - expected).abs().max() <= 0.05 * scale
    assert torch.isfinite(xs.grad).all() and torch.isfinite(layer.weight.grad).all()


def test_execution_argument():
    with pytest.raises(ValueError, match="execution"):
        EquivariantLinear(S(3), 1, 1, 1, 1, execution="fast")
    assert EquivariantLinear(S(3), 1, 1, 1, 1, execution="plan").execution == "plan"
    assert "execution=" in repr(EquivariantLinear(S(3), 1, 1, 1, 1))


# -- under compile and torch.func ------------------------------------------------------------


@pytest.mark.parametrize("case", [(Sp(4), 2, 2), (SO(2, 1), 2, 1)], ids=_ids)
def test_compiled_training_step_matches_eager(case):
    """fullgraph compile of the forward (the adjoint plan's Function is traced into the graph,
    AOTAutograd compiles its backward); gradients equal eager ones."""
    torch._dynamo.reset()
    layer = _random_layer(*case)
    compiled = torch.compile(layer, fullgraph=True)
    grads = []
    x = _x(layer, batch=3)
    for module in (compiled, layer):
        layer.zero_grad()
        xs = x.clone().requires_grad_()
        module(xs).square().sum().backward()
        grads.append([xs.grad] + [p.grad.clone() for p in layer.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_per_sample_gradients_with_vmap():
    layer = _random_layer(SO(3), 2, 1)
    params = {name: p.detach() for name, p in layer.named_parameters()}
    x = _x(layer, batch=4)

    def loss(params, sample):
        return torch.func.functional_call(layer, params, (sample.unsqueeze(0),)).square().sum()

    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(params, x)
    for i in range(4):
        expected = torch.func.grad(loss)(params, x[i])
        torch.testing.assert_close(per_sample["weight"][i], expected["weight"], rtol=1e-10, atol=1e-10)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("execution", ["plan", "dense"])
@pytest.mark.parametrize("case", [(S(5), 2, 2), (Sp(4), 2, 2), (SO(3), 2, 1), (O(1, 3), 1, 3)], ids=_ids)
def test_cuda_forward_and_gradients_match_cpu(case, execution):
    group, k, l = case
    layer = _random_layer(group, k, l, execution=execution)
    gpu = _random_layer(group, k, l, execution=execution).cuda()
    gpu.load_state_dict(layer.state_dict())
    x = _x(layer, batch=3, requires_grad=True)
    xg = x.detach().cuda().requires_grad_()
    y, yg = layer(x), gpu(xg)
    torch.testing.assert_close(yg.cpu(), y, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(y)
    y.backward(grad)
    yg.backward(grad.cuda())
    torch.testing.assert_close(xg.grad.cpu(), x.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gpu.weight.grad.cpu(), layer.weight.grad, rtol=1e-10, atol=1e-10)
