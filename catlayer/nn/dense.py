"""Dense execution of small layers, and the cost model that chooses between plan and dense.

**Dense execution.** The entries of a layer's matrix are M[(o, I), (c, J)] = Σ_d W[o, c, d]·F_d[I, J],
and F_d[I, J] depends on (I, J) only through the column (F_d[I, J])_d, which takes few distinct
values (for S_n: one per set partition of the l + k positions, the orbits of the index tuples).
:func:`pattern_tables` finds them once, exactly (balanced-ternary keys from one layer forward):
``patterns`` (D, C) holds the C distinct columns and
``index`` (n^l, n^k) the column of each entry. A forward then builds M by one small matmul
U = W @ patterns (c_out, c_in, C) and one ``index_select`` (a gather: no scatter, no in-place
write), and applies it with ``torch.nn.functional.linear`` (bias folded into the GEMM): three
ops, all exportable, differentiable by autograd.

**Cost model.** :func:`measure` runs a forward on ``meta`` tensors (no data, no time) under a
dispatch mode that records every aten op the forward issues, with the bytes it reads and
writes and its matmul flops; :func:`Cost.seconds` turns that into a time estimate

    t = α·(compute ops) + α_v·(view ops) + (bytes read + 2·bytes written) / β + flops / γ

(writes count twice: a fresh output costs page faults on top of the traffic with the default
CPU allocator). α and α_v are the Python and dispatch overhead per op, which decides small
layers: a plan issues tens to hundreds of ops, dense three. The CPU constants in
:data:`MACHINES` were fitted (least squares on relative error) to forward times of 14 plan and
dense layers on one core (S_n 2→2 and 3→3, O(n) 4→4, Sp(n) 2→2, n from 4 to 32); the CUDA ones
are order-of-magnitude assumptions, not fitted (pass ``execution`` explicitly on a GPU to be
sure). Only their ratios decide, and ``bench/bench_nn.py`` prints the choice next to measured
times. A layer with ``execution="auto"`` runs dense when the model says dense is faster at the
reference batch.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = [
    "MACHINES",
    "REFERENCE_BATCH",
    "Cost",
    "dense_forward",
    "dense_gather",
    "measure",
    "pattern_tables",
    "ternary_weights",
]

#: Batch size at which ``execution="auto"`` compares plan and dense (they scale differently).
REFERENCE_BATCH = 32

#: α (seconds per compute op), α_v (per view op), β (bytes/s), γ (flop/s) by device type.
MACHINES = {
    "cpu": {"op": 2e-5, "view": 2e-5, "bandwidth": 1e10, "flops": 1.5e10},
    "cuda": {"op": 1e-5, "view": 1e-5, "bandwidth": 1e12, "flops": 2e13},
}


@dataclass(frozen=True)
class Cost:
    """What a forward does: compute ops, view ops, bytes read, bytes written, matmul flops, and
    the peak of the bytes held by tensors it allocated (its output included)."""

    ops: int
    views: int
    read: int
    written: int
    flops: int
    peak: int = 0

    def seconds(self, device: str = "cpu") -> float:
        """The model's time estimate on a device type (a key of :data:`MACHINES`).

        >>> Cost(ops=2, views=0, read=0, written=0, flops=0).seconds("cpu")
        4e-05
        """
        m = MACHINES["cuda" if device.startswith("cuda") else "cpu"]
        return (
            self.ops * m["op"]
            + self.views * m["view"]
            + (self.read + 2 * self.written) / m["bandwidth"]
            + (self.flops / m["flops"])
        )


_MATMULS = {"bmm", "baddbmm", "mm", "addmm", "matmul", "mv", "dot"}


def _distinct_bytes(t: torch.Tensor) -> int:
    """Bytes of the distinct elements of t (a broadcast, stride-0 axis is read once)."""
    count = 1
    for size, stride in zip(t.shape, t.stride(), strict=True):
        if stride != 0:
            count *= size
    return count * t.element_size()


class _Counter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops = self.views = self.read = self.written = self.flops = 0
        self.live = self.peak = 0

    def _track(self, t: torch.Tensor) -> None:
        # The tensor object lives as long as its storage is used: views keep their base alive.
        size = t.untyped_storage().nbytes()
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(t, self._free, size)

    def _free(self, size: int) -> None:
        self.live -= size

    def __torch_dispatch__(
        self,
        func: torch._ops.OpOverload,
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        outputs = [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, torch.Tensor)]
        inputs = [a for a in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        if func.is_view or name in ("empty", "empty_strided", "detach", "alias", "_unsafe_view"):
            self.views += 1  # metadata only: dispatch overhead, no traffic
            if name in ("empty", "empty_strided"):
                for t in outputs:
                    self._track(t)
            return out
        self.ops += 1
        if not any(arg.alias_info is not None and arg.alias_info.is_write for arg in func._schema.arguments):
            for t in outputs:  # an in-place op (add_, baddbmm_) returns memory already counted
                self._track(t)
        self.read += sum(_distinct_bytes(t) for t in inputs)
        self.written += sum(t.numel() * t.element_size() for t in outputs)
        if name in _MATMULS and outputs:
            a = inputs[-2]
            self.flops += 2 * outputs[0].numel() * a.shape[-1]
        return out


def measure(fn: Callable[..., object], *args: object) -> Cost:
    """Run ``fn(*args)`` on meta copies of its tensor arguments, without autograd, and count
    what it does.

    >>> cost = measure(lambda a, b: torch.bmm(a, b) + 1, torch.ones(2, 3, 4), torch.ones(2, 4, 5))
    >>> cost.ops, cost.flops, cost.written, cost.peak   # bmm's output (2·3·5 floats) and the sum
    (2, 240, 240, 240)
    """
    meta = [a.to("meta") if isinstance(a, torch.Tensor) else a for a in args]
    counter = _Counter()
    with torch.no_grad(), counter:  # as PlanFunction's forward runs: nothing kept for autograd
        out = fn(*meta)
    del out
    return Cost(counter.ops, counter.views, counter.read, counter.written, counter.flops, counter.peak)


#: Diagrams per balanced-ternary key: Σ_{d<30} 3^d·f_d with f_d ∈ {−1, 0, 1} stays below 2^48,
#: so a float64 layer forward computes it exactly.
_DIGITS = 30


def ternary_weights(num_diagrams: int) -> np.ndarray:
    """(G, D) weights with row h = 3^(d − 30h) on diagrams 30h ≤ d < 30(h + 1), 0 elsewhere."""
    weights = np.zeros((-(-num_diagrams // _DIGITS), num_diagrams))
    for d in range(num_diagrams):
        weights[d // _DIGITS, d] = 3.0 ** (d % _DIGITS)
    return weights


def pattern_tables(
    images: Callable[[int, int], npt.ArrayLike], num_diagrams: int, rows: int, cols: int, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct columns of the basis images and which one each entry holds, exactly.

    ``images(start, stop)`` returns, for J in range(start, stop), the layer with weights
    :func:`ternary_weights` (G output channels, one input channel) applied to the one-hot e_J:
    an array (stop − start, G, rows) whose entry [J, h, I] is Σ_d 3^(d − 30h)·F_d[I, J] over the
    diagrams of digit group h. Every image entry F_d[I, J] is 0 or ±1, so these balanced-ternary
    numbers are exact in float64 and encode the column (F_d[I, J])_d without loss: entries with
    equal keys have equal columns. Returns ``patterns`` (D, C) (decoded from the distinct keys)
    and ``index`` (rows, cols) with F_d[I, J] = patterns[d, index[I, J]].

    >>> import numpy as np
    >>> basis = np.stack([np.eye(3), np.ones((3, 3))])                  # F_0 = I, F_1 = all ones
    >>> images = lambda start, stop: np.einsum("hd,dij->jhi", ternary_weights(2), basis[:, :, start:stop])
    >>> patterns, index = pattern_tables(images, 2, 3, 3, chunk=2)
    >>> patterns.tolist(), index.tolist()
    ([[0, 1], [1, 1]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    """
    groups = -(-num_diagrams // _DIGITS)
    keys: npt.NDArray[np.int64] = np.empty((rows, cols, groups), dtype=np.int64)
    for start in range(0, cols, chunk):
        block = np.asarray(images(start, min(cols, start + chunk)))  # (m, G, rows)
        keys[:, start : start + block.shape[0]] = np.rint(block).astype(np.int64).transpose(2, 0, 1)
    keys = keys.reshape(rows * cols, groups)
    inverse = _classes(keys)
    representative = np.zeros(inverse.max() + 1, dtype=np.int64)
    representative[inverse] = np.arange(rows * cols)  # any entry of a class: its keys are the class's
    distinct = keys[representative]
    patterns = np.zeros((num_diagrams, len(distinct)), dtype=np.int64)
    for h in range(groups):
        value = distinct[:, h].copy()
        for d in range(h * _DIGITS, min(num_diagrams, (h + 1) * _DIGITS)):
            digit = (value + 1) % 3 - 1
            patterns[d] = digit
            value = (value - digit) // 3
        if value.any():
            raise ValueError("basis image entries must be 0 or ±1 for the dense tables")
    return patterns, inverse.reshape(rows, cols).astype(np.int64)


def _classes(keys: np.ndarray) -> np.ndarray:
    """Class ids of the rows of ``keys`` (equal rows, equal ids), exactly. One sort of a 64-bit
    fingerprint of each row (a random linear combination, wrapping) instead of one per column;
    every class is then checked against its representative's row, and a fingerprint collision (a
    chance of about rows² / 2^64) falls back to refining column by column."""
    multipliers = np.random.default_rng(0).integers(1, 2**63 - 1, size=keys.shape[1], dtype=np.int64) | 1
    with np.errstate(over="ignore"):
        fingerprint = (keys * multipliers).sum(axis=1)
    _, inverse = np.unique(fingerprint, return_inverse=True)
    inverse = inverse.reshape(-1)
    representative = np.zeros(inverse.max() + 1, dtype=np.int64)
    representative[inverse] = np.arange(len(keys))
    if np.array_equal(keys, keys[representative[inverse]]):
        return inverse
    inverse = np.zeros(len(keys), dtype=np.int64)
    for h in range(keys.shape[1]):
        _, column = np.unique(keys[:, h], return_inverse=True)
        _, inverse = np.unique(inverse * (int(column.max()) + 1) + column.reshape(-1), return_inverse=True)
    return inverse.reshape(-1)


def dense_gather(index: np.ndarray, in_channels: int, num_patterns: int) -> np.ndarray:
    """For each entry (I, c, J) of a layer matrix's rows I (per output channel) and columns
    (c, J), its position in U[o] = (W[o] @ patterns) flattened as (c_in·C):
    c·C + index[I, J] (int64, length n^l·c_in·n^k)."""
    offsets = np.arange(in_channels, dtype=np.int64)[None, :, None] * num_patterns
    return (offsets + index[:, None, :]).reshape(-1)


def dense_forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    patterns: torch.Tensor,
    gather: torch.Tensor,
    bias: torch.Tensor | None,
    spatial: tuple[int, ...],
) -> torch.Tensor:
    """x (B, c_in) + (n,)*k through the dense matrix built from the weights: U = W @ patterns
    (c_out, c_in, C), M = U[o] gathered by ``gather`` (:func:`dense_gather`) into
    (c_out·n^l, c_in·n^k), then one ``linear``; ``bias`` is the bias tensor flattened to
    (c_out·n^l), or None. Output (B, c_out) + ``spatial`` (c_out read off the weights)."""
    c_out = weight.shape[0]
    u = torch.matmul(weight, patterns).reshape(c_out, -1)
    in_features = math.prod(x.shape[1:])
    matrix = u.index_select(1, gather).reshape(gather.shape[0] * c_out // in_features, in_features)
    y = torch.nn.functional.linear(x.flatten(1), matrix, bias)
    return y.reshape((y.shape[0], c_out, *spatial))
