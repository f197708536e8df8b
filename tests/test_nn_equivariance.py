"""Equivariance of EquivariantLinear for the four groups, the public assert_equivariant helper
and check_equivariance(layer).

Tolerances on the relative residual max|f(ρ(g)x) − ρ(g)f(x)| / max|·|: 1e-10 in float64, 1e-4
in float32 (catlayer.tolerance.DEFAULT_TOLERANCE).
"""

import dataclasses
import itertools

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given, settings

from catlayer import SO, O, PartitionDiagram, S, Sp
from catlayer.diagrams.permutations import permutation_sign
from catlayer.nn import EquivariantLinear
from catlayer.testing import assert_equivariant
from catlayer.testing.equivariance import group_elements
from catlayer.verify import check_equivariance, relabelling_orbits
from tests.test_nn_linear import CASES, _ids, _random_layer

TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_layer_is_equivariant(case, float_dtype):
    group, k, l = case
    layer = _random_layer(group, k, l, dtype=TORCH_DTYPE[float_dtype])
    result = assert_equivariant(layer, group, k, l, seed=3, dtype=TORCH_DTYPE[float_dtype])
    assert result.ok and result.num_elements == max(3, group.num_components) and result.max_residual <= result.tolerance


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
        layer._form_0.mul_(-1)  # ε → −ε: bias and cap terms change sign, still equivariant
    assert_equivariant(layer, group, 0, 2)
    with torch.no_grad():
        layer._form_0.copy_(torch.eye(4, dtype=layer._form_0.dtype))  # δ instead of ε
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
    assert proof.exact and proof.ok and "(dense)" in proof.method  # n^(k+l) = 256: "auto" is dense
    assert any("at all 256 entries" in line for line in proof.checked)
    assert any("on the generators" in line for line in proof.checked)
    assert not numeric.exact and numeric.ok and numeric.max_residual <= numeric.tolerance
    assert not report.exact
    assert "parameterisation" in report.checked[0] and "forward" in report.checked[1]
    text = str(report)
    assert "numeric check on random group elements" in text and "exact certificate per block" in text


@pytest.mark.parametrize("group,k,l", [(SO(3), 1, 2), (Sp(4), 2, 2), (O(2), 2, 2)])
def test_check_equivariance_all_groups(group, k, l):
    report = check_equivariance(_random_layer(group, k, l), rng=1, samples=2)
    assert report and report.parts[0].exact and not report.parts[1].exact


def test_check_equivariance_reports_a_broken_forward():
    layer = _random_layer(Sp(4), 2, 2)
    with torch.no_grad():
        layer._form_0.copy_(torch.eye(4, dtype=layer._form_0.dtype))
    for prove in ("dense", "orbits"):
        report = check_equivariance(layer, rng=0, prove=prove)
        assert not report and "NOT equivariant" in str(report)
        proof, numeric = report.parts
        assert not proof.ok and not numeric.ok  # the forward is not what the diagrams say, nor equivariant
        assert "table _form_0 is not the one compiled from its diagrams and the pair form of Sp(4)" in proof.failure
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
    assert "diagram 0" in report.parts[0].failure and "generator" in report.parts[0].failure


# -- the certificate at any size (prove="auto" | "dense" | "orbits" | False) ---------------------------------
SMALL = [(S(3), 2, 2), (S(2), 2, 3), (O(3), 2, 2), (O(2), 1, 3), (SO(3), 2, 1), (SO(3), 3, 3), (SO(2), 1, 1)]
SMALL += [(SO(4), 2, 2), (Sp(4), 2, 2), (Sp(2), 1, 3), (O(1, 3), 2, 2), (SO(1, 3), 3, 1), (SO(2, 1), 2, 1)]
SMALL += [(SO(1, 1), 1, 1)]


@pytest.mark.parametrize("group,k,l", SMALL, ids=lambda v: repr(v))
def test_dense_and_orbit_certificates_agree(group, k, l):
    layer = _random_layer(group, k, l)
    dense = check_equivariance(layer, prove="dense", rng=0, samples=1)
    orbits = check_equivariance(layer, prove="orbits", rng=0, samples=1)
    assert dense and orbits
    assert "(dense)" in dense.parts[0].method and "(orbits)" in orbits.parts[0].method
    assert any("per orbit of" in line for line in orbits.parts[0].checked)


def _flip_one_sign(layer):
    with torch.no_grad():
        layer._fwd_coef_0[0] *= -1  # the forward now computes −F(d) for one diagram: equivariant, but not the layer


@pytest.mark.parametrize("prove", ["dense", "orbits"])
def test_certificate_catches_an_equivariant_forward_that_is_not_the_parameterisation(prove):
    layer = _random_layer(Sp(4), 2, 2)
    _flip_one_sign(layer)
    report = check_equivariance(layer, prove=prove, rng=0)
    proof, numeric = report.parts
    assert numeric.ok and not proof.ok and not report
    assert "NOT certified" in str(report) and "NOT equivariant" not in str(report)
    assert "_fwd_coef_0 is not the one compiled from its diagrams and the sign × mean scale" in proof.failure


def test_orbit_certificate_catches_a_wrong_plan():
    layer = _random_layer(S(5), 2, 2)
    plan = layer._plans[(2, 2)]
    t = next(t for t, m in enumerate(plan.matching) if len(m) == 2)
    matching = list(plan.matching)
    matching[t] = matching[t][::-1]
    layer._plans[(2, 2)] = dataclasses.replace(plan, matching=tuple(matching))
    proof = check_equivariance(layer, prove="orbits", rng=0).parts[0]
    assert not proof.ok
    assert "the plan of block (2, 2) is not the one of its diagrams" in proof.failure
    assert f"block (2, 2), diagram {t} {layer.diagrams[t]}: its plan gives" in proof.failure


def test_prove_false_is_numeric_only_and_says_so():
    layer = _random_layer(S(4), 2, 2)
    report = check_equivariance(layer, prove=False, rng=0)
    assert report and len(report.parts) == 1 and not report.parts[0].exact
    text = str(report)
    assert "NOT" not in text and "not certified (prove=False)" in text
    broken = _random_layer(Sp(4), 2, 2)
    with torch.no_grad():
        broken._form_0.copy_(torch.eye(4, dtype=broken._form_0.dtype))
    assert not check_equivariance(broken, prove=False, rng=0)
    with pytest.raises(ValueError, match="prove must be"):
        check_equivariance(layer, prove="maybe")


@pytest.mark.parametrize("kwargs", [{"samples": 0}, {"tolerance": float("nan")}, {"tolerance": -1.0}, {"batch": 0}])
def test_a_layer_check_that_checks_nothing_is_refused(kwargs):
    with pytest.raises(ValueError, match=r"samples|tolerance|batch"):
        check_equivariance(_random_layer(S(3), 1, 1), **kwargs)


@pytest.mark.parametrize("group,k,l", [(S(30), 3, 3), (O(20), 4, 4)], ids=["S(30) 3->3", "O(20) 4->4"])
def test_large_layers_are_certified_without_dense_matrices(group, k, l, monkeypatch):
    import catlayer.functors

    def no_dense(*args, **kwargs):
        raise AssertionError("a dense image was built")

    monkeypatch.setattr(catlayer.functors.EquivariantMap, "to_exact", no_dense)
    layer = EquivariantLinear(group, k, l, 2, 2)
    report = check_equivariance(layer, rng=0, samples=1)
    assert report and "(orbits)" in report.parts[0].method
    assert "equivariant (exact certificate of the parameterisation + numeric check of the forward)" in str(report)


class _Pointwise(torch.nn.Module):
    """ReLU after an S_n layer: equivariant, but not a catlayer layer (numeric check only)."""

    def __init__(self):
        super().__init__()
        self.linear = EquivariantLinear(S(4), 2, 2, 2, 2, dtype=torch.float64)

    def forward(self, x):
        return torch.relu(self.linear(x))


def test_arbitrary_modules_are_checked_numerically_and_labelled():
    module = _Pointwise()
    report = check_equivariance(S(4), module, 2, 2, in_channels=2, rng=0)
    assert report and not report.exact and "not a proof" in str(report) and not report.parts
    module.group, module.in_order, module.out_order, module.in_channels = S(4), 2, 2, 2
    assert check_equivariance(module, rng=0)
    linear = torch.nn.Linear(4, 4, dtype=torch.float64)
    assert not check_equivariance(S(4), linear, 1, 1, in_channels=1, rng=0)
    with pytest.raises(TypeError, match="does not declare group"):
        check_equivariance(linear)


# -- the relabelling orbits of the certificate, against brute force ------------------------------------------
def _relabellings(group, uses_levi_civita):
    """Brute force: every permutation of the index values that fixes the group's tables."""
    n = group.n
    perms = [np.array(p) for p in itertools.permutations(range(n))]
    form = group.pair_form
    if form is not None:
        perms = [p for p in perms if np.array_equal(form[np.ix_(p, p)], form)]
    if uses_levi_civita:
        perms = [p for p in perms if permutation_sign(tuple(p.tolist())) == 1]
    return perms


@pytest.mark.parametrize(
    "group,uses_levi_civita",
    [
        *[(S(3), False), (O(4), False), (SO(3), True), (SO(2), True), (SO(4), True), (Sp(4), False), (Sp(6), False)],
        *[(O(1, 3), False), (O(2, 2), False), (SO(1, 3), True), (SO(2, 1), True), (SO(1, 1), True)],
    ],
    ids=lambda v: repr(v),
)
def test_relabelling_orbits_are_one_per_orbit_and_fix_the_entries(group, uses_levi_civita):
    n, size = group.n, 4 if group.n < 6 else 3
    points, _ = relabelling_orbits(group, size, uses_levi_civita)
    relabellings = _relabellings(group, uses_levi_civita)
    orbit_of = {}
    for i, x in enumerate(points):
        for p in relabellings:
            image = tuple(p[x].tolist())
            assert orbit_of.setdefault(image, i) == i  # no two representatives in one orbit
    assert len(orbit_of) == n**size  # every multi-index is in the orbit of a representative
    k = size // 2
    for d in group.spanning_set(k, size - k)[:6]:
        for p in relabellings[:: max(1, len(relabellings) // 6)]:
            everything = np.array(sorted(orbit_of), dtype=np.int64)
            assert np.array_equal(group.evaluate(d, everything), group.evaluate(d, p[everything]))


# -- no silent passes for matrices (issue 12) ----------------------------------------------------------------
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_matrices_are_refused(value):
    M = S(3).functor(S(3).basis(1, 1)[0]).to_numpy()
    M[0, 0] = value
    with pytest.raises(ValueError, match="cannot be checked"):
        check_equivariance(S(3), M, 1, 1)
    with pytest.raises(ValueError, match="cannot be checked"):
        check_equivariance(S(3), np.full((3, 3), value), 1, 1)


def test_complex_matrices_are_checked_not_truncated():
    G = S(3)
    M = G.functor(G.basis(2, 2)[4]).to_numpy()
    imaginary = np.random.default_rng(0).standard_normal(M.shape)
    report = check_equivariance(G, M + 1j * imaginary, 2, 2, rng=0)
    assert not report and "j" in report.failure
    assert check_equivariance(G, M + 2j * M, 2, 2, rng=0)
    assert check_equivariance(G, (M + 2j * M).astype(np.complex64), 2, 2, rng=0).tolerance == 1e-4
    exact = G.functor(G.basis(1, 1)[0]).to_sympy()
    assert check_equivariance(G, exact + sympy.I * 3 * exact).exact
    broken = check_equivariance(G, exact + sympy.I * sympy.eye(3) + sympy.I * sympy.Matrix.diag(1, 0, 0))
    assert not broken and broken.failure.startswith("imaginary part")


@pytest.mark.parametrize(
    "kwargs",
    [{"samples": 0}, {"samples": -2}, {"tolerance": float("nan")}, {"tolerance": -1e-3}, {"tolerance": float("inf")}],
)
def test_a_matrix_check_that_checks_nothing_is_refused(kwargs):
    M = np.eye(3)
    with pytest.raises(ValueError, match=r"samples|tolerance"):
        check_equivariance(S(3), M, 1, 1, **kwargs)


def test_forward_checks_that_check_nothing_are_refused():
    layer = _random_layer(S(3), 1, 1)
    with pytest.raises(ValueError, match="tolerance"):
        assert_equivariant(layer, S(3), 1, 1, tolerance=float("nan"))
    with pytest.raises(ValueError, match="num_elements"):
        assert_equivariant(layer, S(3), 1, 1, num_elements=0)
    with pytest.raises(ValueError, match="no group elements"):
        assert_equivariant(layer, S(3), 1, 1, elements=[])
    with torch.no_grad():
        layer.weight.fill_(float("nan"))
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_equivariant(layer, S(3), 1, 1)
