"""dim((R^n)^{⊗N})^G = dim Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) for N = k + l, exactly and fast.

One function per family, each returning a Python int (conventions in ``docs/conventions.md``):

* :func:`symmetric_dimension` (S_n): Σ_{t ≤ min(n, N)} S(N, t), Stirling numbers of the second
  kind, for every n and N;
* :func:`orthogonal_dimension` (O(n)), :func:`symplectic_dimension` (Sp(n)),
  :func:`special_orthogonal_dimension` (SO(n)): closed forms where n is large relative to N (the
  Brauer counts (N − 1)!!, plus the n-diagram counts for SO(n)); for small n the multiplicity of
  the trivial representation in V^{⊗N}, i.e. the character integral ∫_G χ(g)^N dg, evaluated by
  counting walks of length N from the trivial representation back to itself in which each step
  tensors with V = R^n (the Pieri rules below). The walk only visits dominant weights within N/2
  of the origin, so its cost depends on N but not on n.

Pieri rules used by the walks (standard; held against the Weyl integration formula on the torus in
the tests):

* O(n): irreducibles are partitions λ with λ′₁ + λ′₂ ≤ n (first two column lengths), and
  V_λ ⊗ V = ⊕ V_μ over the admissible μ obtained by adding or removing one box;
* Sp(2m): partitions with at most m rows, adding or removing one box;
* SO(2m+1) (type B_m): dominant weights λ₁ ≥ … ≥ λ_m ≥ 0, steps ±e_i that stay dominant, and a
  step that stays put when λ_m > 0 (the zero weight of V);
* SO(2m) (type D_m): dominant weights λ₁ ≥ … ≥ λ_{m−1} ≥ |λ_m|, steps ±e_i that stay dominant.

Limits: N ≤ :data:`MAX_POWER` (= 256) for every family, and a walk runs only when a bound on its
number of steps is at most :data:`WALK_BUDGET`; beyond either, a :class:`ValueError` is raised at
once. Both hold for every n when N ≤ 40 (and much further for most n); for comparison, there
are 41!! ≈ 1.3 · 10^25 Brauer diagrams at N = 42.

>>> symmetric_dimension(10**6, 4), orthogonal_dimension(200, 4), special_orthogonal_dimension(3, 5)
(15, 3, 6)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import cache

__all__ = [
    "MAX_POWER",
    "WALK_BUDGET",
    "orthogonal_dimension",
    "special_orthogonal_dimension",
    "symmetric_dimension",
    "symplectic_dimension",
]

#: The largest tensor power N = k + l accepted.
MAX_POWER = 256
#: The largest number of elementary steps a small-n walk may take (about a second of work).
WALK_BUDGET = 2_000_000


def _check(n: object, N: object, group: str) -> tuple[int, int]:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{group}: n must be an int >= 1, got {n!r}")
    if isinstance(N, bool) or not isinstance(N, int) or N < 0:
        raise ValueError(f"{group}: the tensor power N must be an int >= 0, got {N!r}")
    if N > MAX_POWER:
        raise ValueError(
            f"{group}: the tensor power N = k + l = {N} is above the supported limit "
            f"catlayer.dimensions.MAX_POWER = {MAX_POWER}"
        )
    return int(n), int(N)


def _double_factorial(N: int) -> int:
    """(N − 1)!! = the number of perfect matchings of N points (0 for N odd)."""
    if N % 2:
        return 0
    return math.prod(range(N - 1, 0, -2))


# -- S_n ------------------------------------------------------------------------------------------
@cache
def _stirling_sum(N: int, top: int) -> int:
    row = [1] + [0] * top  # S(0, t)
    for j in range(1, N + 1):
        for t in range(min(j, top), 0, -1):
            row[t] = t * row[t] + row[t - 1]
        row[0] = 0
    return sum(row)


def symmetric_dimension(n: int, N: int) -> int:
    """dim((R^n)^{⊗N})^{S_n} = Σ_{t=0}^{min(n, N)} S(N, t): the number of set partitions of N
    points into at most n blocks (the orbits of S_n on index tuples). Exact for every n and N;
    O(N · min(n, N)) integer additions.

    >>> [symmetric_dimension(3, N) for N in range(7)]
    [1, 1, 2, 5, 14, 41, 122]
    >>> symmetric_dimension(10**6, 4)                     # Bell(4): n ≥ N
    15
    """
    n, N = _check(n, N, "S(n)")
    return _stirling_sum(N, min(n, N))


# -- walks over dominant weights ----------------------------------------------------------------------
State = tuple[int, ...]


def _partition_steps(admissible: Callable[[State], bool]) -> Callable[[State], Iterator[State]]:
    """Add or remove one box of a partition (a weakly decreasing tuple of positive ints)."""

    def steps(lam: State) -> Iterator[State]:
        rows = len(lam)
        for i in range(rows + 1):
            if i == rows:
                grown = (*lam, 1)
            elif i == 0 or lam[i - 1] > lam[i]:
                grown = (*lam[:i], lam[i] + 1, *lam[i + 1 :])
            else:
                grown = None
            if grown is not None and admissible(grown):
                yield grown
            if i < rows and (i == rows - 1 or lam[i] > lam[i + 1]):
                shrunk = (*lam[:i], lam[i] - 1, *lam[i + 1 :]) if lam[i] > 1 else lam[:i]
                if admissible(shrunk):
                    yield shrunk

    return steps


def _weight_steps(m: int, odd: bool) -> Callable[[State], Iterator[State]]:
    """Steps ±e_i between dominant weights of B_m (``odd``: SO(2m+1)) or D_m (SO(2m)); B_m also
    has the zero weight, a step that stays put, which survives only when λ_m > 0."""

    def dominant(lam: State) -> bool:
        if any(lam[i] < lam[i + 1] for i in range(m - 2)):
            return False
        last = lam[m - 1] if odd else abs(lam[m - 1])
        return (m < 2 or lam[m - 2] >= last) and last >= 0

    def steps(lam: State) -> Iterator[State]:
        for i in range(m):
            for step in (1, -1):
                moved = (*lam[:i], lam[i] + step, *lam[i + 1 :])
                if dominant(moved):
                    yield moved
        if odd and lam[m - 1] > 0:
            yield lam

    return steps


def _partitions_up_to(size: int, parts: int) -> list[int]:
    """c[s] = the number of partitions of s into at most ``parts`` parts, s ≤ ``size``."""
    counts = [1] + [0] * size
    for part in range(1, min(parts, size) + 1):  # partitions with parts ≤ `parts` (conjugate)
        for s in range(part, size + 1):
            counts[s] += counts[s - part]
    return counts


def _closed_walks(
    start: State, steps: Callable[[State], Iterator[State]], N: int, rows: int, signed: bool, group: str
) -> int:
    """The number of walks of length N from ``start`` (the trivial representation) back to it,
    pruned to weights of size ≤ the number of steps left. Refuses before any work when a bound
    on the work exceeds :data:`WALK_BUDGET`."""
    counts = _partitions_up_to(N // 2, rows)
    cumulative = [sum(counts[: s + 1]) * (2 if signed else 1) for s in range(N // 2 + 1)]
    bound = sum(cumulative[min(t + 1, N - t - 1, N // 2)] for t in range(N))
    bound *= 2 * min(rows, N) + 2
    if bound > WALK_BUDGET:
        raise ValueError(
            f"{group}: dimension at N = {N} needs a walk over dominant weights with up to {bound} steps, "
            f"more than catlayer.dimensions.WALK_BUDGET = {WALK_BUDGET}"
        )
    current = {start: 1}
    for t in range(N):
        left = N - t - 1
        following: dict[State, int] = {}
        for lam, count in current.items():
            for mu in steps(lam):
                if sum(map(abs, mu)) <= left:
                    following[mu] = following.get(mu, 0) + count
        current = following
    return current.get(start, 0)


# -- O(n), Sp(n), SO(n) -------------------------------------------------------------------------------
@cache
def _orthogonal_walk(n: int, N: int) -> int:
    def admissible(lam: State) -> bool:
        second = sum(1 for part in lam if part >= 2)
        return len(lam) + second <= n

    return _closed_walks((), _partition_steps(admissible), N, n, False, f"O({n})")


@cache
def _symplectic_walk(n: int, N: int) -> int:
    m = n // 2
    return _closed_walks((), _partition_steps(lambda lam: len(lam) <= m), N, m, False, f"Sp({n})")


@cache
def _special_orthogonal_walk(n: int, N: int) -> int:
    m = n // 2
    if m == 0:  # SO(1) is trivial
        return 1
    odd = bool(n % 2)
    return _closed_walks((0,) * m, _weight_steps(m, odd), N, m, not odd, f"SO({n})")


def orthogonal_dimension(n: int, N: int) -> int:
    """dim((R^n)^{⊗N})^{O(n)}.

    Regimes: N odd: 0 (−I acts by −1); 2n ≥ N: (N − 1)!!, the number of Brauer diagrams (they
    are independent there); 2n < N: the walk over O(n)-admissible partitions (module docstring).

    >>> [orthogonal_dimension(2, N) for N in range(7)]
    [1, 0, 1, 0, 3, 0, 10]
    >>> orthogonal_dimension(200, 4), orthogonal_dimension(12, 6)
    (3, 15)
    """
    n, N = _check(n, N, "O(n)")
    if N % 2:
        return 0
    if 2 * n >= N:
        return _double_factorial(N)
    return _orthogonal_walk(n, N)


def symplectic_dimension(n: int, N: int) -> int:
    """dim((R^n)^{⊗N})^{Sp(n)}, n even.

    Regimes: N odd: 0 (−I ∈ Sp(n)); n ≥ N: (N − 1)!!, the number of Brauer diagrams (independent
    there); n < N: the walk over partitions with at most n/2 rows (module docstring).

    >>> [symplectic_dimension(2, N) for N in range(7)]
    [1, 0, 1, 0, 2, 0, 5]
    >>> symplectic_dimension(12, 4)
    3
    """
    n, N = _check(n, N, "Sp(n)")
    if n % 2:
        raise ValueError(f"Sp(n) needs an even n, got n = {n}")
    if N % 2:
        return 0
    if n >= N:
        return _double_factorial(N)
    return _symplectic_walk(n, N)


def special_orthogonal_dimension(n: int, N: int) -> int:
    """dim((R^n)^{⊗N})^{SO(n)} = the O(n) value plus the det-isotypic part (spanned by the
    n-diagrams H_α).

    Regimes: n = 1: 1 (trivial group); N < n or N − n odd: the O(n) value (no n-diagrams, resp.
    the det-isotypic part vanishes: −I ∈ O(n) forces it); N = n: the O(n) value + 1 (the one
    n-diagram ε; Brauer–Grood spanning set is a basis); N = n + 2: the O(n) value + C(n + 1, 2)
    (of the C(n + 2, 2) n-diagrams, the n + 1 up-down tableaux through the two inadmissible shapes
    of size n + 1 drop out); otherwise (N ≥ n + 4): the B_m / D_m walk (module docstring).

    >>> [special_orthogonal_dimension(3, N) for N in range(7)]
    [1, 0, 1, 1, 3, 6, 15]
    >>> special_orthogonal_dimension(64, 4), special_orthogonal_dimension(4, 6)
    (3, 25)
    """
    n, N = _check(n, N, "SO(n)")
    if n == 1:
        return 1
    if N < n or (N - n) % 2:
        return orthogonal_dimension(n, N)
    if N == n:
        return orthogonal_dimension(n, N) + 1
    if N == n + 2:
        return orthogonal_dimension(n, N) + math.comb(n + 1, 2)
    return _special_orthogonal_walk(n, N)
