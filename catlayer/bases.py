"""Exact linear algebra for bases and dimensions of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}).

Three independent tools, all in exact integer arithmetic (no floats anywhere):

* :func:`greedy_independent` / :func:`exact_rank`: fraction-free (Bareiss) elimination of an
  integer Gram matrix, choosing vectors left to right (the lexicographically first basis);
* :func:`invariant_dimension`: dim((R^n)^{⊗N})^G by family name (see :mod:`catlayer.dimensions`);
* :func:`diagram_to_orbit` / :func:`orbit_to_diagram`: the exact change between the diagram
  basis E_π and the orbit basis X_π of S_n (math.md §5).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np
import sympy

from .diagrams import Combination, Diagram, PartitionCategory, PartitionDiagram
from .dimensions import (
    orthogonal_dimension,
    special_orthogonal_dimension,
    symmetric_dimension,
    symplectic_dimension,
)

__all__ = [
    "coarsenings",
    "diagram_to_orbit",
    "exact_rank",
    "gram_matrix",
    "greedy_independent",
    "independent_subset",
    "invariant_dimension",
    "orbit_to_diagram",
    "rank_mod_p",
]

_INT64_SAFE = 2**62


# -- exact elimination -----------------------------------------------------------------------------
def gram_matrix(rows: np.ndarray) -> np.ndarray:
    """The exact Gram matrix ``rows @ rows.T`` of an integer matrix, as Python ints (object array).

    Computed in int64 when no partial sum can overflow, else with Python ints.

    >>> gram_matrix(np.array([[1, 2], [3, 4]])).tolist()
    [[5, 11], [11, 25]]
    """
    rows = np.asarray(rows)
    if rows.dtype != object and np.issubdtype(rows.dtype, np.integer):
        bound = int(np.abs(rows).max(initial=0)) ** 2 * max(rows.shape[1], 1)
        if bound < _INT64_SAFE:
            a = rows.astype(np.int64)
            return (a @ a.T).astype(object)
    a = rows.astype(object)
    return a.dot(a.T)


def greedy_independent(gram) -> tuple[int, ...]:
    """Indices of the lexicographically first maximal independent subset of vectors, given their
    exact integer Gram matrix (symmetric positive semidefinite).

    Fraction-free symmetric Gaussian elimination (Bareiss) in the given order: after eliminating
    the chosen vectors, the diagonal entry of vector i is det(Gram of chosen ∪ {i}) (up to the
    previous pivot), which is 0 exactly when vector i is in the span of the chosen ones. A zero
    diagonal entry of a PSD matrix has a zero row, so skipping it keeps the divisions exact.

    >>> v = np.array([[1, 0, 0], [2, 0, 0], [0, 1, 0], [1, 1, 0]])
    >>> greedy_independent(gram_matrix(v))
    (0, 2)
    """
    s = np.array(gram, dtype=object)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"a Gram matrix is square, got shape {s.shape}")
    index = list(range(s.shape[0]))
    chosen: list[int] = []
    previous = 1
    while s.shape[0]:
        pivot = s[0, 0]
        if pivot == 0:
            if any(x != 0 for x in s[0]):
                raise ValueError("not a positive semidefinite Gram matrix: zero pivot with a nonzero row")
            s, index = s[1:, 1:], index[1:]
            continue
        if pivot < 0:
            raise ValueError("not a positive semidefinite Gram matrix: negative pivot")
        chosen.append(index[0])
        column = s[1:, 0]
        s = (pivot * s[1:, 1:] - np.outer(column, s[0, 1:])) // previous
        previous, index = pivot, index[1:]
    return tuple(chosen)


def exact_rank(rows: np.ndarray) -> int:
    """The exact rank over Q of an integer matrix (rows are the vectors).

    >>> exact_rank(np.array([[1, 2, 3], [2, 4, 6], [1, 0, 0]]))
    2
    """
    rows = np.asarray(rows)
    if rows.shape[0] == 0:
        return 0
    return len(greedy_independent(gram_matrix(rows)))


def rank_mod_p(rows: np.ndarray, p: int = 2_147_483_629) -> int:
    """Rank of an integer matrix modulo the prime ``p`` (< 2**31). Always ≤ the rank over Q, so
    ``rank_mod_p(A) == r`` *proves* rank_Q(A) ≥ r (a nonzero r×r minor mod p is nonzero).

    >>> rank_mod_p(np.array([[1, 2], [2, 4]]))
    1
    """
    if p >= 2**31:
        raise ValueError("p must be below 2**31 so that products fit in int64")
    a = np.array(np.asarray(rows).astype(object) % p, dtype=np.int64)
    rank = 0
    rows_left, cols = a.shape
    for c in range(cols):
        if rank == rows_left:
            break
        nz = np.nonzero(a[rank:, c])[0]
        if nz.size == 0:
            continue
        r = rank + nz[0]
        a[[rank, r]] = a[[r, rank]]
        inv = pow(int(a[rank, c]), p - 2, p)
        a[rank] = (a[rank] * inv) % p
        below = a[rank + 1 :, c].copy()
        a[rank + 1 :] = (a[rank + 1 :] - (below[:, None] * a[rank][None, :]) % p) % p
        rank += 1
    return rank


# -- dimensions of invariants ----------------------------------------------------------------------
_DIMENSIONS = {
    "partition": symmetric_dimension,
    "orthogonal": orthogonal_dimension,
    "special_orthogonal": special_orthogonal_dimension,
    "symplectic": symplectic_dimension,
}


def invariant_dimension(family: str, n: int, power: int) -> int:
    """dim((R^n)^{⊗N})^G for the group of ``family`` ("partition" = S_n, "orthogonal",
    "special_orthogonal", "symplectic"), N = ``power``: dispatches to :mod:`catlayer.dimensions`.

    >>> [invariant_dimension("special_orthogonal", 3, N) for N in range(7)]
    [1, 0, 1, 1, 3, 6, 15]
    """
    try:
        dimension = _DIMENSIONS[family]
    except KeyError:
        raise ValueError(f"unknown family {family!r}") from None
    return dimension(n, power)


# -- S_n: diagram basis <-> orbit basis ----------------------------------------------------------
def _set_partitions(size: int) -> Iterator[list[list[int]]]:
    if size == 0:
        yield []
        return
    for smaller in _set_partitions(size - 1):
        for i in range(len(smaller)):
            yield [*smaller[:i], [*smaller[i], size - 1], *smaller[i + 1 :]]
        yield [*smaller, [size - 1]]


@cache
def _coarsenings(d: Diagram) -> tuple[tuple[Diagram, int], ...]:
    blocks = d.blocks
    out = []
    for grouping in _set_partitions(len(blocks)):
        merged = tuple(sorted(tuple(sorted(v for b in group for v in blocks[b])) for group in grouping))
        mu = 1
        for group in grouping:
            mu *= (-1) ** (len(group) - 1) * math.factorial(len(group) - 1)
        out.append((PartitionDiagram._from_canonical(merged, d.dom, d.cod), mu))
    return tuple(sorted(out))


def coarsenings(d: Diagram) -> tuple[tuple[Diagram, int], ...]:
    """Every σ ≥ π (σ coarser than π = ``d``: each block of σ a union of blocks of π), with the
    Möbius function μ(π, σ) = Π_{B ∈ σ} (−1)^{m_B − 1} (m_B − 1)! (math.md §5).

    >>> for sigma, mu in coarsenings(PartitionDiagram([[0], [1]], dom=1, cod=1)):
    ...     print(sigma, mu)
    {1} {1'} : 1 → 1 1
    {1,1'} : 1 → 1 -1
    """
    return _coarsenings(d)


def _as_terms(c) -> tuple[dict, int, int]:
    if isinstance(c, Diagram):
        return {c: sympy.Integer(1)}, c.dom, c.cod
    if isinstance(c, Combination):
        return c.terms, c.dom, c.cod
    raise TypeError(f"expected a diagram or a Combination, got {type(c).__name__}")


def diagram_to_orbit(c: Combination | Diagram, n: int) -> Combination:
    """Coordinates in the orbit basis of Σ_π w_π E_π: u_σ = Σ_{π ≤ σ} w_π, keeping only the σ
    with at most n blocks (X_σ = 0 otherwise). The result is a Combination whose diagrams name
    orbit-basis elements X_σ (use ``S(n).functor(result, basis="orbit")``).

    >>> d = PartitionDiagram([[0], [1]], dom=1, cod=1)        # E = the all-ones n × n matrix
    >>> print(diagram_to_orbit(d, 3))                          # = X_{{1},{1'}} + X_{{1,1'}}
    [{1} {1'}] + [{1,1'}] : 1 → 1
    """
    terms, dom, cod = _as_terms(c)
    out: dict = {}
    for pi, w in terms.items():
        for sigma, _ in coarsenings(pi):
            if len(sigma.blocks) <= n:
                out[sigma] = out.get(sigma, 0) + w
    return Combination(out, dom, cod)


def orbit_to_diagram(c: Combination | Diagram, n: int) -> Combination:
    """Diagram-basis coordinates of Σ_π u_π X_π: X_π = Σ_{σ ≥ π} μ(π, σ) E_σ; terms with more
    than n blocks are dropped first (X_π = 0 for them). The result lives in PartitionCategory(n).

    >>> X = PartitionDiagram([[0], [1]], dom=1, cod=1)        # X = all-ones minus identity
    >>> print(orbit_to_diagram(X, 3))
    [{1} {1'}] - [{1,1'}] : 1 → 1
    """
    terms, dom, cod = _as_terms(c)
    out: dict = {}
    for pi, u in terms.items():
        if len(pi.blocks) > n:
            continue
        for sigma, mu in coarsenings(pi):
            out[sigma] = out.get(sigma, 0) + u * mu
    return Combination(out, dom, cod, PartitionCategory(n))


def independent_subset(vectors: Sequence[np.ndarray] | np.ndarray) -> tuple[int, ...]:
    """Indices of the first maximal independent subset of integer vectors (exact).

    >>> independent_subset(np.array([[0, 0], [1, 1], [2, 2], [1, 0]]))
    (1, 3)
    """
    rows = np.asarray(vectors)
    if rows.shape[0] == 0:
        return ()
    return greedy_independent(gram_matrix(rows))
