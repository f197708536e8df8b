"""Numba kernels: one generic, table-driven strided accumulate that executes every step of a
plan (reductions, stacking, expansions) for all four families.

An *op* moves data from a region of a flat source array into a region of a flat destination
array, for every *item* (i0, i1) of a 2-d grid (batch × channels). It loops over a list of
*variables* (an odometer, the last variable innermost); each value of a variable adds fixed
offsets to the source and destination positions and multiplies by a sign:

* a **stride variable** (``var_tab < 0``) of size ``var_size`` adds ``value * var_in`` to the
  source offset and ``value * var_out`` to the destination offset. A merged block (a diagonal)
  is one variable whose stride is the sum of its axes' strides; a summed block has
  ``var_out = 0``; a broadcast has ``var_in = 0``;
* a **table variable** (``var_tab = t``) reads its offsets and sign from ``in_tab[t, value]``,
  ``out_tab[t, value]``, ``sgn_tab[t, value]``: a symplectic pair (value α, partner α^1, sign
  (−1)^α) or the Levi-Civita symbol (one value per permutation, with its sign).

``dst[d] (+)= scale * sign * src[s]`` for every combination; ``mode`` is 0 (accumulate),
1 (assign: the op writes every element of its region exactly once) or 2 (zero the contiguous
region of ``DST_SIZE`` elements, then accumulate). The innermost variable is always a stride
variable, and its unit-stride cases are separate loops that LLVM vectorises.

There is one compiled specialisation per (dtype, read-only-ness of the source), whatever the
diagrams: the plans are data, not code.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from numba import njit, prange

__all__ = ["OP_FIELDS", "PARALLEL_THRESHOLD", "run_ops"]

#: Columns of the ``ops`` table.
OP_FIELDS = (
    "mode",  # 0 accumulate, 1 assign, 2 zero region then accumulate
    "var_start",
    "var_end",
    "src_off",  # source offset of item (0, 0)
    "src_s0",  # source offset step per i0
    "src_s1",  # source offset step per i1
    "dst_off",
    "dst_s0",
    "dst_s1",
    "dst_size",  # contiguous region zeroed in mode 2
)
MODE, VAR_START, VAR_END, SRC_OFF, SRC_S0, SRC_S1, DST_OFF, DST_S0, DST_S1, DST_SIZE = range(len(OP_FIELDS))
ACCUMULATE, ASSIGN, ZERO_THEN_ACCUMULATE = 0, 1, 2

_FASTMATH = {"reassoc", "contract"}

# The annotations below are for readers and mypy: numba ignores them and compiles one
# specialisation per argument types. ``Ints`` are the int64 tables of a program; the data arrays
# (src, dst, scales, sgn_tab) are float32 or float64.
Ints: TypeAlias = npt.NDArray[np.int64]


@njit(cache=True, fastmath=_FASTMATH, inline="always")
def _block(  # pragma: no cover - compiled
    src: np.ndarray,
    dst: np.ndarray,
    ib: int,
    ob: int,
    m1: int,
    si1: int,
    so1: int,
    m0: int,
    si0: int,
    so0: int,
    sg: float,
    assign: bool,
) -> None:
    """The two innermost variables of an op: an m1 × m0 block (strides si1, so1 outside,
    si0, so0 inside).

    Indices are cast to unsigned so that numba drops its negative-index wraparound, which
    otherwise blocks vectorisation (5-30x on these loops); LLVM versions the inner loops for
    unit strides by itself.
    """
    u = np.uint64
    if so0 == 0:  # the inner variable is summed
        for a in range(m1):
            b = ib + a * si1
            acc = sg * 0
            for i in range(m0):
                acc += src[u(b + i * si0)]
            if assign:
                dst[u(ob + a * so1)] = sg * acc
            else:
                dst[u(ob + a * so1)] += sg * acc
    elif si0 == 0:  # the inner variable is a broadcast
        for a in range(m1):
            val = sg * src[u(ib + a * si1)]
            o = ob + a * so1
            if assign:
                for i in range(m0):
                    dst[u(o + i * so0)] = val
            else:
                for i in range(m0):
                    dst[u(o + i * so0)] += val
    else:
        for a in range(m1):
            b = ib + a * si1
            o = ob + a * so1
            if assign:
                for i in range(m0):
                    dst[u(o + i * so0)] = sg * src[u(b + i * si0)]
            else:
                for i in range(m0):
                    dst[u(o + i * so0)] += sg * src[u(b + i * si0)]


@njit(cache=True)
def _collapse(  # pragma: no cover - compiled
    ops: Ints, var_size: Ints, var_in: Ints, var_out: Ints, var_tab: Ints
) -> tuple[Ints, Ints, Ints, Ints, Ints]:
    """Merge neighbouring stride variables that are contiguous on both sides (an outer one
    whose strides are the inner one's times its size), so that a contiguous copy or sum of
    several axes becomes one long loop. Returns new (ops, var_size, var_in, var_out, var_tab)."""
    num_ops = ops.shape[0]
    total = var_size.shape[0]
    size = np.empty(total + num_ops, np.int64)
    sin = np.empty(total + num_ops, np.int64)
    sout = np.empty(total + num_ops, np.int64)
    tab = np.empty(total + num_ops, np.int64)
    new_ops = ops.copy()
    count = 0
    for op in range(num_ops):
        new_ops[op, VAR_START] = count
        start = count
        for v in range(ops[op, VAR_START], ops[op, VAR_END]):
            if var_tab[v] < 0 and var_size[v] == 1 and count > start:
                continue  # a size-1 variable contributes nothing
            if (
                count > start
                and var_tab[v] < 0
                and tab[count - 1] < 0
                and sin[count - 1] == var_in[v] * var_size[v]
                and sout[count - 1] == var_out[v] * var_size[v]
            ):
                size[count - 1] *= var_size[v]
                sin[count - 1] = var_in[v]
                sout[count - 1] = var_out[v]
            else:
                size[count] = var_size[v]
                sin[count] = var_in[v]
                sout[count] = var_out[v]
                tab[count] = var_tab[v]
                count += 1
        if count == start or tab[count - 1] >= 0:  # the innermost variable must be a stride one
            size[count] = 1
            sin[count] = 0
            sout[count] = 0
            tab[count] = -1
            count += 1
        new_ops[op, VAR_END] = count
    return new_ops, size[:count].copy(), sin[:count].copy(), sout[:count].copy(), tab[:count].copy()


@njit(cache=True, fastmath=_FASTMATH)
def _run_item(  # pragma: no cover - compiled
    src: np.ndarray,
    dst: np.ndarray,
    item: int,
    n1: int,
    ops: Ints,
    scales: np.ndarray,
    var_size: Ints,
    var_in: Ints,
    var_out: Ints,
    var_tab: Ints,
    in_tab: Ints,
    out_tab: Ints,
    sgn_tab: np.ndarray,
    idx: Ints,
) -> None:
    """Every op for one item of the grid (``idx`` is scratch for the odometer)."""
    i0 = item // n1
    i1 = item - i0 * n1
    for op in range(ops.shape[0]):
        vs = ops[op, VAR_START]
        last = ops[op, VAR_END] - 1
        sbase = ops[op, SRC_OFF] + i0 * ops[op, SRC_S0] + i1 * ops[op, SRC_S1]
        dbase = ops[op, DST_OFF] + i0 * ops[op, DST_S0] + i1 * ops[op, DST_S1]
        mode = ops[op, MODE]
        scale = scales[op]
        if mode == ZERO_THEN_ACCUMULATE:
            zero = scale * 0
            for j in range(ops[op, DST_SIZE]):
                dst[np.uint64(dbase + j)] = zero
        assign = mode == ASSIGN
        m0 = var_size[last]
        si0 = var_in[last]
        so0 = var_out[last]
        # the variable just outside the innermost joins the block when it is a stride one
        if last > vs and var_tab[last - 1] < 0:
            outer_end = last - 1
            m1 = var_size[last - 1]
            si1 = var_in[last - 1]
            so1 = var_out[last - 1]
        else:
            outer_end = last
            m1 = 1
            si1 = 0
            so1 = 0
        for v in range(vs, outer_end):
            idx[v - vs] = 0
        while True:
            ib = sbase
            ob = dbase
            sg = scale
            for v in range(vs, outer_end):
                x = idx[v - vs]
                t = var_tab[v]
                if t < 0:
                    ib += x * var_in[v]
                    ob += x * var_out[v]
                else:
                    ib += in_tab[t, x]
                    ob += out_tab[t, x]
                    sg = sg * sgn_tab[t, x]
            _block(src, dst, ib, ob, m1, si1, so1, m0, si0, so0, sg, assign)
            v = outer_end - 1
            while v >= vs:
                idx[v - vs] += 1
                if idx[v - vs] < var_size[v]:
                    break
                idx[v - vs] = 0
                v -= 1
            if v < vs:
                break


@njit(cache=True)
def _max_vars(ops: Ints) -> int:  # pragma: no cover - compiled
    max_vars = 1
    for op in range(ops.shape[0]):
        max_vars = max(max_vars, ops[op, VAR_END] - ops[op, VAR_START])
    return max_vars


@njit(parallel=True, cache=True)
def _run_parallel(  # pragma: no cover - compiled
    src: np.ndarray,
    dst: np.ndarray,
    n0: int,
    n1: int,
    ops: Ints,
    scales: np.ndarray,
    var_size: Ints,
    var_in: Ints,
    var_out: Ints,
    var_tab: Ints,
    in_tab: Ints,
    out_tab: Ints,
    sgn_tab: np.ndarray,
) -> None:
    ops, var_size, var_in, var_out, var_tab = _collapse(ops, var_size, var_in, var_out, var_tab)
    max_vars = _max_vars(ops)
    for item in prange(n0 * n1):
        idx = np.zeros(max_vars, np.int64)
        _run_item(src, dst, item, n1, ops, scales, var_size, var_in, var_out, var_tab, in_tab, out_tab, sgn_tab, idx)


@njit(cache=True)
def _run_serial(  # pragma: no cover - compiled
    src: np.ndarray,
    dst: np.ndarray,
    n0: int,
    n1: int,
    ops: Ints,
    scales: np.ndarray,
    var_size: Ints,
    var_in: Ints,
    var_out: Ints,
    var_tab: Ints,
    in_tab: Ints,
    out_tab: Ints,
    sgn_tab: np.ndarray,
) -> None:
    ops, var_size, var_in, var_out, var_tab = _collapse(ops, var_size, var_in, var_out, var_tab)
    idx = np.zeros(_max_vars(ops), np.int64)
    for item in range(n0 * n1):
        _run_item(src, dst, item, n1, ops, scales, var_size, var_in, var_out, var_tab, in_tab, out_tab, sgn_tab, idx)


#: Below this many element operations per call the serial kernel is used: a parallel region
#: costs tens of microseconds (more on a loaded machine) and does not pay for small work.
PARALLEL_THRESHOLD = 1 << 18


def run_ops(
    src: np.ndarray,
    dst: np.ndarray,
    n0: int,
    n1: int,
    ops: Ints,
    scales: np.ndarray,
    var_size: Ints,
    var_in: Ints,
    var_out: Ints,
    var_tab: Ints,
    in_tab: Ints,
    out_tab: Ints,
    sgn_tab: np.ndarray,
    work: int | None = None,
    parallel: bool = True,
) -> None:
    """Run every op of ``ops`` for every item (i0, i1) of an ``n0 × n1`` grid.

    ``src`` and ``dst`` are flat arrays of one dtype (they may be the same array when the
    regions read and written are disjoint); ``scales`` and ``sgn_tab`` have that dtype too.
    Items must write disjoint destination regions; they run in parallel (numba ``prange``)
    when ``work`` (element operations per item, summed over the ops) times the number of
    items reaches :data:`PARALLEL_THRESHOLD` and ``parallel`` is true. Callers that alternate
    with multithreaded BLAS calls pass ``parallel=False``: numba's OpenMP workers and BLAS's
    threads both spin-wait after their parallel regions, and on few cores the two pools then
    starve each other (measured: 5x slower layers on 2 cores).
    """
    big = work is None or work * n0 * n1 >= PARALLEL_THRESHOLD
    kernel = _run_parallel if parallel and big else _run_serial
    kernel(src, dst, n0, n1, ops, scales, var_size, var_in, var_out, var_tab, in_tab, out_tab, sgn_tab)
