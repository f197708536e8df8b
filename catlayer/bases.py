"""Exact linear algebra for bases and dimensions of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}).

Three independent tools, all in exact integer arithmetic (no floats anywhere):

* :func:`greedy_independent` / :func:`exact_rank`: fraction-free (Bareiss) elimination of an
  integer Gram matrix, choosing vectors left to right (the lexicographically first basis);
* :func:`invariant_dimension`: dim((R^n)^{⊗N})^G = ∫_G χ(g)^N dg computed exactly, *without*
  diagrams: for S_n the average of fix(g)^N over cycle types; for SO(n) and Sp(n) the Weyl
  integration formula as the constant term of a Laurent polynomial on the maximal torus; for
  O(n) the average of the two components (the det −1 component of O(2m) integrates like
  Sp(2m−2), that of O(2m+1) is −SO(2m+1));
* :func:`diagram_to_orbit` / :func:`orbit_to_diagram`: the exact change between the diagram
  basis E_π and the orbit basis X_π of S_n (docs/conventions.md §5).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from functools import cache
from itertools import combinations

import numpy as np
import sympy

from .diagrams import Combination, Diagram, PartitionCategory, PartitionDiagram

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
def _laurent_mul(p: dict, q: dict) -> dict:
    out: dict = {}
    for e1, c1 in p.items():
        for e2, c2 in q.items():
            e = tuple(a + b for a, b in zip(e1, e2, strict=True))
            out[e] = out.get(e, 0) + c1 * c2
    return {e: c for e, c in out.items() if c}


def _laurent_pow(p: dict, power: int, rank: int) -> dict:
    result = {(0,) * rank: 1}
    for _ in range(power):
        result = _laurent_mul(result, p)
    return result


def _unit(rank: int, i: int, value: int = 1) -> tuple[int, ...]:
    return tuple(value if j == i else 0 for j in range(rank))


def _torus_character(rank: int, with_zero_weight: bool) -> dict:
    chi: dict = {}
    if with_zero_weight:
        chi[(0,) * rank] = 1
    for i in range(rank):
        chi[_unit(rank, i, 1)] = 1
        chi[_unit(rank, i, -1)] = 1
    return chi


def _roots(kind: str, rank: int) -> list[tuple[int, ...]]:
    roots = []
    for i, j in combinations(range(rank), 2):
        for si in (1, -1):
            for sj in (1, -1):
                roots.append(tuple(si if t == i else sj if t == j else 0 for t in range(rank)))
    for i in range(rank):
        if kind == "B":
            roots += [_unit(rank, i, 1), _unit(rank, i, -1)]
        elif kind == "C":
            roots += [_unit(rank, i, 2), _unit(rank, i, -2)]
    return roots


def _weyl_order(kind: str, rank: int) -> int:
    if kind == "D":
        return 2 ** max(rank - 1, 0) * math.factorial(rank)
    return 2**rank * math.factorial(rank)


@cache
def _weyl_density(kind: str, rank: int) -> dict:
    density = {(0,) * rank: 1}
    for root in _roots(kind, rank):
        density = _laurent_mul(density, {(0,) * rank: 1, root: -1})
    return density


@cache
def _connected_dimension(kind: str, rank: int, power: int) -> int:
    """∫_G χ^N over a connected compact group of type B/C/D and the given rank, by the Weyl
    integration formula: (1/|W|) · CT[χ^N · Π_{α ∈ Φ} (1 − e^α)]."""
    chi = _torus_character(rank, with_zero_weight=kind == "B")
    chi_power = _laurent_pow(chi, power, rank)
    total = sum(c * chi_power.get(tuple(-x for x in e), 0) for e, c in _weyl_density(kind, rank).items())
    quotient, remainder = divmod(total, _weyl_order(kind, rank))
    if remainder:
        raise ArithmeticError(f"Weyl integration gave {total}/{_weyl_order(kind, rank)}, not an integer")
    return quotient


def _integer_partitions(n: int, largest: int | None = None) -> Iterator[tuple[int, ...]]:
    largest = n if largest is None else largest
    if n == 0:
        yield ()
        return
    for part in range(min(n, largest), 0, -1):
        for rest in _integer_partitions(n - part, part):
            yield (part, *rest)


@cache
def _symmetric_dimension(n: int, power: int) -> int:
    total = Fraction(0)
    for shape in _integer_partitions(n):
        z = 1
        for part in set(shape):
            multiplicity = shape.count(part)
            z *= part**multiplicity * math.factorial(multiplicity)
        total += Fraction(shape.count(1) ** power, z)
    if total.denominator != 1:
        raise ArithmeticError(f"character average {total} is not an integer")
    return int(total)


def invariant_dimension(family: str, n: int, power: int) -> int:
    """dim((R^n)^{⊗N})^G for the group of ``family`` ("partition" = S_n, "orthogonal",
    "special_orthogonal", "symplectic"), N = ``power``, computed as ∫_G χ(g)^N dg exactly,
    independently of any diagram.

    >>> [invariant_dimension("partition", 3, N) for N in range(7)]
    [1, 1, 2, 5, 14, 41, 122]
    >>> [invariant_dimension("special_orthogonal", 3, N) for N in range(7)]
    [1, 0, 1, 1, 3, 6, 15]
    >>> [invariant_dimension("orthogonal", 2, N) for N in range(7)]
    [1, 0, 1, 0, 3, 0, 10]
    """
    if isinstance(power, bool) or not isinstance(power, int) or power < 0:
        raise ValueError(f"the tensor power must be an int >= 0, got {power!r}")
    if family == "partition":
        return _symmetric_dimension(n, power)
    if family == "symplectic":
        return _connected_dimension("C", n // 2, power)
    if family == "special_orthogonal":
        return _connected_dimension("B" if n % 2 else "D", n // 2, power)
    if family == "orthogonal":
        identity_part = invariant_dimension("special_orthogonal", n, power)
        if n % 2:  # O(2m+1) = SO(2m+1) × {±I}; −I acts by (−1)^N
            other_part = (-1) ** power * identity_part
        else:  # eigenvalues 1, −1, z_j^{±1} (j < m): the Sp(2m−2) integral
            other_part = _connected_dimension("C", n // 2 - 1, power)
        total = identity_part + other_part
        if total % 2:
            raise ArithmeticError(f"O({n}) average ({identity_part} + {other_part})/2 is not an integer")
        return total // 2
    raise ValueError(f"unknown family {family!r}")


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
