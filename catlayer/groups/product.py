"""Products of groups G × H: several symmetries at once (docs/conventions.md §10).

``G * H`` acts on V^{⊗a} ⊗ W^{⊗b} (V = R^n for G, W = R^m for H) by ρ_a(g) ⊗ ρ_b(h). Objects
are order tuples (a, b); a tensor of that type has the axes (n,)·a then (m,)·b, the first
factor's axes first. Hom_{G×H}((a, b), (c, d)) = Hom_G(a, c) ⊗ Hom_H(b, d) is spanned by the
pairs (d, e) of diagrams of the two categories (:class:`~catlayer.diagrams.product.ProductDiagram`),
and the image of a pair is the Kronecker product of the factors' images.

>>> from catlayer import S, O
>>> G = S(5) * O(3)
>>> G.factors, G.n
((S(5), O(3)), (5, 3))
>>> G.dim((1, 1), (1, 1)) == S(5).dim(1, 1) * O(3).dim(1, 1)
True
>>> len(G.basis((2, 0), (1, 0))), len(G.basis((2, 0), (1, 1))), (S() * O(3)).at(4)
(5, 0, S(4) * O(3))
>>> F = G.functor(G.basis((1, 1), (1, 1))[1])         # kron(all-ones 5 × 5, I_3)
>>> F.shape, F.to_numpy()[:3, :6].tolist()
((15, 15), [[1.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import sympy

from ..diagrams.product import (
    ProductCategory,
    ProductCombination,
    ProductDiagram,
    check_orders,
    distinct_parameters,
)
from ..diagrams.validation import short_repr
from ..memory import check_size
from ..projection import coefficients as _coefficients
from ..projection import project as _project
from .base import _HINT, Generator, Group, Seed, _signs_differ, read_only

if TYPE_CHECKING:
    from ..functors import ProductMap

__all__ = ["FactorGenerator", "Order", "ProductGroup", "check_orders", "group_factors"]

#: The order of a feature: an int for a single group, a tuple (one per factor) for a product.
Order = int | tuple[int, ...]


def group_factors(group: object) -> tuple[Group, ...]:
    """The factors of a product group, or ``(group,)`` for a single group.

    >>> from catlayer import S, O
    >>> group_factors(S() * O(3)), group_factors(O(3))
    ((S(), O(3)), (O(3),))
    """
    if isinstance(group, ProductGroup):
        return group.factors
    if isinstance(group, Group):
        return (group,)
    raise TypeError(f"expected a catlayer group such as S(5), O(3) or S() * O(3), got {short_repr(group)}")


@dataclass(frozen=True, eq=False)
class FactorGenerator:
    """An exact generator of a product group: a generator of one factor (``factor``), with the
    identity (a group generator) or zero (a Lie algebra generator) on every other factor. It acts
    on that factor's tensor axes only. ``name`` names the factor and both parts of the element.

    >>> from catlayer import O, S
    >>> g = (S(3) * O(2)).generators()[-1]
    >>> g.factor, g.generator.kind, g.name
    (1, 'group', '(1, reflection of e_1 in O(2)): reflection of e_1 in O(2) of factor 1 (O(2)), identity of S(3)')
    """

    name: str
    factor: int
    generator: Generator

    @property
    def kind(self) -> Literal["group", "lie"]:
        """ "group" (acts by ρ on its factor's axes) or "lie" (by the derivation dρ)."""
        return self.generator.kind

    @property
    def matrix(self) -> np.ndarray:
        """The factor's exact n × n matrix."""
        return self.generator.matrix

    def nonzeros(self) -> tuple[tuple[int, int, int], ...]:
        """(row, column, value) of the nonzero entries of the factor's matrix."""
        return self.generator.nonzeros()


class ProductGroup:
    """The product G_1 × … × G_r of catlayer groups (at least two); build it with ``G * H``.

    A value: equal, hashable and picklable by its factors. ``n`` is the tuple of the factors'
    sizes (None for an ``S()`` factor). Whatever needs a matrix (the functor, generators,
    random elements, projections, the numba backend) needs every size fixed: ``(S() * O(3)).at(5)``.

    >>> from catlayer import O, S
    >>> G = S() * O(3)                                  # point clouds: points × space
    >>> G.factors, G.n, G.at(5)
    ((S(), O(3)), (None, 3), S(5) * O(3))
    >>> len(G.basis((1, 1), (1, 1))), G.at(5).dim((1, 1), (0, 0))    # O(3): no vector → scalar map
    (2, 0)
    """

    __slots__ = ("__weakref__", "_factors")
    _factors: tuple[Group, ...]

    #: The bases of the functor's image (pairs of diagram-basis images).
    bases: tuple[str, ...] = ("diagram",)

    def __init__(self, *factors: Group | ProductGroup) -> None:
        flat: list[Group] = []
        for g in factors:
            if isinstance(g, ProductGroup):
                flat.extend(g.factors)
            elif isinstance(g, Group):
                flat.append(g)
            elif isinstance(g, type) and issubclass(g, Group):
                raise TypeError(f"a product needs group values: call the class with its size, e.g. {g.__name__}(3)")
            else:
                raise TypeError(f"a product needs catlayer groups such as S() or O(3), got {short_repr(g)}")
        if len(flat) < 2:
            raise ValueError("a product group needs at least two factors")
        object.__setattr__(self, "_factors", tuple(flat))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ProductGroup is immutable")

    def __reduce__(self) -> tuple[type[ProductGroup], tuple[Group, ...]]:
        return (ProductGroup, self._factors)

    # -- identity --------------------------------------------------------------------------------
    @property
    def factors(self) -> tuple[Group, ...]:
        """The factor groups, in order (their axes come in this order)."""
        return self._factors

    @property
    def n(self) -> tuple[int | None, ...]:
        """The size of each factor's space (None for ``S()``)."""
        return tuple(g.n for g in self._factors)

    @property
    def parameters(self) -> tuple[Group, ...]:
        return self._factors

    @property
    def acts_by_permutations(self) -> bool:
        """Whether every factor acts by permutation matrices (then every entrywise function of
        any feature is equivariant)."""
        return all(g.acts_by_permutations for g in self._factors)

    @property
    def preserves_euclidean_norm(self) -> bool:
        """Whether every factor acts by orthogonal matrices (then so does the product)."""
        return all(g.preserves_euclidean_norm for g in self._factors)

    def __mul__(self, other: object) -> ProductGroup:
        if not isinstance(other, (Group, ProductGroup)):
            return NotImplemented
        return ProductGroup(self, other)

    def __rmul__(self, other: object) -> ProductGroup:
        if not isinstance(other, Group):
            return NotImplemented
        return ProductGroup(other, self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProductGroup) and self._factors == other._factors

    def __hash__(self) -> int:
        return hash(("ProductGroup", self._factors))

    def __repr__(self) -> str:
        return " * ".join(map(repr, self._factors))

    def at(self, *sizes: int) -> ProductGroup:
        """The product with every factor of no fixed size (``S()``) at the given size(s): one size
        for all of them, or one per such factor.

        >>> from catlayer import S, O
        >>> (S() * S() * O(3)).at(4, 6)
        S(4) * S(6) * O(3)
        """
        free = [i for i, g in enumerate(self._factors) if g.n is None]
        if len(sizes) == 1:
            sizes = sizes * len(free)
        if len(sizes) != len(free):
            raise ValueError(f"{self!r} has {len(free)} factor(s) of no fixed size; give one size or {len(free)}")
        factors = list(self._factors)
        for i, size in zip(free, sizes, strict=True):
            factors[i] = factors[i].at(size)
        return ProductGroup(*factors)

    def require_sizes(self, what: str) -> tuple[int, ...]:
        """Every factor's size, or a ValueError naming ``what`` (what needs the sizes) when a
        factor is ``S()``.

        >>> from catlayer import S, O
        >>> (S(4) * O(3)).require_sizes("the functor")
        (4, 3)
        >>> (S() * O(3)).require_sizes("the functor")
        Traceback (most recent call last):
        ...
        ValueError: S() * O(3) has the factor S(), S_n for every n: the functor needs a size, e.g. \
(S() * O(3)).at(5).functor(...)
        """
        free = [g for g in self._factors if g.n is None]
        if free:
            hint = _HINT.get(what, "")
            raise ValueError(
                f"{self!r} has the factor {free[0]!r}, S_n for every n: {what} needs a size, e.g. "
                f"({self!r}).at(5){hint}"
            )
        return tuple(int(g.n) for g in self._factors)

    # -- the category ----------------------------------------------------------------------------
    @property
    def category(self) -> ProductCategory:
        """The product of the factors' categories (loop symbols shared by several factors, as
        the ``n`` of two ``S()`` factors, are renamed per factor: ``n_0``, ``n_1``).

        >>> from catlayer import S, Sp
        >>> (S(3) * Sp(2)).category
        ProductCategory(PartitionCategory(3), BrauerCategory(-2))
        """
        return _category(self)

    def check_orders(self, k: object, l: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """k and l as order tuples (one order per factor), or a ValueError.

        >>> from catlayer import S, O
        >>> (S(3) * O(2)).check_orders([1, 0], (2, 2))
        ((1, 0), (2, 2))
        """
        count = len(self._factors)
        return check_orders(k, count, "k"), check_orders(l, count, "l")

    def check_diagram(self, d: object) -> None:
        """Raise unless d is a morphism of the product of the factors' categories."""
        if not isinstance(d, ProductDiagram):
            raise TypeError(f"a morphism of {self!r} is a ProductDiagram, got {type(d).__name__}")
        if len(d.factors) != len(self._factors):
            raise ValueError(f"{d!r} has {len(d.factors)} factors, {self!r} has {len(self._factors)}"[:400])
        for g, e in zip(self._factors, d.factors, strict=True):
            g.check_diagram(e)

    def sign(self, d: ProductDiagram) -> int:
        """The product of the factors' signs."""
        return math.prod(g.sign(e) for g, e in zip(self._factors, d.factors, strict=True))

    def specialise(self, c: ProductCombination) -> tuple[tuple[ProductDiagram, sympy.Expr], ...]:
        """The combination's terms, sorted, with each factor's symbolic loop parameter set to that
        factor's loop value δ; zero terms dropped. A factor whose category has other rules than
        the group's (another fixed loop value, other ε·ε signs) is refused.

        >>> from catlayer import S, O, PartitionDiagram, BrauerDiagram
        >>> d = PartitionDiagram([[0], [1]], 1, 1)
        >>> cap, cup = BrauerDiagram([[0, 1]], 0, 2), BrauerDiagram([[0, 1]], 2, 0)
        >>> c = ProductDiagram(d, cap) >> ProductDiagram(d, cup)        # n_0 · n_1
        >>> (S(4) * O(3)).specialise(c)[0][1]
        12
        """
        if not isinstance(c, ProductCombination):
            raise TypeError(f"expected a ProductCombination, got {type(c).__name__}")
        terms = c.terms
        category = c.category
        if category is not None:
            if len(category.factors) != len(self._factors):
                raise ValueError(f"the combination lives in {category!r}, which has not {len(self._factors)} factors")
            substitutions: dict[sympy.Symbol, sympy.Expr] = {}
            for i, (g, cat) in enumerate(zip(self._factors, category.factors, strict=True)):
                parameter = sympy.sympify(cat.parameter)
                if parameter.free_symbols:
                    if len(parameter.free_symbols) != 1:
                        raise ValueError(f"cannot set the parameter {parameter} of factor {i} ({cat!r}) to {g.delta}")
                    (symbol,) = parameter.free_symbols
                    solutions = sympy.solve(sympy.Eq(parameter, g.delta), symbol)
                    if len(solutions) != 1:
                        raise ValueError(f"cannot set the parameter {parameter} of factor {i} ({cat!r}) to {g.delta}")
                    if symbol in substitutions and substitutions[symbol] != solutions[0]:
                        raise ValueError(
                            f"factors of {category!r} share the loop symbol {symbol}, but the factors of "
                            f"{self!r} have different loop values; rename it per factor (ProductCategory.subs)"
                        )
                    substitutions[symbol] = solutions[0]
                elif cat != g.category and (parameter != g.delta or _signs_differ(cat, g.category)):
                    raise ValueError(
                        f"factor {i} of the combination lives in {cat!r}, but the functor of {g!r} starts at "
                        f"{g.category!r} (loop value {g.delta}); compose with ({self!r}).category.compose"
                    )
            if substitutions:
                terms = {p: sympy.expand(sympy.sympify(v).subs(substitutions)) for p, v in terms.items()}
        return tuple((p, v) for p, v in sorted(terms.items(), key=lambda item: item[0]) if v != 0)

    # -- bases -----------------------------------------------------------------------------------
    def spanning_set(self, k: Sequence[int], l: Sequence[int]) -> tuple[ProductDiagram, ...]:
        """Every pair (tuple) of diagrams of the factors' categories, k → l, first factor slowest.

        >>> from catlayer import S, O
        >>> len((S(3) * O(2)).spanning_set((1, 1), (1, 1)))
        2
        """
        k_, l_ = self.check_orders(k, l)
        return _product(tuple(g.spanning_set(a, c) for g, a, c in zip(self._factors, k_, l_, strict=True)))

    def basis(self, k: Sequence[int], l: Sequence[int]) -> tuple[ProductDiagram, ...]:
        """Pairs of the factors' bases: a basis of Hom_{G×H} (for ``S()`` factors: for every n
        large enough, see :meth:`S.basis <catlayer.S.basis>`), first factor slowest."""
        k_, l_ = self.check_orders(k, l)
        return _product(tuple(g.basis(a, c) for g, a, c in zip(self._factors, k_, l_, strict=True)))

    def basis_contains(self, d: ProductDiagram) -> bool:
        """Whether d is in ``basis(d.dom, d.cod)``: every factor's diagram is in its factor's basis."""
        self.check_diagram(d)
        return all(g.basis_contains(e) for g, e in zip(self._factors, d.factors, strict=True))

    def basis_empty_reason(self, k: Sequence[int], l: Sequence[int]) -> str | None:
        """Why Hom is zero (the first factor whose Hom is zero, and why), or None.

        >>> from catlayer import S, O
        >>> (S(3) * O(2)).basis_empty_reason((1, 0), (1, 1))
        'factor 1 (O(2)): k + l = 1 is odd: no Brauer diagrams'
        """
        k_, l_ = self.check_orders(k, l)
        for i, (g, a, c) in enumerate(zip(self._factors, k_, l_, strict=True)):
            if not g.basis(a, c):
                return f"factor {i} ({g!r}): {g.basis_empty_reason(a, c)}"
        return None

    def dim(self, k: Sequence[int], l: Sequence[int]) -> int:
        """dim Hom_{G×H}((a, b), (c, d)) = dim_G(a, c) · dim_H(b, d)."""
        k_, l_ = self.check_orders(k, l)
        return math.prod(g.dim(a, c) for g, a, c in zip(self._factors, k_, l_, strict=True))

    # -- the functor -----------------------------------------------------------------------------
    def entries(self, d: ProductDiagram, basis: str = "diagram") -> tuple[np.ndarray, np.ndarray]:
        """The nonzero entries of F(d) = F_1(d_1) ⊗ … ⊗ F_r(d_r): flat indices ``row * columns +
        column`` of the (Π n_f^{l_f}) × (Π n_f^{k_f}) matrix and integer values (read-only, cached).

        >>> from catlayer import S, O, PartitionDiagram, BrauerDiagram
        >>> flat, values = (S(2) * O(2)).entries(ProductDiagram(PartitionDiagram([[0]], 0, 1),
        ...                                                    BrauerDiagram([[0, 1]], 0, 2)))
        >>> flat.tolist(), values.tolist()        # kron((1, 1), vec(I_2)): rows 0, 3, 4, 7
        ([0, 3, 4, 7], [1, 1, 1, 1])
        """
        self.check_diagram(d)
        self.require_sizes("the entries of a diagram's matrix")
        if basis not in self.bases:
            raise ValueError(f"{self!r} has the bases {self.bases}, not {basis!r}")
        return _entries(self, d)

    def functor(self, d: ProductDiagram | ProductCombination, basis: str = "diagram") -> ProductMap:
        """The image of a product diagram or combination: the lazy map F_1(d_1) ⊗ … ⊗ F_r(d_r),
        the first factor's axes first (:class:`~catlayer.functors.ProductMap`).

        >>> from catlayer import S, O, PartitionDiagram, BrauerDiagram
        >>> G = S(2) * O(2)
        >>> p = ProductDiagram(PartitionDiagram([[0], [1]], 1, 1), BrauerDiagram([[0, 1]], 1, 1))
        >>> G.functor(p).to_sympy() == sympy.Matrix(np.kron(np.ones((2, 2), int), np.eye(2, dtype=int)))
        True
        """
        from ..functors import ProductMap

        self.require_sizes("the functor")
        return ProductMap.image(self, d, basis)

    def coefficients(self, M: object, k: Sequence[int], l: Sequence[int], *, tolerance: float | None = None) -> Any:
        """The coordinates of an equivariant M in ``basis(k, l)``, solved factor by factor (the Gram
        matrix is the Kronecker product of the factors' Grams); raises
        :class:`~catlayer.projection.NotEquivariantError` when M is not equivariant. See
        :func:`catlayer.projection.coefficients`.

        >>> from catlayer import S, O
        >>> (S(2) * O(2)).coefficients(np.kron(np.ones((2, 2)), 3 * np.eye(2)), (1, 1), (1, 1))
        array([0., 3.])
        """
        self.require_sizes("the coefficients of a matrix")
        return _coefficients(self, M, k, l, tolerance=tolerance)

    def project(self, M: object, k: Sequence[int], l: Sequence[int]) -> Any:
        """The orthogonal (Frobenius) projection of M onto Hom_{G×H}, same type and shape as M,
        computed factor by factor. See :func:`catlayer.projection.project`.

        >>> from catlayer import S, O
        >>> (S(2) * O(2)).project(np.eye(4), (1, 1), (1, 1)).round(3).tolist()[0]
        [1.0, 0.0, 0.0, 0.0]
        """
        self.require_sizes("a projection")
        return _project(self, M, k, l)

    # -- the group itself ------------------------------------------------------------------------
    def generators(self) -> tuple[FactorGenerator, ...]:
        """Exact generators: each factor's generators, with the identity (group elements) or zero
        (Lie algebra elements) on the other factors, in factor order.

        >>> from catlayer import S, O
        >>> [g.name for g in (S(3) * O(2)).generators()]         # doctest: +NORMALIZE_WHITESPACE
        ['(transposition (0 1), 1): transposition (0 1) of factor 0 (S(3)), identity of O(2)',
         '(n-cycle (0 1 2), 1): n-cycle (0 1 2) of factor 0 (S(3)), identity of O(2)',
         '(0, rotation L[0,1] in O(2)): rotation L[0,1] in O(2) of factor 1 (O(2)), zero of S(3)',
         '(1, reflection of e_1 in O(2)): reflection of e_1 in O(2) of factor 1 (O(2)), identity of S(3)']
        """
        self.require_sizes("the generators")
        out = []
        for f, g in enumerate(self._factors):
            others = ", ".join(repr(h) for i, h in enumerate(self._factors) if i != f)
            for gen in g.generators():
                unit = "1" if gen.kind == "group" else "0"
                parts = [gen.name if i == f else unit for i in range(len(self._factors))]
                neutral = "identity" if gen.kind == "group" else "zero"
                name = f"({', '.join(parts)}): {gen.name} of factor {f} ({g!r}), {neutral} of {others}"
                out.append(FactorGenerator(name, f, gen))
        return tuple(out)

    def is_element(self, g: Sequence[npt.ArrayLike | sympy.MatrixBase], tolerance: float | None = None) -> bool:
        """Whether g (a tuple of one matrix per factor) is an element: every part is an element
        of its factor (see :meth:`Group.is_element <catlayer.groups.Group.is_element>`).

        >>> from catlayer import S, O
        >>> (S(2) * O(2)).is_element(([[0, 1], [1, 0]], [[0, -1], [1, 0]]))
        True
        """
        if not isinstance(g, (tuple, list)) or len(g) != len(self._factors):
            return False
        return all(h.is_element(m, tolerance) for h, m in zip(self._factors, g, strict=True))

    @property
    def num_components(self) -> int:
        """The product of the factors' numbers of components."""
        return math.prod(g.num_components for g in self._factors)

    def random_element(self, rng: Seed = None, component: int | None = None) -> tuple[np.ndarray, ...]:
        """Independent random elements of the factors (a tuple of matrices); ``component`` is read
        in mixed radix over the factors' components (first factor slowest), so components
        0 … num_components − 1 visit every pair of components.

        >>> from catlayer import S, O
        >>> g = (S(3) * O(2)).random_element(0, component=1)
        >>> [m.shape for m in g], round(float(np.linalg.det(g[1])))
        ([(3, 3), (2, 2)], -1)
        """
        self.require_sizes("a random element")
        rng = np.random.default_rng(rng)
        if component is None:
            return tuple(g.random_element(rng) for g in self._factors)
        component %= self.num_components
        parts = []
        for g in reversed(self._factors):
            parts.append(component % g.num_components)
            component //= g.num_components
        return tuple(g.random_element(rng, c) for g, c in zip(self._factors, reversed(parts), strict=True))

    def act(self, g: Sequence[Any], x: Any, order: Sequence[int]) -> np.ndarray:
        """(ρ(g_1) ⊗ … ⊗ ρ(g_r)) applied to the last Σ order axes of x: factor i acts on its
        order[i] axes (the first factor's axes first).

        >>> from catlayer import S, O
        >>> G = S(2) * O(2)
        >>> swap, flip = np.array([[0, 1], [1, 0]]), np.diag([1, -1])
        >>> G.act((swap, flip), np.array([[1.0, 2.0], [3.0, 4.0]]), (1, 1)).tolist()
        [[3.0, -4.0], [1.0, -2.0]]
        """
        orders = check_orders(order, len(self._factors), "order")
        if not isinstance(g, (tuple, list)) or len(g) != len(self._factors):
            raise ValueError(f"an element of {self!r} is a tuple of {len(self._factors)} matrices")
        x = np.asarray(x)
        total = sum(orders)
        if total > x.ndim:
            raise ValueError(f"x has {x.ndim} axes, fewer than the {total} of order {orders}")
        start = x.ndim - total
        for factor, matrix, count in zip(self._factors, g, orders, strict=True):
            # Move this factor's axes last, act, move them back.
            axes = list(range(start, start + count))
            rest = [a for a in range(x.ndim) if a not in axes]
            moved = np.transpose(x, rest + axes)
            acted = factor.act(matrix, moved, count)
            x = np.transpose(acted, np.argsort(rest + axes))
            start += count
        return x

    def relabelling_orbits(
        self, size: Sequence[int], uses_levi_civita: bool | Sequence[bool] = False
    ) -> tuple[np.ndarray, str]:
        """One multi-index per orbit of the relabellings that fix every factor's tables, for
        ``size[f]`` indices of factor f (factor 0's first): the product of the factors' orbits
        (:meth:`Group.relabelling_orbits <catlayer.groups.Group.relabelling_orbits>`), each factor
        relabelling its own indices. ``uses_levi_civita``: one flag, or one per factor.

        >>> from catlayer import S, O
        >>> points, how = (S(30) * O(3)).relabelling_orbits((2, 1))
        >>> points.tolist()
        [[0, 0, 0], [0, 1, 0]]
        """
        sizes = check_orders(size, len(self._factors), "size")
        flags = (
            tuple(bool(f) for f in uses_levi_civita)
            if isinstance(uses_levi_civita, (tuple, list))
            else (bool(uses_levi_civita),) * len(self._factors)
        )
        if len(flags) != len(self._factors):
            raise ValueError(f"uses_levi_civita needs one flag or {len(self._factors)}, got {len(flags)}")
        parts = [g.relabelling_orbits(s, u) for g, s, u in zip(self._factors, sizes, flags, strict=True)]
        count = math.prod(len(p) for p, _ in parts)
        check_size(8 * count * sum(sizes), f"{count} orbit representatives of {self!r}")
        grids = np.indices([len(p) for p, _ in parts]).reshape(len(parts), count)
        points = np.concatenate([p[choice] for (p, _), choice in zip(parts, grids, strict=True)], axis=1)
        how = "; ".join(f"factor {f}: {text}" for f, (_, text) in enumerate(parts))
        return points.astype(np.int64), f"{how}; {count} orbits in all"


@lru_cache(maxsize=256)
def _category(group: ProductGroup) -> ProductCategory:
    return ProductCategory(*distinct_parameters(g.category for g in group.factors))


@lru_cache(maxsize=1024)
def _product(parts: tuple[tuple[Any, ...], ...]) -> tuple[ProductDiagram, ...]:
    return tuple(ProductDiagram(*combo) for combo in itertools.product(*parts))


@lru_cache(maxsize=8192)
def _entries(group: ProductGroup, d: ProductDiagram) -> tuple[np.ndarray, np.ndarray]:
    parts = [g.entries(e) for g, e in zip(group.factors, d.factors, strict=True)]
    count = math.prod(len(v) for _, v in parts)
    check_size(24 * count, f"the {count} nonzero entries of a product diagram's matrix")
    row = np.zeros(1, dtype=np.int64)
    col = np.zeros(1, dtype=np.int64)
    value = np.ones(1, dtype=np.int64)
    columns_total = 1
    for g, e, (flat, values) in zip(group.factors, d.factors, parts, strict=True):
        n = int(g.n)
        rows, columns = n**e.cod, n**e.dom
        row = (row[:, None] * rows + flat[None, :] // columns).ravel()
        col = (col[:, None] * columns + flat[None, :] % columns).ravel()
        value = (value[:, None] * values[None, :]).ravel()
        columns_total *= columns
    return read_only(row * columns_total + col), read_only(value)
