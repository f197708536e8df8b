"""What every group family owns, and the machinery they share.

A group family is one class (one module): :class:`S`, :class:`O`, :class:`SO`, :class:`Sp` and
the indefinite orthogonal groups. It owns its maths and nothing else branches on it:

* its diagram category (:attr:`Group.category`) and the functor's entry formula, given by three
  pieces of data — the **pair form** (:attr:`Group.pair_form`: the integer n × n matrix every
  same-row pair carries, None for δ), the **free-vertex rule** (:attr:`Group.free_singletons`:
  singletons are the free vertices of a Levi-Civita symbol, whose bottom-row indices are
  weighted by :attr:`Group.free_weights`) and the **sign** of a diagram (:meth:`Group.sign`);
* which spanning set is a basis, and the dimension;
* validation of its parameters, exact generators, a sampler and membership.

The entry formula is written once, in :meth:`Group.factors`; :meth:`Group.entries` enumerates its
non-zero entries and :meth:`Group.evaluate` evaluates it at chosen index tuples. The plans of
:mod:`catlayer.plan`, the numba backend and the torch layers read the same three pieces of data.
Conventions (index order, orientation of pairs, order of free vertices) are those of
``docs/conventions.md``.
"""

from __future__ import annotations

import math
import numbers
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import sympy

from ..bases import independent_subset
from ..diagrams import Combination, Diagram, DiagramCategory
from ..diagrams.validation import check_order, short_repr
from ..forms import levi_civita_nonzeros
from ..functors import EquivariantMap
from ..memory import check_size
from ..projection import coefficients as _coefficients
from ..projection import project as _project

if TYPE_CHECKING:
    from .product import ProductGroup

__all__ = ["Generator", "Group", "Seed", "int_matrix", "read_only"]

#: What a sampler accepts as its random source: None (fresh entropy), an int seed or a numpy Generator.
Seed = int | np.random.Generator | None


def read_only(a: np.ndarray) -> np.ndarray:
    """``a`` with its write flag cleared (cached tables are shared, so nobody may write them)."""
    a.flags.writeable = False
    return a


def int_matrix(n: int) -> np.ndarray:
    """An n × n zero matrix of Python ints (object dtype: exact arithmetic)."""
    m = np.empty((n, n), dtype=object)
    m[:] = 0
    return m


@dataclass(frozen=True, eq=False)
class Generator:
    """An exact generator used to prove equivariance.

    ``kind == "group"``: a group element g, acting on (R^n)^{⊗k} by ρ_k(g) = g ⊗ … ⊗ g.
    ``kind == "lie"``: a Lie algebra element X, acting by the derivation
    dρ_k(X) = Σ_a 1 ⊗ … ⊗ X (axis a) ⊗ … ⊗ 1.
    ``matrix`` is an n × n numpy object array of Python ints.

    >>> from catlayer import O
    >>> rotation, reflection = O(2).generators()
    >>> rotation.kind, rotation.name, rotation.matrix.tolist()
    ('lie', 'rotation L[0,1] in O(2)', [[0, 1], [-1, 0]])
    >>> reflection.kind, reflection.matrix.tolist()
    ('group', [[1, 0], [0, -1]])
    """

    name: str
    matrix: np.ndarray
    kind: Literal["group", "lie"]

    def nonzeros(self) -> tuple[tuple[int, int, int], ...]:
        """(row, column, value) of the nonzero entries."""
        return tuple((i, j, int(v)) for (i, j), v in np.ndenumerate(self.matrix) if v != 0)


# -- the entry formula: one factor per block ----------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Delta:
    """[x constant on ``vertices``]: n non-zeros, all 1."""

    vertices: tuple[int, ...]

    def nonzeros(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        values = np.arange(n, dtype=np.int64)
        return np.repeat(values[:, None], len(self.vertices), axis=1), np.ones(n, dtype=np.int64)

    def value(self, x: np.ndarray) -> np.ndarray:
        first = x[:, self.vertices[0]]
        return np.all(x[:, list(self.vertices)] == first[:, None], axis=1).astype(np.int64)

    def witness(self, x: np.ndarray, colour: int, n: int, rng: random.Random | None) -> None:
        x[list(self.vertices)] = colour % n if rng is None else rng.randrange(n)


@dataclass(frozen=True, eq=False)
class Pair:
    """form[x_u, x_v] for a same-row pair u < v (the smaller vertex is the first index)."""

    vertices: tuple[int, int]
    form: np.ndarray

    def nonzeros(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.nonzero(self.form)
        return np.stack([rows, cols], 1).astype(np.int64), self.form[rows, cols].astype(np.int64)

    def value(self, x: np.ndarray) -> np.ndarray:
        u, v = self.vertices
        return self.form[x[:, u], x[:, v]].astype(np.int64)

    def witness(self, x: np.ndarray, colour: int, n: int, rng: random.Random | None) -> None:
        # Non-zeros (a, b) with a < b first, each in its own plane (ε = J: (0, 1), (2, 3), …),
        # so that consecutive pairs get different values.
        first, second = np.nonzero(self.form)
        order = sorted(zip(first.tolist(), second.tolist(), strict=True), key=lambda ab: (ab[1] < ab[0], ab[0]))
        a, b = order[colour % len(order)] if rng is None else order[rng.randrange(len(order))]
        x[self.vertices[0]], x[self.vertices[1]] = a, b


@dataclass(frozen=True, eq=False)
class LeviCivita:
    """ε_{x[f_1] … x[f_n]} · Π_{j in weighted} w[x[f_j]] over the free vertices f_1 < … < f_n.

    The sign of one index tuple comes from its cycle structure; the n! non-zeros are listed only
    by :meth:`nonzeros`, which callers reach only when an n-diagram exists (k + l ≥ n).
    """

    vertices: tuple[int, ...]
    weighted: tuple[int, ...]  # positions (into vertices) whose index is weighted
    weights: np.ndarray | None

    def nonzeros(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        rows, signs = levi_civita_nonzeros(n)
        signs = signs.copy()
        if self.weights is not None:
            for j in self.weighted:
                signs *= self.weights[rows[:, j]]
        return rows, signs

    def value(self, x: np.ndarray) -> np.ndarray:
        # ε_{a_1…a_n} = Π_{i<j} sign(a_j − a_i) for values in 0..n−1: O(n²) per tuple, no table.
        a = x[:, list(self.vertices)]
        first, second = _upper_pairs(a.shape[1])
        out = np.prod(np.sign(a[:, second] - a[:, first]), axis=1, dtype=np.int64)
        if self.weights is not None:
            for j in self.weighted:
                out *= self.weights[a[:, j]]
        return out

    def witness(self, x: np.ndarray, colour: int, n: int, rng: random.Random | None) -> None:
        values = list(range(n)) if rng is None else rng.sample(range(n), n)
        x[list(self.vertices)] = values


Factor = Delta | Pair | LeviCivita


@lru_cache(maxsize=64)
def _upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


#: Where the size guard of :meth:`Group._require_n` can point at the method to call.
_HINT = {"the functor": ".functor(...)", "the generators": ".generators()", "a random element": ".random_element()"}


@lru_cache(maxsize=64)
def _levi_civita_nonzeros(group: Group, q: int) -> tuple[np.ndarray, np.ndarray]:
    n = group.n
    check_size(16 * math.factorial(n) * n, f"the {math.factorial(n)} non-zeros of the Levi-Civita symbol of {group!r}")
    rows, values = levi_civita_nonzeros(n)
    values = values.copy()
    weights = group.free_weights
    if weights is not None:
        values = values * np.prod(weights[rows[:, q:]], axis=1, dtype=np.int64)
    return read_only(rows), read_only(values)


@lru_cache(maxsize=64)
def _levi_civita(group: Group, q: int) -> np.ndarray:
    n = group.n
    check_size(8 * n**n, f"the Levi-Civita symbol of {group!r} ({n}^{n} entries)")
    rows, values = _levi_civita_nonzeros(group, q)
    symbol = np.zeros((n,) * n, dtype=np.int64)
    symbol[tuple(rows.T)] = values
    return read_only(symbol)


@lru_cache(maxsize=65536)
def _cached_factors(group: Group, d: Diagram) -> tuple[Factor, ...]:
    return group.factors(d)


def _cartesian(size: int, n: int, factors: Sequence[Factor]) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (row-major over the vertices) and values of the product of ``factors``."""
    powers = np.array([n ** (size - 1 - v) for v in range(size)], dtype=np.int64)
    parts = [(f.vertices, *f.nonzeros(n)) for f in factors]
    count = math.prod(len(w) for _, _, w in parts)
    check_size(16 * count, f"the {count} nonzero entries of a diagram's matrix")
    flat = np.zeros(1, dtype=np.int64)
    value = np.ones(1, dtype=np.int64)
    for vertices, candidates, weights in parts:
        contribution = candidates.astype(np.int64) @ powers[list(vertices)]
        flat = (flat[:, None] + contribution[None, :]).ravel()
        value = (value[:, None] * weights[None, :]).ravel()
    keep = value != 0
    return flat[keep], value[keep]


@lru_cache(maxsize=8192)
def _cached_entries(group: Group, d: Diagram, basis: str) -> tuple[np.ndarray, np.ndarray]:
    flat, value = group._entries(d, basis)
    return read_only(flat), read_only(value)


def _to_array(g: npt.ArrayLike | sympy.MatrixBase) -> np.ndarray:
    if isinstance(g, sympy.MatrixBase):
        return np.array(g.tolist(), dtype=object)
    return np.asarray(g)


def check_dimension(n: int, what: str) -> int:
    """n as an int ≥ 1, or a ValueError naming ``what``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{what} needs an int n >= 1 (the dimension of the space), got {short_repr(n)}")
    return int(n)


class Group(ABC):
    """A group G ⊂ GL(n) acting on (R^n)^{⊗k} by ρ_k(g) = g ⊗ … ⊗ g, together with the diagram
    category and functor whose images span its equivariant maps. Use :class:`~catlayer.S`,
    :class:`~catlayer.O`, :class:`~catlayer.SO` or :class:`~catlayer.Sp`.

    >>> from catlayer import O
    >>> G = O(3)
    >>> isinstance(G, Group), G.n, G.category, G.dim(2, 2), len(G.generators())
    (True, 3, BrauerCategory(3), 3, 4)
    >>> G.functor(G.basis(1, 1)[0]).to_numpy().tolist()    # the identity diagram ↦ the identity
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """

    #: A short human-readable name of the family (for printing; nothing branches on it).
    family: ClassVar[str] = ""
    #: Singletons of a diagram are the free vertices of a Levi-Civita symbol (Brauer–Grood).
    free_singletons: ClassVar[bool] = False
    #: The bases of the functor's image: "diagram" for all, "orbit" too for S_n.
    bases: ClassVar[tuple[str, ...]] = ("diagram",)
    #: Projections solve in the orthogonal orbit basis (S_n) rather than with the diagram Gram.
    projects_in_orbit_basis: ClassVar[bool] = False
    #: Every element is a permutation matrix, so any entrywise function is equivariant (S_n). A
    #: statement about the family for every n, tested against the exact generators.
    acts_by_permutations: ClassVar[bool] = False
    #: Every element is an orthogonal matrix, so the Euclidean norm of a tensor is invariant
    #: (S_n, O(n), SO(n)); tested against the exact generators.
    preserves_euclidean_norm: ClassVar[bool] = False

    _n: int

    # -- identity: a group is a value -------------------------------------------------------------
    @property
    @abstractmethod
    def parameters(self) -> tuple[int, ...]:
        """The constructor's arguments: ``type(G)(*G.parameters) == G``."""

    @property
    def n(self) -> int:
        """The dimension of the space R^n the group acts on (None for ``S()``, S_n at every n)."""
        return self._n

    def at(self, n: int) -> Group:
        """This group at size n: itself when n is its size (``S()`` gives ``S(n)``).

        >>> from catlayer import O
        >>> O(3).at(3)
        O(3)
        """
        if n != self._n:
            raise ValueError(f"{self!r} acts on R^{self._n}, not on R^{n}")
        return self

    def _require_n(self, what: str) -> int:
        """n, or a ValueError naming ``what`` when the group has no fixed size (``S()``)."""
        if self._n is None:
            hint = _HINT.get(what, "")
            raise ValueError(f"{self!r} is S_n for every n: {what} needs a size, e.g. {self!r}.at(5){hint}")
        return self._n

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(str, self.parameters))})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and type(self) is type(other) and self.parameters == other.parameters

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.parameters))

    def __reduce__(self) -> tuple[type[Group], tuple[int, ...]]:
        return (type(self), self.parameters)

    def __mul__(self, other: object) -> ProductGroup:
        """The product group ``self × other`` (docs/conventions.md §10).

        >>> from catlayer import S, O
        >>> S() * O(3)
        S() * O(3)
        """
        from .product import ProductGroup

        if not isinstance(other, (Group, ProductGroup)):
            return NotImplemented
        return ProductGroup(self, other)

    # -- the maths a family owns -------------------------------------------------------------------
    @cached_property
    def category(self) -> DiagramCategory:
        """The diagram category whose functor lands in the G-equivariant maps."""
        return self._make_category()

    @abstractmethod
    def _make_category(self) -> DiagramCategory: ...

    @property
    def delta(self) -> int:
        """The loop value of the category (n, or −n for Sp(n))."""
        return int(self.category.parameter)

    @property
    def pair_form(self) -> np.ndarray | None:
        """The integer n × n matrix a same-row pair {u < v} carries, form[x_u, x_v] (read-only),
        or None when it is δ (then closed blocks of any size just sum over their diagonal)."""
        return None

    @property
    def free_weights(self) -> np.ndarray | None:
        """Integer weights w multiplying the Levi-Civita symbol once per bottom-row free vertex,
        w[x_f] (read-only), or None when they are all 1. Only read when ``free_singletons``."""
        return None

    def sign(self, d: Diagram) -> int:
        """The global sign of F(d) on top of the product of its factors (1 unless the family
        says otherwise)."""
        return 1

    def levi_civita(self, q: int = 0) -> np.ndarray:
        """The Levi-Civita symbol as this family's free vertices use it: an int64 array of n axes
        whose first q indices are output slots and whose last n − q are input slots, each
        multiplied by :attr:`free_weights` (η for SO(p, q)); read-only and cached. Plans, the
        numba programs and the torch programs all read their tables from here.

        >>> from catlayer import SO
        >>> SO(1, 1).levi_civita(0).tolist(), SO(1, 1).levi_civita(1).tolist()
        ([[0, -1], [1, 0]], [[0, -1], [-1, 0]])
        """
        n = self._require_n("the Levi-Civita symbol")
        if isinstance(q, bool) or not isinstance(q, int) or not 0 <= q <= n:
            raise ValueError(f"q must be an int between 0 and n = {n}, got {short_repr(q)}")
        return _levi_civita(self, q)

    def levi_civita_nonzeros(self, q: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The n! non-zeros of :meth:`levi_civita` (q) without the dense array: index rows (n!, n)
        and their int64 values (read-only, cached).

        >>> from catlayer import SO
        >>> rows, values = SO(2).levi_civita_nonzeros()
        >>> rows.tolist(), values.tolist()
        ([[0, 1], [1, 0]], [1, -1])
        """
        n = self._require_n("the Levi-Civita symbol")
        if isinstance(q, bool) or not isinstance(q, int) or not 0 <= q <= n:
            raise ValueError(f"q must be an int between 0 and n = {n}, got {short_repr(q)}")
        return _levi_civita_nonzeros(self, q)

    @abstractmethod
    def _spanning_is_basis(self, k: int, l: int) -> bool:
        """Whether the images of all diagrams k → l are known to be independent."""

    @abstractmethod
    def _dimension(self, power: int) -> int:
        """dim((R^n)^{⊗power})^G, exact."""

    @abstractmethod
    def gram(self, d: Diagram, e: Diagram) -> int:
        """⟨F(d), F(e)⟩ = trace(F(d)ᵀ F(e)), exactly and without the matrices (from the loops and
        paths of d ∪ e)."""

    def relabelling_orbits(self, size: int, uses_levi_civita: bool = False) -> tuple[np.ndarray, str]:
        """One multi-index (row) of length ``size`` per orbit of the relabellings of the index
        values that fix this group's tables (pair form, Levi-Civita symbol and its weights), and a
        description of those relabellings: every F(d) and every layer plan is invariant under
        them, so two such maps agree everywhere once they agree at these multi-indices. This
        default permutes the values within the classes of a diagonal pair form and free weights.

        >>> from catlayer import S
        >>> S(30).relabelling_orbits(3)[0].tolist()
        [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [0, 1, 2]]
        """
        from .relabelling import orbits_of_value_classes

        return orbits_of_value_classes(self, size, uses_levi_civita)

    # -- the entry formula ---------------------------------------------------------------------
    def check_diagram(self, d: Diagram) -> None:
        """Raise unless d is a morphism of this group's category."""
        if not isinstance(d, Diagram):
            raise TypeError(f"expected a diagram, got {type(d).__name__}")
        category = self.category
        if not category.contains(d):
            raise ValueError(f"{d!r} is not a morphism of {category!r} ({self!r}): {category._why_not(d)}"[:400])

    def factors(self, d: Diagram) -> tuple[Factor, ...]:
        """The entry formula of F(d) as one factor per block (before :meth:`sign`): a Levi-Civita
        symbol on the free vertices, the pair form on same-row pairs, δ on every other block.

        >>> from catlayer import Sp, BrauerDiagram
        >>> [type(f).__name__ for f in Sp(2).factors(BrauerDiagram([[0, 1], [2, 3]], dom=2, cod=2))]
        ['Pair', 'Pair']
        """
        out: list[Factor] = []
        form = self.pair_form
        free = d.free_vertices if self.free_singletons else ()
        if free:
            weighted = tuple(j for j, v in enumerate(free) if v >= d.cod)
            out.append(LeviCivita(tuple(free), weighted, self.free_weights))
        for block in d.blocks:
            if len(block) == 1 and free:
                continue
            same_row = block[-1] < d.cod or block[0] >= d.cod
            if form is not None and len(block) == 2 and same_row:
                out.append(Pair((block[0], block[1]), form))
            else:
                out.append(Delta(tuple(block)))
        return tuple(out)

    def _entries(self, d: Diagram, basis: str) -> tuple[np.ndarray, np.ndarray]:
        flat, value = _cartesian(d.size, self._n, self.factors(d))
        return flat, value * self.sign(d)

    def entries(self, d: Diagram, basis: str = "diagram") -> tuple[np.ndarray, np.ndarray]:
        """The nonzero entries of F(d): flat indices into the n^(l+k) entries (row-major over
        the vertices 0..l+k−1, i.e. ``row * n**k + column``) and integer values. Cached, so
        both arrays are read-only.

        >>> from catlayer import Sp, BrauerDiagram
        >>> flat, values = Sp(2).entries(BrauerDiagram([[0, 1]], dom=0, cod=2))
        >>> flat.tolist(), values.tolist()            # cap ↦ −ε as a vector
        ([1, 2], [-1, 1])
        """
        self.check_diagram(d)
        self._require_n("the entries of a diagram's matrix")
        if basis not in self.bases:
            raise ValueError(f"{self!r} has the bases {self.bases}, not {basis!r}")
        return _cached_entries(self, d, basis)

    def evaluate(self, d: Diagram, indices: npt.ArrayLike) -> np.ndarray:
        """F(d) at the index tuples ``indices`` (an (m, l+k) integer array of vertex values, top
        row first): int64 values, without enumerating the matrix.

        >>> from catlayer import SO, BrauerGroodDiagram
        >>> SO(3).evaluate(BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1), [[2, 0, 1], [0, 1, 0]]).tolist()
        [1, 0]
        """
        self.check_diagram(d)
        self._require_n("evaluating a diagram's matrix")
        x = np.asarray(indices, dtype=np.int64).reshape(-1, d.size)
        if x.size and (x.min() < 0 or x.max() >= self._n):
            raise ValueError(f"index values must lie in 0..{self._n - 1}")
        return self.evaluate_many((d,), x)[0]

    def evaluate_many(self, diagrams: Sequence[Diagram], indices: npt.ArrayLike) -> np.ndarray:
        """The (len(diagrams), m) int64 array of F(d)[x] for every diagram and every row x of
        ``indices``: the formula of :meth:`evaluate`, vectorised over the diagrams (one numpy
        pass per kind of factor).

        >>> from catlayer import O, BrauerDiagram
        >>> L = O(1, 1)
        >>> cap, swap = BrauerDiagram([[0, 1]], dom=0, cod=2), BrauerDiagram.swap()
        >>> L.evaluate_many([cap], [[0, 0], [1, 1], [0, 1]]).tolist()
        [[1, -1, 0]]
        """
        x = np.asarray(indices, dtype=np.int64)
        x = x.reshape(len(x), -1)
        count, m = len(diagrams), len(x)
        equal: list[tuple[int, int, int]] = []
        paired: list[tuple[int, int, int]] = []
        symbols: list[tuple[int, LeviCivita]] = []
        signs = np.empty(count, dtype=np.int64)
        for i, d in enumerate(diagrams):
            signs[i] = self.sign(d)
            for f in _cached_factors(self, d):
                if isinstance(f, Delta):
                    equal += [(i, f.vertices[0], v) for v in f.vertices[1:]]
                elif isinstance(f, Pair):
                    paired.append((i, *f.vertices))
                else:
                    symbols.append((i, f))
        out = np.repeat(signs[:, None], m, axis=1)

        def per_diagram(
            entries: Sequence[tuple[int, ...]], values: np.ndarray, ufunc: np.ufunc
        ) -> tuple[np.ndarray, np.ndarray]:
            rows = np.array([e[0] for e in entries])
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            return rows[starts], ufunc.reduceat(values, starts, axis=1).T

        if equal:
            table = np.array(equal)
            rows, unequal = per_diagram(equal, x[:, table[:, 1]] != x[:, table[:, 2]], np.logical_or)
            out[rows] *= ~unequal
        if paired:
            form = self.pair_form
            assert form is not None, "Pair factors exist only where the family has a pair form"
            table = np.array(paired)
            rows, value = per_diagram(paired, form[x[:, table[:, 1]], x[:, table[:, 2]]], np.multiply)
            out[rows] *= value
        if symbols:
            rows = np.array([i for i, _ in symbols])
            a = x[:, np.array([f.vertices for _, f in symbols])]  # (m, symbols, n)
            first, second = _upper_pairs(a.shape[2])
            value = np.prod(np.sign(a[:, :, second] - a[:, :, first]), axis=2, dtype=np.int64)
            weights = self.free_weights
            if weights is not None:
                for s_, (_, f) in enumerate(symbols):
                    for j in f.weighted:
                        value[:, s_] *= weights[a[:, s_, j]]
            out[rows] *= value.T
        return out

    def witness(self, d: Diagram, rng: random.Random | None = None) -> np.ndarray:
        """An index tuple x (top row first) where F(d)[x] ≠ 0, read off the entry formula: block
        i gets value i mod n (a pair-form factor its i-th non-zero), the free vertices 0..n−1 in
        order; with ``rng`` every choice is random instead.

        >>> from catlayer import Sp, BrauerDiagram
        >>> d = BrauerDiagram([[0, 1], [2, 3]], dom=2, cod=2)
        >>> x = Sp(4).witness(d)
        >>> x.tolist(), int(Sp(4).evaluate(d, x)[0]) != 0
        ([0, 1, 2, 3], True)
        """
        n = self._require_n("a witness index")
        x = np.zeros(d.size, dtype=np.int64)
        for colour, factor in enumerate(_cached_factors(self, d)):
            factor.witness(x, colour, n, rng)
        return x

    # -- diagrams and functor --------------------------------------------------------------------
    def specialise(self, c: Combination) -> tuple[tuple[Diagram, sympy.Expr], ...]:
        """The combination's terms, sorted, with the category's symbolic loop parameter set to
        this group's loop value δ (n, or −n for Sp(n)), e.g. the ``n**loops`` of ``d >> e`` on
        bare diagrams; zero terms dropped.

        >>> import sympy
        >>> from catlayer import O, BrauerDiagram, BrauerCategory
        >>> cap, cup = BrauerDiagram([[0, 1]], dom=0, cod=2), BrauerDiagram([[0, 1]], dom=2, cod=0)
        >>> O(3).specialise(BrauerCategory(sympy.Symbol("n")).compose(cap, cup))
        ((BrauerDiagram([], dom=0, cod=0), 3),)

        A combination from a category with other composition rules is refused: ``H >> H`` on bare
        n-diagrams expands ε·ε in BG(n) with det η = +1, which is wrong for SO(p, q) with q odd.
        """
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
            elif category != self.category and (parameter != self.delta or _signs_differ(category, self.category)):
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
        self._require_n("the functor")
        return EquivariantMap.image(self, d, basis)

    def spanning_set(self, k: int, l: int) -> tuple[Diagram, ...]:
        """All diagrams k → l of the category: their images span Hom_G.

        >>> from catlayer import O
        >>> len(O(3).spanning_set(2, 2))
        3
        """
        return self.category.hom(check_order(k, "k"), check_order(l, "l"))

    def basis(self, k: int, l: int) -> tuple[Diagram, ...]:
        """Diagrams whose images form a basis of Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) for this n (cached).

        The whole spanning set when it is known to be independent; otherwise its first maximal
        independent subset, in the category's order, found exactly.

        >>> from catlayer import O
        >>> len(O(2).basis(3, 3)), len(O(2).spanning_set(3, 3))
        (10, 15)
        """
        return _basis(self, check_order(k, "k"), check_order(l, "l"))

    def basis_contains(self, d: Diagram) -> bool:
        """Whether d is one of ``basis(d.dom, d.cod)``, without listing the basis when the spanning
        set is a basis (a family may answer faster still: S_n counts blocks).

        >>> from catlayer import O, BrauerDiagram
        >>> O(3).basis_contains(BrauerDiagram([[0, 1]], dom=0, cod=2))
        True
        """
        self.check_diagram(d)
        if self._spanning_is_basis(d.dom, d.cod):
            return True
        return d in _basis_set(self, d.dom, d.cod)

    def _select_basis(self, k: int, l: int) -> tuple[Diagram, ...]:
        spanning = self.spanning_set(k, l)
        if not spanning or self._spanning_is_basis(k, l):
            return spanning
        return self._independent(spanning, self.dim(k, l))

    def _independent(self, spanning: tuple[Diagram, ...], dimension: int) -> tuple[Diagram, ...]:
        """The first ``dimension`` independent diagrams of ``spanning`` (whose images span that
        dimension), decided from entries at witness tuples (:func:`catlayer.bases.independent_subset`)."""
        return independent_subset(spanning, dimension, self.evaluate_many, self.witness)

    def basis_empty_reason(self, k: int, l: int) -> str | None:
        """Why Hom_G is zero (then ``basis(k, l) == ()``), or None when it is not.

        >>> from catlayer import Sp
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
        """dim Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}) = dim((R^n)^{⊗(k+l)})^G, computed exactly and
        without diagrams.

        >>> from catlayer import S
        >>> [S(3).dim(N, 0) for N in range(7)]
        [1, 1, 2, 5, 14, 41, 122]
        """
        k, l = check_order(k, "k"), check_order(l, "l")
        if self._n is None:
            raise ValueError(
                f"{self!r} is S_n for every n: dim Hom depends on n ({self!r}.at(n).dim(k, l)); the "
                f"{len(self.basis(k, l))} diagrams of {self!r}.basis({k}, {l}) are a basis for n >= {k + l}"
            )
        return self._dimension(k + l)

    def coefficients(self, M: object, k: int, l: int, *, tolerance: float | None = None) -> Any:
        """The coordinates of an equivariant M in ``basis(k, l)`` (sympy Rationals for exact M,
        floats for float M); raises :class:`~catlayer.projection.NotEquivariantError` with the
        residual when M is not equivariant. See :func:`catlayer.projection.coefficients`.

        >>> from catlayer import S
        >>> S(3).coefficients(np.ones((3, 3), dtype=int), 1, 1)        # the all-ones diagram {1} {1'}
        (0, 1)
        """
        self._require_n("the coefficients of a matrix")
        return _coefficients(self, M, k, l, tolerance=tolerance)

    def project(self, M: object, k: int, l: int) -> Any:
        """The orthogonal (Frobenius) projection of M onto Hom_G((R^n)^{⊗k}, (R^n)^{⊗l}), same
        type and shape as M. See :func:`catlayer.projection.project`.

        >>> from catlayer import O
        >>> O(2).project(np.array([[1.0, 2.0], [3.0, 4.0]]), 1, 1)      # (trace / n)·I
        array([[2.5, 0. ],
               [0. , 2.5]])
        """
        self._require_n("a projection")
        return _project(self, M, k, l)

    # -- the group itself ------------------------------------------------------------------------
    @abstractmethod
    def generators(self) -> tuple[Generator, ...]:
        """Exact generators (see :class:`Generator`): equivariance under all of them is equivalent
        to equivariance under the group (see :func:`catlayer.verify.check_equivariance`)."""

    @property
    def num_components(self) -> int:
        """How many connected components :meth:`random_element` can be asked for (1 when the
        sampler has no component argument to honour)."""
        return 1

    @abstractmethod
    def random_element(self, rng: Seed = None, component: int | None = None) -> np.ndarray:
        """A random float64 n × n element of the group; ``rng``: None, an int seed or a numpy
        Generator; ``component``: which connected component (mod :attr:`num_components`), or
        None for any."""

    @abstractmethod
    def _exact_member(self, g: sympy.Matrix) -> bool:
        """Exact membership test of a rational matrix."""

    @abstractmethod
    def _float_member(self, g: np.ndarray, tol: float) -> bool:
        """Membership test of a float matrix within ``tol``."""

    def is_element(self, g: npt.ArrayLike | sympy.MatrixBase, tolerance: float | None = None) -> bool:
        """Whether g is in the group: exactly for integer / rational / sympy matrices, within
        ``tolerance`` (default 1e-10, relative to the size of g's entries) for float matrices.

        >>> from catlayer import O, Sp
        >>> Sp(2).is_element([[2, 3], [1, 2]]), O(2).is_element([[2, 3], [1, 2]])
        (True, False)
        """
        g = _to_array(g)
        if g.shape != (self._n, self._n):
            return False
        if g.dtype.kind == "f":
            tol = 1e-10 if tolerance is None else tolerance
            if not np.all(np.isfinite(g)):
                return False
            return self._float_member(g.astype(np.float64), tol)
        if g.dtype.kind == "c":
            raise TypeError("group elements are real matrices; got a complex one")
        exact = sympy.Matrix(g.tolist())
        if any(not x.is_Rational for x in exact):
            raise TypeError("exact membership needs rational entries")
        return self._exact_member(exact)

    def act(self, g: npt.ArrayLike | sympy.MatrixBase, x: npt.ArrayLike, order: int) -> np.ndarray:
        """ρ_order(g) applied to the last ``order`` axes of x (any leading axes are batch or
        channel axes), one axis at a time: the n^k × n^k matrix is never formed.

        >>> from catlayer import S
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


def _signs_differ(first: DiagramCategory, second: DiagramCategory) -> bool:
    """Whether both categories expand ε·ε (they have a ``det_eta``) with different signs: their
    compositions of two n-diagrams differ by −1, so a combination of one is wrong for the other."""
    a, b = getattr(first, "det_eta", None), getattr(second, "det_eta", None)
    return a is not None and b is not None and a != b


@lru_cache(maxsize=256)
def _basis(group: Group, k: int, l: int) -> tuple[Diagram, ...]:
    return group._select_basis(k, l)


@lru_cache(maxsize=64)
def _basis_set(group: Group, k: int, l: int) -> frozenset[Diagram]:
    return frozenset(group.basis(k, l))
