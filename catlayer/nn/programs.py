"""Adapter between the network modules and :mod:`catlayer.nn.executor`: the one place where they
build plans and programs and call ``run_reductions`` / ``run_mixing`` / ``run_expansions``.

Three things here go beyond what ``EquivariantLinear`` needs:

* :func:`shared_reductions`: the union of the bottom halves of several plans with the same input
  order (one per output order), compiled into a reductions-only program, so that a typed layer
  reduces each input order once for all its output orders;
* :func:`diagram_scales`: each diagram is used as F(d) / n^c with c its number of closed bottom
  blocks (a sum over c free indices becomes a mean), so that every diagram maps inputs with
  entries of size O(1) to outputs with entries of size O(1) whatever n is: with raw sums a
  constant input grows by n^c per layer, and an Adam step on a summing diagram's weight moves the
  output n^c times further than on the others. Layers then initialise their weights with
  variance 1 / (fan-in channels × diagrams): every output entry is a sum of at most that many
  terms of size O(1). (Calibrating instead on the mean second moment of iid-noise inputs, as
  ``EquivariantLinear`` does, multiplies the summing diagrams' weights by powers of n, and the
  coherent part of real inputs — a graph's density, a gate's mean, a product of correlated
  features, the δ of O(n) — then grows by a power of n per layer.)
* :func:`mix`, :func:`expansion_terms` and :func:`assemble`: the channel mixing and expansion
  steps without in-place writes into views (``torch.cat`` instead of copies into slices of one
  buffer; one ``index_add`` for all diagonal terms of an output order, from every input order
  and the bias, instead of ``add_`` on diagonal views). The backward of an in-place write into a
  slice copies the whole buffer per slice; for the product layers that made training several
  times slower, and assembling each output order once saves a full pass per term.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
import torch

from ..forms import levi_civita
from ..memory import check_size
from ..plan import LayerPlan, plan_layer
from .executor import Program, compile_program, run_reductions

__all__ = [
    "ExpansionTable",
    "FormTables",
    "assemble",
    "diagram_scales",
    "expansion_tables",
    "expansion_terms",
    "layer_plan",
    "mix",
    "mixing_tables",
    "reduce",
    "register_expansion_indices",
    "shared_reductions",
]


def layer_plan(group, diagrams) -> LayerPlan:
    """The executor plan of ``diagrams`` for ``group`` (cached by :func:`catlayer.plan.plan_layer`)."""
    return plan_layer(group, tuple(diagrams))


def levi_civita_table(group, q: int) -> np.ndarray:
    """The group's Levi-Civita symbol as an (n^(n−q), n^q) matrix for a contraction whose first q
    axes are free output slots: the remaining (input) axes are weighted by ``group.free_weights``
    (SO(p, q) lowers them with η), and the slots come last (hence the transpose)."""
    n = group.n
    check_size(n**n * 8, f"the Levi-Civita symbol of {group!r}")
    table = levi_civita(n)
    weights = group.free_weights
    if weights is not None:
        for axis in range(q, n):
            table = table * weights.reshape([n if a == axis else 1 for a in range(n)])
    return table.reshape(n**q, n ** (n - q)).T.copy()


def shared_reductions(plans: list[LayerPlan], n: int) -> tuple[Program, tuple[tuple[int, ...], ...]]:
    """A program whose reductions are the union of those of ``plans`` (same input order), and for
    each plan the index in that union of each of its reductions."""
    union: dict = {}
    maps = []
    for plan in plans:
        maps.append(tuple(union.setdefault(r, len(union)) for r in plan.reductions))
    first = plans[0]
    only = LayerPlan(
        group=first.group,
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

    def register(self, module: torch.nn.Module, group, device, dtype: torch.dtype) -> None:
        n = group.n
        if self.eps:
            form = torch.tensor(group.pair_form, device=device, dtype=dtype)
            module.register_buffer("_eps", form, persistent=False)
        else:
            module._eps = None
        module._lc_slots = self.slots
        for q in self.slots:
            table = torch.tensor(levi_civita_table(group, q), device=device, dtype=dtype)
            module.register_buffer(f"_levi_civita_{q}", table, persistent=False)
        if self.full:
            # The whole symbol, unweighted; contractions weight their own input free axes.
            check_size(n**n * 8, f"the Levi-Civita symbol of {group!r}")
            symbol = torch.tensor(levi_civita(n), device=device, dtype=dtype)
            module.register_buffer("_levi_civita", symbol, persistent=False)
            weights = group.free_weights
            if weights is not None:
                module.register_buffer(
                    "_free_weights", torch.tensor(weights, device=device, dtype=dtype), persistent=False
                )
            else:
                module._free_weights = None

    @staticmethod
    def levi_civita_tables(module: torch.nn.Module) -> dict[int, torch.Tensor]:
        return {q: getattr(module, f"_levi_civita_{q}") for q in module._lc_slots}


def reduce(program: Program, x: torch.Tensor, module: torch.nn.Module, dtype=None) -> list[torch.Tensor]:
    """Every reduction of ``program`` applied to x of shape (B, c) + (n,)*k (the module's form
    tables converted to x's dtype, or to ``dtype``)."""
    dtype = x.dtype if dtype is None else dtype
    x = x.to(dtype)
    eps = None if module._eps is None else module._eps.to(dtype)
    lc = {q: t.to(dtype) for q, t in FormTables.levi_civita_tables(module).items()}
    return run_reductions(program, x, eps, lc)


def mix(
    program: Program, reduced: list[torch.Tensor], weight: torch.Tensor, order: torch.Tensor, signs: torch.Tensor
) -> list[torch.Tensor]:
    """One (B, c_out, n^slots) tensor per expansion: the reduced tensors of its diagrams, slots
    permuted by their matching, concatenated on the channel axis and mixed by one matmul with
    the gathered weights (c_out, c_in, D) · signs."""
    n = program.n
    c_out = weight.shape[0]
    w = weight.index_select(2, order) * signs
    mixed = []
    for e, step in enumerate(program.expansions):
        r = step.num_slots
        start, stop = program.group_slices[e]
        views = []
        for reduction, matching in program.terms[e]:
            t = reduced[reduction]
            if matching != tuple(range(r)):
                t = t.reshape((t.shape[0], t.shape[1]) + (n,) * r).permute(0, 1, *(2 + m for m in matching))
            views.append(t.reshape(t.shape[0], t.shape[1], n**r))
        stacked = views[0] if len(views) == 1 else torch.cat(views, dim=1)
        w_e = w[:, :, start:stop].permute(0, 2, 1).reshape(c_out, stacked.shape[1])
        if r == 0:
            mixed.append(torch.matmul(stacked.reshape(stacked.shape[0], -1), w_e.t()).unsqueeze(-1))
        else:
            mixed.append(torch.matmul(w_e, stacked))
    return mixed


@dataclass(frozen=True)
class ExpansionTable:
    """How one top half writes its mixed tensor z (B, c, n^slots) into the output (B, c) + (n,)*l.

    ``groups``: the output axes of each slot, then of each closed top block (an ε pair gives two
    one-axis groups, multiplied by ε[i_a, i_b]: ``eps_pairs`` holds their group indices).
    Without a group of two or more axes the term is a broadcast of z over the output
    (``axis_group[a]`` is the group of output axis a); otherwise it is scattered with
    ``index_add`` onto the flat output positions ``indices`` of its n^len(groups) entries.
    """

    num_slots: int
    groups: tuple[tuple[int, ...], ...]
    eps_pairs: tuple[tuple[int, int], ...]
    axis_group: tuple[int, ...]

    @property
    def scatter(self) -> bool:
        return any(len(g) > 1 for g in self.groups)

    def indices(self, n: int, l: int) -> list[int]:
        out = []
        for values in product(range(n), repeat=len(self.groups)):
            out.append(sum(values[self.axis_group[a]] * n ** (l - 1 - a) for a in range(l)))
        return out


def expansion_tables(plan: LayerPlan) -> tuple[ExpansionTable, ...]:
    """The :class:`ExpansionTable` of each expansion of ``plan`` (same order as the program's)."""
    tables = []
    for e in plan.expansions:
        groups = [tuple(axes) for axes in e.slot_axes]
        eps_pairs = []
        for block in e.closed:
            if e.form_pairs:
                eps_pairs.append((len(groups), len(groups) + 1))
                groups += [(block[0],), (block[1],)]
            else:
                groups.append(tuple(block))
        axis_group = [0] * plan.cod
        for g, axes in enumerate(groups):
            for a in axes:
                axis_group[a] = g
        tables.append(ExpansionTable(e.num_slots, tuple(groups), tuple(eps_pairs), tuple(axis_group)))
    return tuple(tables)


def register_expansion_indices(module, name: str, tables, n: int, l: int, device) -> None:
    """Index buffers ``_index_{name}_{e}`` for the scattered expansions (non-persistent)."""
    for e, table in enumerate(tables):
        if table.scatter:
            index = torch.tensor(table.indices(n, l), dtype=torch.long, device=device)
            module.register_buffer(f"_index_{name}_{e}", index, persistent=False)


def expansion_terms(module, name: str, tables, mixed: list[torch.Tensor], n: int, eps, batch_one: bool = False) -> list:
    """The output terms of the mixed tensors: ("broadcast", tensor, rank) or ("scatter", index,
    values); ``rank`` (static, for the summation order) counts the axes of full size, the batch
    axis included unless ``batch_one`` (a bias)."""
    terms = []
    for e, (table, z) in enumerate(zip(tables, mixed, strict=True)):
        num_groups = len(table.groups)
        src = z.reshape((z.shape[0], z.shape[1]) + (n,) * table.num_slots + (1,) * (num_groups - table.num_slots))
        for a, b in table.eps_pairs:
            shape = [1] * (2 + num_groups)
            shape[2 + a] = shape[2 + b] = n
            src = src * eps.reshape(shape)
        if table.scatter:
            full = src.expand((src.shape[0], src.shape[1]) + (n,) * num_groups)
            index = getattr(module, f"_index_{name}_{e}")
            terms.append(("scatter", index, full.reshape(src.shape[0], src.shape[1], -1)))
        else:
            rank = table.num_slots + 2 * len(table.eps_pairs) + (0 if batch_one else 1)
            terms.append(("broadcast", src.permute(0, 1, *(2 + g for g in table.axis_group)), rank))
    return terms


def assemble(terms: list, n: int, l: int, batch) -> torch.Tensor:
    """Sum the terms into one (batch, c) + (n,)*l tensor, out of place: broadcast terms from the
    most compact up, then every scattered term in one ``index_add``."""
    broadcast = [t[1] for t in sorted((t for t in terms if t[0] == "broadcast"), key=lambda t: t[2])]
    scattered = [t for t in terms if t[0] == "scatter"]
    first = terms[0][1] if terms[0][0] == "broadcast" else terms[0][2]
    channels = first.shape[1]
    shape = (batch, channels) + (n,) * l
    total = None
    for t in broadcast:
        total = t if total is None else total + t
    if not scattered:
        return total.expand(shape)
    flat = first.new_zeros(shape) if total is None else total.expand(shape)
    flat = flat.reshape(batch, channels, n**l)
    index = torch.cat([t[1] for t in scattered]) if len(scattered) > 1 else scattered[0][1]
    values = [t[2].expand(batch, -1, -1) for t in scattered]
    values = torch.cat(values, dim=2) if len(values) > 1 else values[0]
    return torch.index_add(flat, 2, index, values).reshape(shape)
