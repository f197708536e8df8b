"""``InvariantPooling``: every linear invariant of every channel, i.e. the images of the
order-k → 0 diagrams of ``group.basis(k, 0)``, as mean-normalised order-0 channels.

For S_n these are means over all entries and over the diagonals (order 2: the mean of all
entries and the mean of the diagonal); for O(n) and SO(n) the (normalised) traces and, for
SO(n) with k ≥ n, Levi-Civita contractions; for Sp(n) the contractions with ε. Orders without
a linear invariant (O(n): odd orders) are refused: their invariants are quadratic, e.g. the Gram
entries ⟨x_i, x_j⟩ of vectors, which :class:`~catlayer.nn.TypedBilinear` with an order-0 output
computes.
"""

from __future__ import annotations

import torch
from torch import nn

from .checkable import Checkable
from .executor import compile_program
from .features import FeatureType, feature_type, flatten_batch, type_str, unflatten_batch
from .programs import (
    FormTables,
    assemble,
    diagram_scales,
    expansion_tables,
    expansion_terms,
    layer_plan,
    mix,
    mixing_tables,
    reduce,
)
from .typed_linear import check_group

__all__ = ["InvariantPooling"]


class InvariantPooling(Checkable, nn.Module):
    """Parameter-free readout of ``in_type`` features to ``{0: out_channels}`` invariants.

    Output channels are ordered by input order, then input channel, then diagram of
    ``group.basis(k, 0)``; each diagram d is applied as F(d) / n^c (c closed blocks: a mean).

    >>> import torch
    >>> from catlayer import S
    >>> pool = InvariantPooling(S(4), {0: 1, 2: 2})
    >>> pool.out_type
    {0: 5}
    >>> A = torch.ones(3, 2, 4, 4)
    >>> pool({0: torch.zeros(3, 1), 2: A})[0][0].tolist()    # scalar, then per channel: two means
    [0.0, 1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, group, in_type, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        check_group(group)
        self.group = group
        self.n = n = int(group.n)
        self.in_type: FeatureType = feature_type(in_type, "in_type")
        self.diagrams = {}
        for k in self.in_type:
            basis = tuple(group.basis(k, 0))
            if not basis:
                raise ValueError(
                    f"{group!r} has no linear invariant of order {k}; its invariants are products (e.g. Gram entries "
                    f"of vectors): use TypedBilinear(..., out_type={{0: ...}}), or leave order {k} out"
                )
            self.diagrams[k] = basis
        self.out_type = {0: sum(self.in_type[k] * len(d) for k, d in self.diagrams.items())}
        self._plans = {k: layer_plan(group, d) for k, d in self.diagrams.items()}
        self._programs = {k: compile_program(plan, n) for k, plan in self._plans.items()}
        self._tables = {k: expansion_tables(plan) for k, plan in self._plans.items()}
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        FormTables(list(self._programs.values())).register(self, group, device, dtype)
        for k, program in self._programs.items():
            c, d = self.in_type[k], len(self.diagrams[k])
            # Output channel (i, t) reads input channel i through diagram t only.
            picks = torch.zeros(c, d, c, d, device=device, dtype=dtype)
            for i in range(c):
                for t in range(d):
                    picks[i, t, i, t] = 1.0
            order, signs = mixing_tables(program, diagram_scales(self._plans[k], n))
            self.register_buffer(f"_picks_{k}", picks.reshape(c * d, c, d), persistent=False)
            self.register_buffer(f"_order_{k}", torch.tensor(order, device=device), persistent=False)
            self.register_buffer(f"_signs_{k}", torch.tensor(signs, device=device, dtype=dtype), persistent=False)

    def extra_repr(self) -> str:
        counts = ", ".join(f"{k}: {len(d)}" for k, d in self.diagrams.items())
        return f"group={self.group!r}, in_type={type_str(self.in_type)}, invariants per channel={{{counts}}}"

    def forward(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        flat, batch_shape = flatten_batch(self, features, self.in_type, self.n)
        return unflatten_batch(self.run(flat), batch_shape)

    def run(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        parts = []
        for k, program in self._programs.items():
            reduced = reduce(program, features[k], self)
            picks, order, signs = (getattr(self, f"_{name}_{k}") for name in ("picks", "order", "signs"))
            mixed = mix(program, reduced, picks, order, signs)
            terms = expansion_terms(self, str(k), self._tables[k], mixed, self.n, self._eps)
            parts.append(assemble(terms, self.n, 0, features[k].shape[0]))
        return {0: parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)}
