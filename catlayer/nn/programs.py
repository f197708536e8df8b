"""Adapter between the network modules and :mod:`catlayer.nn.executor`: the one place where they
build plans and programs and call ``run_reductions`` / ``run_mixing`` / ``run_expansions``.

Two things here go beyond what ``EquivariantLinear`` needs:

* :func:`shared_reductions`: the union of the bottom halves of several plans with the same input
  order (one per output order), compiled into a reductions-only program, so that a typed layer
  reduces each input order once for all its output orders;
* :func:`diagram_scales`: each diagram is used as F(d) / n^c with c its number of closed bottom
  blocks (a sum over c free indices becomes a mean), so that every diagram maps bounded inputs to
  bounded outputs whatever n is: with raw sums a constant input grows by n^c per layer, and an
  Adam step on a summing diagram's weight moves the output n^c times further than on the others.
"""

from __future__ import annotations

import math

import torch

from ..backend.memory import check_size
from ..forms import levi_civita, symplectic_form
from ..plan import LayerPlan, plan_layer
from .executor import Program, compile_program, run_expansions, run_mixing, run_reductions, second_moments

__all__ = [
    "FormTables",
    "bias_contribution",
    "diagram_scales",
    "layer_plan",
    "mix_and_expand",
    "mixing_tables",
    "second_moment",
    "shared_reductions",
]


def layer_plan(group, diagrams) -> LayerPlan:
    """The executor plan of ``diagrams`` for ``group`` (cached by :func:`catlayer.plan.plan_layer`)."""
    return plan_layer(group.family, tuple(diagrams))


def shared_reductions(plans: list[LayerPlan], n: int) -> tuple[Program, tuple[tuple[int, ...], ...]]:
    """A program whose reductions are the union of those of ``plans`` (same input order), and for
    each plan the index in that union of each of its reductions."""
    union: dict = {}
    maps = []
    for plan in plans:
        maps.append(tuple(union.setdefault(r, len(union)) for r in plan.reductions))
    first = plans[0]
    only = LayerPlan(
        family=first.family,
        dom=first.dom,
        cod=0,
        diagrams=(),
        reductions=tuple(union),
        expansions=(),
        reduction_of=(),
        expansion_of=(),
        matching=(),
        sign=(),
        groups=(),
    )
    return compile_program(only, n), tuple(maps)


def diagram_scales(plan: LayerPlan, n: int) -> tuple[float, ...]:
    """1 / n^c per diagram of ``plan``, c = its number of closed bottom blocks (summed indices)."""
    return tuple(float(n) ** -len(plan.reductions[plan.reduction_of[t]].closed) for t in range(len(plan)))


def second_moment(plan: LayerPlan, n: int) -> float:
    """Σ_d ‖F(d) / n^c‖_F² / n^l: the mean second moment of the output entries when each diagram's
    weight is 1 and the inputs are iid with unit variance."""
    scales = diagram_scales(plan, n)
    return sum(s * s * m for s, m in zip(scales, second_moments(plan, n), strict=True)) / n**plan.cod


def mixing_tables(program: Program, scales) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """The gather order of the weights and, per gathered weight, sign × scale (the executor's
    ``order`` / ``signs``, with the diagram scales folded in)."""
    return program.order, tuple(s * scales[t] for s, t in zip(program.signs, program.order, strict=True))


class FormTables:
    """Which invariant-form tables a module needs (ε of Sp, Levi-Civita tables of SO), registered
    as non-persistent buffers so that they follow ``.to()`` and never enter ``state_dict``."""

    def __init__(self, programs: list[Program], full_levi_civita: bool = False) -> None:
        self.eps = any(p.uses_epsilon for p in programs)
        self.slots = tuple(sorted({q for p in programs for q in p.levi_civita_shapes}))
        self.full = full_levi_civita

    def register(self, module: torch.nn.Module, n: int, device, dtype: torch.dtype) -> None:
        if self.eps:
            module.register_buffer(
                "_eps", torch.tensor(symplectic_form(n), device=device, dtype=dtype), persistent=False
            )
        else:
            module._eps = None
        module._lc_slots = self.slots
        if self.slots or self.full:
            check_size(n**n * 8, f"the Levi-Civita symbol of SO({n})")
            symbol = levi_civita(n)
        for q in self.slots:
            # (n^free_axes, n^free_slots): the symbol has its slots first, hence the transpose.
            table = symbol.reshape(n**q, n ** (n - q)).T.copy()
            module.register_buffer(
                f"_levi_civita_{q}", torch.tensor(table, device=device, dtype=dtype), persistent=False
            )
        if self.full:
            module.register_buffer("_levi_civita", torch.tensor(symbol, device=device, dtype=dtype), persistent=False)

    @staticmethod
    def levi_civita_tables(module: torch.nn.Module) -> dict[int, torch.Tensor]:
        return {q: getattr(module, f"_levi_civita_{q}") for q in module._lc_slots}


def reduce(program: Program, x: torch.Tensor, module: torch.nn.Module) -> list[torch.Tensor]:
    """Every reduction of ``program`` applied to x of shape (B, c) + (n,)*k."""
    return run_reductions(program, x, module._eps, FormTables.levi_civita_tables(module))


def mix_and_expand(
    program: Program,
    reduced: list[torch.Tensor],
    weight: torch.Tensor,
    order: torch.Tensor,
    signs: torch.Tensor,
    eps: torch.Tensor | None,
    extra=(),
) -> torch.Tensor:
    """Channel mixing and expansion: (B, c_out) + (n,)*l from the reduced tensors of ``program``."""
    mixed = run_mixing(program, reduced, weight, order, signs, defer_identity=True)
    return run_expansions(program, mixed, eps, list(extra))


def bias_contribution(
    program: Program, bias: torch.Tensor, order: torch.Tensor, signs: torch.Tensor, module: torch.nn.Module
) -> list:
    """The bias (c_out, D) of a 0 → l program as ``extra`` terms for :func:`mix_and_expand`."""
    ones = bias.new_ones(1, 1)
    reduced = run_reductions(program, ones, module._eps, FormTables.levi_civita_tables(module))
    mixed = run_mixing(program, reduced, bias.unsqueeze(1), order, signs)
    return list(zip(program.expansions, mixed, strict=True))


def expand_bias(program: Program, bias: torch.Tensor, order, signs, module) -> torch.Tensor:
    """The bias of a 0 → l program as a (c_out,) + (n,)*l tensor."""
    ones = bias.new_ones(1, 1)
    reduced = run_reductions(program, ones, module._eps, FormTables.levi_civita_tables(module))
    mixed = run_mixing(program, reduced, bias.unsqueeze(1), order, signs)
    return run_expansions(program, mixed, module._eps)[0]


def init_std(total_second_moment: float, fan_in: int) -> float:
    """σ making the mean second moment of the output 1 for iid unit-variance inputs."""
    return math.sqrt(1.0 / (fan_in * total_second_moment)) if total_second_moment > 0 else 0.0
