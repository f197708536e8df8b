"""Lowering: turn a :class:`~catlayer.plan.LayerPlan` and n into the integer tables that
:func:`catlayer.backend.kernels.run_ops` executes.

Nothing here re-derives the maths: every op is read off the plan's reductions (slot axes,
closed blocks, free axes), matchings, signs and expansions, following the module docstring of
:mod:`catlayer.plan`. The input's strides are not known when a program is built (inputs may be
strided), so every source offset that reads the input x is stored as a constant plus integer
coefficients of x's axis strides, and :meth:`OpTable.bind` evaluates them per call.

**Sizes.** A plan of a product group (docs/conventions.md §10) labels every axis, slot and closed
block with its factor; an axis of factor f has the size n_f of that factor. So every table here
is built from per-axis sizes (``sizes[factor]``; one factor of size n for a single group), every
C-ordered tensor has mixed-radix strides, and the pair forms and Levi-Civita tables are read off
the factor each block belongs to.

Layout of a layer program (a chunk of ``chunk`` batch elements; all regions in one flat
workspace, every reduced or mixed tensor C-ordered over its slots):

* ``scratch``: a reduction used by several terms that sums (closed blocks, Levi-Civita) is
  materialised once per (batch, input channel);
* ``stacks``: per expansion group e, the permuted, signed reduced tensors of its D_e terms,
  row ``c * D_e + t`` for input channel c and term t; channel-major ``(c_in·D_e, chunk·m_e)``
  so that one GEMM mixes the whole chunk (the batch folded into the columns: one BLAS call
  per group and chunk, large enough for BLAS's threads, instead of one small call per batch
  element);
* ``z``: the mixed tensors ``(c_out, chunk·m_e)``, expanded into the output by one pass per
  output item; the identity expansion, when there is one, goes first and assigns every
  output entry, the others accumulate onto it (the output is never zeroed separately).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

from ..groups.product import group_factors
from ..plan import Expansion, LayerPlan, Reduction
from .kernels import (
    ACCUMULATE,
    ASSIGN,
    DST_OFF,
    DST_S0,
    DST_S1,
    DST_SIZE,
    MODE,
    OP_FIELDS,
    SRC_OFF,
    SRC_S0,
    SRC_S1,
    VAR_END,
    VAR_START,
    ZERO_THEN_ACCUMULATE,
)

if TYPE_CHECKING:
    from ..groups import Group, ProductGroup

__all__ = ["LayerProgram", "OpTable", "SingleProgram", "layer_program", "single_program"]

_INF = 1 << 62

#: The size of a group: an int for one group, one int per factor for a product group.
Sizes: TypeAlias = int | tuple[int, ...]
#: (offset, step per i0, step per i1) of an op's source or destination region, in elements.
Region: TypeAlias = tuple[int, int, int]
IntArray: TypeAlias = npt.NDArray[np.int64]
#: The arguments of :func:`~catlayer.backend.kernels.run_ops` after (src, dst, n0, n1):
#: ops, scales, var_size, var_in, var_out, var_tab, in_tab, out_tab, sgn_tab.
OpArgs: TypeAlias = tuple[IntArray, np.ndarray, IntArray, IntArray, IntArray, IntArray, IntArray, IntArray, np.ndarray]


@dataclass(frozen=True)
class _Table:
    """Offsets and signs of a table variable, one row per value."""

    in_const: IntArray  # (size,)
    in_coef: IntArray  # (size, k): coefficients of x's axis strides
    out: IntArray  # (size,)
    sgn: np.ndarray  # (size,) of ±1


@dataclass(frozen=True)
class _Var:
    size: int
    in_const: int
    in_axes: tuple[int, ...]  # input axes whose strides add to the source stride
    out: int
    table: _Table | None = None


def _mixed_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """C-order strides of a tensor of the given shape (elements)."""
    strides: list[int] = []
    stride = 1
    for size in reversed(shape):
        strides.append(stride)
        stride *= size
    return tuple(reversed(strides))


def factor_sizes(n: Sizes) -> tuple[int, ...]:
    """The size of each factor: ``n`` is an int (one group) or a tuple (a product group)."""
    return tuple(n) if isinstance(n, tuple) else (n,)


def slot_shape(half: Reduction | Expansion, n: Sizes) -> tuple[int, ...]:
    """The shape of a reduced (or mixed) tensor: one axis per slot, of its factor's size."""
    sizes = factor_sizes(n)
    return tuple(sizes[f] for f in half.slot_factor)


def axis_shape(axis_factor: tuple[int, ...], n: Sizes) -> tuple[int, ...]:
    """The shape of an input or output tensor from the factor of each axis."""
    sizes = factor_sizes(n)
    return tuple(sizes[f] for f in axis_factor)


def pair_form(group: Group) -> np.ndarray:
    """The group's pair form, which a plan only reads for a block it marks as carrying one."""
    form = group.pair_form
    if form is None:
        raise ValueError(f"{group!r} has no pair form, but the plan has a block carrying one")
    return form


def _form_table(form: np.ndarray, k: int, in_axes: tuple[int, int] | None, out_strides: tuple[int, int] | None) -> _Var:
    """The non-zeros form[a, b] of the group's pair form, for a pair (a < b): a variable with one
    value per non-zero (first index, second index, value)."""
    first, second = np.nonzero(form)
    first, second = first.astype(np.int64), second.astype(np.int64)
    size = len(first)
    in_coef = np.zeros((size, k), dtype=np.int64)
    out = np.zeros(size, dtype=np.int64)
    if in_axes is not None:
        in_coef[:, in_axes[0]] += first
        in_coef[:, in_axes[1]] += second
    if out_strides is not None:
        out = first * out_strides[0] + second * out_strides[1]
    sgn = form[first, second].astype(np.float64)
    return _Var(size, 0, (), 0, _Table(np.zeros(size, dtype=np.int64), in_coef, out, sgn))


def reduction_vars(red: Reduction, group: Group | ProductGroup, out_strides: tuple[int, ...]) -> list[_Var]:
    """Variables of the op that reduces x into a tensor whose slot j has stride out_strides[j]."""
    k = red.dom
    factors = group_factors(group)
    sizes = tuple(g.n for g in factors)
    variables: list[_Var] = []
    for j, axes in enumerate(red.slot_axes):
        if axes:
            variables.append(_Var(sizes[red.slot_factor[j]], 0, axes, out_strides[j]))
    for block, form, f in zip(red.closed, red.closed_form, red.closed_factor, strict=True):
        if form:
            variables.append(_form_table(pair_form(factors[f]), k, (block[0], block[1]), None))
        else:
            variables.append(_Var(sizes[f], 0, block, 0))
    # One Levi-Civita contraction per factor with free vertices: its free input axes are the next
    # ones of free_axes, its free slots the next ones after the plain slots (module docstring of
    # catlayer.plan).
    next_axis, next_slot = 0, red.num_slots - red.num_free_slots
    for f, num_axes, q in red.levi_civita:
        n = sizes[f]
        if num_axes + q != n:
            raise ValueError(
                f"the Levi-Civita contraction of {factors[f]!r} needs n = {n} free vertices, the diagram has "
                f"{num_axes + q}"
            )
        # The factor's symbol, its input indices weighted (e.g. lowered by η for SO(p, q)).
        perms, signs = factors[f].levi_civita_nonzeros(q)
        in_coef = np.zeros((len(perms), k), dtype=np.int64)
        for j, a in enumerate(red.free_axes[next_axis : next_axis + num_axes]):
            in_coef[:, a] += perms[:, q + j]
        out = np.zeros(len(perms), dtype=np.int64)
        for i in range(q):
            out += perms[:, i] * out_strides[next_slot + i]
        table = _Table(np.zeros(len(perms), dtype=np.int64), in_coef, out, signs)
        variables.append(_Var(len(perms), 0, (), 0, table))
        next_axis += num_axes
        next_slot += q
    return variables


def expansion_vars(
    exp: Expansion, group: Group | ProductGroup, slot_in: Sequence[tuple[int, tuple[int, ...]]], k: int
) -> list[_Var]:
    """Variables of the op that expands a tensor into the l output axes (C order).

    ``slot_in[i]`` = (constant stride, input axes) of the source for expansion slot i.
    """
    factors = group_factors(group)
    sizes = tuple(g.n for g in factors)
    y_strides = _mixed_strides(axis_shape(exp.axis_factor, sizes))
    variables: list[_Var] = []
    for i, axes in enumerate(exp.slot_axes):
        const, in_axes = slot_in[i]
        variables.append(_Var(sizes[exp.slot_factor[i]], const, in_axes, sum(y_strides[a] for a in axes)))
    for block, form, f in zip(exp.closed, exp.closed_form, exp.closed_factor, strict=True):
        if form:
            strides = (y_strides[block[0]], y_strides[block[1]])
            variables.append(_form_table(pair_form(factors[f]), k, None, strides))
        else:
            variables.append(_Var(sizes[f], 0, (), sum(y_strides[a] for a in block)))
    return variables


class OpTable:
    """A list of ops for one :func:`run_ops` call, built symbolically and packed by
    :meth:`finalize`; :meth:`bind` then fills in x's strides and the dtype. ``in_shape`` is the
    shape of one input item (its nominal C strides pick the loop order)."""

    def __init__(self, in_shape: tuple[int, ...], src_is_x: bool) -> None:
        self.in_shape, self.k, self.src_is_x = tuple(in_shape), len(in_shape), src_is_x
        # (variables, mode code, src, dst, dst_size, scale) per op
        self._ops: list[tuple[list[_Var], int, Region | None, Region, int, float]] = []

    def __len__(self) -> int:
        return len(self._ops)

    def add(
        self,
        variables: Sequence[_Var],
        *,
        src: Region | None,
        dst: Region,
        dst_size: int,
        scale: float,
        mode: str,
        prefer: str,
    ) -> None:
        """``src``/``dst`` = (offset, step per i0, step per i1); ``src`` is ignored (filled by
        :meth:`bind`) for ops reading x. ``mode`` is "write" (assign or zero-then-accumulate,
        decided here) or "accumulate"; ``prefer`` ("in" or "out") says which side's locality
        picks the innermost variable."""
        if mode == "write":
            code = ASSIGN if self._bijective(variables, dst_size) else ZERO_THEN_ACCUMULATE
        elif mode == "accumulate":
            code = ACCUMULATE
        else:
            raise ValueError(f"unknown mode {mode!r}")
        if src is None and not self.src_is_x:
            raise ValueError("an op that does not read x needs its source region")
        self._ops.append((self._order(variables, prefer), code, src, dst, dst_size, float(scale)))

    def _bijective(self, variables: Sequence[_Var], dst_size: int) -> bool:
        """Whether the variables visit every element of the contiguous destination region once:
        their (stride, size) pairs, sorted by stride, are the strides of a C-ordered tensor
        (mixed radix: each stride is the previous one times its size) filling ``dst_size``."""
        if math.prod(v.size for v in variables) != dst_size:
            return False
        if any(v.table is not None and v.size > 1 for v in variables):
            return False
        expected = 1
        for out, size in sorted((v.out, v.size) for v in variables if v.size > 1):
            if out != expected:
                return False
            expected *= size
        return expected == dst_size

    def _nominal_in(self, v: _Var) -> int:
        xs = _mixed_strides(self.in_shape)
        return v.in_const + sum(xs[a] for a in v.in_axes)

    def _order(self, variables: Sequence[_Var], prefer: str) -> list[_Var]:
        strided = [v for v in variables if v.table is None]
        tables = [v for v in variables if v.table is not None]
        if not tables and all(v.out for v in strided):
            prefer = "out"  # a pure copy: contiguous stores beat contiguous loads

        def key(v: _Var) -> tuple[int, int]:
            sin, sout = abs(self._nominal_in(v)), abs(v.out)
            first, second = (sin, sout) if prefer == "in" else (sout, sin)
            if v.size == 1:
                return (_INF, _INF)
            return (first or _INF, second or _INF)

        strided.sort(key=key, reverse=True)
        if not strided:
            strided = [_Var(1, 0, (), 0)]
        return tables + strided

    def finalize(self) -> _PackedOps:
        k = self.k
        ops = np.zeros((len(self._ops), len(OP_FIELDS)), dtype=np.int64)
        sizes: list[int] = []
        in_const: list[int] = []
        in_coef: list[list[int]] = []
        outs: list[int] = []
        tabs: list[int] = []
        tables: list[_Table] = []
        scales = np.empty(len(self._ops))
        for row, (variables, code, src, dst, dst_size, scale) in enumerate(self._ops):
            ops[row, MODE] = code
            ops[row, VAR_START] = len(sizes)
            for v in variables:
                sizes.append(v.size)
                in_const.append(v.in_const)
                coef = [0] * k
                for a in v.in_axes:
                    coef[a] += 1
                in_coef.append(coef)
                outs.append(v.out)
                if v.table is None:
                    tabs.append(-1)
                else:
                    tabs.append(len(tables))
                    tables.append(v.table)
            ops[row, VAR_END] = len(sizes)
            if src is not None and not self.src_is_x:
                ops[row, SRC_OFF], ops[row, SRC_S0], ops[row, SRC_S1] = src
            ops[row, DST_OFF], ops[row, DST_S0], ops[row, DST_S1] = dst
            ops[row, DST_SIZE] = dst_size
            scales[row] = scale
        width = max((t.in_const.shape[0] for t in tables), default=1)
        t_in_const = np.zeros((len(tables), width), dtype=np.int64)
        t_in_coef = np.zeros((len(tables), width, k), dtype=np.int64)
        t_out = np.zeros((len(tables), width), dtype=np.int64)
        t_sgn = np.zeros((len(tables), width))
        for index, t in enumerate(tables):
            size = t.in_const.shape[0]
            t_in_const[index, :size] = t.in_const
            t_in_coef[index, :size] = t.in_coef
            t_out[index, :size] = t.out
            t_sgn[index, :size] = t.sgn
        work = sum(math.prod(v.size for v in variables) + dst_size for variables, _, _, _, dst_size, _ in self._ops)
        return _PackedOps(
            work=work,
            src_is_x=self.src_is_x,
            ops=ops,
            scales=scales,
            var_size=np.array(sizes, dtype=np.int64),
            var_in_const=np.array(in_const, dtype=np.int64),
            var_in_coef=np.array(in_coef, dtype=np.int64).reshape(len(sizes), k),
            var_out=np.array(outs, dtype=np.int64),
            var_tab=np.array(tabs, dtype=np.int64),
            tab_in_const=t_in_const,
            tab_in_coef=t_in_coef,
            tab_out=t_out,
            tab_sgn=t_sgn,
        )


@dataclass(frozen=True)
class _PackedOps:
    src_is_x: bool
    ops: IntArray
    scales: npt.NDArray[np.float64]
    var_size: IntArray
    var_in_const: IntArray
    var_in_coef: IntArray
    var_out: IntArray
    var_tab: IntArray
    tab_in_const: IntArray
    tab_in_coef: IntArray
    tab_out: IntArray
    tab_sgn: npt.NDArray[np.float64]
    work: int  # element operations per grid item (decides serial vs parallel execution)

    def __len__(self) -> int:
        return self.ops.shape[0]

    def bind(
        self, dtype: npt.DTypeLike, x_strides: Sequence[int] | None = None, x_item: Region | None = None
    ) -> OpArgs:
        """The argument tuple of :func:`run_ops` after (src, dst, n0, n1): for ops reading x,
        ``x_strides`` are x's trailing axis strides and ``x_item`` = (offset, step per i0,
        step per i1), all in elements."""
        ops = self.ops
        var_in = self.var_in_const
        tab_in = self.tab_in_const
        if self.src_is_x:
            if x_strides is None or x_item is None:
                raise ValueError("ops reading x need x's strides and the offsets of its items")
            xs = np.asarray(x_strides, dtype=np.int64)
            ops = ops.copy()
            ops[:, SRC_OFF], ops[:, SRC_S0], ops[:, SRC_S1] = x_item
            if xs.size:
                var_in = var_in + self.var_in_coef @ xs
                tab_in = tab_in + self.tab_in_coef @ xs
        return (
            ops,
            self.scales.astype(dtype),
            self.var_size,
            var_in,
            self.var_out,
            self.var_tab,
            tab_in,
            self.tab_out,
            self.tab_sgn.astype(dtype),
        )


def _is_view(red: Reduction) -> bool:
    """A reduction that only extracts diagonals: a strided view of x, never materialised."""
    return not red.closed and not red.free_axes and red.num_free_slots == 0


def _is_identity(exp: Expansion) -> bool:
    return not exp.closed and exp.slot_axes == tuple((a,) for a in range(exp.cod))


def _inverse(p: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(p)
    for i, j in enumerate(p):
        inv[j] = i
    return tuple(inv)


# --------------------------------------------------------------------------------------------
# single diagram


@dataclass(frozen=True)
class SingleProgram:
    """How to apply one diagram to x of shape (batch,) + (n,)*k: either one op straight from
    x to the output (``reduce`` is None), or a reduction into a scratch tensor of
    ``scratch_size`` entries per batch element followed by an expansion."""

    n: Sizes
    k: int
    l: int
    scratch_size: int
    reduce: _PackedOps | None
    expand: _PackedOps


@lru_cache(maxsize=1024)
def single_program(plan: LayerPlan, n: Sizes) -> SingleProgram:
    """The program of a one-term plan; ``n`` is the group's size (a tuple for a product)."""
    red, exp = plan.reductions[0], plan.expansions[0]
    matching, sign = plan.matching[0], plan.sign[0]
    k, l = plan.num_axes
    in_shape = axis_shape(red.axis_factor, n)
    out_size = math.prod(axis_shape(exp.axis_factor, n))
    if _is_view(red):
        slot_in = [(0, red.slot_axes[j]) for j in matching]
        table = OpTable(in_shape, src_is_x=True)
        table.add(
            expansion_vars(exp, plan.group, slot_in, k),
            src=None,
            dst=(0, out_size, 0),
            dst_size=out_size,
            scale=sign,
            mode="write",
            prefer="out",
        )
        return SingleProgram(n, k, l, 0, None, table.finalize())
    size = math.prod(slot_shape(red, n))
    rs = _mixed_strides(slot_shape(red, n))
    reduce = OpTable(in_shape, src_is_x=True)
    reduce.add(
        reduction_vars(red, plan.group, rs),
        src=None,
        dst=(0, size, 0),
        dst_size=size,
        scale=1.0,
        mode="write",
        prefer="in",
    )
    expand = OpTable(in_shape, src_is_x=False)
    slot_in = [(rs[j], ()) for j in matching]
    expand.add(
        expansion_vars(exp, plan.group, slot_in, k),
        src=(0, size, 0),
        dst=(0, out_size, 0),
        dst_size=out_size,
        scale=sign,
        mode="write",
        prefer="out",
    )
    return SingleProgram(n, k, l, size, reduce.finalize(), expand.finalize())


# --------------------------------------------------------------------------------------------
# whole layer


@dataclass(frozen=True)
class GroupSpec:
    """One expansion group: its stack and its mixed tensor in the workspace, and which
    diagrams (weights) it gathers."""

    terms: tuple[int, ...]
    slots: int
    size: int  # m: the number of entries of the mixed tensor (n ** slots for one group)
    stack_off: int
    z_off: int


@dataclass(frozen=True)
class LayerProgram:
    n: Sizes
    k: int
    l: int
    c_in: int
    c_out: int
    chunk: int
    work_size: int  # elements of the workspace for one chunk
    groups: tuple[GroupSpec, ...]
    # columns of W.reshape(c_out, c_in * T) gathered for all groups at once, group after group:
    # group g's weights (c_out, c_in * D_g) are the columns weight_start[g] : weight_start[g + 1]
    weight_index: npt.NDArray[np.intp]
    weight_start: tuple[int, ...]
    reduce: _PackedOps  # x -> scratch and x -> stacks, grid (chunk, c_in)
    copy: _PackedOps  # scratch -> stacks, grid (chunk, c_in)
    expand: _PackedOps  # z -> output, grid (chunk, c_out); dst offset of batch 0 is 0


def layer_sizes(plan: LayerPlan, n: Sizes, c_in: int, c_out: int) -> tuple[int, int]:
    """(workspace entries per batch element, number of materialised reductions): used to pick
    the chunk and to check the memory budget before anything is allocated."""
    materialised = _materialised(plan)
    per_b = sum(c_in * math.prod(slot_shape(plan.reductions[r], n)) for r in materialised)
    for e, terms in enumerate(plan.groups):
        per_b += (c_in * len(terms) + c_out) * math.prod(slot_shape(plan.expansions[e], n))
    return per_b, len(materialised)


def _materialised(plan: LayerPlan) -> tuple[int, ...]:
    users = [0] * len(plan.reductions)
    for r in plan.reduction_of:
        users[r] += 1
    return tuple(r for r, red in enumerate(plan.reductions) if users[r] > 1 and not _is_view(red))


def _expansion_order(plan: LayerPlan) -> list[int]:
    """The groups in the order their expansions run: an identity expansion first (it assigns
    every output entry, so nothing has to zero the output), then the rest."""
    return sorted(range(len(plan.expansions)), key=lambda e: not _is_identity(plan.expansions[e]))


@lru_cache(maxsize=256)
def layer_program(plan: LayerPlan, n: Sizes, c_in: int, c_out: int, chunk: int) -> LayerProgram:
    """The program of a layer plan; ``n`` is the group's size (a tuple for a product)."""
    k, l = plan.num_axes
    in_shape = axis_shape(plan.reductions[0].axis_factor, n)
    out_size = math.prod(axis_shape(plan.expansions[0].axis_factor, n))
    materialised = _materialised(plan)

    offset = 0
    scratch: dict[int, int] = {}
    for r in materialised:
        scratch[r] = offset
        offset += chunk * c_in * math.prod(slot_shape(plan.reductions[r], n))
    stacks: list[tuple[tuple[int, ...], int, int, int]] = []  # (terms, slots, size, stack_off) per group
    for e, terms in enumerate(plan.groups):
        m = math.prod(slot_shape(plan.expansions[e], n))
        stacks.append((terms, plan.expansions[e].num_slots, m, offset))
        offset += chunk * c_in * len(terms) * m
    specs: list[GroupSpec] = []
    for terms, slots, m, stack_off in stacks:
        specs.append(GroupSpec(terms, slots, m, stack_off, offset))
        offset += chunk * c_out * m
    groups = tuple(specs)
    num_terms = len(plan.reduction_of)
    weight_index = np.array(
        [c * num_terms + t for g in groups for c in range(c_in) for t in g.terms], dtype=np.intp
    ).reshape(-1)
    weight_start = tuple(itertools.accumulate((c_in * len(g.terms) for g in groups), initial=0))

    reduce = OpTable(in_shape, src_is_x=True)
    copy = OpTable(in_shape, src_is_x=False)
    for r in materialised:
        red = plan.reductions[r]
        m_r = math.prod(slot_shape(red, n))
        reduce.add(
            reduction_vars(red, plan.group, _mixed_strides(slot_shape(red, n))),
            src=None,
            dst=(scratch[r], c_in * m_r, m_r),
            dst_size=m_r,
            scale=1.0,
            mode="write",
            prefer="in",
        )
    for e, g in enumerate(groups):
        d_e, m = len(g.terms), g.size
        exp_shape = slot_shape(plan.expansions[e], n)
        es = _mixed_strides(exp_shape)
        for position, t in enumerate(g.terms):
            dst = (g.stack_off + position * chunk * m, m, d_e * chunk * m)  # channel-major (c_in * D, chunk * m)
            r = plan.reduction_of[t]
            red = plan.reductions[r]
            matching = plan.matching[t]
            if r in scratch:
                rs = _mixed_strides(slot_shape(red, n))
                m_r = math.prod(slot_shape(red, n))
                variables = [_Var(exp_shape[i], rs[matching[i]], (), es[i]) for i in range(g.slots)]
                copy.add(
                    variables,
                    src=(scratch[r], c_in * m_r, m_r),
                    dst=dst,
                    dst_size=m,
                    scale=plan.sign[t],
                    mode="write",
                    prefer="out",
                )
            else:
                inverse = _inverse(matching)
                out_strides = tuple(es[inverse[j]] for j in range(red.num_slots))
                reduce.add(
                    reduction_vars(red, plan.group, out_strides),
                    src=None,
                    dst=dst,
                    dst_size=m,
                    scale=plan.sign[t],
                    mode="write",
                    prefer="in",
                )

    expand = OpTable(in_shape, src_is_x=False)
    first = True
    for e in _expansion_order(plan):
        g = groups[e]
        es = _mixed_strides(slot_shape(plan.expansions[e], n))
        slot_in = [(es[i], ()) for i in range(g.slots)]
        expand.add(
            expansion_vars(plan.expansions[e], plan.group, slot_in, k),
            src=(g.z_off, g.size, chunk * g.size),
            dst=(0, c_out * out_size, out_size),
            dst_size=out_size,
            scale=1.0,
            mode="write" if first else "accumulate",
            prefer="out",
        )
        first = False
    return LayerProgram(
        n=n,
        k=k,
        l=l,
        c_in=c_in,
        c_out=c_out,
        chunk=chunk,
        work_size=offset,
        groups=groups,
        weight_index=weight_index,
        weight_start=weight_start,
        reduce=reduce.finalize(),
        copy=copy.finalize(),
        expand=expand.finalize(),
    )
