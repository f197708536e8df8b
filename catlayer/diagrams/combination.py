"""Exact linear combinations of diagrams with sympy coefficients."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Self

import sympy

from .diagram import Diagram
from .validation import check_order, short_repr

if TYPE_CHECKING:
    from .categories import DiagramCategory

__all__ = ["Combination"]


def _is_zero(c: object) -> bool:
    if c == 0:
        return True
    if isinstance(c, sympy.Basic) and c.free_symbols:
        return sympy.expand(c) == 0
    return False


_NOT_FINITE = (sympy.nan, sympy.oo, -sympy.oo, sympy.zoo)


def _normalise(c: object) -> sympy.Expr:
    if isinstance(c, str) and len(c) > 1000:
        raise TypeError(f"coefficient {short_repr(c)} is a string of {len(c)} characters: too long to parse")
    try:
        # strings are parsed (repr writes rationals as strings), anything else must be a number
        c = sympy.sympify(c, strict=not isinstance(c, str))
    except sympy.SympifyError:
        raise TypeError(
            f"coefficient {short_repr(c)} is not a number: use an int, sympy.Rational or a sympy expression"
        ) from None
    if isinstance(c, sympy.Float) or (isinstance(c, sympy.Basic) and c.atoms(sympy.Float)):
        raise TypeError(
            f"coefficient {short_repr(c)} is a float: combinations are exact; use an int, "
            "sympy.Rational or a sympy expression"
        )
    if not isinstance(c, sympy.Expr):
        raise TypeError(f"coefficient {short_repr(c)} is not a number or an expression")
    if c.has(*_NOT_FINITE):
        raise ValueError(f"coefficient {short_repr(c)} is not finite")
    if c.free_symbols:
        c = sympy.expand(c)
    return c


def _coefficient_repr(c: sympy.Expr) -> str:
    """Python source for ``c``; quoted (read back exactly by sympify) when it holds a
    non-integer rational, which would otherwise evaluate as a float division."""
    text = str(c)
    if any(not r.is_Integer for r in sympy.sympify(c).atoms(sympy.Rational)):
        return repr(text)
    return text


class _LinearCombination:
    """What a :class:`Combination` and a product one share: the container of their terms, the
    operators that reduce to their own ``+``, unary ``-``, ``then`` and ``tensor``, equality and
    ``repr``. ``_diagram`` is the class of the terms (a diagram, a product diagram)."""

    __slots__ = ()
    _diagram: ClassVar[type]
    _terms: dict[Any, sympy.Expr]
    _dom: Any
    _cod: Any
    _category: Any

    if TYPE_CHECKING:  # each subclass defines them

        def __init__(self, terms: Any, dom: Any = None, cod: Any = None, category: Any = None) -> None: ...
        def __add__(self, other: Any) -> Self: ...
        def __neg__(self) -> Self: ...
        def then(self, other: Any) -> Self: ...
        def tensor(self, other: Any) -> Self: ...

    def __len__(self) -> int:
        return len(self._terms)

    def __iter__(self) -> Iterator[tuple[Any, sympy.Expr]]:
        return iter(self._terms.items())

    def __bool__(self) -> bool:
        return bool(self._terms)

    def _coerce(self, other: object) -> Self:
        if isinstance(other, type(self)):
            combo = other
        elif isinstance(other, self._diagram):
            combo = type(self)(other, category=self._category)
        else:
            raise TypeError(f"cannot combine a {type(self).__name__} with {type(other).__name__}")
        if (combo._dom, combo._cod) != (self._dom, self._cod):
            raise ValueError(f"shapes differ: ({self._dom}, {self._cod}) and ({combo._dom}, {combo._cod})")
        return combo

    def __sub__(self, other: object) -> Self:
        return self + (-self._coerce(other))

    def __rsub__(self, other: object) -> Self:
        return self._coerce(other) - self

    def __rshift__(self, other: object) -> Self:
        if not isinstance(other, (type(self), self._diagram)):
            return NotImplemented
        return self.then(other)

    def __matmul__(self, other: object) -> Self:
        if not isinstance(other, (type(self), self._diagram)):
            return NotImplemented
        return self.tensor(other)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, self._diagram):
            other = type(self)(other)
        if not isinstance(other, type(self)):
            return NotImplemented
        if (self._dom, self._cod) != (other._dom, other._cod):
            return False
        if self._terms.keys() != other._terms.keys():
            return False
        return all(a == other._terms[d] or _is_zero(a - other._terms[d]) for d, a in self._terms.items())

    def __hash__(self) -> int:
        return hash((self._dom, self._cod, frozenset(self._terms)))

    def _sorted_terms(self) -> list[tuple[Any, sympy.Expr]]:
        return sorted(self._terms.items(), key=lambda item: item[0])

    def __repr__(self) -> str:
        body = ", ".join(f"{d!r}: {_coefficient_repr(c)}" for d, c in self._sorted_terms())
        tail = f", category={self._category!r}" if self._category is not None else ""
        return f"{type(self).__name__}({{{body}}}, dom={self._dom}, cod={self._cod}{tail})"


class Combination(_LinearCombination):
    """A finite R-linear combination of (k, l)-diagrams with exact coefficients.

    ``terms`` maps each diagram to its (nonzero) sympy coefficient. A combination remembers
    the category it lives in (if any), which fixes the rules of ``then`` and ``tensor``.

    >>> from catlayer import PartitionCategory, PartitionDiagram
    >>> import sympy
    >>> n = sympy.Symbol("n")
    >>> P = PartitionCategory(n)
    >>> d = PartitionDiagram([[0, 1], [2, 3]], dom=2, cod=2)
    >>> c = P.compose(d, d)
    >>> c
    Combination({PartitionDiagram([[0, 1], [2, 3]], dom=2, cod=2): n}, dom=2, cod=2, category=PartitionCategory(n))
    >>> (2 * c - c).subs(n, 3).terms
    {PartitionDiagram([[0, 1], [2, 3]], dom=2, cod=2): 3}
    """

    __slots__ = ("_category", "_cod", "_dom", "_terms")
    _diagram = Diagram
    _category: DiagramCategory | None
    _cod: int
    _dom: int
    _terms: dict[Diagram, sympy.Expr]

    def __init__(
        self,
        terms: Mapping[Diagram, object] | Diagram,
        dom: int | None = None,
        cod: int | None = None,
        category: DiagramCategory | None = None,
    ) -> None:
        if isinstance(terms, Diagram):
            terms = {terms: 1}
        if not isinstance(terms, Mapping):
            raise TypeError(f"terms must be a mapping diagram -> coefficient, got {type(terms).__name__}")
        if dom is not None:
            dom = check_order(dom, "dom")
        if cod is not None:
            cod = check_order(cod, "cod")
        if (dom is None) != (cod is None):
            raise ValueError("give both dom and cod, or neither")
        if category is not None:
            from .categories import DiagramCategory

            if not isinstance(category, DiagramCategory):
                raise TypeError(f"category must be a diagram category or None, got {type(category).__name__}")
        cleaned: dict[Diagram, sympy.Expr] = {}
        for d, c in terms.items():
            if not isinstance(d, Diagram):
                raise TypeError(f"{short_repr(d)} is not a diagram")
            if dom is None:
                dom, cod = d.dom, d.cod
            if (d.dom, d.cod) != (dom, cod):
                raise ValueError(
                    f"all diagrams of a combination need the same shape: {short_repr(d)} is "
                    f"({d.dom}, {d.cod}), expected ({dom}, {cod})"
                )
            c = _normalise(c)
            if d in cleaned:
                c = _normalise(cleaned[d] + c)
            if _is_zero(c):
                cleaned.pop(d, None)
            else:
                cleaned[d] = c
        if dom is None or cod is None:
            raise ValueError("an empty combination needs dom and cod")
        self._set(cleaned, dom, cod, category)

    def _set(self, terms: dict[Diagram, sympy.Expr], dom: int, cod: int, category: DiagramCategory | None) -> None:
        object.__setattr__(self, "_terms", terms)
        object.__setattr__(self, "_dom", dom)
        object.__setattr__(self, "_cod", cod)
        object.__setattr__(self, "_category", category)

    @classmethod
    def _trusted(
        cls, terms: dict[Diagram, sympy.Expr], dom: int, cod: int, category: DiagramCategory | None = None
    ) -> Combination:
        """Build from normalised, nonzero coefficients without checks (internal, fast)."""
        self = object.__new__(cls)
        self._set(terms, dom, cod, category)
        return self

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Combination is immutable")

    def __reduce__(
        self,
    ) -> tuple[
        Callable[[dict[Diagram, sympy.Expr], int, int, DiagramCategory | None], Combination],
        tuple[dict[Diagram, sympy.Expr], int, int, DiagramCategory | None],
    ]:
        return (Combination._trusted, (dict(self._terms), self._dom, self._cod, self._category))

    # -- data --------------------------------------------------------------------------------
    @property
    def terms(self) -> dict[Diagram, sympy.Expr]:
        """A fresh dict diagram -> coefficient (nonzero coefficients only)."""
        return dict(self._terms)

    @property
    def dom(self) -> int:
        """k: the number of input points of every diagram."""
        return self._dom

    @property
    def cod(self) -> int:
        """l: the number of output points of every diagram."""
        return self._cod

    @property
    def category(self) -> DiagramCategory | None:
        """The category fixing the rules of ``then`` and ``tensor``, or None."""
        return self._category

    def coefficient(self, d: Diagram) -> sympy.Expr:
        """The coefficient of ``d`` (0 when absent)."""
        return self._terms.get(d, sympy.Integer(0))

    # -- linear structure --------------------------------------------------------------------
    def __add__(self, other: Combination | Diagram | int) -> Combination:
        if isinstance(other, int) and other == 0:
            return self
        other = self._coerce(other)
        merged = dict(self._terms)
        for d, c in other._terms.items():
            merged[d] = merged.get(d, 0) + c
        return Combination(merged, self._dom, self._cod, self._category or other._category)

    __radd__ = __add__

    def __neg__(self) -> Combination:
        return Combination._trusted({d: -c for d, c in self._terms.items()}, self._dom, self._cod, self._category)

    def __mul__(self, scalar: object) -> Combination:
        if isinstance(scalar, (Combination, Diagram)):
            return NotImplemented
        scalar = _normalise(scalar)
        return Combination({d: c * scalar for d, c in self._terms.items()}, self._dom, self._cod, self._category)

    __rmul__ = __mul__

    def subs(self, *args: object, **kwargs: object) -> Combination:
        """Substitute in the coefficients (and in the category's parameter), as sympy's ``subs``.

        >>> import sympy
        >>> from catlayer import BrauerCategory, BrauerDiagram
        >>> n = sympy.Symbol("n")
        >>> cap, cup = BrauerDiagram([[0, 1]], 0, 2), BrauerDiagram([[0, 1]], 2, 0)
        >>> BrauerCategory(-n).compose(cap, cup).subs(n, 4).terms
        {BrauerDiagram([], dom=0, cod=0): -4}
        """
        category = self._category.subs(*args, **kwargs) if self._category is not None else None
        return Combination(
            {d: sympy.sympify(c).subs(*args, **kwargs) for d, c in self._terms.items()},
            self._dom,
            self._cod,
            category,
        )

    # -- categorical structure ---------------------------------------------------------------
    def _category_with(self, other: Combination | Diagram) -> DiagramCategory:
        from .categories import natural_category

        category = self._category or getattr(other, "_category", None)
        if category is None:
            first = next(iter(self._terms), None)
            second = other if isinstance(other, Diagram) else next(iter(other._terms), None)
            if first is None or second is None:
                raise ValueError("cannot tell the category of an empty combination; use category.compose")
            category = natural_category(first, second)
        return category

    def then(self, other: Combination | Diagram) -> Combination:
        """ "self, then other", bilinearly, in the category of the combination."""
        return self._category_with(other).compose(self, other)

    def __rrshift__(self, other: Diagram) -> Combination:
        if not isinstance(other, Diagram):
            return NotImplemented
        return self._category_with(other).compose(other, self)

    def tensor(self, other: Combination | Diagram) -> Combination:
        """Bilinear tensor product in the category of the combination."""
        return self._category_with(other).tensor(self, other)

    def __rmatmul__(self, other: Diagram) -> Combination:
        if not isinstance(other, Diagram):
            return NotImplemented
        return self._category_with(other).tensor(other, self)

    # -- equality and printing ---------------------------------------------------------------
    def __str__(self) -> str:
        if not self._terms:
            return f"0 : {self._dom} → {self._cod}"
        parts = []
        for d, c in self._sorted_terms():
            blocks = str(d).rsplit(" : ", 1)[0]
            coefficient = "" if c == 1 else "-" if c == -1 else f"({c})·"
            parts.append(f"{coefficient}[{blocks}]")
        return " + ".join(parts).replace("+ -", "- ") + f" : {self._dom} → {self._cod}"
