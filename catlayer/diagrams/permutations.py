"""Signs of permutations (pure Python: the symbolic core must not need numpy)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import permutations

__all__ = ["permutation_sign", "signed_permutations"]


def permutation_sign(p: Sequence[int]) -> int:
    """The sign of the permutation ``p`` of 0..len(p)−1 (by its cycle lengths).

    >>> permutation_sign((0, 1, 2)), permutation_sign((1, 0, 2)), permutation_sign((1, 2, 0))
    (1, -1, 1)
    """
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


@lru_cache(maxsize=16)
def signed_permutations(n: int) -> tuple[tuple[tuple[int, ...], int], ...]:
    """Every permutation of 0..n−1 in lexicographic order, with its sign.

    >>> signed_permutations(2)
    (((0, 1), 1), ((1, 0), -1))
    """
    return tuple((p, permutation_sign(p)) for p in permutations(range(n)))
