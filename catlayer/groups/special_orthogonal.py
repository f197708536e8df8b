"""The special orthogonal group SO(n): category BG(n), functor Ψ (Brauer diagrams ↦ E_β,
n-diagrams ↦ H_α with the Levi-Civita symbol on the free vertices).

``SO(p, q)`` with q > 0 builds the family registered by :meth:`SO.register_indefinite`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import sympy

from ..diagrams import BrauerGroodCategory, DiagramCategory
from .base import Generator, Group, check_dimension, read_only
from .orthogonal import _is_zero, check_signature, haar_orthogonal, lie_generators

__all__ = ["SO"]


class SO(Group):
    """The special orthogonal group SO(n). Category BG(n), functor Ψ: Brauer diagrams ↦ E_β,
    n-diagrams ↦ H_α (Levi-Civita). ``SO(p, q)`` gives the indefinite group.

    >>> len(SO(3).generators()), SO(3) == SO(3, 0)
    (3, True)
    """

    family = "special_orthogonal"
    free_singletons = True
    _indefinite: ClassVar[type[Group] | None] = None

    def __new__(cls, p: int, q: int = 0):
        if cls is SO and not _is_zero(q):
            p, q = check_signature("SO", p, q)
            if SO._indefinite is None:
                raise ValueError("SO(p, q) with q > 0 needs the indefinite family registered (catlayer.groups)")
            return super().__new__(SO._indefinite)
        return super().__new__(cls)

    def __init__(self, p: int, q: int = 0):
        if q != 0:
            raise ValueError(f"SO(n) is SO(n, 0); got q = {q!r}")
        self._n = check_dimension(p, "SO(n)")

    @classmethod
    def register_indefinite(cls, family: type[Group]) -> type[Group]:
        """Make ``cls(p, q)`` with q > 0 build ``family``."""
        cls._indefinite = family
        return family

    @property
    def parameters(self) -> tuple[int, ...]:
        return (self._n,)

    @property
    def signature(self) -> tuple[int, int]:
        """(p, q): the metric has p entries +1 and q entries −1."""
        return (self._n, 0)

    @property
    def metric(self) -> np.ndarray:
        """The integer metric η (read-only): the identity for SO(n)."""
        p, q = self.signature
        return read_only(np.diag(np.array([1] * p + [-1] * q, dtype=np.int64)))

    def _make_category(self) -> DiagramCategory:
        return BrauerGroodCategory(self._n)

    def _spanning_is_basis(self, k: int, l: int) -> bool:
        return k + l < self._n

    def _dimension(self, power: int) -> int:
        from ..bases import invariant_dimension

        return invariant_dimension("special_orthogonal", self._n, power)

    def generators(self) -> tuple[Generator, ...]:
        """The Lie algebra basis E_ij − E_ji (i < j) of so(n) (SO(n) is connected); SO(1) is
        trivial (no generators).

        >>> SO(2).generators()[0].matrix.tolist()
        [[0, 1], [-1, 0]]
        """
        return lie_generators(self.metric, repr(self))

    def random_element(self, rng=None, component: int | None = None) -> np.ndarray:
        """A Haar-random rotation (SO(n) is connected: ``component`` is ignored).

        >>> bool(np.isclose(np.linalg.det(SO(3).random_element(2)), 1.0))
        True
        """
        return haar_orthogonal(self._n, np.random.default_rng(rng), det=1)

    def _exact_member(self, g) -> bool:
        return g.T * g == sympy.eye(self._n) and g.det() == 1

    def _float_member(self, g, tol) -> bool:
        return bool(np.abs(g.T @ g - np.eye(self._n)).max() <= tol and abs(np.linalg.det(g) - 1) <= tol)
