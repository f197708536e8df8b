"""Exact linear algebra for bases and dimensions of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}).

All in exact integer arithmetic (no floats anywhere):

* :func:`independent_subset`: the first maximal independent subset of a spanning set of diagrams,
  decided from their entries at a few index tuples (no dense images), certified by the dimension;
* :func:`greedy_independent` / :func:`exact_rank`: fraction-free (Bareiss) elimination of an
  integer Gram matrix, choosing vectors left to right (the lexicographically first basis);
* :func:`diagram_to_orbit` / :func:`orbit_to_diagram`: the exact change between the diagram
  basis E_π and the orbit basis X_π of S_n (docs/conventions.md §5).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence
from functools import cache

import numpy as np
import numpy.typing as npt
import sympy

from .diagrams import Combination, Diagram, PartitionCategory, PartitionDiagram
from .memory import check_size

__all__ = [
    "MAX_WITNESS_ROUNDS",
    "WITNESS_SEED",
    "coarsenings",
    "diagram_to_orbit",
    "exact_rank",
    "gram_matrix",
    "greedy_independent",
    "independent_subset",
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


def greedy_independent(gram: npt.ArrayLike) -> tuple[int, ...]:
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
    Möbius function μ(π, σ) = Π_{B ∈ σ} (−1)^{m_B − 1} (m_B − 1)! (docs/conventions.md §5).

    >>> for sigma, mu in coarsenings(PartitionDiagram([[0], [1]], dom=1, cod=1)):
    ...     print(sigma, mu)
    {1} {1'} : 1 → 1 1
    {1,1'} : 1 → 1 -1
    """
    return _coarsenings(d)


def _as_terms(c: object) -> tuple[dict[Diagram, sympy.Expr], int, int]:
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


#: Seed of the random index tuples drawn by :func:`independent_subset` (its results do not depend
#: on it: they are certified; only the number of rounds does).
WITNESS_SEED = 20240613
#: Rounds of random index tuples before :func:`independent_subset` gives up.
MAX_WITNESS_ROUNDS = 64


_FLOAT_EXACT = 2**53


def _first_independent_rows(a: np.ndarray, limit: int) -> list[int]:
    """Indices of the first maximal independent subset of the rows of an integer matrix (at most
    ``limit`` of them), by fraction-free (Bareiss) elimination in the rows' order: a row that is
    zero after eliminating the chosen ones is in their span (it is dropped); every other entry is
    a minor of ``a``, so each division by the previous pivot is exact. The entries are held in
    float64 while every intermediate value is an integer below 2**53 (then each product, difference
    and exact quotient is computed exactly, and faster than in int64), in Python ints after."""
    index = np.flatnonzero(np.any(a != 0, axis=1))
    a = np.array(a[index], dtype=np.float64 if int(np.abs(a).max(initial=0)) < 2**26 else object)
    largest = float(np.abs(a).max(initial=0)) if a.dtype != object else 0.0
    chosen: list[int] = []
    previous = 1
    while a.shape[0] and len(chosen) < limit:
        row = a[0]
        column = int(np.argmax(row != 0))
        pivot = row[column]
        chosen.append(int(index[0]))
        rest = a[1:]
        multipliers = rest[:, column].copy()
        if rest.dtype != object and 2 * largest * largest >= _FLOAT_EXACT:
            rest, row, multipliers = (m.astype(np.int64).astype(object) for m in (rest, row, multipliers))
            pivot, previous = int(pivot), int(previous)
        rest *= pivot
        rest -= np.multiply.outer(multipliers, row)
        if previous != 1:
            rest = rest // previous if rest.dtype == object else np.divide(rest, previous, out=rest)
        keep = np.any(rest != 0, axis=1)
        if not keep.all():
            rest, index = rest[keep], index[1:][keep]
        else:
            index = index[1:]
        a, previous = rest, pivot
        if a.dtype != object and a.size:
            largest = max(float(a.max()), -float(a.min()))
    return chosen


def independent_subset(
    spanning: Sequence[Diagram],
    dimension: int,
    evaluate: Callable[[tuple[Diagram, ...], np.ndarray], np.ndarray],
    witness: Callable[[Diagram, random.Random | None], np.ndarray],
) -> tuple[Diagram, ...]:
    """The first maximal independent subset, in the given order, of the images F(d) of
    ``spanning``, whose images must span a space of dimension ``dimension`` — without dense images.

    ``evaluate(diagrams, x)`` gives the entries F(d)[x_j] of the images of a tuple of diagrams at
    the rows of an (m, l + k) int array ``x`` of index tuples, as a (len(diagrams), m) int array,
    and ``witness(d, rng)`` an index tuple where F(d) ≠ 0 (a group's
    :meth:`~catlayer.groups.Group.evaluate_many` and :meth:`~catlayer.groups.Group.witness`).
    Index tuples: first the canonical witnesses
    (``rng=None``) of the diagrams in order, up to 2 · ``dimension`` distinct ones; then rounds of
    ``dimension`` random witnesses of random diagrams (``random.Random(WITNESS_SEED)``), until the
    integer matrix of entries (rows: diagrams, columns: tuples) has rank ``dimension``. That rank
    makes the restriction to the tuples injective on the span, so a diagram depends on earlier
    ones exactly when its row does, and exact fraction-free elimination of the rows in order
    gives the same subset as eliminating the full images. A spanning set with exactly
    ``dimension`` diagrams is returned as it is. Large tables of entries are checked against the
    memory budget before any evaluation (``AllocationTooLarge``).

    >>> from catlayer import O
    >>> G = O(2)
    >>> basis = independent_subset(G.spanning_set(3, 3), G.dim(3, 3), G.evaluate_many, G.witness)
    >>> len(basis), len(G.spanning_set(3, 3))
    (10, 15)
    """
    spanning = tuple(spanning)
    if isinstance(dimension, bool) or not isinstance(dimension, (int, np.integer)):
        raise TypeError(f"dimension must be an int, got {dimension!r}")
    if not 0 <= dimension <= len(spanning):
        raise ValueError(f"dimension must be between 0 and {len(spanning)} (the spanning set's size), got {dimension}")
    if dimension == len(spanning):
        return spanning
    if dimension == 0:
        return ()
    need = 8 * len(spanning) * 2 * dimension * (2 * spanning[0].size + 3)  # the first round's tables
    check_size(need, f"the entries of {len(spanning)} diagrams at {2 * dimension} index tuples")
    seen: set[bytes] = set()
    tuples: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    chosen: list[int] = []
    rng = random.Random(WITNESS_SEED)
    for round_ in range(MAX_WITNESS_ROUNDS + 1):
        if round_ == 0:
            candidates = (witness(d, None) for d in spanning)
        else:
            candidates = (witness(spanning[rng.randrange(len(spanning))], rng) for _ in range(dimension))
        for x in candidates:
            x = np.asarray(x, dtype=np.int64)
            key = x.tobytes()
            if key not in seen:
                seen.add(key)
                tuples.append(x)
                if round_ == 0 and len(tuples) == 2 * dimension:
                    break
        if len(tuples) < dimension:
            continue  # fewer columns than the target rank: draw more first
        done = sum(c.shape[1] for c in columns)
        if done < len(tuples):
            columns.append(np.asarray(evaluate(spanning, np.stack(tuples[done:])), dtype=np.int64))
            chosen = _first_independent_rows(np.concatenate(columns, axis=1), dimension)
            if len(chosen) == dimension:
                return tuple(spanning[i] for i in chosen)
    raise ArithmeticError(
        f"the entries at {len(seen)} index tuples have rank {len(chosen)} < dimension {dimension}: "
        "do the diagrams span a space of that dimension?"
    )
