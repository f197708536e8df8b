"""Equivariance of EquivariantLinear for the four groups, the public assert_equivariant helper
and check_equivariance(layer).

Tolerances on the relative residual max|f(ρ(g)x) − ρ(g)f(x)| / max|·|: 1e-10 in float64, 1e-4
in float32 (catlayer.nn.check.DEFAULT_TOLERANCE).
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from catlayer import SO, O, PartitionDiagram, S, Sp
from catlayer.nn import EquivariantLinear
from catlayer.testing import assert_equivariant
from catlayer.testing.equivariance import group_elements
from catlayer.verify import check_equivariance
from tests.test_nn_linear import CASES, _ids, _random_layer

TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_layer_is_equivariant(case, float_dtype):
    group, k, l = case
    layer = _random_layer(group, k, l, dtype=TORCH_DTYPE[float_dtype])
    result = assert_equivariant(layer, group, k, l, seed=3, dtype=TORCH_DTYPE[float_dtype])
    assert result.ok and result.num_elements == 3 and result.max_residual <= result.tolerance


@settings(max_examples=10)
@given(group_elements(SO(3)))
def test_equivariant_under_hypothesis_drawn_elements(g):
    layer = _random_layer(SO(3), 2, 1)
    assert_equivariant(layer, SO(3), 2, 1, elements=[g])


class _Broken(torch.nn.Module):
    """An S_n layer with one output entry perturbed: not equivariant at exactly that entry."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer
        self.in_channels = layer.in_channels

    def forward(self, x):
        y = self.layer(x).clone()
        y[..., 1, 2, 0] += 0.5
        return y


def test_assert_equivariant_localises_failing_entries():
    module = _Broken(_random_layer(S(3), 2, 2))
    with pytest.raises(AssertionError) as info:
        assert_equivariant(module, S(3), 2, 2, seed=0, batch=1)
    message = str(info.value)
    assert "not equivariant" in message and "output entries differ" in message
    # the perturbed entry (channel 1, index (2, 0)) or its images under g are named
    assert "channel 1" in message and "index (" in message


def test_assert_equivariant_catches_wrong_signs():
    """A Sp layer whose ε sign is flipped in the expansions is not equivariant."""
    group = Sp(4)
    layer = _random_layer(group, 0, 2)
    assert_equivariant(layer, group, 0, 2)
    with torch.no_grad():
        layer._eps.mul_(-1)  # ε → −ε: bias and cap terms change sign, still equivariant
    assert_equivariant(layer, group, 0, 2)
    with torch.no_grad():
        layer._eps.copy_(torch.eye(4, dtype=layer._eps.dtype))  # δ instead of ε
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(layer, group, 0, 2)


def test_so_layer_is_not_o_equivariant():
    """The n-diagram (Levi-Civita) part is SO(3)- but not O(3)-equivariant."""
    layer = _random_layer(SO(3), 2, 1)
    assert_equivariant(layer, SO(3), 2, 1)
    with pytest.raises(AssertionError):
        assert_equivariant(layer, O(3), 2, 1, num_elements=6)


def test_check_equivariance_of_a_layer_proves_and_checks():
    layer = EquivariantLinear(S(4), 2, 2, 2, 3)
    report = check_equivariance(layer, rng=0)
    assert report and report.ok
    proof, numeric = report.parts
    assert proof.exact and proof.ok and len(proof.checked) == len(layer.diagrams) + len(layer.bias_diagrams) + 1
    assert not numeric.exact and numeric.ok and numeric.max_residual <= numeric.tolerance
    assert not report.exact
    assert "parameterisation" in report.checked[0] and "forward" in report.checked[1]


@pytest.mark.parametrize("group,k,l", [(SO(3), 1, 2), (Sp(4), 2, 2), (O(2), 2, 2)])
def test_check_equivariance_all_groups(group, k, l):
    report = check_equivariance(_random_layer(group, k, l), rng=1, samples=2)
    assert report and report.parts[0].exact and not report.parts[1].exact


def test_check_equivariance_reports_a_broken_forward():
    layer = _random_layer(Sp(4), 2, 2)
    with torch.no_grad():
        layer._eps.copy_(torch.eye(4, dtype=layer._eps.dtype))
    report = check_equivariance(layer, rng=0)
    assert not report
    proof, numeric = report.parts
    assert proof.ok and not numeric.ok  # the parameterisation is fine, the forward is not
    assert "output entries differ" in numeric.failure


class _WrongImages(O):
    """O(n) whose functor sends every diagram to the all-ones S_n map: not O(n)-equivariant."""

    def functor(self, d, basis="diagram"):
        return S(self.n).functor(PartitionDiagram([[0], [1]], dom=1, cod=1)).to_sympy()


def test_check_equivariance_reports_a_non_equivariant_diagram():
    layer = EquivariantLinear(O(3), 1, 1, 1, 1, dtype=torch.float64)
    assert check_equivariance(layer, rng=0)
    layer.group = _WrongImages(3)
    report = check_equivariance(layer, rng=0)
    assert not report and not report.parts[0].ok and report.parts[1].ok
    assert "weight diagram 0" in report.parts[0].failure and "generator" in report.parts[0].failure
