"""Morphisms of a product of diagram categories: one diagram per factor, side by side.

The product C × D of two categories has pairs of objects and pairs of morphisms, composed and
tensored componentwise; for G × H acting on V^{⊗a} ⊗ W^{⊗b}, Hom_{G×H} is spanned by the images
of pairs (d, e) of a diagram of G's category and one of H's (docs/conventions.md §10). Linear
combinations of pairs are :class:`ProductCombination` values; composing or tensoring two pairs
gives one, whose coefficient is the product of the factors' coefficients (each factor's loops
worth its own parameter).

>>> from catlayer import PartitionDiagram, BrauerDiagram
>>> d = PartitionDiagram([[0, 1]], dom=1, cod=1)
>>> e = BrauerDiagram([[0, 1]], dom=0, cod=2)
>>> p = ProductDiagram(d, e)
>>> p.dom, p.cod
((1, 0), (1, 2))
>>> print(p)
{1,1'} : 1 → 1  ×  {1,2} : 0 → 2
>>> eval(repr(p)) == p
True
>>> cup = BrauerDiagram([[0, 1]], dom=2, cod=0)
>>> p >> ProductDiagram(d, cup)                        # a loop in the second factor: n_1
ProductCombination({ProductDiagram(PartitionDiagram([[0, 1]], dom=1, cod=1), BrauerDiagram([], dom=0, cod=0)): n_1}, \
dom=(1, 0), cod=(1, 0), category=ProductCategory(PartitionCategory(n_0), BrauerCategory(n_1)))
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn

import sympy

from ..memory import check_size
from .categories import DiagramCategory, natural_category
from .combination import Combination, _is_zero, _LinearCombination, _normalise
from .diagram import Diagram
from .validation import check_order, short_repr

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ProductCategory", "ProductCombination", "ProductDiagram", "check_orders", "distinct_parameters"]


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


class ProductDiagram:
    """A tuple of diagrams, one per factor of a product of diagram categories (at least two).

    Its domain and codomain are the tuples of the factors' (the orders of a product group's
    features); equality, hashing and ordering are those of the tuple, so it is a value.
    ``p >> q`` and ``p @ q`` compose and tensor componentwise (:class:`ProductCombination`).

    >>> from catlayer import BrauerDiagram, PartitionDiagram
    >>> p = ProductDiagram(PartitionDiagram([[0, 1]], dom=1, cod=1), BrauerDiagram([[0, 1]], dom=1, cod=1))
    >>> print(p)
    {1,1'} : 1 → 1  ×  {1,1'} : 1 → 1
    >>> p.dom, p.cod
    ((1, 1), (1, 1))
    """

    __slots__ = ("_factors",)
    _factors: tuple[Diagram, ...]

    def __init__(self, *factors: Diagram) -> None:
        if len(factors) < 2:
            raise ValueError(f"a product diagram needs at least two factors, got {len(factors)}")
        for d in factors:
            if not isinstance(d, Diagram):
                raise TypeError(f"each factor of a product diagram must be a diagram, got {short_repr(d)}")
        object.__setattr__(self, "_factors", tuple(factors))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("ProductDiagram is immutable")

    def __reduce__(self) -> tuple[type[ProductDiagram], tuple[Diagram, ...]]:
        return (ProductDiagram, self._factors)

    @property
    def factors(self) -> tuple[Diagram, ...]:
        """The diagram of each factor."""
        return self._factors

    @property
    def dom(self) -> tuple[int, ...]:
        """The input orders, one per factor."""
        return tuple(d.dom for d in self._factors)

    @property
    def cod(self) -> tuple[int, ...]:
        """The output orders, one per factor."""
        return tuple(d.cod for d in self._factors)

    def __iter__(self) -> Iterator[Diagram]:
        return iter(self._factors)

    def __len__(self) -> int:
        return len(self._factors)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProductDiagram) and self._factors == other._factors

    def __hash__(self) -> int:
        return hash(("ProductDiagram", self._factors))

    def __lt__(self, other: ProductDiagram) -> bool:
        if not isinstance(other, ProductDiagram):
            return NotImplemented
        return self._factors < other._factors

    def __repr__(self) -> str:
        return f"ProductDiagram({', '.join(map(repr, self._factors))})"

    def __str__(self) -> str:
        return "  ×  ".join(map(str, self._factors))

    def _blocks_text(self) -> str:
        """The factors' blocks without their shapes, joined by ×."""
        return " × ".join(str(d).rsplit(" : ", 1)[0] for d in self._factors)

    # -- categorical structure -------------------------------------------------------------------
    def dagger(self) -> ProductDiagram:
        """Every factor flipped upside down.

        >>> from catlayer import PartitionDiagram
        >>> ProductDiagram(PartitionDiagram([[0]], 0, 1), PartitionDiagram([[0, 1]], 1, 1)).dagger().dom
        (1, 1)
        """
        return ProductDiagram(*(d.dagger() for d in self._factors))

    def then(self, other: ProductDiagram | ProductCombination) -> ProductCombination:
        """ "self, then other", componentwise, in the natural category of each factor's pair
        (:func:`~catlayer.diagrams.natural_category`), whose loop parameters are made distinct
        per factor (``n_0``, ``n_1``, … where two factors would share ``n``).

        >>> from catlayer import PartitionDiagram
        >>> d = PartitionDiagram([[0], [1]], dom=1, cod=1)
        >>> (ProductDiagram(d, d) >> ProductDiagram(d, d)).terms == {ProductDiagram(d, d): sympy.Symbol("n_0") *
        ...     sympy.Symbol("n_1")}
        True
        """
        return natural_product_category(self, other).compose(self, other)

    def __rshift__(self, other: ProductDiagram) -> ProductCombination:
        if not isinstance(other, ProductDiagram):
            return NotImplemented
        return self.then(other)

    def tensor(self, other: ProductDiagram | ProductCombination) -> ProductCombination:
        """Componentwise tensor product (each factor's ``other`` to the right of its ``self``),
        in the natural categories (see :meth:`then`); an exact combination, since two
        n-diagrams of a Brauer–Grood factor expand ε·ε.

        >>> from catlayer import PartitionDiagram
        >>> d = PartitionDiagram([[0, 1]], dom=1, cod=1)
        >>> (ProductDiagram(d, d) @ ProductDiagram(d, d)).dom
        (2, 2)
        """
        return natural_product_category(self, other).tensor(self, other)

    def __matmul__(self, other: ProductDiagram) -> ProductCombination:
        if not isinstance(other, ProductDiagram):
            return NotImplemented
        return self.tensor(other)

    # -- pictures --------------------------------------------------------------------------------
    def draw_ascii(self) -> str:
        """The factors' ASCII pictures side by side, separated by ``│``.

        >>> from catlayer import PartitionDiagram, BrauerDiagram
        >>> print(ProductDiagram(PartitionDiagram([[0, 2], [1]], 1, 2), BrauerDiagram([[0, 1]], 2, 0)).draw_ascii())
        top    : a b             │  top    :
        bottom : a               │  bottom : a a
        blocks : a={1,1'} b={2}  │  blocks : a={1',2'}
        """
        pictures = [d.draw_ascii().split("\n") for d in self._factors]
        height = max(len(p) for p in pictures)
        widths = [max(len(line) for line in p) for p in pictures]
        rows = []
        for i in range(height):
            cells = [(p[i] if i < len(p) else "").ljust(w) for p, w in zip(pictures, widths, strict=True)]
            rows.append("  │  ".join(cells).rstrip())
        return "\n".join(rows)

    def draw(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """Draw the factors side by side with matplotlib (optional dependency ``catlayer[draw]``),
        one panel per factor; save to ``path`` (suffix picks the format) when given. Returns the
        figure."""
        try:
            import matplotlib

            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("drawing needs matplotlib: pip install 'catlayer[draw]'") from error
        from .drawing import draw

        widths = [max(d.cod, d.dom, 1) for d in self._factors]
        fig, axes = plt.subplots(
            1, len(self._factors), figsize=(1.0 + 0.8 * sum(widths) + 0.6 * len(widths), 2.6), width_ratios=widths
        )
        for i, (ax, d) in enumerate(zip(axes, self._factors, strict=True)):
            draw(d, ax=ax)
            ax.set_title(f"factor {i}: {d}", fontsize=9)
        if path is not None:
            fig.savefig(path, bbox_inches="tight")
        return fig


def _as_product_terms(x: ProductDiagram | ProductCombination) -> dict[ProductDiagram, sympy.Expr]:
    return {x: sympy.Integer(1)} if isinstance(x, ProductDiagram) else x.terms


def distinct_parameters(categories: Iterable[DiagramCategory]) -> tuple[DiagramCategory, ...]:
    """The categories with every loop symbol shared by several of them renamed per factor
    (``n`` becomes ``n_0`` in factor 0, ``n_1`` in factor 1, …): the factors of a product have
    independent loop values.

    >>> from catlayer import PartitionCategory, BrauerCategory
    >>> n = sympy.Symbol("n")
    >>> distinct_parameters([PartitionCategory(n), BrauerCategory(-n), BrauerCategory(3)])
    (PartitionCategory(n_0), BrauerCategory(-n_1), BrauerCategory(3))
    """
    categories = tuple(categories)
    uses: dict[sympy.Symbol, int] = {}
    for c in categories:
        for s in sympy.sympify(c.parameter).free_symbols:
            uses[s] = uses.get(s, 0) + 1
    out = []
    for i, c in enumerate(categories):
        shared = [s for s in sympy.sympify(c.parameter).free_symbols if uses[s] > 1]
        for s in shared:
            c = c.subs(s, sympy.Symbol(f"{s}_{i}"))
        out.append(c)
    return tuple(out)


def natural_product_category(
    first: ProductDiagram | ProductCombination, second: ProductDiagram | ProductCombination
) -> ProductCategory:
    """The category in which two product diagrams are composed by ``>>``: a combination's own
    category when it has one, else the product of each factor's natural category, with the loop
    symbols made distinct per factor (:func:`distinct_parameters`)."""
    for x in (first, second):
        if isinstance(x, ProductCombination) and x.category is not None:
            return x.category
    picks = []
    for role, x in (("first", first), ("second", second)):
        if isinstance(x, ProductDiagram):
            picks.append(x)
            continue
        if not isinstance(x, ProductCombination):
            raise TypeError(f"{role} must be a ProductDiagram or ProductCombination, got {type(x).__name__}")
        some = next(iter(x.terms), None)
        if some is None:
            raise ValueError("cannot tell the category of an empty combination; use a ProductCategory's compose")
        picks.append(some)
    a, b = picks
    if len(a) != len(b):
        raise ValueError(f"product diagrams with {len(a)} and {len(b)} factors live in no common category")
    return ProductCategory(*distinct_parameters(natural_category(d, e) for d, e in zip(a, b, strict=True)))


class ProductCategory:
    """The product C_1 × … × C_r of diagram categories (at least two): objects are order tuples,
    morphisms spans of :class:`ProductDiagram` values, composed and tensored componentwise with
    each factor's own loop value.

    >>> from catlayer import PartitionCategory, BrauerCategory, PartitionDiagram, BrauerDiagram
    >>> C = ProductCategory(PartitionCategory(3), BrauerCategory(2))
    >>> len(C.hom((1, 1), (1, 1))), C.count((1, 1), (1, 1)), C.parameter
    (2, 2, (3, 2))
    >>> cap, cup = BrauerDiagram([[0, 1]], 0, 2), BrauerDiagram([[0, 1]], 2, 0)
    >>> d = PartitionDiagram([[0], [1]], 1, 1)                       # loops: 3 in P(3), 2 in B(2)
    >>> C.compose(ProductDiagram(d, cap), ProductDiagram(d, cup)).terms
    {ProductDiagram(PartitionDiagram([[0], [1]], dom=1, cod=1), BrauerDiagram([], dom=0, cod=0)): 6}
    >>> C.empty_reason((1, 0), (1, 1))
    'factor 1 (BrauerCategory(2)): k + l = 1 is odd: no Brauer diagrams'
    """

    __slots__ = ("__weakref__", "_factors")
    _factors: tuple[DiagramCategory, ...]

    def __init__(self, *factors: DiagramCategory) -> None:
        if len(factors) < 2:
            raise ValueError(f"a product category needs at least two factors, got {len(factors)}")
        for c in factors:
            if not isinstance(c, DiagramCategory):
                raise TypeError(f"each factor of a product category must be a diagram category, got {short_repr(c)}")
        object.__setattr__(self, "_factors", tuple(factors))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("ProductCategory is immutable")

    def __reduce__(self) -> tuple[type[ProductCategory], tuple[DiagramCategory, ...]]:
        return (ProductCategory, self._factors)

    @property
    def factors(self) -> tuple[DiagramCategory, ...]:
        """The factor categories, in order."""
        return self._factors

    @property
    def parameter(self) -> tuple[sympy.Expr, ...]:
        """The loop value of each factor."""
        return tuple(c.parameter for c in self._factors)

    delta = parameter

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProductCategory) and self._factors == other._factors

    def __hash__(self) -> int:
        return hash(("ProductCategory", self._factors))

    def __repr__(self) -> str:
        return f"ProductCategory({', '.join(map(repr, self._factors))})"

    def subs(self, *args: object, **kwargs: object) -> ProductCategory:
        """Substitute in every factor's parameter (sympy ``subs``)."""
        return ProductCategory(*(c.subs(*args, **kwargs) for c in self._factors))

    def _orders(self, k: object, l: object) -> tuple[tuple[int, ...], tuple[int, ...]]:
        count = len(self._factors)
        return check_orders(k, count, "k"), check_orders(l, count, "l")

    # -- morphisms -------------------------------------------------------------------------------
    def contains(self, p: object) -> bool:
        """True when ``p`` is a product diagram whose every factor is a diagram of its category."""
        return (
            isinstance(p, ProductDiagram)
            and len(p) == len(self._factors)
            and all(c.contains(d) for c, d in zip(self._factors, p, strict=True))
        )

    def _why_not(self, p: object) -> str:
        if not isinstance(p, ProductDiagram):
            return f"not a ProductDiagram but a {type(p).__name__}"
        if len(p) != len(self._factors):
            return f"it has {len(p)} factors, the category {len(self._factors)}"
        for i, (c, d) in enumerate(zip(self._factors, p, strict=True)):
            if not c.contains(d):
                return f"factor {i} ({c!r}): {c._why_not(d)}"
        return "it is a morphism"

    def _check(self, x: object, role: str) -> None:
        if not isinstance(x, (ProductDiagram, ProductCombination)):
            raise TypeError(f"{role} must be a ProductDiagram or a ProductCombination, got {type(x).__name__}")
        for p in [x] if isinstance(x, ProductDiagram) else list(x.terms):
            if not self.contains(p):
                raise ValueError(f"{role} {short_repr(p)} is not a morphism of {self!r}: {self._why_not(p)}"[:400])

    def identity(self, k: Sequence[int]) -> ProductDiagram:
        """The identity on the object k (a tuple of orders)."""
        orders = check_orders(k, len(self._factors), "k")
        return ProductDiagram(*(c.identity(a) for c, a in zip(self._factors, orders, strict=True)))

    def count(self, k: Sequence[int], l: Sequence[int]) -> int:
        """The number of product diagrams k → l: the product of the factors' counts."""
        k_, l_ = self._orders(k, l)
        return math.prod(c.count(a, b) for c, a, b in zip(self._factors, k_, l_, strict=True))

    def iter_hom(self, k: Sequence[int], l: Sequence[int]) -> Iterator[ProductDiagram]:
        """Lazily generate the product diagrams k → l (first factor slowest)."""
        k_, l_ = self._orders(k, l)
        parts = [c.iter_hom(a, b) for c, a, b in zip(self._factors, k_, l_, strict=True)]
        return (ProductDiagram(*combo) for combo in itertools.product(*parts))

    def hom(self, k: Sequence[int], l: Sequence[int]) -> tuple[ProductDiagram, ...]:
        """Every product diagram k → l, first factor slowest (the factors' homs are cached; their
        product is checked against the memory budget before it is built)."""
        k_, l_ = self._orders(k, l)
        parts = tuple(c.hom(a, b) for c, a, b in zip(self._factors, k_, l_, strict=True))
        count = math.prod(len(p) for p in parts)
        check_size(count * (64 + 8 * len(parts)), f"hom({k_}, {l_}) of {self!r}, {count} product diagrams,")
        return tuple(ProductDiagram(*combo) for combo in itertools.product(*parts))

    def empty_reason(self, k: Sequence[int], l: Sequence[int]) -> str | None:
        """Why there is no product diagram k → l (the first factor with none, and why), or None."""
        k_, l_ = self._orders(k, l)
        for i, (c, a, b) in enumerate(zip(self._factors, k_, l_, strict=True)):
            reason = c.empty_reason(a, b)
            if reason is not None:
                return f"factor {i} ({c!r}): {reason}"
        return None

    def _factor_products(
        self,
        f: ProductDiagram | ProductCombination,
        g: ProductDiagram | ProductCombination,
        product: Callable[[DiagramCategory, Diagram, Diagram], Combination],
        dom: tuple[int, ...],
        cod: tuple[int, ...],
    ) -> ProductCombination:
        total: dict[ProductDiagram, sympy.Expr] = {}
        cache: dict[tuple[int, Diagram, Diagram], Combination] = {}
        for p, a in _as_product_terms(f).items():
            for q, b in _as_product_terms(g).items():
                parts = []
                for i, (c, d, e) in enumerate(zip(self._factors, p, q, strict=True)):
                    key = (i, d, e)
                    if key not in cache:
                        cache[key] = product(c, d, e)
                    parts.append(cache[key].terms.items())
                for combo in itertools.product(*parts):
                    coefficient = a * b * math.prod((c for _, c in combo), start=sympy.Integer(1))
                    r = ProductDiagram(*(d for d, _ in combo))
                    total[r] = total.get(r, sympy.Integer(0)) + coefficient
        return ProductCombination(total, dom, cod, self)

    def compose(
        self, f: ProductDiagram | ProductCombination, g: ProductDiagram | ProductCombination
    ) -> ProductCombination:
        """ "f, then g", componentwise and bilinear; the coefficient of a pair is the product of
        the factors' coefficients (each factor's loops worth its own parameter)."""
        self._check(f, "f")
        self._check(g, "g")
        if f.cod != g.dom:
            raise ValueError(f"cannot compose: f ends at {f.cod} but g starts at {g.dom}")
        return self._factor_products(f, g, lambda c, d, e: c.compose(d, e), f.dom, g.cod)

    def tensor(
        self, f: ProductDiagram | ProductCombination, g: ProductDiagram | ProductCombination
    ) -> ProductCombination:
        """f ⊗ g componentwise (in each factor, g's diagram to the right of f's), bilinear."""
        self._check(f, "f")
        self._check(g, "g")
        dom = tuple(a + b for a, b in zip(f.dom, g.dom, strict=True))
        cod = tuple(a + b for a, b in zip(f.cod, g.cod, strict=True))
        return self._factor_products(f, g, lambda c, d, e: c.tensor(d, e), dom, cod)


class ProductCombination(_LinearCombination):
    """A finite linear combination of product diagrams k → l (k, l order tuples) with exact
    coefficients; the product-category twin of :class:`~catlayer.diagrams.Combination`.

    >>> from catlayer import PartitionDiagram
    >>> d, e = PartitionDiagram([[0, 1]], 1, 1), PartitionDiagram([[0], [1]], 1, 1)
    >>> c = 2 * ProductCombination(ProductDiagram(d, e)) - ProductDiagram(e, e)
    >>> print(c)
    -[{1} {1'} × {1} {1'}] + 2·[{1,1'} × {1} {1'}] : (1, 1) → (1, 1)
    """

    __slots__ = ("_category", "_cod", "_dom", "_terms")
    _diagram = ProductDiagram
    _category: ProductCategory | None
    _cod: tuple[int, ...]
    _dom: tuple[int, ...]
    _terms: dict[ProductDiagram, sympy.Expr]

    def __init__(
        self,
        terms: Mapping[ProductDiagram, object] | ProductDiagram,
        dom: Sequence[int] | None = None,
        cod: Sequence[int] | None = None,
        category: ProductCategory | None = None,
    ) -> None:
        if isinstance(terms, ProductDiagram):
            terms = {terms: 1}
        if not isinstance(terms, Mapping):
            raise TypeError(f"terms must be a mapping product diagram -> coefficient, got {type(terms).__name__}")
        if (dom is None) != (cod is None):
            raise ValueError("give both dom and cod, or neither")
        if category is not None and not isinstance(category, ProductCategory):
            raise TypeError(f"category must be a ProductCategory or None, got {type(category).__name__}")
        shape: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        if dom is not None and cod is not None:
            if not isinstance(dom, (tuple, list)) or not isinstance(cod, (tuple, list)):
                raise ValueError(f"dom and cod must be tuples of orders, got {short_repr(dom)} and {short_repr(cod)}")
            shape = (check_orders(dom, len(dom), "dom"), check_orders(cod, len(cod), "cod"))
        cleaned: dict[ProductDiagram, sympy.Expr] = {}
        for p, c in terms.items():
            if not isinstance(p, ProductDiagram):
                raise TypeError(f"{short_repr(p)} is not a ProductDiagram")
            if shape is None:
                shape = (p.dom, p.cod)
            if (p.dom, p.cod) != shape:
                raise ValueError(
                    f"all product diagrams of a combination need the same shape: {short_repr(p)} is "
                    f"({p.dom}, {p.cod}), expected {shape}"
                )
            c = _normalise(c)
            if p in cleaned:
                c = _normalise(cleaned[p] + c)
            if _is_zero(c):
                cleaned.pop(p, None)
            else:
                cleaned[p] = c
        if shape is None:
            raise ValueError("an empty combination needs dom and cod")
        object.__setattr__(self, "_terms", cleaned)
        object.__setattr__(self, "_dom", shape[0])
        object.__setattr__(self, "_cod", shape[1])
        object.__setattr__(self, "_category", category)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("ProductCombination is immutable")

    def __reduce__(
        self,
    ) -> tuple[
        type[ProductCombination],
        tuple[dict[ProductDiagram, sympy.Expr], tuple[int, ...], tuple[int, ...], ProductCategory | None],
    ]:
        return (ProductCombination, (dict(self._terms), self._dom, self._cod, self._category))

    # -- data --------------------------------------------------------------------------------
    @property
    def terms(self) -> dict[ProductDiagram, sympy.Expr]:
        """A fresh dict product diagram -> coefficient (nonzero coefficients only)."""
        return dict(self._terms)

    @property
    def dom(self) -> tuple[int, ...]:
        """The input orders, one per factor."""
        return self._dom

    @property
    def cod(self) -> tuple[int, ...]:
        """The output orders, one per factor."""
        return self._cod

    @property
    def category(self) -> ProductCategory | None:
        """The product category fixing the rules of ``then`` and ``tensor``, or None."""
        return self._category

    def coefficient(self, p: ProductDiagram) -> sympy.Expr:
        """The coefficient of ``p`` (0 when absent)."""
        return self._terms.get(p, sympy.Integer(0))

    # -- linear structure --------------------------------------------------------------------
    def __add__(self, other: ProductCombination | ProductDiagram | int) -> ProductCombination:
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        combo = self._coerce(other)
        merged: dict[ProductDiagram, object] = dict(self._terms)
        for p, c in combo._terms.items():
            merged[p] = merged.get(p, 0) + c
        return ProductCombination(merged, self._dom, self._cod, self._category or combo._category)

    __radd__ = __add__

    def __neg__(self) -> ProductCombination:
        return ProductCombination({p: -c for p, c in self._terms.items()}, self._dom, self._cod, self._category)

    def __mul__(self, scalar: object) -> ProductCombination:
        if isinstance(scalar, (ProductCombination, ProductDiagram, Combination, Diagram)):
            return NotImplemented
        value = _normalise(scalar)
        return ProductCombination({p: c * value for p, c in self._terms.items()}, self._dom, self._cod, self._category)

    __rmul__ = __mul__

    def subs(self, *args: object, **kwargs: object) -> ProductCombination:
        """Substitute in the coefficients (and in the category's parameters), as sympy's ``subs``."""
        category = self._category.subs(*args, **kwargs) if self._category is not None else None
        return ProductCombination(
            {p: sympy.sympify(c).subs(*args, **kwargs) for p, c in self._terms.items()},
            self._dom,
            self._cod,
            category,
        )

    # -- categorical structure ---------------------------------------------------------------
    def then(self, other: ProductCombination | ProductDiagram) -> ProductCombination:
        """ "self, then other", bilinearly, in the combination's category."""
        return natural_product_category(self, other).compose(self, other)

    def __rrshift__(self, other: ProductDiagram) -> ProductCombination:
        if not isinstance(other, ProductDiagram):
            return NotImplemented
        return natural_product_category(other, self).compose(other, self)

    def tensor(self, other: ProductCombination | ProductDiagram) -> ProductCombination:
        """Bilinear componentwise tensor product in the combination's category."""
        return natural_product_category(self, other).tensor(self, other)

    def __rmatmul__(self, other: ProductDiagram) -> ProductCombination:
        if not isinstance(other, ProductDiagram):
            return NotImplemented
        return natural_product_category(other, self).tensor(other, self)

    # -- equality and printing ---------------------------------------------------------------
    def __str__(self) -> str:
        if not self._terms:
            return f"0 : {self._dom} → {self._cod}"
        parts = []
        for p, c in self._sorted_terms():
            coefficient = "" if c == 1 else "-" if c == -1 else f"({c})·" if c.is_Add else f"{c}·"
            parts.append(f"{coefficient}[{p._blocks_text()}]")
        return " + ".join(parts).replace("+ -", "- ") + f" : {self._dom} → {self._cod}"
