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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from ..diagrams.product import ProductDiagram
from ..diagrams.validation import check_order, short_repr
from .base import Group, Seed

__all__ = ["Order", "ProductGroup", "check_orders", "group_factors"]

#: The order of a feature: an int for a single group, a tuple (one per factor) for a product.
Order = int | tuple[int, ...]


def check_orders(orders: object, count: int, name: str) -> tuple[int, ...]:
    """An object of a product of ``count`` categories: a tuple of ``count`` ints ≥ 0.

    >>> check_orders((1, 0), 2, "k")
    (1, 0)
    >>> check_orders(1, 2, "k")
    Traceback (most recent call last):
    ...
    ValueError: k must be a tuple of 2 orders (one per factor), got 1
    """
    if not isinstance(orders, (tuple, list)) or len(orders) != count:
        raise ValueError(f"{name} must be a tuple of {count} orders (one per factor), got {short_repr(orders)}")
    return tuple(check_order(o, f"{name}[{i}]") for i, o in enumerate(orders))


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


class ProductGroup:
    """The product G_1 × … × G_r of catlayer groups (at least two); build it with ``G * H``.

    A value: equal, hashable and picklable by its factors. ``n`` is the tuple of the factors'
    sizes (None for an ``S()`` factor).
    """

    __slots__ = ("__weakref__", "_factors")
    _factors: tuple[Group, ...]

    def __init__(self, *factors: Group) -> None:
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

    # -- diagrams ----------------------------------------------------------------------------------
    def _orders(self, k: object, l: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
        count = len(self._factors)
        return check_orders(k, count, "k"), check_orders(l, count, "l")

    def check_diagram(self, d: object) -> None:
        """Raise unless d is a morphism of the product of the factors' categories."""
        if not isinstance(d, ProductDiagram):
            raise TypeError(f"a morphism of {self!r} is a ProductDiagram, got {type(d).__name__}")
        if len(d.factors) != len(self._factors):
            raise ValueError(f"{d!r} has {len(d.factors)} factors, {self!r} has {len(self._factors)}")
        for g, e in zip(self._factors, d.factors, strict=True):
            g.check_diagram(e)

    def sign(self, d: ProductDiagram) -> int:
        """The product of the factors' signs."""
        return math.prod(g.sign(e) for g, e in zip(self._factors, d.factors, strict=True))

    def spanning_set(self, k: Sequence[int], l: Sequence[int]) -> tuple[ProductDiagram, ...]:
        """Every pair (tuple) of diagrams of the factors' categories, k → l, first factor slowest."""
        k_, l_ = self._orders(k, l)
        return _product(tuple(g.spanning_set(a, c) for g, a, c in zip(self._factors, k_, l_, strict=True)))

    def basis(self, k: Sequence[int], l: Sequence[int]) -> tuple[ProductDiagram, ...]:
        """Pairs of the factors' bases: a basis of Hom_{G×H} (for ``S()`` factors: for every n
        large enough, see :meth:`S.basis <catlayer.S.basis>`)."""
        k_, l_ = self._orders(k, l)
        return _product(tuple(g.basis(a, c) for g, a, c in zip(self._factors, k_, l_, strict=True)))

    def basis_empty_reason(self, k: Sequence[int], l: Sequence[int]) -> str | None:
        """Why Hom is zero (the first factor whose Hom is zero, and why), or None."""
        k_, l_ = self._orders(k, l)
        for i, (g, a, c) in enumerate(zip(self._factors, k_, l_, strict=True)):
            if not g.basis(a, c):
                return f"factor {i} ({g!r}): {g.basis_empty_reason(a, c)}"
        return None

    def dim(self, k: Sequence[int], l: Sequence[int]) -> int:
        """dim Hom_{G×H}((a, b), (c, d)) = dim_G(a, c) · dim_H(b, d)."""
        k_, l_ = self._orders(k, l)
        return math.prod(g.dim(a, c) for g, a, c in zip(self._factors, k_, l_, strict=True))

    # -- the group itself ------------------------------------------------------------------------
    @property
    def num_components(self) -> int:
        """The product of the factors' numbers of components."""
        return math.prod(g.num_components for g in self._factors)

    def random_element(self, rng: Seed = None, component: int | None = None) -> tuple[np.ndarray, ...]:
        """Independent random elements of the factors (a tuple of matrices); ``component`` is read
        in mixed radix over the factors' components (first factor slowest).

        >>> from catlayer import S, O
        >>> g = (S(3) * O(2)).random_element(0, component=1)
        >>> [m.shape for m in g], round(float(np.linalg.det(g[1])))
        ([(3, 3), (2, 2)], -1)
        """
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


@lru_cache(maxsize=1024)
def _product(parts: tuple[tuple[Any, ...], ...]) -> tuple[ProductDiagram, ...]:
    return tuple(ProductDiagram(*combo) for combo in itertools.product(*parts))
