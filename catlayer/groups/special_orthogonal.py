"""The special orthogonal group SO(n): category BG(n), functor Ψ (Brauer diagrams ↦ E_β,
n-diagrams ↦ H_α with the Levi-Civita symbol on the free vertices).

``SO(p, q)`` with q > 0 builds the family registered by :meth:`SO.register_indefinite`.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import sympy

from ..diagrams import BrauerGroodCategory, Diagram, DiagramCategory
from ..diagrams.permutations import permutation_sign
from ..dimensions import orthogonal_dimension, special_orthogonal_dimension
from .base import Generator, Seed
from .loops import loops_avoiding, partners, same_row
from .orthogonal import MetricGroup, brauer_gram, haar_orthogonal, lie_generators

__all__ = ["SO"]


class SO(MetricGroup):
    """The special orthogonal group SO(n). Category BG(n), functor Ψ: Brauer diagrams ↦ E_β,
    n-diagrams ↦ H_α (Levi-Civita). ``SO(p, q)`` gives the indefinite group.

    >>> len(SO(3).generators()), SO(3) == SO(3, 0)
    (3, True)
    """

    preserves_euclidean_norm = True

    family = "special_orthogonal"
    free_singletons = True
    symbol = "SO"
    _indefinite: ClassVar[type[MetricGroup] | None] = None

    def _make_category(self) -> DiagramCategory:
        return BrauerGroodCategory(self._n)

    def _spanning_is_basis(self, k: int, l: int) -> bool:
        return k + l < self._n

    def _select_basis(self, k: int, l: int) -> tuple[Diagram, ...]:
        # The Brauer diagrams span the O(n)-invariant maps, the n-diagrams the maps on which O(n)
        # acts by det: independent subspaces, so the first independent subset is the union of
        # those of the two parts.
        spanning = self.spanning_set(k, l)
        if not spanning or self._spanning_is_basis(k, l):
            return spanning
        brauer = tuple(d for d in spanning if not d.free_vertices)
        free = tuple(d for d in spanning if d.free_vertices)
        brauer_dimension = orthogonal_dimension(self._n, k + l)
        chosen = set(self._independent(brauer, brauer_dimension))
        chosen |= set(self._independent(free, self.dim(k, l) - brauer_dimension))
        return tuple(d for d in spanning if d in chosen)

    def _dimension(self, power: int) -> int:
        return special_orthogonal_dimension(self._n, power)

    def gram(self, d: Diagram, e: Diagram) -> int:
        """Brauer with Brauer: as O(n) (or O(p, q)). A Brauer diagram with an n-diagram: 0 (every path
        joins two free vertices of the n-diagram, where ε vanishes). Two n-diagrams: the value is
        constant along each loop and path; each loop gives n, and when every path joins
        the i-th free vertex of d to the π(i)-th of e, the paths give sgn(π)·Σ_{a ∈ S_n} Π_i η_{a_i}^{t_i}
        = sgn(π)·j!·(n − j)!·e_j(η), where t_i counts the same-row pairs on path i plus its bottom-row
        end points (the Levi-Civita weights) and j the paths with t_i odd (e_j: elementary symmetric
        polynomial; n! for η = I); else 0."""
        n = self.n
        free_d, free_e = d.free_vertices, e.free_vertices
        if not free_d and not free_e:
            return brauer_gram(self, d, e)
        if not free_d or not free_e:
            return 0
        pd, pe = partners(d), partners(e)
        seen, target, odd = set(), {}, 0
        for start in free_d:  # walk each path from its d-free end: e's pair first, then d's, …
            u, use_d, row_pairs = start, False, 0
            while True:
                seen.add(u)
                partner = (pd if use_d else pe).get(u)
                if partner is None:
                    break
                row_pairs += same_row(d, u, partner)
                u, use_d = partner, not use_d
            if use_d or u not in free_e:  # ended at a vertex free in d only: two ε indices agree
                return 0
            target[start] = u
            odd += (row_pairs + (start >= d.cod) + (u >= e.cod)) % 2
        value = n ** len(list(loops_avoiding(d, e, seen)))  # each closed loop gives n (see brauer_gram)
        rank_e = {v: i for i, v in enumerate(free_e)}
        permutation = [rank_e[target[f]] for f in free_d]
        # e_j(η): the coefficient of t^j in Π_i (1 + η_i t) (C(n, j) for η = I)
        p, q = self.signature
        symmetric = sum(math.comb(p, odd - i) * math.comb(q, i) * (-1) ** i for i in range(odd + 1))
        return value * permutation_sign(permutation) * math.factorial(odd) * math.factorial(n - odd) * symmetric

    def generators(self) -> tuple[Generator, ...]:
        """The Lie algebra basis E_ij − E_ji (i < j) of so(n) (SO(n) is connected); SO(1) is
        trivial (no generators).

        >>> SO(2).generators()[0].matrix.tolist()
        [[0, 1], [-1, 0]]
        """
        return lie_generators(self.metric, repr(self))

    def random_element(self, rng: Seed = None, component: int | None = None) -> np.ndarray:
        """A Haar-random rotation (SO(n) is connected: ``component`` is ignored).

        >>> bool(np.isclose(np.linalg.det(SO(3).random_element(2)), 1.0))
        True
        """
        return haar_orthogonal(self._n, np.random.default_rng(rng), det=1)

    def _exact_member(self, g: sympy.Matrix) -> bool:
        return g.T * g == sympy.eye(self._n) and g.det() == 1

    def _float_member(self, g: np.ndarray, tol: float) -> bool:
        return bool(np.abs(g.T @ g - np.eye(self._n)).max() <= tol and abs(np.linalg.det(g) - 1) <= tol)
