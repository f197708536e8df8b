"""Ragged batches of sets and graphs in the PyTorch Geometric convention, and S_n layers run on
them natively (docs/conventions.md §11).

A padded batch stores sample b on N indices with a mask (``(B, C) + (N,) * k`` and ``(B, N)``);
a **ragged batch** stores only what exists, rows first and channels last (as PyTorch Geometric
stores node features ``(num_nodes, C)``):

* order 0 (one value per sample): ``(B, C)``;
* order 1 (one value per node): ``(Σ n_b, C)``, the nodes of sample 0 first, then those of
  sample 1, …; ``RaggedBatch.batch`` maps each node to its sample (PyG's ``batch`` vector);
* order 2 (one value per ordered pair (i, j) of nodes of one sample, i = j included): ``(Σ n_b²,
  C)``, the pairs of sample 0 first, row-major within a sample (i slow, j fast);
  ``RaggedBatch.pair_index`` holds the global node indices (i, j) of each row, as an
  ``edge_index`` of the complete graph with self-loops of every sample.

:class:`RaggedBatch` describes the layout (from the sizes n_b, a PyG ``batch`` vector or a
mask); :func:`to_padded` and :func:`from_padded` convert features both ways (any masks, not
only prefixes); :func:`ragged_forward` (or the module :class:`RaggedLinear`) runs an
:class:`~catlayer.nn.EquivariantLinear` or :class:`~catlayer.nn.TypedLinear` of ``S()`` with
orders ≤ 2 on a ragged batch without padding.

**Execution.** It runs the layer's own plans (:mod:`catlayer.plan`,
docs/conventions.md §7): each bottom half (:class:`~catlayer.plan.Reduction`) and each top half
(:class:`~catlayer.plan.Expansion`) is read as a labelling of tensor axes (a slot, or a closed
block), and a small interpreter turns a labelling into a 0/1 matrix acting on the rows of the
ragged layout, executed in its cheapest form: a gather (diagonal extraction, transposition, a
sample's value broadcast to its nodes or pairs, a node's value to its row or column), a sparse
CSR product (segment sums: row and column sums, per-sample totals) or an embedding (onto the
diagonal pairs i = j); the backward applies the transposed matrix the same way. As in the padded
program, each bottom half is reduced once (from a smaller reduction when it can: the totals from
the row sums, the trace from the diagonal), channels are mixed by one matrix product per group
of diagrams sharing a top half (groups stacking the same tensors share it), and the top halves
are summed in compact form (a sample's value onto nodes before nodes onto pairs) before they
reach the full size. The result on each sample equals the layer applied to that sample alone at
its own n (``reduce="mean"`` divides each summed index by that n; ``"sum"`` applies the functor
images exactly), which is also what the padded batch with masks computes (§11.3); a sample with
no node gives zeros.

The index tables depend only on the sizes: they are built on first use and kept by the
:class:`RaggedBatch`, so one ragged batch serves every layer of a network. Products of groups,
orders above 2, ``torch.compile`` / export and ``torch.func`` transforms are not supported here
(the padded path with masks covers them).

>>> import torch
>>> from catlayer import S
>>> from catlayer.nn import EquivariantLinear
>>> ragged = RaggedBatch([3, 1, 2])                     # three graphs: 3, 1 and 2 nodes
>>> ragged.batch.tolist(), ragged.num_pairs
([0, 0, 0, 1, 2, 2], 14)
>>> layer = EquivariantLinear(S(), 2, 1, in_channels=4, out_channels=5)
>>> pairs = torch.randn(ragged.num_pairs, 4)            # (Σ n², C): channels last
>>> nodes = ragged_forward(layer, pairs, ragged)
>>> nodes.shape
torch.Size([6, 5])
>>> padded, mask = to_padded(pairs, ragged, order=2)    # (B, C, N, N), (B, N)
>>> torch.allclose(to_padded(nodes, ragged, order=1)[0], layer(padded, mask), atol=1e-6)
True
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..diagrams.validation import short_repr
from ..plan import Expansion, Reduction, plan_layer
from .linear import EquivariantLinear, TypedLinear

__all__ = ["RaggedBatch", "RaggedLinear", "from_padded", "ragged_forward", "to_padded"]

#: The orders a ragged tensor may have (samples, nodes, pairs).
MAX_ORDER = 2


def _check_order(order: object, what: str = "order") -> int:
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_ORDER:
        raise ValueError(
            f"{what} must be 0 (per sample), 1 (per node) or 2 (per pair) for a ragged batch, got {short_repr(order)}"
        )
    return order


class RaggedBatch:
    """The layout of a ragged batch: B samples of n_b ≥ 0 nodes each (see the module docstring).

    Build it from the sizes (a sequence of ints or an integer tensor), with
    :meth:`from_batch` from a PyG ``batch`` vector, or with :meth:`from_mask` from a padded
    batch's mask. Every index table lives on the device of ``sizes`` and is computed once, when
    first asked for: build one ragged batch per batch and pass it to every layer.

    Attributes (tensors of int64): ``sizes`` (B,), ``ptr`` (B + 1,) node offsets, ``batch``
    (Σ n,) the sample of each node, ``pair_ptr`` (B + 1,) pair offsets, ``pair_index`` (2, Σ n²)
    the global nodes (i, j) of each pair, ``pair_batch`` (Σ n²,) the sample of each pair.

    >>> ragged = RaggedBatch([2, 0, 1])
    >>> ragged
    RaggedBatch(sizes=[2, 0, 1])
    >>> ragged.ptr.tolist(), ragged.pair_ptr.tolist()
    ([0, 2, 2, 3], [0, 4, 4, 5])
    >>> ragged.pair_index.tolist()
    [[0, 0, 1, 1, 2], [0, 1, 0, 1, 2]]
    >>> RaggedBatch.from_batch(torch.tensor([0, 0, 2]), num_samples=4).sizes.tolist()
    [2, 0, 1, 0]
    >>> RaggedBatch([2, -1])
    Traceback (most recent call last):
    ...
    ValueError: RaggedBatch: sizes must be >= 0, got [2, -1]
    """

    def __init__(self, sizes: Sequence[int] | torch.Tensor, *, device: torch.device | str | None = None) -> None:
        if isinstance(sizes, torch.Tensor):
            if sizes.dtype == torch.bool or sizes.dtype.is_floating_point or sizes.dtype.is_complex:
                raise TypeError(f"RaggedBatch: sizes must be an integer tensor, got {sizes.dtype}")
            if sizes.dim() != 1:
                raise ValueError(f"RaggedBatch: sizes must be one-dimensional (B,), got shape {tuple(sizes.shape)}")
            tensor = sizes.to(device=device if device is not None else sizes.device, dtype=torch.long)
        else:
            if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
                raise TypeError(f"RaggedBatch: sizes must be a sequence of ints or a tensor, got {short_repr(sizes)}")
            values = list(sizes)
            if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
                raise TypeError(f"RaggedBatch: sizes must be ints, got {short_repr(values)}")
            tensor = torch.tensor(values, dtype=torch.long, device=device)
        if tensor.numel() == 0:
            raise ValueError("RaggedBatch: a ragged batch needs at least one sample")
        if bool((tensor < 0).any()):
            raise ValueError(f"RaggedBatch: sizes must be >= 0, got {short_repr(tensor.tolist())}")
        self.sizes = tensor
        self._cache: dict[Any, Any] = {}

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_batch(cls, batch: torch.Tensor, num_samples: int | None = None) -> RaggedBatch:
        """The ragged batch of a PyG ``batch`` vector (node → sample, sorted: the nodes of one
        sample are contiguous). ``num_samples`` (default: the largest sample index + 1) counts
        trailing samples with no node too.

        >>> RaggedBatch.from_batch(torch.tensor([0, 0, 0, 1, 1])).sizes.tolist()
        [3, 2]
        >>> RaggedBatch.from_batch(torch.tensor([1, 0]))
        Traceback (most recent call last):
        ...
        ValueError: RaggedBatch.from_batch: the batch vector must be sorted (the nodes of each sample ...
        """
        if not isinstance(batch, torch.Tensor):
            raise TypeError(f"RaggedBatch.from_batch: batch must be a torch.Tensor, got {type(batch).__name__}")
        if batch.dtype == torch.bool or batch.dtype.is_floating_point or batch.dtype.is_complex:
            raise TypeError(f"RaggedBatch.from_batch: batch must be an integer tensor, got {batch.dtype}")
        if batch.dim() != 1:
            raise ValueError(f"RaggedBatch.from_batch: batch must be one-dimensional, got shape {tuple(batch.shape)}")
        batch = batch.long()
        if batch.numel() and bool((batch < 0).any()):
            raise ValueError("RaggedBatch.from_batch: sample indices must be >= 0")
        if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
            raise ValueError(
                "RaggedBatch.from_batch: the batch vector must be sorted (the nodes of each sample contiguous, "
                "samples in order)"
            )
        largest = int(batch[-1]) + 1 if batch.numel() else 0
        if num_samples is None:
            if not largest:
                raise ValueError("RaggedBatch.from_batch: an empty batch vector needs num_samples")
            num_samples = largest
        elif isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < max(largest, 1):
            raise ValueError(
                f"RaggedBatch.from_batch: num_samples must be an int >= {max(largest, 1)} (the batch vector "
                f"names sample {largest - 1}), got {short_repr(num_samples)}"
            )
        return cls(torch.bincount(batch, minlength=num_samples))

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> RaggedBatch:
        """The ragged batch holding the valid indices of a padded batch's mask (B, N).

        >>> RaggedBatch.from_mask(torch.tensor([[True, False, True], [False, False, False]])).sizes.tolist()
        [2, 0]
        """
        _check_mask(mask, "RaggedBatch.from_mask")
        return cls(mask.sum(1))

    # -- the layout -------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.sizes.device

    @property
    def num_samples(self) -> int:
        return self.sizes.numel()

    def __len__(self) -> int:
        return self.num_samples

    @property
    def num_nodes(self) -> int:
        """Σ n_b."""
        return int(self.ptr[-1])

    @property
    def num_pairs(self) -> int:
        """Σ n_b²."""
        return int(self.pair_ptr[-1])

    @property
    def max_size(self) -> int:
        """max n_b (the N of the smallest padded batch holding every sample)."""
        return int(self.sizes.max())

    def num_rows(self, order: int) -> int:
        """The rows of a ragged tensor of this order: B, Σ n_b or Σ n_b²."""
        order = _check_order(order)
        return (self.num_samples, self.num_nodes, self.num_pairs)[order]

    def _cached(self, key: Any, build: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @property
    def ptr(self) -> torch.Tensor:
        """Node offsets (B + 1,): sample b holds the nodes ptr[b] … ptr[b + 1] − 1."""
        return self._cached("ptr", lambda: _offsets(self.sizes))

    @property
    def pair_ptr(self) -> torch.Tensor:
        """Pair offsets (B + 1,): sample b holds the pairs pair_ptr[b] … pair_ptr[b + 1] − 1."""
        return self._cached("pair_ptr", lambda: _offsets(self.sizes * self.sizes))

    @property
    def batch(self) -> torch.Tensor:
        """The sample of each node (Σ n,): PyG's ``batch`` vector."""
        return self._cached("batch", lambda: self._repeat(self.sizes, self.num_nodes))

    @property
    def pair_batch(self) -> torch.Tensor:
        """The sample of each pair (Σ n²,)."""
        return self._cached("pair_batch", lambda: self._repeat(self.sizes * self.sizes, self.num_pairs))

    @property
    def pair_index(self) -> torch.Tensor:
        """The global nodes (i, j) of each pair (2, Σ n²), sample by sample, row-major."""

        def build() -> torch.Tensor:
            n = self.sizes[self.batch]  # the size of each node's sample: its row's length
            nodes = torch.arange(self.num_nodes, device=self.device)
            rows = torch.repeat_interleave(nodes, n, output_size=self.num_pairs)
            row_start = (torch.cumsum(n, 0) - n)[rows]  # the first pair of each pair's row
            cols = torch.arange(self.num_pairs, device=self.device) - row_start + self.ptr[self.batch][rows]
            return torch.stack((rows, cols))

        return self._cached("pair_index", build)

    def _repeat(self, counts: torch.Tensor, total: int) -> torch.Tensor:
        samples = torch.arange(self.num_samples, device=self.device)
        return torch.repeat_interleave(samples, counts, output_size=total)

    def sample_index(self, order: int) -> torch.Tensor:
        """The sample of each row of a ragged tensor of this order."""
        order = _check_order(order)
        if order == 0:
            return self._cached("samples", lambda: torch.arange(self.num_samples, device=self.device))
        return self.batch if order == 1 else self.pair_batch

    def positions(self) -> torch.Tensor:
        """The index of each node within its sample (Σ n,): 0, …, n_b − 1 (a prefix mask)."""
        return self._cached(
            "positions", lambda: torch.arange(self.num_nodes, device=self.device) - self.ptr[self.batch]
        )

    def to(self, device: torch.device | str) -> RaggedBatch:
        """This ragged batch on another device (tables are rebuilt there when needed)."""
        return self if torch.device(device) == self.device else RaggedBatch(self.sizes.to(device))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RaggedBatch) and torch.equal(self.sizes.cpu(), other.sizes.cpu())

    def __hash__(self) -> int:
        return hash(tuple(self.sizes.tolist()))

    def __repr__(self) -> str:
        sizes = self.sizes.tolist()
        text = str(sizes) if len(sizes) <= 12 else f"[{', '.join(map(str, sizes[:12]))}, …] ({len(sizes)} samples)"
        return f"RaggedBatch(sizes={text})"

    # -- the index tables of the interpreter ------------------------------------------------------
    def _space(self, level: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The rows of a ragged tensor with ``level`` node axes: the sample of each row and the
        global node of each of its axes."""
        if level == 0:
            return self.sample_index(0), ()
        if level == 1:
            return self.batch, (self._cached("nodes", lambda: torch.arange(self.num_nodes, device=self.device)),)
        return self.pair_batch, (self.pair_index[0], self.pair_index[1])

    def _row(self, level: int, space: int, nodes: Sequence[torch.Tensor]) -> torch.Tensor:
        """The row of a ragged tensor with ``level`` node axes holding, for each row of the
        space of ``space`` node axes (:meth:`_space`), its sample and ``nodes``."""
        sample = self._space(space)[0]
        if level == 0:
            return sample
        if level == 1:
            return nodes[0]

        def per_row() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            return self.pair_ptr[sample], self.ptr[sample], self.sizes[sample]

        first_pair, first_node, size = self._cached(("per_row", space), per_row)
        return first_pair + (nodes[0] - first_node) * size + (nodes[1] - first_node)

    def _reduction_map(self, level: int, labels: tuple[int, ...], slots: int) -> _RowMap | None:
        """The map reducing a tensor with ``level`` node axes labelled ``labels`` (a label <
        ``slots`` is a slot of the result, a larger one a block summed over) to a tensor with
        ``slots`` axes (None: the identity)."""
        key = ("reduce", level, labels, slots)
        if key not in self._cache:
            rowmap = None
            if labels != tuple(range(level)) or slots != level:
                nodes = self._space(level)[1]
                keep, first = _ties(labels, nodes)
                target = self._row(slots, level, [nodes[first[s]] for s in range(slots)])
                source = torch.arange(target.numel(), device=self.device)
                if keep is not None:
                    source, target = source[keep], target[keep]
                rowmap = _RowMap(target, source, self.num_rows(slots), self.num_rows(level))
            self._cache[key] = rowmap
        return self._cache[key]

    def _expansion_map(self, slots: int, labels: tuple[int, ...], level: int) -> _RowMap | None:
        """The map writing a tensor with ``slots`` axes onto a tensor with ``level`` node axes
        labelled ``labels`` with no two axes alike (a broadcast along the axes labelled ≥
        ``slots``, a permutation of the others; None: the identity)."""
        key = ("expand", slots, labels, level)
        if key not in self._cache:
            rowmap = None
            if labels != tuple(range(level)) or slots != level:
                nodes = self._space(level)[1]
                keep, first = _ties(labels, nodes)
                assert keep is None, "tied axes are an embedding"
                source = self._row(slots, level, [nodes[first[s]] for s in range(slots)])
                rowmap = _RowMap(None, source, self.num_rows(level), self.num_rows(slots))
            self._cache[key] = rowmap
        return self._cache[key]

    def _embedding(self, slots: int, labels: tuple[int, ...], level: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Where a tensor with ``slots`` axes lands on a tensor with ``level`` node axes whose
        axes with one label are tied (zero off them): (rows written, rows read or None for all,
        in order)."""
        key = ("embed", slots, labels, level)
        if key not in self._cache:
            nodes = self._space(level)[1]
            keep, first = _ties(labels, nodes)
            assert keep is not None, "an embedding ties some axes"
            source = self._row(slots, level, [nodes[first[s]] for s in range(slots)])
            written, read = torch.arange(source.numel(), device=self.device)[keep], source[keep]
            everything = torch.equal(read, torch.arange(self.num_rows(slots), device=self.device))
            self._cache[key] = (written, None if everything else read)
        return self._cache[key]

    def _inverse_sizes(self, level: int, power: int, like: torch.Tensor) -> torch.Tensor:
        """n_b ** −power for the sample of each row, (rows, 1) in ``like``'s dtype (a sample with
        no node divides by 1: its sums are 0)."""
        key = ("inverse", level, power, like.dtype)
        if key not in self._cache:
            n = self.sizes.clamp(min=1).to(like.dtype)
            self._cache[key] = (n**-power)[self.sample_index(level)].unsqueeze(1)
        return self._cache[key]

    def _nonempty(self, like: torch.Tensor) -> torch.Tensor | None:
        """(B, 1) 1/0 for samples with / without nodes, or None when every sample has one."""
        key = ("nonempty", like.dtype)
        if key not in self._cache:
            self._cache[key] = None if bool((self.sizes > 0).all()) else (self.sizes > 0).to(like.dtype).unsqueeze(1)
        return self._cache[key]


def _offsets(counts: torch.Tensor) -> torch.Tensor:
    return torch.cat((counts.new_zeros(1), torch.cumsum(counts, 0)))


def _ties(labels: tuple[int, ...], nodes: Sequence[torch.Tensor]) -> tuple[torch.Tensor | None, dict[int, int]]:
    """Where the axes sharing a label hold the same node (None: everywhere), and the first axis of
    each label."""
    keep: torch.Tensor | None = None
    first: dict[int, int] = {}
    for axis, label in enumerate(labels):
        if label in first:
            same = nodes[axis] == nodes[first[label]]
            keep = same if keep is None else keep & same
        else:
            first[label] = axis
    return keep, first


class _RowMap:
    """A 0/1 matrix A (n_out × n_in) acting on the rows of a ragged tensor (n_in, C) ↦ A x, by its
    cheapest form: a gather when every output row has one entry (``index_select``), an
    embedding when it has at most one (zeros, then ``index_copy_``), else a product with A as a
    sparse CSR matrix (segment sums: row and column sums, per-sample totals). Its transpose, the
    backward, is built when first needed; :class:`_ApplyRowMap` differentiates through it."""

    def __init__(self, out_rows: torch.Tensor | None, in_rows: torch.Tensor, n_out: int, n_in: int) -> None:
        """A has a 1 at (out_rows[q], in_rows[q]) for each q; ``out_rows`` None: row q is in_rows[q]
        (a gather)."""
        self.shape = (n_out, n_in)
        self.index: torch.Tensor | None = None
        self.rows: torch.Tensor | None = None
        self.crow: torch.Tensor | None = None
        if out_rows is None:
            out_rows = torch.arange(n_out, device=in_rows.device)
            low = high = 1
        else:
            counts = torch.bincount(out_rows, minlength=n_out)
            low, high = (int(v) for v in torch.aminmax(counts)) if n_out else (1, 1)
        self.out_rows, self.in_rows = out_rows, in_rows
        if low == high == 1:
            self.kind = "gather"
            if torch.equal(out_rows, torch.arange(n_out, device=out_rows.device)):
                self.index = in_rows
            else:
                self.index = torch.empty(n_out, dtype=torch.long, device=out_rows.device).scatter_(0, out_rows, in_rows)
        elif high <= 1:
            self.kind = "embed"
            self.rows, self.index = out_rows, in_rows
        else:
            self.kind = "sum"
            self.crow = _offsets(counts)
            ordered = out_rows.numel() < 2 or bool((out_rows[1:] >= out_rows[:-1]).all())
            self.index = in_rows if ordered else in_rows[torch.argsort(out_rows, stable=True)]
        self._matrices: dict[torch.dtype, torch.Tensor] = {}
        self._transpose: _RowMap | None = None

    def transpose(self) -> _RowMap:
        if self._transpose is None:
            self._transpose = _RowMap(self.in_rows, self.out_rows, self.shape[1], self.shape[0])
            self._transpose._transpose = self
        return self._transpose

    def _matrix(self, dtype: torch.dtype) -> torch.Tensor:
        if dtype not in self._matrices:
            assert self.crow is not None and self.index is not None
            values = torch.ones(self.index.numel(), dtype=dtype, device=self.index.device)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore")
                self._matrices[dtype] = torch.sparse_csr_tensor(self.crow, self.index, values, self.shape)
        return self._matrices[dtype]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """A x, without autograd (see :func:`_apply`)."""
        assert self.index is not None
        if self.kind == "gather":
            return x.index_select(0, self.index)
        if self.kind == "embed":
            assert self.rows is not None
            return x.new_zeros((self.shape[0], x.shape[1])).index_copy_(0, self.rows, x.index_select(0, self.index))
        return torch.mm(self._matrix(x.dtype), x.contiguous())


class _ApplyRowMap(torch.autograd.Function):
    """y = A x with x̄ = Aᵀ ȳ (itself differentiable: double backward works)."""

    @staticmethod
    def forward(x: torch.Tensor, rowmap: _RowMap) -> torch.Tensor:
        return rowmap(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.rowmap = inputs[1]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _apply(ctx.rowmap.transpose(), grad), None


def _apply(rowmap: _RowMap | None, x: torch.Tensor) -> torch.Tensor:
    """A x for a row map (None: the identity), differentiable."""
    if rowmap is None:
        return x
    if torch.is_grad_enabled() and x.requires_grad:
        return _ApplyRowMap.apply(x, rowmap)
    return rowmap(x)


def _check_mask(mask: object, what: str) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{what}: the mask must be a bool torch.Tensor (B, N), got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"{what}: the mask must be a bool tensor (True = valid index), got {mask.dtype}")
    if mask.dim() != 2 or mask.shape[0] == 0:
        raise ValueError(f"{what}: the mask must have shape (B, N) with B >= 1, got {tuple(mask.shape)}")
    return mask


def _check_ragged(ragged: object, what: str) -> RaggedBatch:
    if not isinstance(ragged, RaggedBatch):
        raise TypeError(f"{what}: expected a RaggedBatch, got {type(ragged).__name__}")
    return ragged


def _check_features(
    x: object, ragged: RaggedBatch, order: int, what: str, channels: int | None = None, floating: bool = True
) -> torch.Tensor:
    """A ragged tensor of this order: (rows, C) on the ragged batch's device (floating when asked)."""
    rows = ragged.num_rows(order)
    expected = ("(B, C)", "(Σ n, C)", "(Σ n², C)")[order]
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what}: order {order} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[0] != rows or (channels is not None and x.shape[1] != channels):
        c = "C" if channels is None else str(channels)
        raise ValueError(
            f"{what}: order {order} must have shape {expected} = ({rows}, {c}) for {ragged!r}, got {tuple(x.shape)}"
        )
    if floating and not (x.dtype.is_floating_point or x.dtype.is_complex):
        raise TypeError(f"{what}: order {order} is {x.dtype}; convert it to a floating dtype first")
    if x.device != ragged.device:
        raise ValueError(f"{what}: order {order} is on {x.device}, the ragged batch on {ragged.device}")
    return x


# -- conversions ------------------------------------------------------------------------------------
def _infer_order(x: torch.Tensor, ragged: RaggedBatch) -> int:
    rows = x.shape[0] if isinstance(x, torch.Tensor) and x.dim() >= 1 else None
    matches = [k for k in range(MAX_ORDER + 1) if ragged.num_rows(k) == rows]
    if len(matches) != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"to_padded: cannot tell the order of a tensor of shape {shape} for {ragged!r} "
            f"(rows: B = {ragged.num_samples}, Σ n = {ragged.num_nodes}, Σ n² = {ragged.num_pairs}): pass order="
        )
    return matches[0]


def _positions(
    ragged: RaggedBatch, mask: torch.Tensor | None, size: int | None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The padded index of each node, the mask and N."""
    if mask is None:
        n = ragged.max_size if size is None else size
        if isinstance(n, bool) or not isinstance(n, int) or n < ragged.max_size:
            raise ValueError(f"to_padded: size must be an int >= the largest sample ({ragged.max_size}), got {n!r}")
        positions = ragged.positions()
        mask = torch.arange(n, device=ragged.device) < ragged.sizes.unsqueeze(1)
        return positions, mask, n
    _check_mask(mask, "to_padded")
    if size is not None and size != mask.shape[1]:
        raise ValueError(f"to_padded: size {size} disagrees with the mask's N = {mask.shape[1]}")
    if mask.device != ragged.device or mask.shape[0] != ragged.num_samples:
        raise ValueError(
            f"to_padded: the mask must be (B, N) with B = {ragged.num_samples} on {ragged.device}, got "
            f"{tuple(mask.shape)} on {mask.device}"
        )
    if not torch.equal(mask.sum(1), ragged.sizes):
        raise ValueError("to_padded: the mask's valid indices per sample disagree with the ragged batch's sizes")
    return mask.nonzero()[:, 1], mask, mask.shape[1]


def to_padded(
    features: torch.Tensor | Mapping[int, torch.Tensor],
    ragged: RaggedBatch,
    order: int | None = None,
    *,
    size: int | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[Any, torch.Tensor]:
    """A ragged tensor (or a dict order → ragged tensor) as a padded batch and its mask.

    ``features`` of order k (0, 1 or 2; inferred from the rows when unambiguous) has shape
    (B, C), (Σ n, C) or (Σ n², C); the result has catlayer's padded shape (B, C) + (N,) * k with
    zeros at padded entries, and the mask (B, N). N is ``size`` (default: the largest sample);
    the nodes of each sample take the first n_b indices, or the valid indices of ``mask`` in
    increasing order when given (:func:`from_padded`'s inverse). Differentiable.

    >>> ragged = RaggedBatch([2, 1])
    >>> padded, mask = to_padded(torch.arange(3.0).unsqueeze(1), ragged)
    >>> padded.tolist(), mask.tolist()
    ([[[0.0, 1.0]], [[2.0, 0.0]]], [[True, True], [True, False]])
    >>> pairs, _ = to_padded(torch.arange(5.0).unsqueeze(1), ragged, order=2)
    >>> pairs[:, 0].tolist()
    [[[0.0, 1.0], [2.0, 3.0]], [[4.0, 0.0], [0.0, 0.0]]]
    """
    _check_ragged(ragged, "to_padded")
    positions, full_mask, n = _positions(ragged, mask, size)
    if isinstance(features, Mapping):
        if order is not None:
            raise ValueError("to_padded: a dict of features carries its orders in its keys; do not pass order=")
        return {k: _to_padded(x, ragged, _check_order(k), positions, n) for k, x in features.items()}, full_mask
    k = _infer_order(features, ragged) if order is None else _check_order(order)
    return _to_padded(features, ragged, k, positions, n), full_mask


def _to_padded(x: Any, ragged: RaggedBatch, order: int, positions: torch.Tensor, n: int) -> torch.Tensor:
    x = _check_features(x, ragged, order, "to_padded", floating=False)
    if order == 0:
        return x
    out = x.new_zeros((ragged.num_samples, x.shape[1]) + (n,) * order)
    if order == 1:
        out[ragged.batch, :, positions] = x
    else:
        rows, cols = ragged.pair_index
        out[ragged.pair_batch, :, positions[rows], positions[cols]] = x
    return out


def from_padded(features: torch.Tensor | Mapping[int, torch.Tensor], mask: torch.Tensor) -> tuple[Any, RaggedBatch]:
    """A padded batch (B, C) + (N,) * k (or a dict order → such tensors) and its mask (B, N, any
    subset valid) as ragged tensors and their :class:`RaggedBatch`: the valid indices of each
    sample become its nodes in increasing order; entries at padded indices are dropped. The order
    is read off the shape (k = dim − 2). Differentiable.

    >>> x = torch.arange(6.0).reshape(2, 1, 3)
    >>> nodes, ragged = from_padded(x, torch.tensor([[True, False, True], [False, True, False]]))
    >>> nodes.tolist(), ragged
    ([[0.0], [2.0], [4.0]], RaggedBatch(sizes=[2, 1]))
    """
    _check_mask(mask, "from_padded")
    ragged = RaggedBatch(mask.sum(1))
    positions = mask.nonzero()[:, 1]
    if isinstance(features, Mapping):
        return {k: _from_padded(x, mask, ragged, positions, k) for k, x in features.items()}, ragged
    return _from_padded(features, mask, ragged, positions, None), ragged


def _from_padded(x: Any, mask: torch.Tensor, ragged: RaggedBatch, positions: torch.Tensor, order: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"from_padded: features must be a torch.Tensor (B, C) + (N,) * k, got {type(x).__name__}")
    k = _check_order(x.dim() - 2 if order is None else order, "the order of a padded tensor")
    b, n = mask.shape
    if x.dim() != 2 + k or x.shape[0] != b or any(s != n for s in x.shape[2:]):
        raise ValueError(
            f"from_padded: an order-{k} tensor must have shape (B, C) + (N,) * {k} with (B, N) = {(b, n)} from the "
            f"mask, got {tuple(x.shape)}"
        )
    if x.device != mask.device:
        raise ValueError(f"from_padded: the features are on {x.device}, the mask on {mask.device}")
    if k == 0:
        return x
    if k == 1:
        return x[ragged.batch, :, positions]
    rows, cols = ragged.pair_index
    return x[ragged.pair_batch, :, positions[rows], positions[cols]]


# -- native execution -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ReductionStep:
    """Reduction i: the tensor ``source`` (−1: the input of order ``k``; else reduction
    ``source``, already computed), with ``level`` node axes labelled ``labels``, reduced to
    ``slots`` axes; a mean then divides by n ** ``extra`` (the blocks summed in this step)."""

    k: int
    source: int
    level: int
    labels: tuple[int, ...]
    slots: int
    extra: int


@dataclass(frozen=True)
class _Placement:
    """Where a top half writes its slots: ``parts`` partitions the output axes into the blocks of
    the half (axes of one block are tied), ``reached`` lists the parts that receive a slot,
    ``labels[s]`` is the position in ``reached`` of slot s's part (a permutation of the slots)."""

    parts: tuple[tuple[int, ...], ...]
    reached: tuple[int, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True)
class _Group:
    """The diagrams of one top half into output ``output``: their mixing matrix is made of the
    column runs ``runs`` ((start, stop, sign)) of the output's gathered weights."""

    output: int
    placement: _Placement
    runs: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True)
class _Structure:
    """The static part of a layer's ragged execution, read off its plans once (ints only).

    ``reductions``: every (input order, bottom half) the layer reads, in computing order;
    ``units``: per stack of permuted reductions ((reduction, permutation labels), …), the
    groups it feeds, one matmul; ``blocks[l]``: the input orders of the blocks into output l, in
    the column order of its gathered weights; ``bias[l]``: (placement, diagram, sign) per bias
    diagram of output l."""

    reductions: tuple[_ReductionStep, ...]
    units: tuple[tuple[tuple[tuple[int, tuple[int, ...]], ...], tuple[_Group, ...]], ...]
    blocks: dict[int, tuple[int, ...]]
    bias: dict[int, tuple[tuple[_Placement, int, int], ...]]


_STRUCTURES: weakref.WeakKeyDictionary[TypedLinear, _Structure] = weakref.WeakKeyDictionary()


def _check_layer(layer: object) -> TypedLinear:
    if isinstance(layer, RaggedLinear):
        layer = layer.layer
    if not isinstance(layer, TypedLinear):
        raise TypeError(f"ragged execution runs an EquivariantLinear or TypedLinear of S(), got {type(layer).__name__}")
    if len(layer.factors) != 1 or not layer.factors[0].acts_by_permutations:
        raise ValueError(
            f"ragged execution needs a layer of S() (or S(n)), whose indices are nodes; {layer.group!r} is not "
            f"(products and other groups: pad the batch and pass a mask)"
        )
    orders = [*layer.in_type, *layer.out_type]
    if any(not isinstance(k, int) or k > MAX_ORDER for k in orders):
        raise ValueError(
            f"ragged execution supports orders <= {MAX_ORDER} (samples, nodes, pairs); the layer has orders "
            f"{sorted(set(orders))}: pad the batch and pass a mask instead"
        )
    return layer


def _labels(reduction: Reduction) -> tuple[int, ...]:
    """A reduction's input axes as labels: slot s, or num_slots + c for closed block c."""
    if reduction.free_axes or reduction.num_free_slots or any(reduction.closed_form):
        raise ValueError("ragged execution reads plans of S() only (no pair forms, no free vertices)")
    return reduction.axis_labels


def _derivation(source: Reduction, target: Reduction) -> tuple[int, ...] | None:
    """The labels reducing ``source``'s result to ``target``'s (both reductions of one input), or
    None when ``target`` is not a further reduction of ``source`` (every slot of ``source`` must
    lie inside one block of ``target``, every closed block of ``source`` be one of ``target``'s
    and every slot of ``target`` be reached)."""
    if set(source.closed) - set(target.closed):
        return None
    block = _labels(target)
    labels = []
    for axes in source.slot_axes:
        found = {block[a] for a in axes}
        if len(found) != 1:
            return None
        labels.append(found.pop())
    if not set(range(target.num_slots)) <= set(labels):
        return None
    return tuple(labels)


def _reduction_steps(needed: list[tuple[int, Reduction]]) -> tuple[tuple[_ReductionStep, ...], dict[Any, int]]:
    """The reductions in computing order (more slots first), each read off the smallest reduced
    tensor of its input it is a further reduction of (the per-sample totals from the row sums,
    the trace from the diagonal), else off the input; and the index of each (order, half)."""
    order = sorted(needed, key=lambda key: -key[1].num_slots)
    steps: list[_ReductionStep] = []
    for k, target in order:
        best = _ReductionStep(k, -1, k, _labels(target), target.num_slots, target.summed(0))
        for i, (kk, source) in enumerate(order[: len(steps)]):
            if kk != k or source.num_slots >= best.level:
                continue
            labels = _derivation(source, target)
            if labels is not None:
                extra = target.summed(0) - source.summed(0)
                best = _ReductionStep(k, i, source.num_slots, labels, target.num_slots, extra)
        steps.append(best)
    return tuple(steps), {key: i for i, key in enumerate(order)}


def _placement(expansion: Expansion) -> _Placement:
    parts = tuple(sorted(tuple(axes) for axes in (*expansion.slot_axes, *expansion.closed)))
    part_of_slot = [parts.index(tuple(axes)) for axes in expansion.slot_axes]
    reached = tuple(sorted(part_of_slot))
    return _Placement(parts, reached, tuple(reached.index(p) for p in part_of_slot))


def _runs(terms: list[tuple[int, int, int]]) -> tuple[tuple[int, int, int], ...]:
    """Column runs (start, stop, sign) of terms (column, channels, sign): contiguous columns of
    one sign merged."""
    runs: list[list[int]] = []
    for column, channels, sign in terms:
        if runs and runs[-1][1] == column and runs[-1][2] == sign:
            runs[-1][1] += channels
        else:
            runs.append([column, column + channels, sign])
    return tuple((a, b, sign) for a, b, sign in runs)


def _structure(layer: TypedLinear) -> _Structure:
    if layer in _STRUCTURES:
        return _STRUCTURES[layer]
    needed: dict[tuple[int, Reduction], None] = {}
    groups: dict[tuple[int, Expansion], list[tuple[tuple[int, Reduction], tuple[int, ...], tuple[int, int, int]]]] = {}
    blocks: dict[int, list[int]] = {}
    for k, l in layer.blocks:
        plan = layer._plans[(k, l)]
        offset = sum(layer.in_type[kk] * len(layer.blocks[(kk, l)]) for kk in blocks.get(l, []))
        blocks.setdefault(l, []).append(k)
        c_in = layer.in_type[k]
        for t in range(len(plan)):
            key = (k, plan.reductions[plan.reduction_of[t]])
            needed[key] = None
            term = (key, plan.matching[t], (offset + t * c_in, c_in, plan.sign[t]))
            groups.setdefault((l, plan.expansions[plan.expansion_of[t]]), []).append(term)
    steps, index = _reduction_steps(list(needed))
    units: dict[tuple[Any, ...], list[_Group]] = {}
    for (l, expansion), terms in groups.items():
        # slot i of a permuted tensor is slot matching[i] of the reduced one: label its axes
        stack = tuple((index[key], tuple(m.index(a) for a in range(len(m)))) for key, m, _ in terms)
        units.setdefault(stack, []).append(_Group(l, _placement(expansion), _runs([c for _, _, c in terms])))
    bias: dict[int, tuple[tuple[_Placement, int, int], ...]] = {}
    for l, diagrams in layer.bias_diagrams.items():
        plan = plan_layer(layer.group, diagrams)
        bias[l] = tuple((_placement(plan.expansions[plan.expansion_of[t]]), t, plan.sign[t]) for t in range(len(plan)))
    structure = _Structure(
        reductions=steps,
        units=tuple((stack, tuple(members)) for stack, members in units.items()),
        blocks={l: tuple(b) for l, b in blocks.items()},
        bias=bias,
    )
    _STRUCTURES[layer] = structure
    return structure


def _reduce(x: torch.Tensor, ragged: RaggedBatch, level: int, labels: tuple[int, ...], slots: int) -> torch.Tensor:
    """Reduce x (rows, C) with ``level`` node axes labelled ``labels`` to ``slots`` axes (see
    :meth:`RaggedBatch._reduction_map`)."""
    return _apply(ragged._reduction_map(level, labels, slots), x)


def _expand(z: torch.Tensor, ragged: RaggedBatch, slots: int, labels: tuple[int, ...], level: int) -> torch.Tensor:
    """Broadcast z (rows, C) with ``slots`` axes onto ``level`` untied axes labelled ``labels``
    (see :meth:`RaggedBatch._expansion_map`)."""
    return _apply(ragged._expansion_map(slots, labels, level), z)


def _reductions(
    structure: _Structure, inputs: Mapping[int, torch.Tensor], ragged: RaggedBatch, mean: bool
) -> list[torch.Tensor]:
    """Every reduction the layer reads, each once, scaled for a mean (by the sizes of the
    samples: n ** −c for c summed blocks)."""
    done: list[torch.Tensor] = []
    for step in structure.reductions:
        x = inputs[step.k] if step.source < 0 else done[step.source]
        r = _reduce(x, ragged, step.level, step.labels, step.slots)
        if mean and step.extra:
            r = r * ragged._inverse_sizes(step.slots, step.extra, r)
        done.append(r)
    return done


def _gathered(layer: TypedLinear, structure: _Structure, l: int) -> torch.Tensor:
    """The weights of every block into output l side by side: (c_out, Σ D·c_in), columns by
    block, then diagram, then input channel."""
    parts = []
    for k in structure.blocks[l]:
        w = layer.weight_of(k, l)
        parts.append(w.permute(0, 2, 1).reshape(w.shape[0], -1))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _group_weight(gathered: torch.Tensor, runs: tuple[tuple[int, int, int], ...]) -> torch.Tensor:
    """The mixing matrix (c_out, Σ c_in) of one group: its column runs, signed."""
    pieces = [gathered[:, a:b] if sign == 1 else gathered[:, a:b] * sign for a, b, sign in runs]
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)


def _mix(
    layer: TypedLinear, structure: _Structure, reduced: list[torch.Tensor], ragged: RaggedBatch
) -> dict[int, list[tuple[_Placement, torch.Tensor, bool]]]:
    """Per output order, (placement, mixed tensor, whether it may be written into) for every
    group: one matmul per stack."""
    gathered = {l: _gathered(layer, structure, l) for l in structure.blocks}
    permuted: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}
    mixed: dict[int, list[tuple[_Placement, torch.Tensor, bool]]] = {l: [] for l in layer.out_type}
    for stack, members in structure.units:
        parts = []
        for key in stack:
            if key not in permuted:
                r, labels = key
                permuted[key] = _reduce(reduced[r], ragged, len(labels), labels, len(labels))
            parts.append(permuted[key])
        stacked = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        weights = [_group_weight(gathered[group.output], group.runs) for group in members]
        w = weights[0] if len(weights) == 1 else torch.cat(weights, dim=0)
        z = torch.mm(stacked, w.t())
        start = 0
        for group, weight in zip(members, weights, strict=True):
            rows = weight.shape[0]
            # the product itself may be accumulated into (nothing saves it); a slice of it may not
            single = len(members) == 1
            mixed[group.output].append((group.placement, z if single else z[:, start : start + rows], single))
            start += rows
    return mixed


def _assemble(
    ragged: RaggedBatch, level: int, items: list[tuple[_Placement, torch.Tensor, bool]], channels: int
) -> torch.Tensor:
    """Σ of ``items`` (placement of a top half, tensor with one axis per slot, whether this
    function may write into it) on an output with ``level`` node axes.

    Items whose halves tie the same output axes (the same ``parts``) are summed in a compact space
    with one axis per part: each is first permuted to the canonical order of its slots, items
    reaching the same parts are added, an item reaching fewer parts is broadcast into the
    smallest one reaching more (a sample's value onto nodes before nodes onto pairs), and only
    then does anything reach the full size. A partition with fewer parts than axes (a diagonal)
    is finally added onto the tied rows of the output."""
    groups: dict[tuple[tuple[int, ...], ...], dict[tuple[int, ...], list[Any]]] = {}
    for placement, z, owned in items:
        reached = placement.reached
        t = _reduce(z, ragged, len(reached), placement.labels, len(reached))
        accumulators = groups.setdefault(placement.parts, {})
        if reached in accumulators:
            _add(accumulators[reached], t)
        else:
            accumulators[reached] = [t, owned or t is not z]
    compact: list[tuple[tuple[tuple[int, ...], ...], list[Any]]] = []
    for parts, accumulators in groups.items():
        for reached in sorted(accumulators, key=len):
            wider = [w for w in accumulators if len(w) > len(reached) and set(reached) < set(w)]
            if not wider:
                continue
            into = min(wider, key=len)
            z, _ = accumulators.pop(reached)
            labels = tuple(reached.index(p) if p in reached else len(reached) + i for i, p in enumerate(into))
            _add(accumulators[into], _expand(z, ragged, len(reached), labels, len(into)))
        total: list[Any] | None = None
        for reached, (z, owned) in accumulators.items():
            labels = tuple(reached.index(p) if p in reached else len(reached) + p for p in range(len(parts)))
            t = _expand(z, ragged, len(reached), labels, len(parts))
            if total is None:
                total = [t, owned or t is not z]
            else:
                _add(total, t)
        assert total is not None
        compact.append((parts, total))
    out: list[Any] | None = None
    for parts, total in compact:  # the partition of untied axes first
        if len(parts) == level:
            out = total
    for parts, (z, _) in compact:
        if len(parts) == level:
            continue
        labels = tuple(next(p for p, axes in enumerate(parts) if a in axes) for a in range(level))
        written, read = ragged._embedding(len(parts), labels, level)
        source = z if read is None else z.index_select(0, read)
        if out is None:
            out = [z.new_zeros((ragged.num_rows(level), channels)), True]
        if out[1]:
            out[0].index_add_(0, written, source)
        else:
            out = [out[0].index_add(0, written, source), True]
    assert out is not None
    return out[0]


def _add(accumulator: list[Any], t: torch.Tensor) -> None:
    """accumulator[0] += t, in place when the accumulator was created here, else into a new one."""
    if accumulator[1] and accumulator[0].shape == t.shape:
        accumulator[0].add_(t)
    else:
        accumulator[0], accumulator[1] = accumulator[0] + t, True


def _check_inputs(layer: TypedLinear, features: Any, ragged: RaggedBatch) -> dict[int, torch.Tensor]:
    name = f"ragged {type(layer).__name__}"
    if not isinstance(features, Mapping):
        raise TypeError(f"{name}: expected a dict order -> ragged tensor, got {type(features).__name__}")
    if set(features) != set(layer.in_type):
        raise ValueError(f"{name}: expected the orders {sorted(layer.in_type)}, got {sorted(features, key=str)}")
    like = layer._like()
    out = {}
    for k, c in layer.in_type.items():
        x = _check_features(features[k], ragged, k, name, c)
        if x.dtype != like.dtype:
            raise TypeError(f"{name} computes in {like.dtype} but order {k} is {x.dtype}")
        if x.device != like.device:
            raise ValueError(f"{name} is on {like.device} but order {k} is on {x.device}")
        out[k] = x
    n = layer.factors[0].n
    if n is not None and ragged.max_size > n:
        raise ValueError(
            f"{name}: a layer of {layer.group!r} takes samples of at most {n} nodes, got {ragged.max_size}"
        )
    return out


def ragged_forward(layer: TypedLinear | RaggedLinear, features: Any, ragged: RaggedBatch) -> Any:
    """Run an :class:`~catlayer.nn.EquivariantLinear` (``features``: one ragged tensor) or a
    :class:`~catlayer.nn.TypedLinear` (``features``: a dict order → ragged tensor) of ``S()`` with
    orders ≤ 2 on a ragged batch, without padding (see the module docstring); returns the same
    kind. Each sample's output equals the layer on that sample alone; differentiable.

    >>> import torch
    >>> from catlayer import S
    >>> from catlayer.nn import TypedLinear
    >>> layer = TypedLinear(S(), {0: 2, 1: 3}, {1: 4, 2: 1})
    >>> ragged = RaggedBatch.from_batch(torch.tensor([0, 0, 1, 1, 1]))
    >>> out = ragged_forward(layer, {0: torch.randn(2, 2), 1: torch.randn(5, 3)}, ragged)
    >>> {k: tuple(v.shape) for k, v in out.items()}
    {1: (5, 4), 2: (13, 1)}
    """
    layer = _check_layer(layer)
    _check_ragged(ragged, "ragged_forward")
    single = isinstance(layer, EquivariantLinear)
    if single:
        if not isinstance(features, torch.Tensor):
            raise TypeError(f"ragged EquivariantLinear expects a torch.Tensor, got {type(features).__name__}")
        features = {layer.in_order: features}
    inputs = _check_inputs(layer, features, ragged)
    structure = _structure(layer)
    reduced = _reductions(structure, inputs, ragged, layer.reduce == "mean")
    mixed = _mix(layer, structure, reduced, ragged)
    del reduced
    outputs = {}
    for l, c_out in layer.out_type.items():
        items = mixed.pop(l)
        bias = layer.bias_of(l)
        if bias is not None:
            for placement, t, sign in structure.bias[l]:
                value = bias[:, t] if sign == 1 else bias[:, t] * sign
                items.append((placement, value.unsqueeze(0).expand(ragged.num_samples, c_out), False))
        y = _assemble(ragged, l, items, c_out)
        if l == 0:
            nonempty = ragged._nonempty(y)
            if nonempty is not None:
                y = y * nonempty
        outputs[l] = y
    return outputs[layer.out_order] if single else outputs


class RaggedLinear(nn.Module):
    """A linear layer of ``S()`` run on ragged batches: a view of ``layer`` (its parameters,
    shared) whose forward is :func:`ragged_forward`.

    >>> import torch
    >>> from catlayer import S
    >>> from catlayer.nn import EquivariantLinear
    >>> ragged = RaggedLinear(EquivariantLinear(S(), 1, 2, 3, 2))
    >>> ragged(torch.randn(4, 3), RaggedBatch([1, 3])).shape
    torch.Size([10, 2])
    """

    def __init__(self, layer: TypedLinear) -> None:
        super().__init__()
        self.layer = _check_layer(layer)

    def forward(self, features: Any, ragged: RaggedBatch) -> Any:
        """The wrapped layer on the ragged ``features`` (as :func:`ragged_forward`)."""
        return ragged_forward(self.layer, features, ragged)
