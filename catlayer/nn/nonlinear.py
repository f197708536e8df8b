"""Equivariant nonlinearities for mixed-order features, and the rules that make them equivariant.

* :class:`PointwiseNonlinearity`: any function applied entry by entry. Equivariant exactly when
  every group acting on the feature acts by permutation matrices (S_n; for a product, every
  factor with an axis in the feature, docs/conventions.md §10): permuting entries commutes with
  a function applied to each entry. The rule is the family's (``acts_by_permutations``), tested
  against the exact generators.
* :class:`GatedNonlinearity`: invariant channels (order 0, or (0, …, 0) for a product) are
  invariant, so any function of them is; each other channel is multiplied by a function of its
  own invariant gate channel. Equivariant for every group, compact or not (O(p, q) included):
  ρ(g)(s·x) = s·ρ(g)x for an invariant s.
* :class:`NormNonlinearity`: each non-invariant channel x is multiplied by σ(‖x‖ + b), ‖x‖ the
  root mean square of its entries. ‖x‖ is invariant when every ρ(g) is orthogonal
  (``preserves_euclidean_norm``: S_n, O(n), SO(n)). Sp(n) and the indefinite O(p, q), SO(p, q)
  preserve no positive definite form on R^n, so there the norm nonlinearity is refused and the
  gated one is the choice.

With a mask (docs/conventions.md §11) every module leaves padded entries at 0 and a norm is the
root mean square over the valid entries of each sample.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..diagrams.validation import short_repr
from ..groups.product import group_factors
from .core import Call, EquivariantModule, feature_type, masked, order_axes, output_mask, type_str

__all__ = [
    "GatedNonlinearity",
    "NormNonlinearity",
    "PointwiseNonlinearity",
    "acts_by_permutations",
    "preserves_euclidean_norm",
]

_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": F.silu,
    "relu": F.relu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "identity": lambda x: x,
}


def _function(spec: Any) -> Any:
    """A name from ``_FUNCTIONS`` (kept as a string, so modules pickle) or a callable."""
    if isinstance(spec, str):
        if spec not in _FUNCTIONS:
            raise ValueError(f"unknown function {spec!r}; use one of {sorted(_FUNCTIONS)} or pass a callable")
        return spec
    if not callable(spec):
        raise TypeError(f"expected a function name or a callable, got {short_repr(spec)}")
    return spec


def _call(spec: Any, x: torch.Tensor) -> torch.Tensor:
    return _FUNCTIONS[spec](x) if isinstance(spec, str) else spec(x)


def _name(spec: Any) -> str:
    return spec if isinstance(spec, str) else getattr(spec, "__name__", type(spec).__name__)


def acts_by_permutations(group: Any) -> bool:
    """Whether every element of ``group`` (every factor of a product) is a permutation matrix,
    so that any entrywise function is equivariant: the family's own statement
    (``Group.acts_by_permutations``), which the tests check against the exact generators.

    >>> from catlayer import S, O
    >>> acts_by_permutations(S(5)), acts_by_permutations(O(3)), acts_by_permutations(S() * O(3))
    (True, False, False)
    """
    return all(g.acts_by_permutations for g in group_factors(group))


def preserves_euclidean_norm(group: Any) -> bool:
    """Whether every ρ(g) is orthogonal (every factor of a product), so that the Euclidean norm of
    a tensor is invariant: the family's own statement (``Group.preserves_euclidean_norm``), which
    the tests check against the exact generators (group elements gᵀg = I, Lie algebra elements
    X + Xᵀ = 0); no generator is built here (O(300) would need 45,000 of them).

    >>> from catlayer import S, SO, Sp
    >>> preserves_euclidean_norm(S(4)), preserves_euclidean_norm(SO(3)), preserves_euclidean_norm(Sp(4))
    (True, True, False)
    """
    return all(g.preserves_euclidean_norm for g in group_factors(group))


def _acting(module: EquivariantModule, order: Any) -> tuple[Any, ...]:
    """The factors of the module's group with an axis in a feature of this order."""
    factors = group_factors(module.group)
    return tuple(factors[f] for f in sorted(set(order_axes(order))))


def _require_all(module: EquivariantModule, flag: str, why: str) -> None:
    """Refuse the module unless every factor acting on each of its orders has the class flag
    ``flag``; ``why`` completes "{factor!r} …" in the message."""
    for k in module.in_type:
        bad = [g for g in _acting(module, k) if not getattr(g, flag)]
        if bad:
            raise ValueError(f"{bad[0]!r} {why.format(order=k)}")


def _invariant(order: Any) -> bool:
    return not order_axes(order)


class _Nonlinearity(EquivariantModule, ABC):
    """Shared: checked dict in, dict out, padded entries kept at 0."""

    def forward(self, features: dict[Any, torch.Tensor], mask: Any = None) -> dict[Any, torch.Tensor]:
        """The nonlinearity on a dict order → tensor (``mask`` optional)."""
        call = self.check_inputs(features, mask)
        return call.restore(self.run(call))

    def run(self, call: Call) -> dict[Any, torch.Tensor]:
        self._check_memory(call)  # refuse a forward that cannot fit before allocating any of it
        if not call.masked:
            return self._apply_to(call)
        # Padded entries are replaced by 0 before the function (whatever they held, NaN included)
        # and the outputs there set back to 0 after it (f(0) need not be 0).
        features = {k: masked(x, call.masks, order_axes(k)) for k, x in call.features.items()}
        out = self._apply_to(Call(features, call.batch_shape, call.sizes, call.masks))
        for k, y in out.items():
            keep = output_mask(call.masks, order_axes(k), y.dim())
            if keep is not None:
                out[k] = torch.where(keep, y, torch.zeros((), dtype=y.dtype, device=y.device))
        return out

    @abstractmethod
    def _apply_to(self, call: Call) -> dict[Any, torch.Tensor]:
        """The nonlinearity on the checked features (padded entries are re-zeroed by :meth:`run`)."""


class PointwiseNonlinearity(_Nonlinearity):
    """``function`` applied to every entry of every order (groups acting by permutations: S_n, or
    orders of a product whose acting factors all do).

    Args:
        group: a catlayer group.
        ftype: the feature type (a dict order → channels), in and out.
        function: a name ("silu", "relu", "gelu", "tanh", "sigmoid", "softplus", "identity") or a
            callable applied entrywise.

    Shape:
        - Input and output: a dict order k → ``(*batch, ftype[k]) + axes(k)``; ``mask`` optional.

    >>> import torch
    >>> from catlayer import S
    >>> act = PointwiseNonlinearity(S(4), {0: 2, 2: 3}, "relu")
    >>> act({0: -torch.ones(1, 2), 2: torch.ones(1, 3, 4, 4)})[0].tolist()
    [[0.0, 0.0]]
    """

    def __init__(self, group: Any, ftype: Any, function: Any = "silu") -> None:
        super().__init__()
        self._open(group, ftype)
        self.function = _function(function)
        _require_all(
            self,
            "acts_by_permutations",
            "does not act by permuting entries, so a pointwise function of order {order} is not equivariant; "
            "use GatedNonlinearity (any group) or NormNonlinearity",
        )

    def equivariance_rule(self) -> tuple[bool, str]:
        """(holds, why) for the network check."""
        acting = {g for k in self.in_type for g in _acting(self, k)}
        if not acting:
            return True, "acts on invariant channels only"
        holds = all(g.acts_by_permutations for g in acting)
        names = ", ".join(sorted(map(repr, acting)))
        return holds, (
            f"every element of {names} is a permutation matrix (the family's rule, tested on its exact generators), "
            f"and an entrywise function commutes with permuting entries"
            if holds
            else f"{names} has elements that are not permutation matrices"
        )

    def extra_repr(self) -> str:
        return f"group={self.group!r}, type={type_str(self.in_type)}, function={_name(self.function)}"

    def _apply_to(self, call: Call) -> dict[Any, torch.Tensor]:
        return {k: _call(self.function, x) for k, x in call.features.items()}


class GatedNonlinearity(_Nonlinearity):
    """Gated nonlinearity producing features of type ``out_type`` (any group).

    The input has the type ``in_type``: ``out_type`` with one extra invariant *gate* channel
    per channel of every non-invariant order, appended after the invariant channels (orders
    increasing). Invariant output channels are ``function(scalars)``; output channel i of another
    order is ``x_i · gate_function(g_i)``. With ``pointwise=True``, orders whose acting factors
    all permute indices (S_n) take ``function`` entrywise instead and get no gate.

    Args:
        group: a catlayer group.
        out_type: the output feature type.
        function: the function of the invariant channels (and of pointwise orders).
        gate_function: the function of the gates (default "sigmoid").
        pointwise: see above (default False).

    Shape:
        - Input: a dict order k → ``(*batch, in_type[k]) + axes(k)``; ``mask`` optional.
        - Output: a dict order k → ``(*batch, out_type[k]) + axes(k)``.

    >>> import torch
    >>> from catlayer import O
    >>> act = GatedNonlinearity(O(3), {0: 2, 1: 1})
    >>> act.in_type                                # two scalars plus one gate for the vector
    {0: 3, 1: 1}
    >>> out = act({0: torch.zeros(4, 3), 1: torch.ones(4, 1, 3)})
    >>> out[1][0].tolist()                         # sigmoid(0) = 0.5
    [[0.5, 0.5, 0.5]]
    """

    def __init__(
        self, group: Any, out_type: Any, function: Any = "silu", gate_function: Any = "sigmoid", pointwise: bool = False
    ) -> None:
        super().__init__()
        self._open(group, out_type, out_type)
        zero = 0 if len(self.factors) == 1 else (0,) * len(self.factors)
        self.zero = zero
        self.pointwise = bool(pointwise)
        self.gated = tuple(
            k
            for k in self.out_type
            if not _invariant(k) and not (self.pointwise and all(g.acts_by_permutations for g in _acting(self, k)))
        )
        self.num_gates = sum(self.out_type[k] for k in self.gated)
        in_type = dict(self.out_type)
        scalars = self.out_type.get(zero, 0)
        if scalars + self.num_gates:
            in_type[zero] = scalars + self.num_gates
        self.in_type = feature_type(in_type, self.factors, "in_type")
        self.function = _function(function)
        self.gate_function = _function(gate_function)
        self._slices = {}
        start = scalars
        for k in self.gated:
            self._slices[k] = (start, start + self.out_type[k])
            start += self.out_type[k]

    def equivariance_rule(self) -> tuple[bool, str]:
        pointwise = [k for k in self.out_type if not _invariant(k) and k not in self.gated]
        holds = all(g.acts_by_permutations for k in pointwise for g in _acting(self, k))
        why = (
            "invariant channels are invariant, so functions of them are; each other channel is multiplied by a "
            "function of an invariant gate channel, and ρ(g) is linear"
        )
        if pointwise:
            why += f"; orders {pointwise} take the function entrywise (their groups permute entries)"
        return holds, why

    def extra_repr(self) -> str:
        return (
            f"group={self.group!r}, in_type={type_str(self.in_type)}, out_type={type_str(self.out_type)}, "
            f"function={_name(self.function)}, gate={_name(self.gate_function)}"
            + (", pointwise" if self.pointwise else "")
        )

    def _apply_to(self, call: Call) -> dict[Any, torch.Tensor]:
        features = call.features
        out: dict[Any, torch.Tensor] = {}
        s = features.get(self.zero)
        if self.zero in self.out_type:
            assert s is not None
            out[self.zero] = _call(self.function, s[:, : self.out_type[self.zero]])
        for k in self.out_type:
            if k == self.zero:
                continue
            x = features[k]
            if k in self._slices:
                assert s is not None
                start, stop = self._slices[k]
                gate = _call(self.gate_function, s[:, start:stop])
                out[k] = x * gate.reshape(gate.shape + (1,) * (x.dim() - 2))
            else:
                out[k] = _call(self.function, x)
        return {k: out[k] for k in self.out_type}


class NormNonlinearity(_Nonlinearity):
    """Norm nonlinearity on features of type ``ftype`` (groups preserving the Euclidean norm:
    S_n, O(n), SO(n), and products of them).

    Invariant channels: ``function(x)``. Channel i of another order: ``x_i · gate_function(‖x_i‖ +
    bias_i)`` with ‖x_i‖ = sqrt(mean of x_i² over its (valid) entries + 1e-12), invariant because
    ρ(g) is orthogonal.

    Args:
        group: a catlayer group whose elements are orthogonal matrices.
        ftype: the feature type, in and out.
        function, gate_function: as for :class:`GatedNonlinearity`.
        device, dtype: of the biases (one per channel of every non-invariant order).

    Shape:
        - Input and output: a dict order k → ``(*batch, ftype[k]) + axes(k)``; ``mask`` optional.

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
        group: Any,
        ftype: Any,
        function: Any = "silu",
        gate_function: Any = "sigmoid",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self._open(group, ftype)
        self.function = _function(function)
        self.gate_function = _function(gate_function)
        _require_all(
            self,
            "preserves_euclidean_norm",
            "does not preserve the Euclidean norm (its elements are not all orthogonal), so no channel norm is "
            "invariant; use GatedNonlinearity",
        )
        from .linear import _key

        self._bias_names = {}
        for k, c in self.in_type.items():
            if not _invariant(k):
                name = f"bias_{_key(k)}"
                self._bias_names[k] = name
                self.register_parameter(name, nn.Parameter(torch.zeros(c, device=device, dtype=dtype)))
        if self._bias_names:
            self._register_identity()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for name in self._bias_names.values():
                getattr(self, name).zero_()

    def equivariance_rule(self) -> tuple[bool, str]:
        acting = {g for k in self.in_type for g in _acting(self, k)}
        holds = all(g.preserves_euclidean_norm for g in acting)
        return holds, (
            "every group acting on the features is orthogonal (the family's rule, tested on its exact generators), so "
            "ρ(g) is orthogonal and each channel's norm is invariant; scaling by a function of an invariant is "
            "equivariant"
            if holds
            else "a group acting on the features is not orthogonal: channel norms are not invariant"
        )

    def extra_repr(self) -> str:
        return (
            f"group={self.group!r}, type={type_str(self.in_type)}, function={_name(self.function)}, "
            f"gate={_name(self.gate_function)}"
        )

    def _apply_to(self, call: Call) -> dict[Any, torch.Tensor]:
        out: dict[Any, torch.Tensor] = {}
        for k, x in call.features.items():
            if _invariant(k):
                out[k] = _call(self.function, x)
                continue
            axes = order_axes(k)
            dims = tuple(range(2, 2 + len(axes)))
            if not any(call.masks[f] is not None for f in axes):
                norm = torch.sqrt(x.square().mean(dim=dims) + 1e-12)
            else:
                # The mean over the valid entries: the valid indices of every masked axis, all others.
                count: Any = None
                for a, f in enumerate(axes):
                    m = call.masks[f]
                    term = m.sum(1, dtype=x.dtype).clamp(min=1) if m is not None else x.new_ones(x.shape[2 + a]).sum()
                    count = term if count is None else count * term
                norm = torch.sqrt(x.square().sum(dim=dims) / count.reshape(-1, 1) + 1e-12)
            gate = _call(self.gate_function, norm + getattr(self, self._bias_names[k]))
            out[k] = x * gate.reshape(gate.shape + (1,) * len(axes))
        return out
