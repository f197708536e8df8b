"""TypedLinear (mixed-order linear layers) and the feature-type helpers: every block against
an independent reference (an EquivariantLinear per block, weights scaled by 1/n^closed), the
dense and structured paths against each other, biases, batch axes, errors.

Tolerance: 1e-12 relative in float64.
"""

import pytest
import torch

from catlayer import SO, O, S, Sp
from catlayer.nn import EquivariantLinear, TypedLinear
from catlayer.nn.core import feature_type
from catlayer.testing import assert_equivariant
from tests.torch_threads import one_torch_thread  # noqa: F401

CASES = [
    (S(4), {0: 2, 1: 3, 2: 2, 3: 1}, {0: 1, 1: 2, 2: 3, 3: 2}),
    (S(3), {2: 2}, {0: 2, 1: 1}),
    (O(3), {0: 2, 1: 3, 2: 2}, {0: 1, 1: 2, 2: 3}),
    (SO(3), {1: 2, 2: 2}, {0: 1, 1: 2, 2: 3}),
    (SO(2), {0: 1, 1: 2, 2: 1}, {1: 2, 2: 1}),
    (Sp(4), {0: 2, 1: 3, 2: 2}, {0: 1, 1: 2, 2: 3}),
]


def _ids(case):
    group, i, o = case
    return f"{group!r}-{list(i)}to{list(o)}"


def _features(group, ftype, batch=5, dtype=torch.float64):
    return {k: torch.randn((batch, c) + (group.n,) * k, dtype=dtype) for k, c in ftype.items()}


def _reference(layer, x):
    """Sum over blocks of EquivariantLinear(k, l) with the block's weights (one parameterisation),
    plus the bias as an EquivariantLinear 0 → l applied to nothing but its bias."""
    group, out = layer.group, {}
    for l, c in layer.out_type.items():
        total = 0
        for k, c_in in layer.in_type.items():
            if (k, l) in layer.blocks:
                ref = EquivariantLinear(group, k, l, c_in, c, bias=False, dtype=torch.float64, reduce=layer.reduce)
                with torch.no_grad():
                    ref.weight.copy_(layer.weight_of(k, l))
                total = total + ref(x[k])
        if layer.bias_of(l) is not None:
            ref = EquivariantLinear(group, 0, l, 1, c, dtype=torch.float64)
            with torch.no_grad():
                ref.weight.zero_()
                ref.bias.copy_(layer.bias_of(l))
            total = total + ref(torch.zeros(1, 1, dtype=torch.float64))
        out[l] = total
    return out


@pytest.mark.parametrize("case", CASES, ids=_ids)
@pytest.mark.parametrize("execution", ["plan", "dense"])
def test_typed_linear_matches_blockwise_reference(case, execution):
    group, in_type, out_type = case
    torch.manual_seed(0)
    layer = TypedLinear(group, in_type, out_type, execution=execution, dtype=torch.float64)
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_()
    x = _features(group, in_type)
    got, want = layer(x), _reference(layer, x)
    assert list(got) == list(out_type)
    for l in out_type:
        assert got[l].shape == (5, out_type[l]) + (group.n,) * l
        torch.testing.assert_close(got[l], want[l].expand_as(got[l]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES[:4], ids=_ids)
def test_typed_linear_is_equivariant(case):
    group, in_type, out_type = case
    layer = TypedLinear(group, in_type, out_type)
    result = assert_equivariant(layer, seed=1)  # group and types read from the layer
    assert result.ok and result.num_elements == 3


def test_blocks_share_reductions_per_input_order():
    layer = TypedLinear(S(5), {2: 1}, {0: 1, 1: 1, 2: 1})
    separate = sum(len(layer._plans[(2, l)].reductions) for l in (0, 1, 2))
    assert len(layer._program.reductions) < separate  # e.g. the total sum is computed once


def test_zero_blocks_are_absent_and_parameters_are_ordered():
    layer = TypedLinear(O(3), {0: 2, 1: 3}, {0: 4, 1: 1, 2: 1})
    assert sorted(layer.blocks) == [(0, 0), (0, 2), (1, 1)]  # no 1 → 0, 1 → 2 or 0 → 1 for O(3)
    names = [name for name, _ in layer.named_parameters()]
    assert names == ["weight_0_0", "weight_0_2", "weight_1_1", "bias_0", "bias_2"]  # no bias for vectors
    assert sorted(layer.state_dict()) == sorted([*names, "_group"])


def test_init_keeps_outputs_bounded_for_constant_inputs():
    """Mean-normalised diagrams: an all-ones input stays O(1) whatever n (raw sums grow like n^2)."""
    for n in (5, 40):
        torch.manual_seed(0)
        layer = TypedLinear(S(n), {2: 8}, {0: 8, 2: 8}, execution="plan")
        out = layer({2: torch.ones(4, 8, n, n)})
        for y in out.values():
            assert 0.05 < float(y.detach().square().mean().sqrt()) < 3


def test_batch_axes():
    layer = TypedLinear(S(3), {1: 2}, {2: 1})
    x = torch.randn(4, 5, 2, 3)
    flat = layer({1: x.reshape(20, 2, 3)})[2]
    torch.testing.assert_close(layer({1: x})[2], flat.reshape(4, 5, 1, 3, 3))
    torch.testing.assert_close(layer({1: x[0, 0]})[2], flat[0])


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="channels of order 1 must be an int >= 1"):
        feature_type({1: 0})
    with pytest.raises(TypeError, match="mapping order -> channels"):
        TypedLinear(S(3), [1], {0: 1})
    with pytest.raises(ValueError, match="would be constant"):
        TypedLinear(O(3), {0: 1}, {1: 1})
    layer = TypedLinear(S(3), {0: 1, 1: 2}, {1: 1})
    with pytest.raises(ValueError, match=r"expects the orders \[0, 1\].*missing \[0\]"):
        layer({1: torch.randn(2, 2, 3)})
    with pytest.raises(ValueError, match=r"order 1 must have shape \(\*batch, 2, 3\)"):
        layer({0: torch.randn(2, 1), 1: torch.randn(2, 3, 3)})
    with pytest.raises(ValueError, match="same batch shape"):
        layer({0: torch.randn(2, 1), 1: torch.randn(3, 2, 3)})
    with pytest.raises(TypeError, match="floating point"):
        layer({0: torch.zeros(2, 1, dtype=torch.long), 1: torch.zeros(2, 2, 3, dtype=torch.long)})
