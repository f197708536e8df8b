"""Hypothesis strategies for diagrams, morphisms of the diagram categories and combinations.

Everything is drawn from hypothesis (set partitions as restricted growth strings, matchings and
permutations by successive drawn choices), so failing examples shrink towards small, simple
diagrams: one block, adjacent pairs, the identity permutation.

>>> from hypothesis import find
>>> from catlayer.testing.strategies import partition_diagrams
>>> find(partition_diagrams(dom=2, cod=1), lambda d: len(d.blocks) == 3)
PartitionDiagram([[0], [1], [2]], dom=2, cod=1)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy
from hypothesis import strategies as st

from ..diagrams.categories import BrauerCategory, BrauerGroodCategory, DiagramCategory
from ..diagrams.combination import Combination
from ..diagrams.diagram import BrauerDiagram, BrauerGroodDiagram, Diagram, PartitionDiagram

__all__ = [
    "bg_morphisms",
    "brauer_diagrams",
    "brauer_grood_diagrams",
    "coefficients",
    "combinations",
    "composable_pairs",
    "composable_triples",
    "morphisms",
    "objects",
    "partition_diagrams",
    "perfect_matchings",
    "permutation_diagrams",
    "permutations",
    "set_partitions",
]


def _check_size(value: object, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be None or an int >= 0, got {value!r}")


@st.composite
def set_partitions(draw: st.DrawFn, size: int) -> tuple[int, ...]:
    """A set partition of ``range(size)`` as a restricted growth string (label of each
    element; labels appear in increasing order of first use). Shrinks to one block.

    >>> from hypothesis import find
    >>> find(set_partitions(4), lambda labels: len(set(labels)) == 4)
    (0, 1, 2, 3)
    """
    labels: list[int] = []
    top = -1
    for _ in range(size):
        label = draw(st.integers(0, top + 1))
        top = max(top, label)
        labels.append(label)
    return tuple(labels)


def perfect_matchings(vertices: Sequence[int]) -> st.SearchStrategy[tuple[tuple[int, int], ...]]:
    """A perfect matching of ``vertices`` (even length): the smallest unmatched vertex is
    paired with a drawn one of the rest. Shrinks to neighbours paired.

    >>> from hypothesis import find
    >>> find(perfect_matchings([3, 1, 2, 0]), lambda pairs: True)
    ((0, 1), (2, 3))
    """
    ordered = tuple(sorted(vertices))
    if len(ordered) % 2:
        raise ValueError(f"{len(ordered)} vertices cannot be perfectly matched")
    return _matchings(ordered)


@st.composite
def _matchings(draw: st.DrawFn, vertices: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    rest = list(vertices)
    pairs: list[tuple[int, int]] = []
    while rest:
        first = rest.pop(0)
        partner = rest.pop(draw(st.integers(0, len(rest) - 1)))
        pairs.append((first, partner))
    return tuple(pairs)


@st.composite
def permutations(draw: st.DrawFn, k: int) -> tuple[int, ...]:
    """A permutation of ``range(k)`` drawn as a Lehmer code. Shrinks to the identity.

    >>> from hypothesis import find
    >>> find(permutations(4), lambda p: p[0] == 3)
    (3, 0, 1, 2)
    """
    rest = list(range(k))
    return tuple(rest.pop(draw(st.integers(0, len(rest) - 1))) for _ in range(k))


def permutation_diagrams(k: int, kind: type[Diagram] = PartitionDiagram) -> st.SearchStrategy[Diagram]:
    """Permutation diagrams on k points of the given kind.

    >>> from hypothesis import find
    >>> find(permutation_diagrams(3, kind=BrauerDiagram), lambda d: not d.is_planar())
    BrauerDiagram([[0, 3], [1, 5], [2, 4]], dom=3, cod=3)
    """
    return permutations(k).map(kind.permutation)


def _shape(
    dom: int | None, cod: int | None, max_size: int, allowed: Callable[[int], bool]
) -> st.SearchStrategy[tuple[int, int]]:
    """Shapes (k, l) with ``allowed(k + l)``; fixed parts are validated at once."""
    _check_size(dom, "dom")
    _check_size(cod, "cod")
    if dom is not None and cod is not None:
        if not allowed(dom + cod):
            raise ValueError(f"there are no diagrams of this kind with dom={dom}, cod={cod}")
        return st.just((dom, cod))
    fixed = dom if dom is not None else cod if cod is not None else 0
    totals = [t for t in range(fixed, max(max_size, fixed) + 1) if allowed(t)]
    if not totals:
        raise ValueError(f"no shape with at most {max_size} vertices has diagrams of this kind")
    if dom is not None:
        return st.sampled_from(totals).map(lambda t: (dom, t - dom))
    if cod is not None:
        return st.sampled_from(totals).map(lambda t: (t - cod, cod))
    return st.sampled_from(totals).flatmap(lambda t: st.integers(0, t).map(lambda k: (k, t - k)))


def partition_diagrams(dom: int | None = None, cod: int | None = None, max_size: int = 6) -> st.SearchStrategy[Diagram]:
    """Partition diagrams with the given (or drawn, at most ``max_size`` vertices) k = dom and
    l = cod.

    >>> from hypothesis import find
    >>> find(partition_diagrams(max_size=4), lambda d: d.size == 4)
    PartitionDiagram([[0, 1, 2, 3]], dom=0, cod=4)
    """

    return _partition_diagram(_shape(dom, cod, max_size, lambda t: True))


# The drawing functions are module-level composites: hypothesis inspects a composite's source
# when it is defined, which costs milliseconds, so none is defined per call.
@st.composite
def _partition_diagram(draw: st.DrawFn, shapes: st.SearchStrategy[tuple[int, int]]) -> Diagram:
    k, l = draw(shapes)
    return PartitionDiagram._from_labels(draw(set_partitions(k + l)), k, l)


def brauer_diagrams(dom: int | None = None, cod: int | None = None, max_size: int = 6) -> st.SearchStrategy[Diagram]:
    """Brauer diagrams (all blocks pairs; dom + cod even) with given or drawn shape.

    >>> from hypothesis import find
    >>> find(brauer_diagrams(dom=3), lambda d: d.cod == 3)
    BrauerDiagram([[0, 1], [2, 3], [4, 5]], dom=3, cod=3)
    """

    return _brauer_diagram(_shape(dom, cod, max_size, lambda t: t % 2 == 0))


@st.composite
def _brauer_diagram(draw: st.DrawFn, shapes: st.SearchStrategy[tuple[int, int]]) -> Diagram:
    k, l = draw(shapes)
    pairs = draw(perfect_matchings(range(k + l)))
    return BrauerDiagram._from_canonical(tuple(sorted(pairs)), k, l)


def _free_allowed(n: int) -> Callable[[int], bool]:
    return lambda t: t >= n and (t - n) % 2 == 0


@st.composite
def _n_diagram(draw: st.DrawFn, n: int, k: int, l: int) -> Diagram:
    rest = list(range(k + l))
    free = sorted(rest.pop(draw(st.integers(0, len(rest) - 1))) for _ in range(n))
    pairs = draw(perfect_matchings(rest))
    return BrauerGroodDiagram._from_canonical(tuple(sorted([(v,) for v in free] + list(pairs))), k, l)


def brauer_grood_diagrams(
    n: int, dom: int | None = None, cod: int | None = None, max_size: int = 6
) -> st.SearchStrategy[Diagram]:
    """(l+k)\\n-diagrams: exactly n free vertices, all other blocks pairs.

    >>> from hypothesis import find
    >>> find(brauer_grood_diagrams(3, dom=2, cod=1), lambda d: True)
    BrauerGroodDiagram([[0], [1], [2]], dom=2, cod=1)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")

    return _brauer_grood_diagram(n, _shape(dom, cod, max(max_size, n), _free_allowed(n)))


@st.composite
def _brauer_grood_diagram(draw: st.DrawFn, n: int, shapes: st.SearchStrategy[tuple[int, int]]) -> Diagram:
    k, l = draw(shapes)
    return draw(_n_diagram(n, k, l))


def bg_morphisms(
    n: int, dom: int | None = None, cod: int | None = None, max_size: int = 6
) -> st.SearchStrategy[Diagram]:
    """Diagrams of BG(n): a Brauer diagram or an n-diagram, whichever exist for the shape.

    >>> from hypothesis import find
    >>> find(bg_morphisms(2, dom=1, cod=1), lambda d: d.free_vertices)
    BrauerGroodDiagram([[0], [1]], dom=1, cod=1)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    free_ok = _free_allowed(n)

    return _bg_morphism(n, _shape(dom, cod, max(max_size, n), lambda t: t % 2 == 0 or free_ok(t)))


@st.composite
def _bg_morphism(draw: st.DrawFn, n: int, shapes: st.SearchStrategy[tuple[int, int]]) -> Diagram:
    k, l = draw(shapes)
    free_ok = _free_allowed(n)
    kinds = [kind for kind, ok in (("brauer", (k + l) % 2 == 0), ("free", free_ok(k + l))) if ok]
    if draw(st.sampled_from(kinds)) == "brauer":
        pairs = draw(perfect_matchings(range(k + l)))
        return BrauerDiagram._from_canonical(tuple(sorted(pairs)), k, l)
    return draw(_n_diagram(n, k, l))


def morphisms(
    category: DiagramCategory, dom: int | None = None, cod: int | None = None, max_size: int = 6
) -> st.SearchStrategy[Diagram]:
    """Diagrams of ``category`` (partition, Brauer or Brauer–Grood) with given or drawn shape.

    >>> from hypothesis import find
    >>> from catlayer import BrauerCategory
    >>> find(morphisms(BrauerCategory(2), dom=2, cod=2), lambda d: d.crossings() > 0)
    BrauerDiagram([[0, 3], [1, 2]], dom=2, cod=2)
    """
    if isinstance(category, BrauerGroodCategory):
        return bg_morphisms(category.n, dom, cod, max_size)
    if isinstance(category, BrauerCategory):
        return brauer_diagrams(dom, cod, max_size)
    if isinstance(category, DiagramCategory):
        return partition_diagrams(dom, cod, max_size)
    raise TypeError(f"expected a diagram category, got {type(category).__name__}")


def _has_hom(category: DiagramCategory, k: int, l: int) -> bool:
    return category.empty_reason(k, l) is None


def objects(category: DiagramCategory, count: int, max_points: int = 3) -> st.SearchStrategy[tuple[int, ...]]:
    """``count`` objects (k_0, …, k_{count−1}), each at most ``max_points``, such that every
    consecutive hom space of ``category`` is non-empty. Shrinks towards small objects.

    >>> from hypothesis import find
    >>> from catlayer import BrauerCategory
    >>> find(objects(BrauerCategory(2), 3), lambda chain: chain[-1] == 3)
    (1, 1, 3)
    """
    return _chain(category, count, max_points)


@st.composite
def _chain(draw: st.DrawFn, category: DiagramCategory, count: int, max_points: int) -> tuple[int, ...]:
    chain = [draw(st.integers(0, max_points))]
    for _ in range(count - 1):
        options = [m for m in range(max_points + 1) if _has_hom(category, chain[-1], m)]
        chain.append(draw(st.sampled_from(options)))
    return tuple(chain)


def composable_pairs(category: DiagramCategory, max_points: int = 3) -> st.SearchStrategy[tuple[Diagram, Diagram]]:
    """Pairs (f, g) of diagrams of ``category`` with f: k → l, g: l → m (so "f, then g" is
    defined), all of k, l, m at most ``max_points``.

    >>> from hypothesis import find
    >>> from catlayer import PartitionCategory
    >>> find(composable_pairs(PartitionCategory(2)), lambda fg: fg[0].cod == 2)
    (PartitionDiagram([[0, 1]], dom=0, cod=2), PartitionDiagram([[0, 1]], dom=2, cod=0))
    """
    return _composable_pair(category, max_points)


@st.composite
def _composable_pair(draw: st.DrawFn, category: DiagramCategory, max_points: int) -> tuple[Diagram, Diagram]:
    k, l, m = draw(objects(category, 3, max_points))
    return draw(morphisms(category, k, l)), draw(morphisms(category, l, m))


def composable_triples(
    category: DiagramCategory, max_points: int = 3
) -> st.SearchStrategy[tuple[Diagram, Diagram, Diagram]]:
    """Triples (f, g, h) with f: k → l, g: l → m, h: m → p, all objects at most
    ``max_points`` (up to 3+3+3+3 vertices by default).

    >>> from hypothesis import find
    >>> from catlayer import BrauerGroodCategory
    >>> f, g, h = find(composable_triples(BrauerGroodCategory(3)), lambda t: t[1].free_vertices)
    >>> g.blocks, f.cod == g.dom and g.cod == h.dom
    (((0,), (1,), (2,)), True)
    """
    return _composable_triple(category, max_points)


@st.composite
def _composable_triple(draw: st.DrawFn, category: DiagramCategory, max_points: int) -> tuple[Diagram, Diagram, Diagram]:
    k, l, m, p = draw(objects(category, 4, max_points))
    return (
        draw(morphisms(category, k, l)),
        draw(morphisms(category, l, m)),
        draw(morphisms(category, m, p)),
    )


def coefficients(symbols: Sequence[sympy.Symbol] = (), bound: int = 3) -> st.SearchStrategy[sympy.Expr]:
    """Small exact coefficients: integers in [−bound, bound], small rationals, and (when
    ``symbols`` are given) integer affine expressions in them. Shrinks to 0.

    >>> from hypothesis import find
    >>> find(coefficients([sympy.Symbol("n")]), lambda c: c.free_symbols)
    n
    """
    small = st.integers(-bound, bound)
    options: list[st.SearchStrategy[sympy.Expr]] = [
        small.map(sympy.Integer),
        st.tuples(small, st.integers(1, bound)).map(lambda pq: sympy.Rational(*pq)),
    ]
    if symbols:
        options.append(st.tuples(small, st.sampled_from(tuple(symbols)), small).map(lambda t: t[0] * t[1] + t[2]))
    return st.one_of(*options)


def combinations(
    category: DiagramCategory,
    dom: int | None = None,
    cod: int | None = None,
    max_terms: int = 3,
    symbols: Sequence[sympy.Symbol] = (),
    max_size: int = 4,
) -> st.SearchStrategy[Combination]:
    """Combinations of diagrams of ``category`` with small exact coefficients (see
    :func:`coefficients`); the shape is drawn (at most ``max_size`` vertices) unless given.

    >>> from hypothesis import find
    >>> from catlayer import PartitionCategory
    >>> print(find(combinations(PartitionCategory(3), dom=1, cod=1), lambda c: len(c) == 2))
    [{1} {1'}] + [{1,1'}] : 1 → 1
    """
    return _combination(category, dom, cod, max_terms, tuple(symbols), max_size)


@st.composite
def _combination(
    draw: st.DrawFn,
    category: DiagramCategory,
    dom: int | None,
    cod: int | None,
    max_terms: int,
    symbols: tuple[sympy.Symbol, ...],
    max_size: int,
) -> Combination:
    if dom is None or cod is None:
        d = draw(morphisms(category, dom, cod, max_size))
        k, l = d.dom, d.cod
    else:
        k, l = dom, cod
    terms = draw(st.lists(st.tuples(morphisms(category, k, l), coefficients(symbols)), max_size=max_terms))
    return Combination(dict(terms), k, l, category)
