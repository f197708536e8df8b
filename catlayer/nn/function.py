"""Training through a layer plan: the forward runs the plan, the backward the adjoint plan.

The transpose of a diagram's map is the map of the flipped diagram, so the gradient of a layer
with respect to its inputs is another layer plan (:func:`~catlayer.nn.compile.compile_adjoint`:
the output gradients are reduced once per top half, mixed by one matmul per bottom half with the
transposed weights, and expanded once per bottom half), and the gradient with respect to the
weights is, per bottom half, one batched matmul of the input's reduction with the stacked
reductions of the output gradient that the adjoint mixing builds anyway
(:func:`~catlayer.nn.run.weight_gradients`). Differentiating through the forward's ops instead
would replay every reduction, stack, broadcast and diagonal product backwards, one small op and
one fresh full-size tensor at a time.

:class:`PlanFunction` packages this as a ``torch.autograd.Function`` (``setup_context`` style
with ``generate_vmap_rule``, so ``torch.func`` transforms work). Layers call it only when a
gradient is needed and nothing is tracing the module for export: inference, ``torch.export``,
ONNX and TorchScript tracing see :func:`plan_forward` itself (traced, a plain functional graph of
aten ops; in eager inference it accumulates in place, see :mod:`catlayer.nn.run`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .compile import ExpansionStep, Program
from .run import Deferred, Forms, gather_weights, mix_units, run_expansions, run_reductions, weight_gradients

__all__ = ["PlanFunction", "PlanSpec", "Tables", "plan_forward"]


@dataclass(frozen=True, eq=False)
class PlanSpec:
    """The static part of a layer for :class:`PlanFunction`.

    ``channels[b]`` = (c_out, c_in) and ``block_sizes[b]`` = D of block b. ``bias_steps`` are
    the expansions of the bias terms passed to the forward (one (1, c_out, Π slots) tensor each);
    ``bias_sources[i]`` is the index of the same expansion among the layer's (its adjoint
    reduction then gives the bias gradient for free), or −1, in which case reduction i of
    ``bias_adjoint`` (the adjoint of the bias program: its reduction i transposes bias step i) is
    applied to the output gradients summed over the batch.
    """

    program: Program
    adjoint: Program
    channels: tuple[tuple[int, int], ...]
    block_sizes: tuple[int, ...]
    bias_steps: tuple[ExpansionStep, ...] = ()
    bias_sources: tuple[int, ...] = ()
    bias_adjoint: Program | None = None


@dataclass(frozen=True, eq=False)
class Tables:
    """The constant tensors of one call: the forms (:class:`~catlayer.nn.run.Forms`), the gather
    tables of the forward (per output: (columns, coefficients) or None) and of the adjoint (per
    input), the inverse columns of the adjoint's gather (for the weight gradient), and the
    per-sample scales of the reductions (forward index → tensor) when a mean has run-time sizes."""

    forms: Forms
    forward: tuple[Any, ...]
    adjoint: tuple[Any, ...]
    gradient: tuple[Any, ...]
    scales: dict[int, torch.Tensor]

    def flat(self) -> tuple[list[torch.Tensor], Any]:
        """All tensors in a list and a key to rebuild the tables from it (:meth:`rebuild`)."""
        tensors: list[torch.Tensor] = []
        seen: dict[int, int] = {}

        def put(t: torch.Tensor | None) -> int:
            # Each tensor once (an autograd Function traced by dynamo refuses duplicate inputs).
            if t is None:
                return -1
            if id(t) not in seen:
                seen[id(t)] = len(tensors)
                tensors.append(t)
            return seen[id(t)]

        def pairs(items: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(None if item is None else tuple(put(t) for t in item) for item in items)

        key = (
            self.forms.sizes,
            tuple((f, put(t)) for f, t in self.forms.form.items()),
            tuple((f, put(t)) for f, t in self.forms.eye.items()),
            tuple((k, put(t)) for k, t in self.forms.levi_civita.items()),
            pairs(self.forward),
            pairs(self.adjoint),
            pairs(self.gradient),
            tuple((r, put(t)) for r, t in self.scales.items()),
        )
        return tensors, key

    @staticmethod
    def rebuild(key: Any, tensors: Any) -> Tables:
        sizes, form, eye, lc, forward, adjoint, gradient, scales = key

        def pairs(items: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(None if item is None else tuple(tensors[i] for i in item) for item in items)

        forms = Forms(
            sizes, {f: tensors[i] for f, i in form}, {f: tensors[i] for f, i in eye}, {k: tensors[i] for k, i in lc}
        )
        return Tables(forms, pairs(forward), pairs(adjoint), pairs(gradient), {r: tensors[i] for r, i in scales})


def plan_forward(
    spec: PlanSpec,
    inputs: list[torch.Tensor],
    weights: list[torch.Tensor],
    tables: Tables,
    bias_terms: list[torch.Tensor] | tuple[torch.Tensor, ...] = (),
) -> list[torch.Tensor]:
    """The layer's outputs: reductions, mixing, expansions (plus the bias terms). Out-of-place
    whenever traced or recorded by autograd; in plain eager the expansions accumulate in place
    into tensors it created (:func:`catlayer.nn.run.run_expansions`)."""
    program = spec.program
    reduced = run_reductions(program, inputs, tables.forms, tables.scales)
    gathered = gather_weights(weights, program.gather, tables.forward)
    extra = list(zip(spec.bias_steps, bias_terms, strict=True))
    mixed = mix_units(program, reduced, gathered, tables.forms, defer_identity=True)[0]
    del reduced, gathered
    return run_expansions(program, mixed, tables.forms, extra)


class PlanFunction(torch.autograd.Function):
    """``apply(spec, key, num_inputs, num_weights, *inputs, *weights, *bias_terms, *tables)`` =
    :func:`plan_forward` (``key``: :meth:`Tables.flat`), with the backward of the adjoint plan
    (see the module docstring). Returns a tuple of outputs."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        spec: PlanSpec, key: Any, counts: tuple[int, int, int], *tensors: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        inputs, weights, bias_terms, tables = _unpack(key, counts, tensors)
        return tuple(plan_forward(spec, inputs, weights, tables, bias_terms))

    @staticmethod
    def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
        spec, key, counts, *tensors = inputs
        num_in, num_w, num_bias = counts
        ctx.spec, ctx.key, ctx.counts = spec, key, counts
        ctx.save_for_backward(*tensors[: num_in + num_w], *tensors[num_in + num_w + num_bias :])

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor | None) -> tuple[Any, ...]:
        spec: PlanSpec = ctx.spec
        num_in, num_w, num_bias = ctx.counts
        saved = ctx.saved_tensors
        inputs, weights = list(saved[:num_in]), list(saved[num_in : num_in + num_w])
        tables = Tables.rebuild(ctx.key, saved[num_in + num_w :])
        forms = tables.forms
        first = 3
        need_x = ctx.needs_input_grad[first : first + num_in]
        need_w = ctx.needs_input_grad[first + num_in : first + num_in + num_w]
        need_bias = ctx.needs_input_grad[first + num_in + num_w : first + num_in + num_w + num_bias]
        outputs = [
            g.contiguous() if g is not None else torch.zeros_like(_like(spec, o, inputs, weights, forms))
            for o, g in enumerate(grads)
        ]
        adjoint = spec.adjoint
        reduced_grad = run_reductions(adjoint, outputs, forms)
        grad_x: list[Any] = [None] * num_in
        grad_w: list[Any] = [None] * num_w
        if any(need_x) or any(need_w):
            transposed = [w.transpose(0, 1) for w in weights]
            gathered = gather_weights(transposed, adjoint.gather, tables.adjoint)
            mixed, stacks = mix_units(adjoint, reduced_grad, gathered, forms, defer_identity=True, mix=any(need_x))
            reduced = run_reductions(spec.program, inputs, forms, tables.scales) if any(need_w) else None
            if reduced is not None and any(need_x):
                # Contract each chunk of a deferred stack for the weight gradient while the input
                # gradient's matmul has it: it is built once, then freed.
                for (_, members), stacked in zip(adjoint.units, stacks, strict=True):
                    if isinstance(stacked, Deferred):
                        stacked.contract = reduced[members[0]]
            if any(need_x):
                grad_x = run_expansions(adjoint, mixed, forms, scales=tables.scales)
                # An input that no block reads gets no gradient term: zero.
                grad_x = [torch.zeros_like(x) if g is None else g for g, x in zip(grad_x, inputs, strict=True)]
            if reduced is not None:  # any(need_w)
                grad_w = weight_gradients(adjoint, stacks, reduced, tables.gradient, spec.channels, spec.block_sizes)
        grad_bias: list[Any] = [None] * num_bias
        if any(need_bias):
            summed = None
            for i, source in enumerate(spec.bias_sources):
                if not need_bias[i]:
                    continue
                if source >= 0:
                    grad_bias[i] = reduced_grad[source].sum(0, keepdim=True)
                    continue
                if summed is None:
                    assert spec.bias_adjoint is not None
                    summed = run_reductions(spec.bias_adjoint, [g.sum(0, keepdim=True) for g in outputs], forms)
                grad_bias[i] = summed[i]
        num_tables = len(saved) - num_in - num_w
        return (None, None, None, *grad_x, *grad_w, *grad_bias, *([None] * num_tables))


def _like(
    spec: PlanSpec, o: int, inputs: list[torch.Tensor], weights: list[torch.Tensor], forms: Forms
) -> torch.Tensor:
    """A zero gradient for an unused output o (its shape from the inputs' batch size)."""
    channels = next(
        c_out
        for b, (c_out, _) in enumerate(spec.channels)
        if spec.program.gather.sources[o] and b in spec.program.gather.sources[o]
    )
    shape = (inputs[0].shape[0], channels, *tuple(forms.sizes[f] for f in spec.program.outputs[o]))
    return weights[0].new_zeros(shape)


def _unpack(
    key: Any, counts: tuple[int, int, int], tensors: tuple[torch.Tensor, ...]
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], Tables]:
    num_in, num_w, num_bias = counts
    inputs = list(tensors[:num_in])
    weights = list(tensors[num_in : num_in + num_w])
    bias_terms = list(tensors[num_in + num_w : num_in + num_w + num_bias])
    return inputs, weights, bias_terms, Tables.rebuild(key, tensors[num_in + num_w + num_bias :])
