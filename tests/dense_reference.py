"""Dense reference matrices straight from the entry formulas of docs/conventions.md §3.1, §3.2 and §3.4,
written independently of catlayer's symbolic rules (used by several test files)."""

from itertools import combinations as subsets
from itertools import pairwise

import numpy as np
import sympy

from catlayer import BrauerGroodDiagram

n = sympy.Symbol("n")


def dense(d, size):
    """The matrix of a diagram from the entry formulas: E_β / E_π (docs/conventions.md §3.1, §3.2) and, for
    an n-diagram with ``size`` free vertices, H_α with the Levi-Civita symbol on the free
    vertices in vertex-number order (docs/conventions.md §3.4). Shape (size^l, size^k), integer entries."""
    x = np.indices((size,) * d.size).reshape(d.size, size**d.size)
    entry = np.ones(x.shape[1], dtype=np.int64)
    free = [b[0] for b in d.blocks if len(b) == 1]
    for b in d.blocks:
        for u, v in pairwise(b):
            entry *= x[u] == x[v]
    if len(free) == size and size > 0 and isinstance(d, BrauerGroodDiagram):
        # ε_{a_1..a_n} = Π_{i<j} sign(a_j − a_i) for a ∈ {0..n−1}^n
        for i, j in subsets(range(size), 2):
            entry *= np.sign(x[free[j]] - x[free[i]])
    return entry.reshape(size**d.cod, size**d.dom)


def dense_combination(c, size):
    total = np.zeros((size**c.cod, size**c.dom), dtype=np.int64)
    for d, coefficient in c.terms.items():
        total += int(sympy.sympify(coefficient).subs(n, size)) * dense(d, size)
    return total
