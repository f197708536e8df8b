"""The indefinite orthogonal groups O(p, q) and SO(p, q), q ≥ 1 (O(1, 3) is the Lorentz group).

Metric η = diag(+1 ×p, −1 ×q) and O(p, q) = {g : gᵀηg = η}. The functor is that of O(n) (resp.
SO(n)) with η in place of δ on same-row pairs: caps carry η as the invariant tensor, cups carry
η⁻¹ = η as the invariant form, so the category is still B(n) with loop value n = p + q. For
SO(p, q) an n-diagram carries the Levi-Civita symbol with its bottom-row (input) indices lowered
by η, and its category BG(n) multiplies every ε·ε expansion by det η = (−1)^q.

Bases and dimensions are those of O(n) and SO(n): conjugating by D = diag(√η_i) (over C) turns
E_β into E^η_β and H_α into a fixed multiple of H^η_α, the same for every diagram, so the linear
relations among the images do not change.

This module is a whole group family; registering it (``O.register_indefinite``,
``SO.register_indefinite`` in :mod:`catlayer.groups`) makes ``O(p, q)`` and ``SO(p, q)`` build it.
"""

from __future__ import annotations

import math
import numbers
from functools import cached_property

import numpy as np
import sympy

from ..diagrams import BrauerCategory, BrauerGroodCategory, Diagram, DiagramCategory
from .base import Generator, Group, Seed, check_dimension, read_only
from .orthogonal import MetricGroup, O, check_signature, haar_orthogonal, lie_generators, reflection
from .special_orthogonal import SO

__all__ = ["Indefinite", "IndefiniteOrthogonal", "IndefiniteSpecialOrthogonal", "boost_sample"]

#: Default bound on the rapidity of sampled boosts: ‖g‖₂ ≤ e^rapidity.
RAPIDITY = 1.0


def _expm_symmetric(b: np.ndarray) -> np.ndarray:
    """exp(B) for a symmetric B, by its eigendecomposition."""
    w, v = np.linalg.eigh(b)
    return (v * np.exp(w)) @ v.T


def _check_sampler_arguments(rapidity: float, component: int | None) -> None:
    """A clear error for a rapidity that is not a finite real ≥ 0 or a component that is not an int."""
    if isinstance(rapidity, bool) or not isinstance(rapidity, numbers.Real) or not 0 <= rapidity < math.inf:
        raise ValueError(f"rapidity must be a finite real number >= 0, got {rapidity!r}"[:200])
    if component is not None and (isinstance(component, bool) or not isinstance(component, numbers.Integral)):
        raise ValueError(f"component must be None or an int, got {component!r}"[:200])


def boost_sample(p: int, q: int, rng: np.random.Generator, rapidity: float, component: int | None) -> np.ndarray:
    """g = K₁·exp(B)·K₂ in O(p, q) (Cartan decomposition G = K·A·K): K₁, K₂ Haar-random in the
    maximal compact subgroup O(p) × O(q), B the symmetric boost generator with off-diagonal block
    b (p × q) uniform in direction and ‖b‖₂ ≤ ‖b‖_F ≤ ``rapidity``, so ‖g‖₂ ≤ e^rapidity.
    ``component`` = 2·s + t picks det of the "+" block (−1)^t and of the "−" block (−1)^s."""
    n = p + q
    b = rng.standard_normal((p, q))
    b *= rng.uniform(0.0, rapidity) / max(float(np.linalg.norm(b)), 1e-300)
    generator = np.zeros((n, n))
    generator[:p, p:] = b
    generator[p:, :p] = b.T
    dets = (None, None) if component is None else ((-1) ** (component % 2), (-1) ** ((component // 2) % 2))

    def compact(det_plus: int | None, det_minus: int | None) -> np.ndarray:
        k = np.zeros((n, n))
        k[:p, :p] = haar_orthogonal(p, rng, det_plus)
        k[p:, p:] = haar_orthogonal(q, rng, det_minus)
        return k

    return compact(*dets) @ _expm_symmetric(generator) @ compact(1 if p else None, 1)


class Indefinite(MetricGroup):
    """What O(p, q) and SO(p, q) share: the signature (q ≥ 1), printing and pickling through the
    public class, and η on same-row pairs."""

    preserves_euclidean_norm = False

    def __init__(self, p: int, q: int = 0) -> None:
        p, q = check_signature(self.symbol, p, q)
        if q == 0:
            raise ValueError(f"{self.symbol}(p, 0) is {self.symbol}(p): build it as {self.symbol}(p)")
        self._p, self._q = p, q
        self._n = check_dimension(p + q, f"{self.symbol}(p, q)")

    def __repr__(self) -> str:
        return f"{self.symbol}({self._p}, {self._q})"

    def __reduce__(self) -> tuple[type[Group], tuple[int, ...]]:
        # Unpickle through the public class (O or SO), which dispatches to this family.
        public = next(c for c in type(self).__mro__ if "_indefinite" in c.__dict__)
        return (public, self.parameters)

    @property
    def parameters(self) -> tuple[int, ...]:
        return (self._p, self._q)

    @property
    def signature(self) -> tuple[int, int]:
        return (self._p, self._q)

    @cached_property
    def pair_form(self) -> np.ndarray:
        """η: every same-row pair {u, v} carries η[x_u, x_v]."""
        return self.metric


class IndefiniteOrthogonal(Indefinite, O):
    """O(p, q) = {g : gᵀηg = η}, η = diag(+1 ×p, −1 ×q), q ≥ 1; build it as ``O(p, q)``.

    >>> L = O(1, 3)
    >>> L, L.n, L.signature, L.metric.diagonal().tolist()
    (O(1, 3), 4, (1, 3), [1, -1, -1, -1])
    >>> len(L.basis(2, 2)), L.dim(2, 2)
    (3, 3)
    """

    def _make_category(self) -> DiagramCategory:
        return BrauerCategory(self._n)

    def _dimension(self, power: int) -> int:
        return O(self._n)._dimension(power)

    def _select_basis(self, k: int, l: int) -> tuple[Diagram, ...]:
        return O(self._n).basis(k, l)  # the same linear relations (module docstring)

    def generators(self) -> tuple[Generator, ...]:
        """The integer Lie algebra basis X_ij = e_i e_jᵀ − η_ii η_jj e_j e_iᵀ (rotations and
        boosts), and one reflection per sign of η that occurs (O(p, q) has four components when
        p, q ≥ 1, two when p = 0).

        >>> [g.name for g in O(1, 1).generators()]
        ['boost L[0,1] in O(1, 1)', 'reflection of e_0 in O(1, 1)', 'reflection of e_1 in O(1, 1)']
        """
        name = repr(self)
        discrete = ([reflection(self._n, 0, name)] if self._p else []) + [reflection(self._n, self._p, name)]
        return (*lie_generators(self.metric, name), *discrete)

    @property
    def num_components(self) -> int:
        return 4 if self._p else 2

    def random_element(self, rng: Seed = None, component: int | None = None, rapidity: float = RAPIDITY) -> np.ndarray:
        """K₁·exp(B)·K₂ with K Haar in O(p) × O(q) and a boost of rapidity ≤ ``rapidity`` (default
        1), so ‖g‖₂ ≤ e^rapidity; there is no Haar probability measure on this non-compact group.
        ``component`` = 2·s + t: det of the "+" block (−1)^t, of the "−" block (−1)^s.

        >>> L = O(1, 3)
        >>> g = L.random_element(0)
        >>> L.is_element(g), bool(np.abs(g).max() <= np.e)
        (True, True)
        """
        _check_sampler_arguments(rapidity, component)
        component = None if component is None else component % self.num_components
        if component is not None and not self._p:
            component = 2 * (component % 2)
        return boost_sample(self._p, self._q, np.random.default_rng(rng), rapidity, component)

    def _exact_member(self, g: sympy.Matrix) -> bool:
        eta = sympy.Matrix(self.metric.tolist())
        return g.T * eta * g == eta

    def _float_member(self, g: np.ndarray, tol: float) -> bool:
        eta = self.metric.astype(np.float64)
        return bool(np.abs(g.T @ eta @ g - eta).max() <= tol * max(1.0, float(np.abs(g).max()) ** 2))


class IndefiniteSpecialOrthogonal(Indefinite, SO):
    """SO(p, q) = {g ∈ O(p, q) : det g = 1}, q ≥ 1; build it as ``SO(p, q)``. Category
    BG(n) with det η = (−1)^q on every ε·ε expansion; n-diagrams carry ε with η on their bottom
    free vertices.

    >>> SO(1, 3), SO(1, 3).dim(2, 2), SO(1, 3).category
    (SO(1, 3), 4, BrauerGroodCategory(4, det_eta=-1))
    """

    @cached_property
    def free_weights(self) -> np.ndarray:
        """diag(η): the input indices of the Levi-Civita symbol are lowered with η."""
        return read_only(self.metric.diagonal().copy())

    def _make_category(self) -> DiagramCategory:
        return BrauerGroodCategory(self._n, det_eta=(-1) ** self._q)

    def _dimension(self, power: int) -> int:
        return SO(self._n)._dimension(power)

    def _select_basis(self, k: int, l: int) -> tuple[Diagram, ...]:
        return SO(self._n).basis(k, l)  # the same linear relations (module docstring)

    def generators(self) -> tuple[Generator, ...]:
        """The integer Lie algebra basis X_ij, and (when p, q ≥ 1) the product of the reflections
        of e_0 and e_p, which reaches the second component of SO(p, q).

        >>> [g.kind for g in SO(1, 1).generators()]
        ['lie', 'group']
        """
        name = repr(self)
        out = list(lie_generators(self.metric, name))
        if self._p:
            m = reflection(self._n, 0, name).matrix.dot(reflection(self._n, self._p, name).matrix)
            out.append(Generator(f"reflection of e_0 and e_{self._p} in {name}", m, "group"))
        return tuple(out)

    @property
    def num_components(self) -> int:
        return 2 if self._p else 1

    def random_element(self, rng: Seed = None, component: int | None = None, rapidity: float = RAPIDITY) -> np.ndarray:
        """As :meth:`IndefiniteOrthogonal.random_element`, with det g = 1; ``component`` 1
        reverses both the "+" and the "−" orientation.

        >>> G = SO(2, 1)
        >>> G.is_element(G.random_element(3, component=1))
        True
        """
        _check_sampler_arguments(rapidity, component)
        rng = np.random.default_rng(rng)
        if component is None:
            component = int(rng.integers(self.num_components))
        flip = (component % self.num_components) if self._p else 0
        return boost_sample(self._p, self._q, rng, rapidity, 3 * flip)

    def _exact_member(self, g: sympy.Matrix) -> bool:
        eta = sympy.Matrix(self.metric.tolist())
        return g.T * eta * g == eta and g.det() == 1

    def _float_member(self, g: np.ndarray, tol: float) -> bool:
        eta = self.metric.astype(np.float64)
        scale = max(1.0, float(np.abs(g).max()) ** 2)
        return bool(np.abs(g.T @ eta @ g - eta).max() <= tol * scale and abs(np.linalg.det(g) - 1) <= tol * scale)
