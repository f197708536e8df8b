"""Signs of permutations (pure Python: the symbolic core must not need numpy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import permutations

from ..memory import check_size
from .validation import check_order, short_repr

__all__ = ["permutation_sign", "signed_permutations"]


def _cycle_sign(p: Sequence[int]) -> int:
    """The sign of a permutation known to be one: (−1)^(number of even-length cycles)."""
    sign, seen = 1, [False] * len(p)
    for start in range(len(p)):
        if seen[start]:
            continue
        length, j = 0, start
        while not seen[j]:
            seen[j] = True
            j = p[j]
            length += 1
        if length % 2 == 0:
            sign = -sign
    return sign


def permutation_sign(p: Sequence[int]) -> int:
    """The sign of the permutation ``p`` of 0..len(p)−1 (by its cycle lengths, in O(len(p))).

    >>> permutation_sign((0, 1, 2)), permutation_sign((1, 0, 2)), permutation_sign((1, 2, 0))
    (1, -1, 1)
    """
    p = tuple(p)
    if any(isinstance(x, bool) or not isinstance(x, int) for x in p) or sorted(p) != list(range(len(p))):
        raise ValueError(f"{short_repr(p)} is not a permutation of 0..{len(p) - 1}")
    return _cycle_sign(p)


@lru_cache(maxsize=16)
def _signed_permutations(n: int) -> tuple[tuple[tuple[int, ...], int], ...]:
    return tuple((p, _cycle_sign(p)) for p in permutations(range(n)))


def signed_permutations(n: int) -> tuple[tuple[tuple[int, ...], int], ...]:
    """Every permutation of 0..n−1 in lexicographic order, with its sign (n! entries: the
    size is checked against the memory budget first).

    >>> signed_permutations(2)
    (((0, 1), 1), ((1, 0), -1))
    """
    n = check_order(n, "n")
    if n > 20:  # 21! entries exceed every memory
        check_size(2**70, f"the {n}! signed permutations of {n} points")
    check_size(math.factorial(n) * (128 + 8 * n), f"the {n}! signed permutations of {n} points")
    return _signed_permutations(n)
