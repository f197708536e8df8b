"""The invariant forms of docs/conventions.md §3.3, §3.4 as integer numpy arrays: the symplectic form ε of
Sp(n) and the Levi-Civita symbol of SO(n). Every numeric path builds its tables from these."""

from __future__ import annotations

import numpy as np

from .diagrams.permutations import signed_permutations

__all__ = ["levi_civita", "levi_civita_nonzeros", "symplectic_form"]


def symplectic_form(n: int) -> np.ndarray:
    """ε = J = block-diag([[0, 1], [−1, 0]] × n/2): ε[2i, 2i+1] = +1, ε[2i+1, 2i] = −1 (int64).

    >>> symplectic_form(4).tolist()
    [[0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1], [0, 0, -1, 0]]
    """
    if n % 2:
        raise ValueError(f"the symplectic form needs an even dimension, got n = {n}")
    form = np.zeros((n, n), dtype=np.int64)
    for a in range(0, n, 2):
        form[a, a + 1], form[a + 1, a] = 1, -1
    return form


def levi_civita_nonzeros(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n! nonzero entries of the Levi-Civita symbol: index rows (n!, n) and signs (n!,).

    >>> rows, signs = levi_civita_nonzeros(2)
    >>> rows.tolist(), signs.tolist()
    ([[0, 1], [1, 0]], [1, -1])
    """
    table = signed_permutations(n)
    rows = np.array([p for p, _ in table], dtype=np.int64).reshape(len(table), n)
    return rows, np.array([s for _, s in table], dtype=np.int64)


def levi_civita(n: int) -> np.ndarray:
    """The Levi-Civita symbol as a dense (n,)*n int64 array, ε_{0,1,…,n−1} = +1. It has n^n
    entries: callers guard the size.

    >>> levi_civita(2).tolist()
    [[0, 1], [-1, 0]]
    """
    rows, signs = levi_civita_nonzeros(n)
    symbol = np.zeros((n,) * n, dtype=np.int64)
    symbol[tuple(rows.T)] = signs
    return symbol
