"""``TypedLinear``: an equivariant linear layer between mixed-order feature types.

Every block order k → order l whose Hom space is non-zero for the group gets the weights of
``group.basis(k, l)``; each output order gets one equivariant bias (``group.basis(0, l)``, when
non-empty). The input of order k is reduced once for all output orders (the union of the bottom
halves of the blocks k → l), then each block mixes channels and expands.
"""

from __future__ import annotations

import torch
from torch import nn

from .executor import compile_program
from .features import FeatureType, feature_type, flatten_batch, type_str, unflatten_batch
from .programs import (
    FormTables,
    bias_contribution,
    diagram_scales,
    expand_bias,
    layer_plan,
    mix_and_expand,
    mixing_tables,
    reduce,
    second_moment,
    shared_reductions,
)

__all__ = ["TypedLinear"]


def check_group(group) -> None:
    for attr in ("n", "basis", "generators", "act"):
        if not hasattr(group, attr):
            raise TypeError(f"group must be a catlayer group such as S(5) or O(3), got {group!r}")


class TypedLinear(nn.Module):
    """An equivariant linear map from features of type ``in_type`` to features of type ``out_type``.

    ``weight_{k}_{l}`` has shape ``(out_type[l], in_type[k], len(group.basis(k, l)))`` and holds the
    coefficient of diagram ``blocks[(k, l)][t]``, applied as F(d) / n^c where c is the number of
    closed bottom blocks of d (its sums become means, see :mod:`catlayer.nn.programs`);
    ``bias_{l}`` (``(out_type[l], len(group.basis(0, l)))``) is an equivariant tensor. Blocks whose
    Hom space is zero are absent; an output order that no block and no bias reaches is an error.

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
        self.bias_diagrams = {l: tuple(group.basis(0, l)) for l in self.out_type} if bias else {}
        self.bias_diagrams = {l: d for l, d in self.bias_diagrams.items() if d}
        for l in self.out_type:
            if not any(key[1] == l for key in blocks) and l not in self.bias_diagrams:
                raise ValueError(
                    f"no non-zero {group!r}-equivariant map from orders {sorted(self.in_type)} to order {l}: "
                    f"output order {l} of {type_str(self.out_type)} would be constant"
                )
        # One reductions program per input order; per block, its plan, program and reduction map.
        self._plans = {key: layer_plan(group, d) for key, d in blocks.items()}
        self._programs = {key: compile_program(plan, n) for key, plan in self._plans.items()}
        self._reducers = {}
        self._maps = {}
        for k in self.in_type:
            keys = [key for key in blocks if key[0] == k]
            if keys:
                program, maps = shared_reductions([self._plans[key] for key in keys], n)
                self._reducers[k] = program
                self._maps.update(dict(zip(keys, maps, strict=True)))
        self._bias_programs = {l: compile_program(layer_plan(group, d), n) for l, d in self.bias_diagrams.items()}
        programs = list(self._programs.values()) + list(self._reducers.values()) + list(self._bias_programs.values())
        factory = {"device": device, "dtype": dtype}
        for (k, l), diagrams in blocks.items():
            shape = (self.out_type[l], self.in_type[k], len(diagrams))
            self.register_parameter(f"weight_{k}_{l}", nn.Parameter(torch.empty(shape, **factory)))
        for l, diagrams in self.bias_diagrams.items():
            self.register_parameter(f"bias_{l}", nn.Parameter(torch.empty(self.out_type[l], len(diagrams), **factory)))
        param_dtype = next(self.parameters()).dtype
        FormTables(programs).register(self, n, device, param_dtype)
        for key, program in self._programs.items():
            order, signs = mixing_tables(program, diagram_scales(self._plans[key], n))
            self.register_buffer(f"_order_{key[0]}_{key[1]}", torch.tensor(order, device=device), persistent=False)
            self.register_buffer(
                f"_signs_{key[0]}_{key[1]}", torch.tensor(signs, device=device, dtype=param_dtype), persistent=False
            )
        for l, program in self._bias_programs.items():
            self.register_buffer(f"_bias_order_{l}", torch.tensor(program.order, device=device), persistent=False)
            signs = torch.tensor(program.signs, device=device, dtype=param_dtype)
            self.register_buffer(f"_bias_signs_{l}", signs, persistent=False)
        self.reset_parameters()

    # -- parameters ----------------------------------------------------------------------------
    def weight(self, k: int, l: int) -> torch.Tensor:
        """The weight of block k → l (shape (out channels, in channels, diagrams))."""
        return getattr(self, f"weight_{k}_{l}")

    def bias(self, l: int) -> torch.Tensor | None:
        """The bias of output order l, or None."""
        return getattr(self, f"bias_{l}", None)

    def weight_std(self, k: int, l: int) -> float:
        """The initial standard deviation of ``weight(k, l)``: every block into order l gets an
        equal share of unit mean second moment of the output for iid unit-variance inputs."""
        into = sum(1 for key in self.blocks if key[1] == l)
        return (1.0 / (into * self.in_type[k] * second_moment(self._plans[(k, l)], self.n))) ** 0.5

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
            f"diagrams={{{blocks}}}"
        )

    # -- forward -------------------------------------------------------------------------------
    def forward(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        flat, batch_shape = flatten_batch(self, features, self.in_type, self.n)
        return unflatten_batch(self.run(flat), batch_shape)

    def run(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """The forward on checked features with exactly one batch axis."""
        reduced = {k: reduce(program, features[k], self) for k, program in self._reducers.items()}
        out: dict[int, torch.Tensor] = {}
        for l in self.out_type:
            extra = []
            if l in self._bias_programs:
                extra = bias_contribution(
                    self._bias_programs[l],
                    self.bias(l),
                    getattr(self, f"_bias_order_{l}"),
                    getattr(self, f"_bias_signs_{l}"),
                    self,
                )
            total = None
            for k in self.in_type:
                if (k, l) not in self.blocks:
                    continue
                mine = [reduced[k][i] for i in self._maps[(k, l)]]
                y = mix_and_expand(
                    self._programs[(k, l)],
                    mine,
                    self.weight(k, l),
                    getattr(self, f"_order_{k}_{l}"),
                    getattr(self, f"_signs_{k}_{l}"),
                    self._eps,
                    extra,
                )
                extra = []
                total = y if total is None else total + y
            if total is None:
                batch = next(iter(features.values())).shape[0]
                bias = self._bias_alone(l)
                total = bias.expand((batch, *bias.shape[1:]))
            out[l] = total
        return out

    def _bias_alone(self, l: int) -> torch.Tensor:
        program = self._bias_programs[l]
        order, signs = getattr(self, f"_bias_order_{l}"), getattr(self, f"_bias_signs_{l}")
        return expand_bias(program, self.bias(l), order, signs, self).unsqueeze(0)
