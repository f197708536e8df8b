"""Equivariant nonlinearities for mixed-order features, and the rules that make them equivariant.

* :class:`PointwiseNonlinearity`: any function applied entry by entry. Equivariant exactly when
  every group element is a permutation matrix (S_n): permuting entries commutes with a function
  applied to each entry. Checked on the group's exact generators (:func:`acts_by_permutations`).
* :class:`GatedNonlinearity`: order-0 channels are invariant, so any function of them is; each
  tensor channel is multiplied by the sigmoid of its own invariant gate channel. Equivariant for
  every group, compact or not (O(p, q) included): ρ_k(g)(s·x) = s·ρ_k(g)x for an invariant s.
* :class:`NormNonlinearity`: each tensor channel x is multiplied by σ(‖x‖ + b), ‖x‖ the root mean
  square of its entries. ‖x‖ is invariant when every ρ_k(g) is orthogonal, i.e. when the group's
  generators are orthogonal matrices and antisymmetric Lie algebra elements
  (:func:`preserves_euclidean_norm`): S_n, O(n), SO(n). Sp(n) and the indefinite O(p, q),
  SO(p, q) preserve no positive definite form on R^n (their invariant forms J and η are
  antisymmetric or indefinite, and the Euclidean norm changes under boosts and symplectic
  stretches), so there the norm nonlinearity is refused and the gated one is the choice.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkable import Checkable
from .features import FeatureType, feature_type, type_str
from .typed_linear import check_group

__all__ = [
    "GatedNonlinearity",
    "NormNonlinearity",
    "PointwiseNonlinearity",
    "acts_by_permutations",
    "preserves_euclidean_norm",
]

_FUNCTIONS = {
    "silu": F.silu,
    "relu": F.relu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "identity": lambda x: x,
}


def _function(spec):
    """A name from ``_FUNCTIONS`` (kept as a string, so modules pickle) or a callable."""
    if isinstance(spec, str):
        if spec not in _FUNCTIONS:
            raise ValueError(f"unknown function {spec!r}; use one of {sorted(_FUNCTIONS)} or pass a callable")
        return spec
    if not callable(spec):
        raise TypeError(f"expected a function name or a callable, got {spec!r}")
    return spec


def _call(spec, x: torch.Tensor) -> torch.Tensor:
    return _FUNCTIONS[spec](x) if isinstance(spec, str) else spec(x)


def _name(spec) -> str:
    return spec if isinstance(spec, str) else getattr(spec, "__name__", type(spec).__name__)


@lru_cache(maxsize=128)
def acts_by_permutations(group) -> bool:
    """Whether every element of ``group`` is a permutation matrix, decided exactly on its
    generators (all group elements with 0/1 entries, one 1 per row and column; no Lie algebra
    generators). Then any entrywise function is equivariant.

    >>> from catlayer import S, O
    >>> acts_by_permutations(S(5)), acts_by_permutations(O(3))
    (True, False)
    """
    for g in group.generators():
        m = np.asarray(g.matrix)
        if g.kind != "group" or not all(v in (0, 1) for v in m.flat):
            return False
        if any(sum(int(v) for v in row) != 1 for row in m) or any(sum(int(v) for v in col) != 1 for col in m.T):
            return False
    return True


@lru_cache(maxsize=128)
def preserves_euclidean_norm(group) -> bool:
    """Whether every ρ_k(g) is orthogonal, decided exactly on the generators: group elements with
    gᵀg = I and Lie algebra elements with X + Xᵀ = 0. Then the Euclidean norm of a tensor is
    invariant.

    >>> from catlayer import S, SO, Sp
    >>> preserves_euclidean_norm(S(4)), preserves_euclidean_norm(SO(3)), preserves_euclidean_norm(Sp(4))
    (True, True, False)
    """
    for g in group.generators():
        m = np.asarray(g.matrix, dtype=object)
        if g.kind == "group":
            if not (m.T.dot(m) == np.eye(m.shape[0], dtype=int)).all():
                return False
        elif not (m + m.T == 0).all():
            return False
    return True


class PointwiseNonlinearity(Checkable, nn.Module):
    """``function`` applied to every entry of every order (S_n only: see :func:`acts_by_permutations`).

    >>> import torch
    >>> from catlayer import S
    >>> act = PointwiseNonlinearity(S(4), {0: 2, 2: 3}, "relu")
    >>> act({0: -torch.ones(1, 2), 2: torch.ones(1, 3, 4, 4)})[0].tolist()
    [[0.0, 0.0]]
    """

    def __init__(self, group, ftype, function="silu") -> None:
        super().__init__()
        check_group(group)
        self.group = group
        self.in_type: FeatureType = feature_type(ftype)
        self.out_type = dict(self.in_type)
        self.function = _function(function)
        if any(k > 0 for k in self.in_type) and not acts_by_permutations(group):
            raise ValueError(
                f"{group!r} does not act by permuting entries, so a pointwise function of tensor entries is not "
                f"equivariant; use GatedNonlinearity (any group) or NormNonlinearity"
            )

    def equivariance_rule(self) -> tuple[bool, str]:
        """(holds, why) for the network check."""
        if all(k == 0 for k in self.in_type):
            return True, "acts on order-0 (invariant) channels only"
        holds = acts_by_permutations(self.group)
        return holds, (
            f"every generator of {self.group!r} is a permutation matrix (checked exactly), and an entrywise "
            f"function commutes with permuting entries"
            if holds
            else f"{self.group!r} has a generator that is not a permutation matrix"
        )

    def extra_repr(self) -> str:
        return f"group={self.group!r}, type={type_str(self.in_type)}, function={_name(self.function)}"

    def forward(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        return {k: _call(self.function, x) for k, x in features.items()}


class GatedNonlinearity(Checkable, nn.Module):
    """Gated nonlinearity producing features of type ``out_type`` (any group).

    The input has the type :attr:`in_type`: ``out_type`` with one extra order-0 *gate* channel per
    tensor channel of order ≥ 1, appended after the order-0 channels. Output order 0 is
    ``function(scalars)``; output channel i of order k ≥ 1 is ``x_i · gate_function(g_i)``.

    >>> import torch
    >>> from catlayer import O
    >>> act = GatedNonlinearity(O(3), {0: 2, 1: 1})
    >>> act.in_type                                # two scalars plus one gate for the vector
    {0: 3, 1: 1}
    >>> out = act({0: torch.zeros(4, 3), 1: torch.ones(4, 1, 3)})
    >>> out[1][0].tolist()                         # sigmoid(0) = 0.5
    [[0.5, 0.5, 0.5]]
    """

    def __init__(self, group, out_type, function="silu", gate_function="sigmoid") -> None:
        super().__init__()
        check_group(group)
        self.group = group
        self.out_type: FeatureType = feature_type(out_type, "out_type")
        self.num_gates = sum(c for k, c in self.out_type.items() if k > 0)
        self.in_type: FeatureType = dict(self.out_type)
        self.in_type[0] = self.out_type.get(0, 0) + self.num_gates
        self.in_type = dict(sorted(self.in_type.items()))
        self.function = _function(function)
        self.gate_function = _function(gate_function)
        scalars = self.out_type.get(0, 0)
        self._slices = {}
        start = scalars
        for k, c in self.out_type.items():
            if k > 0:
                self._slices[k] = (start, start + c)
                start += c

    def equivariance_rule(self) -> tuple[bool, str]:
        return True, (
            "order-0 channels are invariant, so functions of them are; each tensor channel is multiplied by "
            "a function of an invariant gate channel, and ρ_k(g) is linear"
        )

    def extra_repr(self) -> str:
        return (
            f"group={self.group!r}, in_type={type_str(self.in_type)}, out_type={type_str(self.out_type)}, "
            f"function={_name(self.function)}, gate={_name(self.gate_function)}"
        )

    def forward(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        s = features[0]
        out: dict[int, torch.Tensor] = {}
        if 0 in self.out_type:
            out[0] = _call(self.function, s[:, : self.out_type[0]])
        for k, (start, stop) in self._slices.items():
            gate = _call(self.gate_function, s[:, start:stop])
            x = features[k]
            out[k] = x * gate.reshape(gate.shape + (1,) * k)
        return {k: out[k] for k in self.out_type}


class NormNonlinearity(Checkable, nn.Module):
    """Norm nonlinearity on features of type ``ftype`` (groups preserving the Euclidean norm:
    S_n, O(n), SO(n); see :func:`preserves_euclidean_norm`).

    Order 0: ``function(x)``. Order k ≥ 1, channel i: ``x_i · gate_function(‖x_i‖ + bias_i)`` with
    ‖x_i‖ = sqrt(mean of x_i² over its n^k entries + 1e-12), invariant because ρ_k(g) is orthogonal.

    >>> import torch
    >>> from catlayer import SO, Sp
    >>> act = NormNonlinearity(SO(3), {0: 2, 1: 4})
    >>> act({0: torch.randn(5, 2), 1: torch.randn(5, 4, 3)})[1].shape
    torch.Size([5, 4, 3])
    >>> NormNonlinearity(Sp(4), {1: 4})
    Traceback (most recent call last):
    ...
    ValueError: Sp(4) does not preserve the Euclidean norm ...; use GatedNonlinearity
    """

    def __init__(
        self,
        group,
        ftype,
        function="silu",
        gate_function="sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_group(group)
        self.group = group
        self.in_type: FeatureType = feature_type(ftype)
        self.out_type = dict(self.in_type)
        self.function = _function(function)
        self.gate_function = _function(gate_function)
        if any(k > 0 for k in self.in_type) and not preserves_euclidean_norm(group):
            raise ValueError(
                f"{group!r} does not preserve the Euclidean norm (not every generator is orthogonal), so no channel "
                f"norm is invariant; use GatedNonlinearity"
            )
        for k, c in self.in_type.items():
            if k > 0:
                self.register_parameter(f"bias_{k}", nn.Parameter(torch.zeros(c, device=device, dtype=dtype)))

    def equivariance_rule(self) -> tuple[bool, str]:
        holds = preserves_euclidean_norm(self.group) or all(k == 0 for k in self.in_type)
        return holds, (
            f"every generator of {self.group!r} is orthogonal or antisymmetric (checked exactly), so ρ_k(g) is "
            f"orthogonal and each channel's norm is invariant; scaling by a function of an invariant is equivariant"
            if holds
            else f"{self.group!r} has a generator that is not orthogonal: channel norms are not invariant"
        )

    def extra_repr(self) -> str:
        return (
            f"group={self.group!r}, type={type_str(self.in_type)}, function={_name(self.function)}, "
            f"gate={_name(self.gate_function)}"
        )

    def forward(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        out: dict[int, torch.Tensor] = {}
        for k, x in features.items():
            if k == 0:
                out[k] = _call(self.function, x)
                continue
            axes = tuple(range(2, 2 + k))
            norm = torch.sqrt(x.square().mean(dim=axes) + 1e-12)
            gate = _call(self.gate_function, norm + getattr(self, f"bias_{k}"))
            out[k] = x * gate.reshape(gate.shape + (1,) * k)
        return out
