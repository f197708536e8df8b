"""Nonlinearities and invariant pooling: which groups allow which nonlinearity (decided exactly
from the generators), their values, their equivariance, and the pooling's invariants against
direct formulas (means over entries and diagonals, traces, ε contractions)."""

import pytest
import torch

from catlayer import SO, O, S, Sp
from catlayer.nn import (
    GatedNonlinearity,
    InvariantPooling,
    NormNonlinearity,
    PointwiseNonlinearity,
    acts_by_permutations,
    preserves_euclidean_norm,
)
from catlayer.testing import assert_equivariant
from catlayer.verify import check_equivariance
from catlayer.verify.network import generators_permute
from tests.torch_threads import one_torch_thread  # noqa: F401


def _orthogonal_from_generators(group):
    """Every ρ(g) orthogonal: group generators gᵀg = I, Lie algebra generators X + Xᵀ = 0."""
    import numpy as np

    for g in group.generators():
        m = np.asarray(g.matrix, dtype=object)
        if g.kind == "group":
            if not (m.T.dot(m) == np.eye(m.shape[0], dtype=int)).all():
                return False
        elif not (m + m.T == 0).all():
            return False
    return True


@pytest.mark.parametrize(
    "group", [S(1), S(2), S(5), O(1), O(3), SO(2), SO(4), Sp(2), Sp(4), O(1, 3), SO(2, 1), O(2, 2)], ids=repr
)
def test_family_rules_agree_with_the_exact_generators(group):
    """The families' flags (read without building generators: O(300) would need 45,000 of them)
    agree with what the exact generators say, for every family at several sizes."""
    assert acts_by_permutations(group) == group.acts_by_permutations == generators_permute(group)
    assert preserves_euclidean_norm(group) == group.preserves_euclidean_norm == _orthogonal_from_generators(group)
    assert acts_by_permutations(S() * S()) and not acts_by_permutations(S() * O(3))
    assert preserves_euclidean_norm(S() * O(3)) and not preserves_euclidean_norm(S() * O(1, 3))


def test_pointwise_only_for_permutation_groups():
    act = PointwiseNonlinearity(S(4), {0: 1, 2: 2}, "tanh")
    x = {0: torch.randn(3, 1), 2: torch.randn(3, 2, 4, 4)}
    torch.testing.assert_close(act(x)[2], torch.tanh(x[2]))
    assert_equivariant(act)
    assert act.equivariance_rule()[0]
    with pytest.raises(ValueError, match="does not act by permuting entries"):
        PointwiseNonlinearity(O(3), {1: 2})
    PointwiseNonlinearity(O(3), {0: 2})  # invariant channels only: fine for any group
    with pytest.raises(ValueError, match="unknown function"):
        PointwiseNonlinearity(S(3), {1: 1}, "swish!")


@pytest.mark.parametrize("group", [O(3), SO(3), Sp(4), S(3)], ids=repr)
def test_gated_multiplies_each_tensor_channel_by_its_gate(group):
    act = GatedNonlinearity(group, {0: 2, 1: 2, 2: 1})
    assert act.in_type == {0: 5, 1: 2, 2: 1}
    s = torch.randn(4, 5)
    x = {0: s, 1: torch.randn(4, 2, group.n), 2: torch.randn(4, 1, group.n, group.n)}
    out = act(x)
    torch.testing.assert_close(out[0], torch.nn.functional.silu(s[:, :2]))
    torch.testing.assert_close(out[1], x[1] * torch.sigmoid(s[:, 2:4, None]))
    torch.testing.assert_close(out[2], x[2] * torch.sigmoid(s[:, 4:5, None, None]))
    assert_equivariant(act, seed=2)


def test_norm_nonlinearity_and_its_refusal():
    act = NormNonlinearity(O(3), {0: 1, 1: 2})
    x = {0: torch.randn(4, 1), 1: torch.randn(4, 2, 3)}
    norm = x[1].square().mean(-1, keepdim=True).add(1e-12).sqrt()
    torch.testing.assert_close(act(x)[1], x[1] * torch.sigmoid(norm))
    assert_equivariant(act)
    assert "orthogonal" in act.equivariance_rule()[1]
    for group in (Sp(4),):
        with pytest.raises(ValueError, match="does not preserve the Euclidean norm"):
            NormNonlinearity(group, {1: 2})


def test_a_broken_rule_is_reported():
    act = PointwiseNonlinearity(S(3), {1: 1})
    act.group = O(3)  # tampered: the rule no longer holds, and the report says so
    holds, why = act.equivariance_rule()
    assert not holds and "not permutation matrices" in why
    report = check_equivariance(act, rng=0)
    assert not report and "not permutation matrices" in report.failure


def test_pooling_values():
    n = 4
    pool = InvariantPooling(S(n), {1: 1, 2: 2})
    assert pool.out_type == {0: 1 + 2 * 2}
    x = {1: torch.randn(3, 1, n), 2: torch.randn(3, 2, n, n)}
    out = pool(x)[0]
    expected = [x[1][:, 0].mean(-1)]
    for c in range(2):
        a = x[2][:, c]
        by_value = {pool.diagrams[2][0]: a.diagonal(0, -2, -1).mean(-1), pool.diagrams[2][1]: a.mean((-2, -1))}
        expected += [by_value[d] for d in pool.diagrams[2]]
    torch.testing.assert_close(out, torch.stack(expected, 1))
    assert_equivariant(pool)


def test_pooling_other_groups():
    x = torch.randn(5, 1, 4, 4)
    trace = InvariantPooling(O(4), {2: 1})({2: x})[0]
    torch.testing.assert_close(trace[:, 0], x[:, 0].diagonal(0, -2, -1).mean(-1))
    sp = InvariantPooling(Sp(4), {2: 1})({2: x})[0]
    j = torch.tensor([[0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1], [0, 0, -1, 0]], dtype=x.dtype)
    torch.testing.assert_close(sp[:, 0], (x[:, 0] * j).sum((-2, -1)) / 4)  # the cup is ε, sign s = +1
    so = InvariantPooling(SO(3), {3: 1})({3: torch.randn(2, 1, 3, 3, 3)})[0]
    assert so.shape == (2, 1)
    with pytest.raises(ValueError, match="no linear invariant of order 1"):
        InvariantPooling(O(3), {1: 2})
    for group, order in [(Sp(4), 2), (SO(3), 3), (O(4), 2)]:
        assert check_equivariance(InvariantPooling(group, {order: 1}), rng=0, samples=2)
