"""``TypedLinear``: an equivariant linear layer between mixed-order feature types.

Every block order k → order l whose Hom space is non-zero for the group gets the weights of
``group.basis(k, l)``; each output order gets one equivariant bias (``group.basis(0, l)``, when
non-empty). The input of order k is reduced once for all output orders (the union of the bottom
halves of the blocks k → l); each block mixes channels; each output order is assembled once
from the terms of all its blocks and its bias. Small layers (at most :data:`DENSE_ENTRIES`
matrix entries) instead run as one dense matmul whose matrix is built from the diagram images.
"""

from __future__ import annotations

import torch
from torch import nn

from ..memory import check_size
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
    register_expansion_indices,
    shared_reductions,
)

__all__ = ["DENSE_ENTRIES", "TypedLinear", "check_group"]

#: A layer whose whole matrix has at most this many entries runs as one dense matmul (built from
#: the diagram images each forward); larger ones run the plan (reductions, mixing, expansions).
DENSE_ENTRIES = 2**18


def check_group(group) -> None:
    for attr in ("n", "basis", "generators", "act"):
        if not hasattr(group, attr):
            raise TypeError(f"group must be a catlayer group such as S(5) or O(3), got {group!r}")


class TypedLinear(Checkable, nn.Module):
    """An equivariant linear map from features of type ``in_type`` to features of type ``out_type``.

    ``weight_{k}_{l}`` has shape ``(out_type[l], in_type[k], len(group.basis(k, l)))`` and holds the
    coefficient of diagram ``blocks[(k, l)][t]``, applied as F(d) / n^c where c is the number of
    closed bottom blocks of d (its sums become means, see :mod:`catlayer.nn.programs`);
    ``bias_{l}`` (``(out_type[l], len(group.basis(0, l)))``) is an equivariant tensor. Blocks whose
    Hom space is zero are absent; an output order that no block and no bias reaches is an error.
    ``dense`` (default: automatic) runs the layer as one matmul.

    >>> import torch
    >>> from catlayer import O
    >>> layer = TypedLinear(O(3), {0: 2, 1: 3}, {0: 4, 2: 1})
    >>> out = layer({0: torch.randn(8, 2), 1: torch.randn(8, 3, 3)})
    >>> {k: tuple(v.shape) for k, v in out.items()}
    {0: (8, 4), 2: (8, 1, 3, 3)}
    >>> sorted(layer.blocks)                       # O(3): no map between orders of different parity
    [(0, 0), (0, 2)]
    >>> [name for name, _ in layer.named_parameters()]
    ['weight_0_0', 'weight_0_2', 'bias_0', 'bias_2']
    """

    def __init__(
        self,
        group,
        in_type,
        out_type,
        bias: bool = True,
        dense: bool | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_group(group)
        self.group = group
        self.n = n = int(group.n)
        self.in_type: FeatureType = feature_type(in_type, "in_type")
        self.out_type: FeatureType = feature_type(out_type, "out_type")
        blocks = {}
        for k in self.in_type:
            for l in self.out_type:
                diagrams = tuple(group.basis(k, l))
                if diagrams:
                    blocks[(k, l)] = diagrams
        self.blocks = blocks
        self.bias_diagrams = {}
        if bias:
            self.bias_diagrams = {l: tuple(group.basis(0, l)) for l in self.out_type if group.basis(0, l)}
        for l in self.out_type:
            if not any(key[1] == l for key in blocks) and l not in self.bias_diagrams:
                raise ValueError(
                    f"no non-zero {group!r}-equivariant map from orders {sorted(self.in_type)} to order {l}: "
                    f"output order {l} of {type_str(self.out_type)} would be constant"
                )
        # Blocks and biases ("k_l" and "bias_l"): plan, program, expansion tables.
        plans = {f"{k}_{l}": layer_plan(group, d) for (k, l), d in blocks.items()}
        plans.update({f"bias_{l}": layer_plan(group, d) for l, d in self.bias_diagrams.items()})
        self._plans = plans
        self._programs = {name: compile_program(plan, n) for name, plan in plans.items()}
        self._tables = {name: expansion_tables(plan) for name, plan in plans.items()}
        self._reducers, self._maps = {}, {}
        for k in self.in_type:
            names = [f"{k}_{l}" for (kk, l) in blocks if kk == k]
            if names:
                program, maps = shared_reductions([plans[name] for name in names], n)
                self._reducers[k] = program
                self._maps.update(dict(zip(names, maps, strict=True)))
        factory = {"device": device, "dtype": dtype}
        for (k, l), diagrams in blocks.items():
            shape = (self.out_type[l], self.in_type[k], len(diagrams))
            self.register_parameter(f"weight_{k}_{l}", nn.Parameter(torch.empty(shape, **factory)))
        for l, diagrams in self.bias_diagrams.items():
            self.register_parameter(f"bias_{l}", nn.Parameter(torch.empty(self.out_type[l], len(diagrams), **factory)))
        param_dtype = next(self.parameters()).dtype
        programs = list(self._programs.values()) + list(self._reducers.values())
        FormTables(programs).register(self, group, device, param_dtype)
        for name, program in self._programs.items():
            order, signs = mixing_tables(program, diagram_scales(plans[name], n))
            self.register_buffer(f"_order_{name}", torch.tensor(order, device=device), persistent=False)
            self.register_buffer(
                f"_signs_{name}", torch.tensor(signs, device=device, dtype=param_dtype), persistent=False
            )
            register_expansion_indices(self, name, self._tables[name], n, plans[name].cod, device)
        rows = sum(c * n**l for l, c in self.out_type.items())
        cols = sum(c * n**k for k, c in self.in_type.items())
        self.dense = rows * cols <= DENSE_ENTRIES if dense is None else bool(dense)
        if self.dense:
            self._register_dense(device, param_dtype)
        self.reset_parameters()

    # -- parameters ----------------------------------------------------------------------------
    def weight(self, k: int, l: int) -> torch.Tensor:
        """The weight of block k → l (shape (out channels, in channels, diagrams))."""
        return getattr(self, f"weight_{k}_{l}")

    def bias(self, l: int) -> torch.Tensor | None:
        """The bias of output order l, or None."""
        return getattr(self, f"bias_{l}", None)

    def weight_std(self, k: int, l: int) -> float:
        """The initial standard deviation of ``weight(k, l)``: 1 / sqrt(B_l · c_k · D_kl), with B_l
        the number of blocks into order l, c_k the input channels and D_kl the diagrams, so that an
        output entry sums terms of size O(1) with unit total variance (see
        :mod:`catlayer.nn.programs`)."""
        into = sum(1 for key in self.blocks if key[1] == l)
        return (1.0 / (into * self.in_type[k] * len(self.blocks[(k, l)]))) ** 0.5

    def reset_parameters(self) -> None:
        """Weights ~ N(0, σ²) with σ = :meth:`weight_std`, biases 0."""
        with torch.no_grad():
            for k, l in self.blocks:
                nn.init.normal_(self.weight(k, l), 0.0, self.weight_std(k, l))
            for l in self.bias_diagrams:
                nn.init.zeros_(self.bias(l))

    def extra_repr(self) -> str:
        blocks = ", ".join(f"{k}→{l}: {len(d)}" for (k, l), d in self.blocks.items())
        return (
            f"group={self.group!r}, in_type={type_str(self.in_type)}, out_type={type_str(self.out_type)}, "
            f"diagrams={{{blocks}}}" + (", dense" if self.dense else "")
        )

    # -- the structured path -------------------------------------------------------------------
    def _terms(self, name: str, reduced: list[torch.Tensor], weight: torch.Tensor, batch_one: bool = False) -> list:
        program = self._programs[name]
        order, signs = getattr(self, f"_order_{name}"), getattr(self, f"_signs_{name}")
        mixed = mix(program, reduced, weight, order, signs.to(weight.dtype))
        eps = None if self._eps is None else self._eps.to(weight.dtype)
        return expansion_terms(self, name, self._tables[name], mixed, self.n, eps, batch_one)

    def _bias_terms(self, l: int, bias: torch.Tensor) -> list:
        name = f"bias_{l}"
        reduced = reduce(self._programs[name], bias.new_ones(1, 1), self)
        return self._terms(name, reduced, bias.unsqueeze(1), batch_one=True)

    def forward(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        flat, batch_shape = flatten_batch(self, features, self.in_type, self.n)
        return unflatten_batch(self.run(flat), batch_shape)

    def run(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """The forward on checked features with exactly one batch axis."""
        if self.dense:
            return self._run_dense(features)
        reduced = {k: reduce(program, features[k], self) for k, program in self._reducers.items()}
        batch = next(iter(features.values())).shape[0]
        out: dict[int, torch.Tensor] = {}
        for l in self.out_type:
            terms = []
            for k in self.in_type:
                if (k, l) in self.blocks:
                    name = f"{k}_{l}"
                    mine = [reduced[k][i] for i in self._maps[name]]
                    terms += self._terms(name, mine, self.weight(k, l))
            if l in self.bias_diagrams:
                terms += self._bias_terms(l, self.bias(l))
            out[l] = assemble(terms, self.n, l, batch)
        return out

    # -- the dense path ------------------------------------------------------------------------
    def _register_dense(self, device, dtype: torch.dtype) -> None:
        """The scaled diagram images of every block as (D, n^l, n^k) buffers and of every bias
        as (D, n^l), computed once in float64 by the structured path on the standard basis."""
        n = self.n
        with torch.no_grad():
            for (k, l), diagrams in self.blocks.items():
                d = len(diagrams)
                check_size(2 * d * n ** (k + l) * 8, f"the dense {d} images of block {k} → {l}")
                eye = torch.eye(n**k, dtype=torch.float64, device=device).reshape((n**k, 1) + (n,) * k)
                picks = torch.eye(d, dtype=torch.float64, device=device).unsqueeze(1)
                reduced = reduce(self._reducers[k], eye, self, torch.float64)
                mine = [reduced[i] for i in self._maps[f"{k}_{l}"]]
                images = assemble(self._terms(f"{k}_{l}", mine, picks), n, l, n**k).reshape(n**k, d, n**l)
                self.register_buffer(
                    f"_dense_{k}_{l}", images.permute(1, 2, 0).contiguous().to(dtype), persistent=False
                )
            for l, diagrams in self.bias_diagrams.items():
                picks = torch.eye(len(diagrams), dtype=torch.float64, device=device)
                images = assemble(self._bias_terms(l, picks), n, l, 1).reshape(len(diagrams), n**l)
                self.register_buffer(f"_dense_bias_{l}", images.to(dtype), persistent=False)

    def dense_matrix(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole layer as one matrix and bias vector on the flattened, concatenated orders
        (orders increasing, channel axis most significant within an order). Only for ``dense``
        layers, whose forward is that one matmul."""
        n = self.n
        weight = next(self.parameters())
        rows, bias_rows = [], []
        for l, c_out in self.out_type.items():
            blocks = []
            for k, c_in in self.in_type.items():
                if (k, l) in self.blocks:
                    w = torch.einsum("oid,dpq->opiq", self.weight(k, l), getattr(self, f"_dense_{k}_{l}"))
                    blocks.append(w.reshape(c_out * n**l, c_in * n**k))
                else:
                    blocks.append(weight.new_zeros(c_out * n**l, c_in * n**k))
            rows.append(blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1))
            if l in self.bias_diagrams:
                bias_rows.append((self.bias(l) @ getattr(self, f"_dense_bias_{l}")).reshape(-1))
            else:
                bias_rows.append(weight.new_zeros(c_out * n**l))
        matrix = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
        return matrix, bias_rows[0] if len(bias_rows) == 1 else torch.cat(bias_rows)

    def _run_dense(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        n = self.n
        batch = next(iter(features.values())).shape[0]
        parts = [features[k].reshape(batch, c * n**k) for k, c in self.in_type.items()]
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        matrix, bias = self.dense_matrix()
        y = torch.addmm(bias, x, matrix.t())
        out, start = {}, 0
        for l, c in self.out_type.items():
            size = c * n**l
            out[l] = y[:, start : start + size].reshape((batch, c) + (n,) * l)
            start += size
        return out
