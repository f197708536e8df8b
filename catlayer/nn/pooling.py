"""``InvariantPooling``: every linear invariant of every channel, i.e. the images of the order-k → 0
diagrams of ``group.basis(k, 0)``, as mean-normalised invariant channels.

For S_n these are means over all entries and over the diagonals (order 2: the mean of all
entries and the mean of the diagonal); for O(n) and SO(n) the (normalised) traces and, for SO(n)
with k ≥ n, Levi-Civita contractions; for Sp(n) the contractions with ε; for a product, the
products of the factors' invariants. Orders without a linear invariant (O(n): odd orders) are
refused: their invariants are quadratic, e.g. the Gram entries ⟨x_i, x_j⟩ of vectors, which
:class:`~catlayer.nn.TypedBilinear` with an invariant output computes. With a mask, the means run
over the valid entries of each sample.
"""

from __future__ import annotations

from typing import Any

import torch

from .core import check_group, feature_type
from .linear import TypedLinear, _zero_order

__all__ = ["InvariantPooling"]


class InvariantPooling(TypedLinear):
    """Parameter-free readout of ``in_type`` features to invariant channels.

    Output channels are ordered by input order, then input channel, then diagram of
    ``group.basis(k, 0)``; each diagram is a mean over the indices it sums (``reduce="mean"``).

    Args:
        group: a catlayer group.
        in_type: a dict order → channels.
        reduce: "mean" (default) or "sum".
        device, dtype: of the constant tables.

    Shape:
        - Input: a dict order k → ``(*batch, in_type[k]) + axes(k)``; ``mask`` optional.
        - Output: ``{zero order: (*batch, out_channels)}`` (the zero order is 0, or (0, 0) for a
          product of two groups).

    >>> import torch
    >>> from catlayer import S
    >>> pool = InvariantPooling(S(4), {0: 1, 2: 2})
    >>> pool.out_type
    {0: 5}
    >>> A = torch.ones(3, 2, 4, 4)
    >>> pool({0: torch.zeros(3, 1), 2: A})[0][0].tolist()    # scalar, then per channel: two means
    [0.0, 1.0, 1.0, 1.0, 1.0]
    """

    def __init__(
        self,
        group: Any,
        in_type: Any,
        *,
        reduce: str = "mean",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        torch.nn.Module.__init__(self)
        group, factors = check_group(group)
        ftype = feature_type(in_type, factors, "in_type")
        zero = _zero_order(len(factors))
        self.diagrams = {}
        for k in ftype:
            basis = tuple(group.basis(k, zero))
            if not basis:
                raise ValueError(
                    f"{group!r} has no linear invariant of order {k}; its invariants are products (e.g. Gram entries "
                    f"of vectors): use TypedBilinear(..., out_type={{{zero}: ...}}), or leave order {k} out"
                )
            self.diagrams[k] = basis
        self._open(
            group,
            ftype,
            {zero: sum(ftype[k] * len(d) for k, d in self.diagrams.items())},
            reduce=reduce,
            execution="plan",
        )
        self._build(False, device, dtype)
        # The weights are constant picks: output channel (k, i, t) reads input channel i through
        # diagram t. They are buffers (rebuilt with the tables), not parameters.
        for k, l in list(self.blocks):
            name = self._weight_name(k, l)
            del self._parameters[name]
        self._buffers.pop("_group", None)  # nothing learned: no identity to check
        self._register_picks()

    def _register_picks(self) -> None:
        like = self._like()
        (zero,) = self.out_type
        start = 0
        total = self.out_type[zero]
        for k in self.in_type:
            c, d = self.in_type[k], len(self.diagrams[k])
            picks = torch.zeros(total, c, d, dtype=like.dtype, device=like.device)
            for i in range(c):
                for t in range(d):
                    picks[start + i * d + t, i, t] = 1.0
            start += c * d
            self.register_buffer(self._weight_name(k, zero), picks, persistent=False)

    def _like(self) -> torch.Tensor:
        # The first floating table: the picks once they exist, else the weights being built.
        for t in self.parameters():
            return t
        return next(t for t in self._buffers.values() if t is not None and t.is_floating_point())

    def _register_tables(self) -> None:
        super()._register_tables()
        if any(self._weight_name(k, l) in self._buffers for k, l in self.blocks):
            self._register_picks()

    def _fresh(self) -> InvariantPooling:
        return InvariantPooling(self.group, self.in_type, reduce=self.reduce, dtype=torch.float64)

    def reset_parameters(self) -> None:
        """Nothing to learn: rebuild the constant tables and picks."""
        self._register_tables()

    def extra_repr(self) -> str:
        counts = ", ".join(f"{k}: {len(d)}" for k, d in self.diagrams.items())
        return f"group={self.group!r}, in_type={self.in_type}, invariants per channel={{{counts}}}"
