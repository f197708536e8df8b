"""Morphisms of a product of diagram categories: one diagram per factor, side by side.

The product C × D of two categories has pairs of objects and pairs of morphisms, composed and
tensored componentwise; for G × H acting on V^{⊗a} ⊗ W^{⊗b}, Hom_{G×H} is spanned by the images
of pairs (d, e) of a diagram of G's category and one of H's (docs/conventions.md §10).

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
"""

from __future__ import annotations

from collections.abc import Iterator

from .diagram import Diagram
from .validation import short_repr

__all__ = ["ProductDiagram"]


class ProductDiagram:
    """A tuple of diagrams, one per factor of a product of diagram categories (at least two).

    Its domain and codomain are the tuples of the factors' (the orders of a product group's
    features); equality, hashing and ordering are those of the tuple, so it is a value.
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
