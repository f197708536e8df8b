"""Structure constants of the partition and Brauer algebras in one numba batch.

For H = hom(k, k) of a partition or Brauer category C, ``multiplication_table(C, k)`` returns int
arrays ``idx`` and ``loops`` of shape (N, N) with

    compose(H[i], H[j]) = delta ** loops[i, j] * H[idx[i, j]]        ("H[i], then H[j]")

Each diagram is stored as its label array (``Diagram.labels``: the block of each vertex, blocks
numbered by smallest vertex, i.e. a restricted growth string) and packed into one int64 key.
For every pair the kernel joins the blocks of H[i] and H[j] along the middle row with a tiny
union-find, relabels the outer vertices canonically, packs the key and finds the result by
binary search in the sorted key array. Rows run in parallel (``prange``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from ..diagrams.categories import BrauerGroodCategory, DiagramCategory
from ..diagrams.diagram import BrauerGroodDiagram, Diagram
from ..diagrams.validation import short_repr
from ..memory import check_size

__all__ = ["diagram_keys", "multiplication_table"]


def _bits_per_vertex(size: int) -> int:
    return max(1, (size - 1).bit_length())


def diagram_keys(diagrams: Sequence[Diagram]) -> np.ndarray:
    """One int64 per diagram packing its label array (first vertex most significant), so that
    equal diagrams of one shape get equal keys and the canonical partition order is key order.

    >>> from catlayer import PartitionCategory
    >>> keys = diagram_keys(PartitionCategory(3).hom(1, 1))
    >>> keys.tolist()
    [0, 1]
    """
    if not diagrams:
        return np.zeros(0, dtype=np.int64)
    size = diagrams[0].size
    bits = _bits_per_vertex(size)
    if size * bits > 63:
        raise ValueError(f"diagrams with {size} vertices do not fit a 63-bit key")
    labels = np.array([d.labels for d in diagrams], dtype=np.int64).reshape(len(diagrams), size)
    weights = np.left_shift(np.int64(1), bits * np.arange(size - 1, -1, -1, dtype=np.int64))
    return labels @ weights


@njit(cache=True, inline="always")
def _find(parent: npt.NDArray[np.int64], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=True, parallel=True)
def _table_kernel(  # pragma: no cover - numba
    labels: npt.NDArray[np.int64],
    num_blocks: npt.NDArray[np.int64],
    sorted_keys: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    k: int,
    bits: int,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int8]]:
    count = labels.shape[0]
    size = 2 * k
    idx = np.empty((count, count), dtype=np.int32)
    loops = np.empty((count, count), dtype=np.int8)
    for i in prange(count):
        parent = np.empty(2 * size, dtype=np.int64)
        outer = np.empty(size, dtype=np.int64)
        relabel = np.empty(2 * size, dtype=np.int64)
        seen = np.empty(2 * size, dtype=np.bool_)
        first = labels[i]
        nb1 = num_blocks[i]
        for j in range(count):
            second = labels[j]
            nb2 = num_blocks[j]
            # nodes 0..nb1-1: blocks of the lower diagram; size..size+nb2-1: the upper one.
            for x in range(nb1):
                parent[x] = x
                seen[x] = False
            for x in range(size, size + nb2):
                parent[x] = x
                seen[x] = False
            for v in range(k):
                a = _find(parent, first[v])
                b = _find(parent, size + second[k + v])
                if a != b:
                    parent[a] = b
            for v in range(k):
                outer[v] = _find(parent, size + second[v])
            for v in range(k, size):
                outer[v] = _find(parent, first[v])
            key = 0
            fresh = 0
            for v in range(size):
                root = outer[v]
                if not seen[root]:
                    seen[root] = True
                    relabel[root] = fresh
                    fresh += 1
                key = (key << bits) | relabel[root]
            # Components with no outer vertex are closed loops in the middle row.
            closed = 0
            for x in range(nb1):
                if parent[x] == x and not seen[x]:
                    closed += 1
            for x in range(size, size + nb2):
                if parent[x] == x and not seen[x]:
                    closed += 1
            loops[i, j] = closed
            lo = 0
            hi = sorted_keys.shape[0]
            while lo < hi:
                mid = (lo + hi) >> 1
                if sorted_keys[mid] < key:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < sorted_keys.shape[0] and sorted_keys[lo] == key:
                idx[i, j] = order[lo]
            else:
                idx[i, j] = -1
    return idx, loops


def multiplication_table(source: DiagramCategory | Sequence[Diagram], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Structure constants of the endomorphism algebra of object k of a partition or Brauer
    category (``source`` a category: its ``hom(k, k)``), or of the algebra spanned by given
    (k, k)-diagrams closed under composition (``source`` a sequence of diagrams).

    Returns ``(idx, loops)``: ``idx`` (int32) and ``loops`` (int8), both of shape (N, N), with
    ``compose(H[i], H[j]) = delta ** loops[i, j] * H[idx[i, j]]`` for ``H`` the diagrams.

    >>> from catlayer import PartitionCategory
    >>> P = PartitionCategory(3)
    >>> H = P.hom(1, 1)
    >>> idx, loops = multiplication_table(P, 1)
    >>> idx.tolist(), loops.tolist()
    ([[0, 1], [1, 1]], [[0, 0], [0, 1]])
    >>> P.compose(H[1], H[1]).terms == {H[idx[1, 1]]: 3 ** int(loops[1, 1])}
    True
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be an int >= 0, got {short_repr(k)}")
    if isinstance(source, BrauerGroodCategory):
        raise TypeError(
            "BG(n) has no single-diagram multiplication table: a product of two n-diagrams is "
            "a signed sum of Brauer diagrams; use compose() for its exact value"
        )
    if isinstance(source, DiagramCategory):
        diagrams = source.hom(k, k)
    elif isinstance(source, (str, bytes)) or not isinstance(source, Iterable):
        raise TypeError(f"expected a diagram category or a sequence of diagrams, got {type(source).__name__}")
    else:
        diagrams = tuple(source)
    for d in diagrams:
        if not isinstance(d, Diagram):
            raise TypeError(f"{short_repr(d)} is not a diagram")
        if (d.dom, d.cod) != (k, k):
            raise ValueError(f"{short_repr(d)} is a ({d.dom}, {d.cod})-diagram; the table needs ({k}, {k})-diagrams")
        if isinstance(d, BrauerGroodDiagram) and d.free_vertices:
            raise TypeError(
                "diagrams with free vertices compose by the BG(n) rules (signed sums), which have "
                "no single-diagram table; use BrauerGroodCategory(n).compose"
            )
    count = len(diagrams)
    size = 2 * k
    bits = _bits_per_vertex(size)
    if size * bits > 63:
        raise ValueError(f"k = {k} is too large for the packed keys (at most 2k * bits <= 63)")
    check_size(count * count * 5, f"the {count} x {count} multiplication table")
    keys = diagram_keys(diagrams)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if count > 1 and np.any(sorted_keys[1:] == sorted_keys[:-1]):
        raise ValueError("the diagrams are not distinct")
    labels = np.array([d.labels for d in diagrams], dtype=np.int64).reshape(count, size)
    num_blocks = np.array([len(d.blocks) for d in diagrams], dtype=np.int64)
    idx, loops = _table_kernel(labels, num_blocks, sorted_keys, order.astype(np.int64), k, bits)
    if count and (idx < 0).any():
        i, j = map(int, np.argwhere(idx < 0)[0])
        raise ValueError(
            f"the diagrams are not closed under composition: {short_repr(diagrams[i])} then "
            f"{short_repr(diagrams[j])} is not among them"
        )
    return idx, loops
