"""Training through a layer plan: the forward runs the plan, the backward the adjoint plan.

The transpose of a diagram's map is the map of the flipped diagram, so the gradient of a layer
with respect to its input is another layer plan (:func:`~catlayer.nn.executor.compile_adjoint`:
the output gradient is reduced once per top half, mixed by one matmul per bottom half with the
transposed weights, and expanded once per bottom half), and the gradient with respect to the
weights is, per bottom half, one batched matmul of the input's reduction with the stacked
reductions of the output gradient that the adjoint mixing builds anyway
(:func:`~catlayer.nn.executor.weight_gradient`). Differentiating through the forward's ops
instead would replay every reduction, stack, broadcast and diagonal product backwards, one
small op and one fresh full-size tensor at a time.

:class:`PlanFunction` packages this as a ``torch.autograd.Function`` (``setup_context`` style
with ``generate_vmap_rule``, so ``torch.func`` transforms work). Layers call it only when a
gradient is needed and nothing is tracing the module for export: inference, ``torch.export``,
ONNX and TorchScript tracing see :func:`plan_forward` itself (traced, a plain functional graph of
aten ops; in eager inference it accumulates in place, see :mod:`catlayer.nn.executor`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from .executor import (
    Deferred,
    ExpansionStep,
    Program,
    _mix_units,
    gather_weights,
    run_expansions,
    run_reductions,
    weight_gradient,
)

__all__ = ["PlanFunction", "PlanSpec", "Tables", "plan_forward"]


class Tables(NamedTuple):
    """The constant tensors a plan reads (None where unused): the symplectic form, the identity
    n × n, the forward and adjoint weight gathers, and the Levi-Civita tables (in the order of
    :attr:`PlanSpec.lc_slots`)."""

    eps: torch.Tensor | None
    eye: torch.Tensor | None
    order: torch.Tensor | None
    signs: torch.Tensor | None
    adjoint_order: torch.Tensor | None
    adjoint_signs: torch.Tensor | None
    adjoint_inverse: torch.Tensor | None
    levi_civita: tuple[torch.Tensor, ...] = ()


@dataclass(frozen=True, eq=False)
class PlanSpec:
    """The static part of a layer for :class:`PlanFunction`.

    ``bias_steps`` are the expansions of the bias terms passed to the forward (one (1, c_out,
    n^slots) tensor each); ``bias_sources[i]`` is the index of the same expansion among the
    layer's (its adjoint reduction then gives the bias gradient for free), or −1, in which case
    reduction i of ``bias_adjoint`` (the adjoint of the bias plan) is applied to the output
    gradient summed over the batch.
    """

    program: Program
    adjoint: Program
    bias_steps: tuple[ExpansionStep, ...] = ()
    bias_sources: tuple[int, ...] = ()
    bias_adjoint: Program | None = None
    lc_slots: tuple[int, ...] = ()


def plan_forward(spec: PlanSpec, x: torch.Tensor, weight: torch.Tensor, tables: Tables, bias_terms=()) -> torch.Tensor:
    """The layer's output on x (B, c_in) + (n,)*k: reductions, mixing, expansions (plus the
    bias terms). Out-of-place whenever traced or recorded by autograd; in plain eager the
    expansions accumulate in place into tensors it created (:func:`run_expansions`)."""
    lc = dict(zip(spec.lc_slots, tables.levi_civita, strict=True))
    reduced = run_reductions(spec.program, x, tables.eps, lc)
    w = gather_weights(weight, tables.order, tables.signs)
    extra = list(zip(spec.bias_steps, bias_terms, strict=True))
    # The mixed tensors go straight to run_expansions, which can then free them early.
    mixed = _mix_units(spec.program, reduced, w, defer_identity=True)[0]
    del reduced
    return run_expansions(spec.program, _take(mixed), tables.eps, extra, eye=tables.eye, levi_civita=lc)


_NUM_TABLES = 7  # Tables fields before the Levi-Civita tables


class PlanFunction(torch.autograd.Function):
    """``apply(spec, x, weight, *tables[:7], *levi_civita, *bias_terms)`` = :func:`plan_forward`,
    with the backward of the adjoint plan (see the module docstring)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(spec: PlanSpec, x: torch.Tensor, weight: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
        tables, bias_terms = _unpack(spec, tensors)
        return plan_forward(spec, x, weight, tables, bias_terms)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        spec, x, weight, *tensors = inputs
        ctx.spec = spec
        ctx.save_for_backward(x, weight, *tensors[: _NUM_TABLES + len(spec.lc_slots)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        spec: PlanSpec = ctx.spec
        x, weight, *saved = ctx.saved_tensors
        tables = Tables(*saved[:_NUM_TABLES], tuple(saved[_NUM_TABLES:]))
        lc = dict(zip(spec.lc_slots, tables.levi_civita, strict=True))
        need_x, need_w = ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        first_bias = 3 + _NUM_TABLES + len(spec.lc_slots)
        need_bias = ctx.needs_input_grad[first_bias:]
        grad = grad.contiguous()
        reduced_grad = run_reductions(spec.adjoint, grad, tables.eps, lc)
        grad_x = grad_w = None
        if need_x or need_w:
            w = gather_weights(weight.transpose(0, 1), tables.adjoint_order, tables.adjoint_signs)
            mixed, stacks = _mix_units(spec.adjoint, reduced_grad, w, defer_identity=True, mix=need_x)
            reduced = run_reductions(spec.program, x, tables.eps, lc) if need_w else None
            if need_w and need_x:
                # Contract each chunk of the deferred stack for the weight gradient while the
                # input gradient's matmul has it: it is built once, then freed.
                for (_, members), stacked in zip(spec.adjoint.units, stacks, strict=True):
                    if isinstance(stacked, Deferred):
                        stacked.contract = reduced[members[0]]
            if need_x:
                grad_x = run_expansions(spec.adjoint, mixed, tables.eps, eye=tables.eye, levi_civita=lc)
            if need_w:
                grad_w = weight_gradient(spec.adjoint, stacks, reduced, tables.adjoint_signs, tables.adjoint_inverse)
        grad_bias = [None] * len(spec.bias_steps)
        if any(need_bias):
            summed = None
            for i, source in enumerate(spec.bias_sources):
                if not need_bias[i]:
                    continue
                if source >= 0:
                    grad_bias[i] = reduced_grad[source].sum(0, keepdim=True)
                    continue
                if summed is None:
                    summed = run_reductions(spec.bias_adjoint, grad.sum(0, keepdim=True), tables.eps, lc)
                grad_bias[i] = summed[i]
        return (None, grad_x, grad_w, *([None] * (_NUM_TABLES + len(spec.lc_slots))), *grad_bias)


def _take(items: list) -> list:
    """A new list of ``items``' elements, emptying ``items`` (the caller keeps no reference)."""
    taken = list(items)
    items.clear()
    return taken


def _unpack(spec: PlanSpec, tensors) -> tuple[Tables, tuple]:
    head = _NUM_TABLES + len(spec.lc_slots)
    tables = Tables(*tensors[:_NUM_TABLES], tuple(tensors[_NUM_TABLES:head]))
    return tables, tuple(tensors[head:])
