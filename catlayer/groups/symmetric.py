"""The symmetric group S_n: category P(n), functor Θ (diagram basis E_π and orbit basis X_π)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import permutations
from typing import TYPE_CHECKING

import numpy as np
import sympy

from ..bases import diagram_to_orbit, orbit_to_diagram
from ..diagrams import Combination, Diagram, DiagramCategory, PartitionCategory
from ..dimensions import symmetric_dimension
from ..memory import check_size
from .base import Generator, Group, Seed, check_dimension, int_matrix

if TYPE_CHECKING:
    from ..functors import EquivariantMap

__all__ = ["S"]


def permutation_matrix(p: Sequence[int]) -> np.ndarray:
    """The exact permutation matrix with g e_i = e_{p[i]}."""
    m = int_matrix(len(p))
    for i, pi in enumerate(p):
        m[pi, i] = 1
    return m


class S(Group):
    """The symmetric group S_n permuting the basis vectors: g e_i = e_{p(i)}.

    Category P(n), functor Θ(π) = E_π; orbit basis X_π via ``functor(d, basis="orbit")``.

    >>> G = S(3)
    >>> [g.name for g in G.generators()]
    ['transposition (0 1)', 'n-cycle (0 1 2)']
    >>> G.category, len(G.basis(2, 2)), G.dim(2, 2)
    (PartitionCategory(3), 14, 14)

    ``S()`` is S_n for every n at once: its spanning set (and :meth:`~catlayer.groups.Group.basis`) is every partition
    diagram, Bell(k + l) of them for k → l, a basis for n ≥ k + l and a spanning set below; the
    loop value of its category is the symbol n. Layers built on it take any n at run time;
    whatever needs a matrix needs a size first (:meth:`~catlayer.groups.S.at`).

    >>> S(), S().n, len(S().basis(2, 2)), S().at(3)
    (S(), None, 15, S(3))
    >>> S().functor(S().basis(1, 1)[0])
    Traceback (most recent call last):
    ...
    ValueError: S() is S_n for every n: the functor needs a size, e.g. S().at(5).functor(...)
    """

    family = "partition"
    bases = ("diagram", "orbit")
    projects_in_orbit_basis = True
    acts_by_permutations = True
    preserves_euclidean_norm = True

    def __init__(self, n: int | None = None):
        self._n = None if n is None else check_dimension(n, "S(n)")  # type: ignore[assignment]

    @property
    def parameters(self) -> tuple[int, ...]:
        return () if self._n is None else (self._n,)

    def at(self, n: int) -> S:
        """This group at size n: ``S(n)`` (for ``S()``, any n ≥ 1; for ``S(m)``, only m)."""
        if self._n is None:
            return S(n)
        return super().at(n)  # type: ignore[return-value]

    def _make_category(self) -> DiagramCategory:
        return PartitionCategory(sympy.Symbol("n") if self._n is None else self._n)

    def _spanning_is_basis(self, k: int, l: int) -> bool:
        return self._n is None or k + l <= self._n

    def _select_basis(self, k: int, l: int) -> tuple[Diagram, ...]:
        if self._n is None:
            return self.spanning_set(k, l)
        # E_π for the partitions with at most n blocks is a basis (the orbit basis X_π vanishes
        # exactly on the others).
        return tuple(d for d in self.spanning_set(k, l) if len(d.blocks) <= self._n)

    def is_element(self, g, tolerance: float | None = None) -> bool:  # type: ignore[no-untyped-def]
        """Whether g is a permutation matrix (of any size for ``S()``); see :meth:`Group.is_element`.

        >>> S().is_element([[0, 1], [1, 0]]), S(3).is_element([[0, 1], [1, 0]])
        (True, False)
        """
        if self._n is None:
            shape = np.shape(g.tolist() if isinstance(g, sympy.MatrixBase) else g)
            return len(shape) == 2 and shape[0] == shape[1] and shape[0] >= 1 and S(shape[0]).is_element(g, tolerance)
        return super().is_element(g, tolerance)

    def act(self, g, x, order: int) -> np.ndarray:  # type: ignore[no-untyped-def]
        """ρ_order(g) on the last ``order`` axes of x (for ``S()``, n is read off g); see
        :meth:`Group.act`.

        >>> S().act(np.array([[0, 1], [1, 0]]), np.array([1.0, 2.0]), 1).tolist()
        [2.0, 1.0]
        """
        if self._n is None:
            shape = np.shape(g.tolist() if isinstance(g, sympy.MatrixBase) else g)
            if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
                raise ValueError(f"expected a square permutation matrix, got shape {shape}")
            return S(shape[0]).act(g, x, order)
        return super().act(g, x, order)

    def basis_contains(self, d: Diagram) -> bool:
        """Whether d is in ``basis(d.dom, d.cod)``: at most n blocks (any d for ``S()``).

        >>> from catlayer import PartitionDiagram
        >>> S(2).basis_contains(PartitionDiagram([[0], [1], [2]], dom=2, cod=1))
        False
        """
        self.check_diagram(d)
        return self._n is None or len(d.blocks) <= self._n

    def _dimension(self, power: int) -> int:
        return symmetric_dimension(self._n, power)

    def _entries(self, d: Diagram, basis: str) -> tuple[np.ndarray, np.ndarray]:
        if basis == "diagram":
            return super()._entries(d, basis)
        # X_π[x] = [x constant on blocks, distinct blocks distinct]: one entry per injective
        # assignment of values to blocks.
        n, size, count = self._n, d.size, len(d.blocks)
        if count > n:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        total = math.perm(n, count)
        check_size(16 * total, f"the {total} nonzero entries of an orbit-basis matrix")
        assignment = np.array(list(permutations(range(n), count)), dtype=np.int64).reshape(total, count)
        powers = np.array([n ** (size - 1 - v) for v in range(size)], dtype=np.int64)
        flat = assignment[:, list(d.labels)] @ powers if size else np.zeros(total, dtype=np.int64)
        return flat, np.ones(total, dtype=np.int64)

    def gram(self, d: Diagram, e: Diagram) -> int:
        """⟨E_d, E_e⟩ = n^(number of blocks of the join of the two set partitions)."""
        n = self._require_n("the Gram matrix")
        parent = list(range(d.size))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for block in (*d.blocks, *e.blocks):
            for v in block[1:]:
                parent[find(v)] = find(block[0])
        return n ** len({find(v) for v in range(d.size)})

    def generators(self) -> tuple[Generator, ...]:
        """A transposition and the n-cycle i ↦ i + 1 (mod n), as group elements; for n = 2 the two
        coincide and only the transposition is listed; S_1 is trivial (no generators).

        >>> S(2).generators()[0].matrix.tolist()
        [[0, 1], [1, 0]]
        """
        n = self._require_n("the generators")
        out = []
        if n >= 2:
            out.append(Generator("transposition (0 1)", permutation_matrix([1, 0, *range(2, n)]), "group"))
        if n >= 3:
            cycle = " ".join(map(str, range(n)))
            out.append(Generator(f"n-cycle ({cycle})", permutation_matrix([(i + 1) % n for i in range(n)]), "group"))
        return tuple(out)

    def random_element(self, rng: Seed = None, component: int | None = None) -> np.ndarray:
        """A uniformly random permutation matrix (float64); ``component`` is ignored (S_n is
        finite and sampled uniformly).

        >>> g = S(4).random_element(0)
        >>> g.sum(axis=0).tolist(), g.sum(axis=1).tolist()
        ([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])
        """
        n = self._require_n("a random element")
        rng = np.random.default_rng(rng)
        g = np.zeros((n, n))
        g[rng.permutation(n), np.arange(n)] = 1.0
        return g

    def _exact_member(self, g: sympy.Matrix) -> bool:
        return (
            all(x in (0, 1) for x in g)
            and all(sum(g.row(i)) == 1 for i in range(self._n))
            and all(sum(g.col(i)) == 1 for i in range(self._n))
        )

    def _float_member(self, g: np.ndarray, tol: float) -> bool:
        rounded = np.round(g)
        return bool(np.abs(g - rounded).max() <= tol) and self._exact_member(sympy.Matrix(rounded.astype(int)))

    def orbit_functor(self, d: Diagram | Combination) -> EquivariantMap:
        """The orbit-basis image X_π, linear in a combination.

        >>> from catlayer import PartitionDiagram
        >>> S(2).orbit_functor(PartitionDiagram([[0], [1]], dom=1, cod=1)).to_sympy()
        Matrix([
        [0, 1],
        [1, 0]])
        """
        return self.functor(d, basis="orbit")

    def diagram_to_orbit(self, c: Diagram | Combination) -> Combination:
        """Orbit-basis coordinates of Σ w_π E_π: ``functor(c) == orbit_functor(diagram_to_orbit(c))``.

        >>> from catlayer import PartitionDiagram
        >>> G, d = S(2), PartitionDiagram([[0], [1]], dom=1, cod=1)
        >>> G.functor(d) == G.orbit_functor(G.diagram_to_orbit(d))
        True
        """
        return diagram_to_orbit(c, self._n)

    def orbit_to_diagram(self, c: Diagram | Combination) -> Combination:
        """Diagram-basis coordinates of Σ u_π X_π: ``orbit_functor(c) == functor(orbit_to_diagram(c))``.

        >>> from catlayer import PartitionDiagram
        >>> G, d = S(2), PartitionDiagram([[0], [1]], dom=1, cod=1)
        >>> G.orbit_functor(d) == G.functor(G.orbit_to_diagram(d))
        True
        """
        return orbit_to_diagram(c, self._n)
