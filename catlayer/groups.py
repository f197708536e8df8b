"""The groups S(n), O(n), SO(n), Sp(n) acting on (R^n)^{⊗k}, each with its diagram category
and functor (math.md §2–§4).

>>> from catlayer import S, O, SO, Sp
>>> G = S(4)
>>> G, G.family, G.category
(S(4), 'partition', PartitionCategory(4))
>>> len(G.basis(2, 2)), G.dim(2, 2)
(15, 15)
>>> [Sp(4).dim(k, 2) for k in range(5)]
[1, 0, 3, 0, 14]
>>> SO(3).basis_empty_reason(1, 0)
'k + l = 1 is odd and 1 − n = -2 is not an even number ≥ 0: no Brauer diagrams and no n-diagrams'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Literal

import numpy as np
import sympy

from .bases import diagram_to_orbit, gram_matrix, greedy_independent, invariant_dimension, orbit_to_diagram
from .diagrams import (
    BrauerCategory,
    BrauerGroodCategory,
    Combination,
    Diagram,
    DiagramCategory,
    PartitionCategory,
)
from .forms import symplectic_form
from .functors import EquivariantMap, _entries

__all__ = ["SO", "Generator", "Group", "O", "S", "Sp", "symplectic_form"]


def check_size(num_bytes: int, what: str) -> None:
    """The shared memory guard (:func:`catlayer.backend.memory.check_size`), imported on first use
    so that importing catlayer does not load the numeric backend."""
    from .backend.memory import check_size as guard

    guard(num_bytes, what)


@dataclass(frozen=True, eq=False)
class Generator:
    """An exact generator used to prove equivariance.

    ``kind == "group"``: a group element g, acting on (R^n)^{⊗k} by ρ_k(g) = g ⊗ … ⊗ g.
    ``kind == "lie"``: a Lie algebra element X, acting by the derivation
    dρ_k(X) = Σ_a 1 ⊗ … ⊗ X (axis a) ⊗ … ⊗ 1.
    ``matrix`` is an n × n numpy object array of Python ints.
    """

    name: str
    matrix: np.ndarray
    kind: Literal["group", "lie"]

    def nonzeros(self) -> tuple[tuple[int, int, int], ...]:
        """(row, column, value) of the nonzero entries."""
        return tuple((i, j, int(v)) for (i, j), v in np.ndenumerate(self.matrix) if v != 0)


def _int_matrix(n: int) -> np.ndarray:
    m = np.empty((n, n), dtype=object)
    m[:] = 0
    return m


def _permutation_matrix(p) -> np.ndarray:
    m = _int_matrix(len(p))
    for i, pi in enumerate(p):
        m[pi, i] = 1
    return m


def _to_array(g) -> np.ndarray:
    if isinstance(g, sympy.MatrixBase):
        return np.array(g.tolist(), dtype=object)
    return np.asarray(g)


class Group(ABC):
    """A group G ⊂ GL(n) acting on (R^n)^{⊗k} by ρ_k(g) = g ⊗ … ⊗ g. Use :class:`S`, :class:`O`,
    :class:`SO` or :class:`Sp`."""

    family: ClassVar[str] = ""
    _symbol: ClassVar[str] = ""

    def __init__(self, n: int):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{self._symbol}(n) needs an int n >= 1 (the dimension of the space), got {n!r}")
        self._n = int(n)

    # -- data --------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """The dimension of the space R^n the group acts on."""
        return self._n

    @property
    def category(self) -> DiagramCategory:
        """The diagram category whose functor lands in the G-equivariant maps."""
        return _category(self.family, self._n)

    @property
    def delta(self) -> int:
        """The loop value of the category (n, or −n for Sp(n))."""
        return int(self.category.parameter)

    def __repr__(self) -> str:
        return f"{self._symbol}({self._n})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._n == other._n

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._n))

    def __reduce__(self):
        return (type(self), (self._n,))

    # -- diagrams and functor -----------------------------------------------------------------
    def _check_diagram(self, d: Diagram) -> None:
        if not isinstance(d, Diagram):
            raise TypeError(f"expected a diagram, got {type(d).__name__}")
        category = self.category
        if not category.contains(d):
            raise ValueError(f"{d!r} is not a morphism of {category!r} ({self!r}): {category._why_not(d)}")

    def _evaluate_coefficients(self, c: Combination) -> tuple[tuple[Diagram, sympy.Expr], ...]:
        """The combination's terms with the category's symbolic loop parameter set to this group's
        loop value δ (n, or −n for Sp(n)), e.g. the ``n**loops`` of ``d >> e`` on bare diagrams."""
        terms = c.terms
        category = c.category
        if category is not None:
            parameter = sympy.sympify(category.parameter)
            if parameter.free_symbols:
                (symbol,) = parameter.free_symbols if len(parameter.free_symbols) == 1 else (None,)
                uses = any(symbol in sympy.sympify(v).free_symbols for v in terms.values()) if symbol else False
                if uses:
                    solutions = sympy.solve(sympy.Eq(parameter, self.delta), symbol)
                    if len(solutions) != 1:
                        raise ValueError(f"cannot set the parameter {parameter} of {category!r} to {self.delta}")
                    terms = {d: sympy.expand(sympy.sympify(v).subs(symbol, solutions[0])) for d, v in terms.items()}
            elif parameter != self.delta:
                raise ValueError(
                    f"the combination lives in {category!r}, but the functor of {self!r} starts at "
                    f"{self.category!r} (loop value {self.delta}); compose with {self!r}.category.compose"
                )
        return tuple((d, v) for d, v in sorted(terms.items(), key=lambda item: item[0]) if v != 0)

    def functor(self, d: Diagram | Combination, basis: str = "diagram") -> EquivariantMap:
        """The image of a diagram or a Combination as a lazy G-equivariant linear map.

        A symbolic loop parameter in the combination's category (as in ``d >> e`` on bare
        diagrams) is set to this group's loop value δ.

        >>> from catlayer import O, BrauerDiagram
        >>> cap, cup = BrauerDiagram([[0, 1]], dom=0, cod=2), BrauerDiagram([[0, 1]], dom=2, cod=0)
        >>> O(3).functor(cap >> cup).to_sympy()                     # the loop: n
        Matrix([[3]])
        """
        return EquivariantMap._leaf(self, d, basis)

    def spanning_set(self, k: int, l: int) -> tuple[Diagram, ...]:
        """All diagrams k → l of the category: their images span Hom_G.

        >>> len(O(3).spanning_set(2, 2))
        3
        """
        return self.category.hom(k, l)

    def basis(self, k: int, l: int) -> tuple[Diagram, ...]:
        """Diagrams whose images form a basis of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) for this n (cached).

        S_n: the diagrams with at most n blocks. O(n), Sp(n), SO(n): the whole spanning set when
        it is known to be independent (2n ≥ k + l for O(n), n ≥ k + l for Sp(n), k + l < n for
        SO(n)); otherwise the first maximal independent subset, in the category's order, found by
        exact fraction-free elimination of the integer Gram matrix of the images.

        >>> len(O(2).basis(3, 3)), len(O(2).spanning_set(3, 3))
        (10, 15)
        """
        return _basis(self.family, self._n, k, l)

    def basis_empty_reason(self, k: int, l: int) -> str | None:
        """Why Hom_G is zero (then ``basis(k, l) == ()``), or None when it is not.

        >>> Sp(4).basis_empty_reason(2, 1)
        'k + l = 3 is odd: no Brauer diagrams'
        """
        if self.basis(k, l):
            return None
        reason = self.category.empty_reason(k, l)
        if reason is not None:
            return reason
        return f"the images of all {len(self.spanning_set(k, l))} diagrams {k} → {l} are zero for n = {self._n}"

    def dim(self, k: int, l: int) -> int:
        """dim Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) = ∫_G χ(g)^{k+l} dg, computed exactly and without
        diagrams (:func:`catlayer.bases.invariant_dimension`).

        >>> [S(3).dim(N, 0) for N in range(7)]
        [1, 1, 2, 5, 14, 41, 122]
        """
        for name, value in (("k", k), ("l", l)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        return invariant_dimension(self.family, self._n, k + l)

    def coefficients(self, M, k: int, l: int, *, tolerance: float | None = None):
        """The coordinates of an equivariant M in ``basis(k, l)`` (sympy Rationals for exact M,
        floats for float M); raises :class:`~catlayer.projection.NotEquivariantError` with the
        residual when M is not equivariant. See :func:`catlayer.projection.coefficients`.

        >>> import numpy as np
        >>> S(3).coefficients(np.ones((3, 3), dtype=int), 1, 1)        # the all-ones diagram {1} {1'}
        (0, 1)
        """
        from .projection import coefficients

        return coefficients(self, M, k, l, tolerance=tolerance)

    def project(self, M, k: int, l: int):
        """The orthogonal (Frobenius) projection of M onto Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}), same
        type and shape as M. See :func:`catlayer.projection.project`.

        >>> import numpy as np
        >>> O(2).project(np.array([[1.0, 2.0], [3.0, 4.0]]), 1, 1)      # (trace / n)·I
        array([[2.5, 0. ],
               [0. , 2.5]])
        """
        from .projection import project

        return project(self, M, k, l)

    # -- the group itself ------------------------------------------------------------------------
    @abstractmethod
    def generators(self) -> tuple[Generator, ...]:
        """Exact generators (see :class:`Generator`): equivariance under all of them is equivalent
        to equivariance under the group (see :func:`catlayer.verify.check_equivariance`)."""

    @abstractmethod
    def random_element(self, rng=None) -> np.ndarray:
        """A random float64 n × n element of the group; ``rng``: None, an int seed or a
        numpy Generator."""

    @abstractmethod
    def _exact_member(self, g: sympy.Matrix) -> bool:
        """Exact membership test of a rational matrix."""

    @abstractmethod
    def _float_member(self, g: np.ndarray, tol: float) -> bool:
        """Membership test of a float matrix within ``tol``."""

    def is_element(self, g, tolerance: float | None = None) -> bool:
        """Whether g is in the group: exactly for integer / rational / sympy matrices, within
        ``tolerance`` (default 1e-10) for float matrices.

        >>> Sp(2).is_element([[2, 3], [1, 2]]), O(2).is_element([[2, 3], [1, 2]])
        (True, False)
        """
        g = _to_array(g)
        if g.shape != (self._n, self._n):
            return False
        if g.dtype.kind == "f":
            tol = 1e-10 if tolerance is None else tolerance
            return self._float_member(g.astype(np.float64), tol)
        exact = sympy.Matrix(g.tolist())
        if any(not x.is_Rational for x in exact):
            raise TypeError("exact membership needs rational entries")
        return self._exact_member(exact)

    def act(self, g, x: np.ndarray, order: int) -> np.ndarray:
        """ρ_order(g) applied to the last ``order`` axes of x (any leading axes are batch or
        channel axes), one axis at a time: the n^k × n^k matrix is never formed.

        >>> G = S(3)
        >>> g = G.generators()[1].matrix                  # the 3-cycle e_i ↦ e_{i+1}
        >>> x = np.arange(9).reshape(3, 3)
        >>> G.act(g, x, 2).tolist()                       # x[i-1, j-1]
        [[8, 6, 7], [2, 0, 1], [5, 3, 4]]
        """
        g = _to_array(g)
        x = np.asarray(x)
        n = self._n
        if g.shape != (n, n):
            raise ValueError(f"expected an {n} x {n} matrix, got shape {g.shape}")
        if isinstance(order, bool) or not isinstance(order, int) or order < 0 or order > x.ndim:
            raise ValueError(f"order must be an int between 0 and x.ndim = {x.ndim}, got {order!r}")
        if x.shape[x.ndim - order :] != (n,) * order:
            raise ValueError(f"the last {order} axes of x must have length {n}, got shape {x.shape}")
        for axis in range(x.ndim - order, x.ndim):
            x = np.moveaxis(np.tensordot(g, x, axes=([1], [axis])), 0, axis)
        return x


@lru_cache(maxsize=64)
def _category(family: str, n: int) -> DiagramCategory:
    if family == "partition":
        return PartitionCategory(n)
    if family == "orthogonal":
        return BrauerCategory(n)
    if family == "symplectic":
        return BrauerCategory(-n)
    return BrauerGroodCategory(n)


def _spanning_is_basis(family: str, n: int, size: int) -> bool:
    if family == "orthogonal":
        return 2 * n >= size
    if family == "symplectic":
        return n >= size
    return size < n


@lru_cache(maxsize=256)
def _basis(family: str, n: int, k: int, l: int) -> tuple[Diagram, ...]:
    category = _category(family, n)
    spanning = category.hom(k, l)
    if family == "partition":
        return tuple(d for d in spanning if len(d.blocks) <= n)
    if not spanning or _spanning_is_basis(family, n, k + l):
        return spanning
    size = n ** (k + l)
    check_size(8 * size * len(spanning), f"the images of {len(spanning)} diagrams with {size} entries each")
    rows = np.zeros((len(spanning), size), dtype=np.int64)
    for i, d in enumerate(spanning):
        flat, value = _entries(family, n, d, "diagram")
        np.add.at(rows[i], flat, value)
    return tuple(spanning[i] for i in greedy_independent(gram_matrix(rows)))


def _lie_so(n: int) -> tuple[Generator, ...]:
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            m = _int_matrix(n)
            m[i, j], m[j, i] = 1, -1
            out.append(Generator(f"L[{i},{j}] = E_{i}{j} − E_{j}{i} in so({n})", m, "lie"))
    return tuple(out)


def _haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


class S(Group):
    """The symmetric group S_n permuting the basis vectors: g e_i = e_{p(i)}.

    Category P(n), functor Θ(π) = E_π; orbit basis X_π via ``functor(d, basis="orbit")``.

    >>> G = S(3)
    >>> [g.name for g in G.generators()]
    ['transposition (0 1)', 'n-cycle (0 1 2)']
    """

    family = "partition"
    _symbol = "S"

    def generators(self) -> tuple[Generator, ...]:
        """A transposition and the n-cycle i ↦ i + 1 (mod n), as group elements; for n = 2 the two
        coincide and only the transposition is listed; S_1 is trivial (no generators).

        >>> S(2).generators()[0].matrix.tolist()
        [[0, 1], [1, 0]]
        """
        n = self._n
        out = []
        if n >= 2:
            out.append(Generator("transposition (0 1)", _permutation_matrix([1, 0, *range(2, n)]), "group"))
        if n >= 3:
            cycle = " ".join(map(str, range(n)))
            out.append(Generator(f"n-cycle ({cycle})", _permutation_matrix([(i + 1) % n for i in range(n)]), "group"))
        return tuple(out)

    def random_element(self, rng=None) -> np.ndarray:
        """A uniformly random permutation matrix (float64).

        >>> g = S(4).random_element(0)
        >>> g.sum(axis=0).tolist(), g.sum(axis=1).tolist()
        ([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0])
        """
        rng = np.random.default_rng(rng)
        g = np.zeros((self._n, self._n))
        g[rng.permutation(self._n), np.arange(self._n)] = 1.0
        return g

    def _exact_member(self, g) -> bool:
        return all(x in (0, 1) for x in g) and all(sum(g.row(i)) == 1 for i in range(self._n)) and all(
            sum(g.col(i)) == 1 for i in range(self._n)
        )

    def _float_member(self, g, tol) -> bool:
        rounded = np.round(g)
        return bool(np.abs(g - rounded).max() <= tol) and self._exact_member(sympy.Matrix(rounded.astype(int)))

    def orbit_functor(self, d: Diagram | Combination) -> EquivariantMap:
        """The orbit-basis image X_π (math.md §3.1), linear in a combination.

        >>> from catlayer import PartitionDiagram
        >>> S(2).orbit_functor(PartitionDiagram([[0], [1]], dom=1, cod=1)).to_sympy()
        Matrix([
        [0, 1],
        [1, 0]])
        """
        return self.functor(d, basis="orbit")

    def diagram_to_orbit(self, c: Diagram | Combination) -> Combination:
        """Orbit-basis coordinates of Σ w_π E_π (see :func:`catlayer.bases.diagram_to_orbit`):
        ``functor(c) == orbit_functor(diagram_to_orbit(c))``.

        >>> from catlayer import PartitionDiagram
        >>> G, d = S(2), PartitionDiagram([[0], [1]], dom=1, cod=1)
        >>> G.functor(d) == G.orbit_functor(G.diagram_to_orbit(d))
        True
        """
        return diagram_to_orbit(c, self._n)

    def orbit_to_diagram(self, c: Diagram | Combination) -> Combination:
        """Diagram-basis coordinates of Σ u_π X_π (see :func:`catlayer.bases.orbit_to_diagram`):
        ``orbit_functor(c) == functor(orbit_to_diagram(c))``.

        >>> from catlayer import PartitionDiagram
        >>> G, d = S(2), PartitionDiagram([[0], [1]], dom=1, cod=1)
        >>> G.orbit_functor(d) == G.functor(G.orbit_to_diagram(d))
        True
        """
        return orbit_to_diagram(c, self._n)


class O(Group):  # noqa: E742 (the group is called O(n))
    """The orthogonal group O(n) = {g : gᵀg = I}. Category B(n), functor Φ(β) = E_β.

    >>> [g.kind for g in O(2).generators()]
    ['lie', 'group']
    """

    family = "orthogonal"
    _symbol = "O"

    def generators(self) -> tuple[Generator, ...]:
        """The Lie algebra basis E_ij − E_ji (i < j) of so(n), and the reflection
        diag(1, …, 1, −1) as a group element (O(n) = SO(n) ⋊ {1, reflection}).

        >>> O(2).generators()[1].matrix.tolist()
        [[1, 0], [0, -1]]
        """
        reflection = _int_matrix(self._n)
        for i in range(self._n):
            reflection[i, i] = 1
        reflection[-1, -1] = -1
        return (*_lie_so(self._n), Generator(f"reflection diag(1, …, 1, −1) in O({self._n})", reflection, "group"))

    def random_element(self, rng=None) -> np.ndarray:
        """A Haar-random orthogonal matrix (QR of a Gaussian matrix with the sign fix).

        >>> g = O(3).random_element(1)
        >>> bool(np.allclose(g.T @ g, np.eye(3)))
        True
        """
        return _haar_orthogonal(self._n, np.random.default_rng(rng))

    def _exact_member(self, g) -> bool:
        return g.T * g == sympy.eye(self._n)

    def _float_member(self, g, tol) -> bool:
        return bool(np.abs(g.T @ g - np.eye(self._n)).max() <= tol)


class SO(O):
    """The special orthogonal group SO(n). Category BG(n), functor Ψ: Brauer diagrams ↦ E_β,
    n-diagrams ↦ H_α (Levi-Civita).

    >>> len(SO(3).generators())
    3
    """

    family = "special_orthogonal"
    _symbol = "SO"

    def generators(self) -> tuple[Generator, ...]:
        """The Lie algebra basis E_ij − E_ji (i < j) of so(n) (SO(n) is connected); SO(1) is
        trivial (no generators).

        >>> SO(2).generators()[0].matrix.tolist()
        [[0, 1], [-1, 0]]
        """
        return _lie_so(self._n)

    def random_element(self, rng=None) -> np.ndarray:
        """A Haar-random rotation: Haar O(n), with the first column negated when det = −1.

        >>> bool(np.isclose(np.linalg.det(SO(3).random_element(2)), 1.0))
        True
        """
        g = _haar_orthogonal(self._n, np.random.default_rng(rng))
        if np.linalg.det(g) < 0:
            g[:, 0] = -g[:, 0]
        return g

    def _exact_member(self, g) -> bool:
        return super()._exact_member(g) and g.det() == 1

    def _float_member(self, g, tol) -> bool:
        return super()._float_member(g, tol) and abs(np.linalg.det(g) - 1) <= tol


class Sp(Group):
    """The symplectic group Sp(n) = {g : gᵀJg = J}, n even, J of :func:`symplectic_form` (basis
    order 1, 1′, 2, 2′, …). Category B(−n), signed functor X(β) = F′_β = s(β)F_β (math.md §3.3).

    >>> Sp(3)
    Traceback (most recent call last):
    ...
    ValueError: Sp(n) needs an even n (the symplectic form pairs basis vectors 2a, 2a+1), got n = 3
    """

    family = "symplectic"
    _symbol = "Sp"

    def __init__(self, n: int):
        super().__init__(n)
        if self._n % 2:
            raise ValueError(
                f"Sp(n) needs an even n (the symplectic form pairs basis vectors 2a, 2a+1), got n = {self._n}"
            )

    @property
    def form(self) -> np.ndarray:
        """The symplectic form J (exact: Python ints).

        >>> Sp(2).form.tolist()
        [[0, 1], [-1, 0]]
        """
        return symplectic_form(self._n).astype(object)

    def generators(self) -> tuple[Generator, ...]:
        """A basis of sp(n) = {X : XᵀJ + JX = 0} = {J⁻¹S : S symmetric}: X = J⁻¹S for
        S = E_ii and S = E_ij + E_ji (i < j), as Lie algebra elements (Sp(n) is connected).

        >>> [g.matrix.tolist() for g in Sp(2).generators()]
        [[[0, 0], [1, 0]], [[-1, 0], [0, 1]], [[0, -1], [0, 0]]]
        """
        n = self._n
        j_inverse = -symplectic_form(n).astype(object)
        out = []
        for i in range(n):
            for j in range(i, n):
                s = _int_matrix(n)
                s[i, j] = s[j, i] = 1
                name = f"J⁻¹E_{i}{i}" if i == j else f"J⁻¹(E_{i}{j} + E_{j}{i})"
                out.append(Generator(f"{name} in sp({n})", j_inverse.dot(s), "lie"))
        return tuple(out)

    def random_element(self, rng=None) -> np.ndarray:
        """A random symplectic matrix K₁·A·K₂ (Cartan decomposition): K₁, K₂ Haar-random in the
        maximal compact subgroup U(n/2) (a unitary U = P + iQ acting on the pairs (2a, 2a+1) as
        [[P, −Q], [Q, P]]), A = diag(e^t, e^−t) on each pair with t uniform in [−1, 1]. Every
        factor preserves J, and the product is Zariski dense in Sp(n) (so not only U(n/2) is
        sampled).

        >>> G = Sp(4)
        >>> G.is_element(G.random_element(0))
        True
        """
        rng = np.random.default_rng(rng)
        m = self._n // 2

        def compact() -> np.ndarray:
            z = rng.standard_normal((m, m)) + 1j * rng.standard_normal((m, m))
            q, r = np.linalg.qr(z)
            u = q * (np.diag(r) / np.abs(np.diag(r)))
            g = np.zeros((self._n, self._n))
            g[0::2, 0::2], g[0::2, 1::2] = u.real, -u.imag
            g[1::2, 0::2], g[1::2, 1::2] = u.imag, u.real
            return g

        t = rng.uniform(-1.0, 1.0, m)
        stretch = np.diag(np.ravel(np.stack([np.exp(t), np.exp(-t)], 1)))
        return compact() @ stretch @ compact()

    def _exact_member(self, g) -> bool:
        j = sympy.Matrix(symplectic_form(self._n).tolist())
        return g.T * j * g == j

    def _float_member(self, g, tol) -> bool:
        j = symplectic_form(self._n).astype(np.float64)
        return bool(np.abs(g.T @ j @ g - j).max() <= tol * max(1.0, float(np.abs(g).max()) ** 2))


_GROUPS = {cls.family: cls for cls in (S, O, SO, Sp)}


def group_of(family: str, n: int) -> Group:
    """The group of a plan family string.

    >>> group_of("symplectic", 4)
    Sp(4)
    """
    try:
        return _GROUPS[family](n)
    except KeyError:
        raise ValueError(f"unknown family {family!r}; expected one of {tuple(_GROUPS)}") from None
