"""Diagrams: set partitions of the vertices of a two-row picture.

A (k, l)-diagram has a top row of l vertices (the outputs, numbered ``0..l-1``) and a bottom
row of k vertices (the inputs, numbered ``l..l+k-1``); see docs/conventions.md §1. A diagram does not
know n: that belongs to the category or the functor it is used with.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence, Sized
from itertools import pairwise
from typing import TYPE_CHECKING, ClassVar, NoReturn

from .validation import check_diagram_size, check_order, short_repr

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure
    from typing_extensions import Self

    from .combination import Combination

__all__ = [
    "BrauerDiagram",
    "BrauerGroodDiagram",
    "Diagram",
    "PartitionDiagram",
    "blocks_cross",
    "boundary_position",
]

#: Canonical blocks: sorted tuples of vertices, themselves in sorted order.
Blocks = tuple[tuple[int, ...], ...]


def boundary_position(vertex: int, cod: int, dom: int) -> int:
    """Position of ``vertex`` when walking the top row left to right, then the bottom row
    right to left (docs/conventions.md §1). Used to decide whether two blocks cross.

    >>> [boundary_position(v, cod=2, dom=3) for v in range(5)]
    [0, 1, 4, 3, 2]
    """
    cod, dom = check_order(cod, "cod"), check_order(dom, "dom")
    _check_vertex(vertex, cod + dom)
    return _boundary_position(vertex, cod, dom)


def _boundary_position(vertex: int, cod: int, dom: int) -> int:
    if vertex < cod:
        return vertex
    return cod + (dom - 1 - (vertex - cod))


def _check_vertex(vertex: object, size: int) -> None:
    if isinstance(vertex, bool) or not isinstance(vertex, int):
        raise TypeError(f"vertex {short_repr(vertex)} is not an int")
    if not 0 <= vertex < size:
        raise ValueError(f"vertex {short_repr(vertex)} is out of range: the diagram has vertices 0..{size - 1}")


def blocks_cross(first: Sequence[int], second: Sequence[int], cod: int, dom: int) -> bool:
    """True when the two blocks interleave on the boundary (positions p<q<r<s with p, r in
    one block and q, s in the other).

    >>> blocks_cross((0, 3), (1, 2), cod=2, dom=2)   # two propagating lines that swap
    True
    >>> blocks_cross((0, 2), (1, 3), cod=2, dom=2)   # identity: parallel lines
    False
    """
    cod, dom = check_order(cod, "cod"), check_order(dom, "dom")
    for block in (first, second):
        if isinstance(block, (str, bytes)) or not isinstance(block, Iterable):
            raise TypeError(f"a block is an iterable of int vertices, got {short_repr(block)}")
    first, second = tuple(first), tuple(second)
    for v in first + second:
        _check_vertex(v, cod + dom)
    return _blocks_cross(first, second, cod, dom)


def _blocks_cross(first: Sequence[int], second: Sequence[int], cod: int, dom: int) -> bool:
    marks = sorted(
        [(_boundary_position(v, cod, dom), 0) for v in first] + [(_boundary_position(v, cod, dom), 1) for v in second]
    )
    # The blocks cross iff the boundary word, with runs collapsed, alternates 4+ times.
    changes = sum(1 for a, b in pairwise(marks) if a[1] != b[1])
    return changes >= 3


def _missing_message(seen: dict[int, int], size: int, shown: int = 8) -> str:
    """Name the first few vertices missing from ``seen`` (the scan stops after ``shown`` of
    them, so its cost is bounded by the number of vertices given, not by ``size``)."""
    missing: list[int] = []
    for v in range(size):
        if v not in seen:
            missing.append(v)
            if len(missing) == shown:
                break
    total = size - len(seen)
    listed = ", ".join(map(str, missing)) + (f", ... ({total} in all)" if total > len(missing) else "")
    return f"vertices [{listed}] are missing: every vertex 0..{size - 1} must be in a block"


def _canonical_from_labels(labels: Sequence[int]) -> Blocks:
    groups: dict[int, list[int]] = {}
    for vertex, label in enumerate(labels):
        groups.setdefault(label, []).append(vertex)
    return tuple(tuple(g) for g in groups.values())


class Diagram:
    """A set partition of the ``cod + dom`` vertices of a (dom, cod)-diagram.

    Use one of the concrete kinds: :class:`PartitionDiagram`, :class:`BrauerDiagram` or
    :class:`BrauerGroodDiagram`. Equality and hashing are structural: two diagrams are equal
    when they have the same rows and the same blocks, whatever their kind (a Brauer diagram
    *is* a partition diagram).

    >>> d = PartitionDiagram([[0, 3], [1, 2]], dom=2, cod=2)    # output 1 ↔ input 2, output 2 ↔ input 1
    >>> isinstance(d, Diagram), d.dom, d.cod, d.blocks
    (True, 2, 2, ((0, 3), (1, 2)))
    >>> print(d)
    {1,2'} {2,1'} : 2 → 2
    >>> d == BrauerDiagram([[0, 3], [1, 2]], dom=2, cod=2)
    True
    """

    __slots__ = ("_blocks", "_cod", "_dom", "_hash", "_labels")
    _blocks: Blocks
    _cod: int
    _dom: int
    _hash: int
    _labels: tuple[int, ...]
    _kind_name: ClassVar[str] = "Diagram"

    def __init__(self, blocks: Iterable[Iterable[int]], dom: int, cod: int) -> None:
        dom = check_order(dom, "dom (the number of bottom vertices)")
        cod = check_order(cod, "cod (the number of top vertices)")
        size = dom + cod
        check_diagram_size(size, f"a ({short_repr(dom)}, {short_repr(cod)})-diagram")
        if isinstance(blocks, (str, bytes)) or not isinstance(blocks, Iterable):
            raise TypeError(
                f"blocks must be an iterable of blocks (each an iterable of int vertices), got {short_repr(blocks)}"
            )
        cleaned: list[tuple[int, ...]] = []
        seen: dict[int, int] = {}
        for index, block in enumerate(blocks):
            if isinstance(block, (str, bytes)) or not isinstance(block, Iterable):
                raise TypeError(f"block {index} is {short_repr(block)}: each block must be an iterable of int vertices")
            block = tuple(block)
            if not block:
                raise ValueError(f"block {index} is empty: every block needs at least one vertex")
            for v in block:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise TypeError(f"vertex {short_repr(v)} in block {index} is not an int")
                if not 0 <= v < size:
                    raise ValueError(
                        f"vertex {short_repr(v)} in block {index} is out of range: a ({dom}, {cod})-diagram has "
                        f"vertices 0..{size - 1} (top 0..{cod - 1}, bottom {cod}..{size - 1})"
                    )
                if v in seen:
                    raise ValueError(
                        f"vertex {v} is repeated (in blocks {seen[v]} and {index})"
                        if seen[v] != index
                        else f"vertex {v} is repeated in block {index}"
                    )
                seen[v] = index
            cleaned.append(tuple(sorted(block)))
        if len(seen) != size:
            raise ValueError(_missing_message(seen, size))
        self._check_kind(cleaned, dom, cod)
        self._set(tuple(sorted(cleaned)), dom, cod)

    def _check_kind(self, blocks: list[tuple[int, ...]], dom: int, cod: int) -> None:
        """Subclasses reject blocks of the wrong size."""

    def _set(self, blocks: Blocks, dom: int, cod: int) -> None:
        object.__setattr__(self, "_blocks", blocks)
        object.__setattr__(self, "_dom", dom)
        object.__setattr__(self, "_cod", cod)
        labels = [0] * (dom + cod)
        for index, block in enumerate(blocks):
            for v in block:
                labels[v] = index
        object.__setattr__(self, "_labels", tuple(labels))
        object.__setattr__(self, "_hash", hash((dom, cod, blocks)))

    @classmethod
    def _from_canonical(cls, blocks: Blocks, dom: int, cod: int) -> Self:
        """Build from blocks already in canonical form, skipping validation (internal)."""
        self = object.__new__(cls)
        self._set(blocks, dom, cod)
        return self

    @classmethod
    def _from_labels(cls, labels: Sequence[int], dom: int, cod: int) -> Self:
        """Build from a block label per vertex (internal, no validation)."""
        return cls._from_canonical(_canonical_from_labels(labels), dom, cod)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> tuple[Callable[[Blocks, int, int], Self], tuple[Blocks, int, int]]:
        return (type(self)._from_canonical, (self._blocks, self._dom, self._cod))

    # -- basic data ------------------------------------------------------------------------
    @property
    def dom(self) -> int:
        """k: the number of bottom (input) vertices."""
        return self._dom

    @property
    def cod(self) -> int:
        """l: the number of top (output) vertices."""
        return self._cod

    @property
    def blocks(self) -> Blocks:
        """The blocks, each a sorted tuple, in canonical (sorted) order."""
        return self._blocks

    @property
    def labels(self) -> tuple[int, ...]:
        """``labels[v]`` is the index in :attr:`blocks` of the block holding vertex ``v``."""
        return self._labels

    @property
    def size(self) -> int:
        """Number of vertices, l + k."""
        return self._dom + self._cod

    def is_top(self, vertex: int) -> bool:
        """True for a top (output) vertex, 0..l−1."""
        _check_vertex(vertex, self.size)
        return vertex < self._cod

    def top_only_blocks(self) -> Blocks:
        """Blocks lying entirely in the top row."""
        return tuple(b for b in self._blocks if b[-1] < self._cod)

    def bottom_only_blocks(self) -> Blocks:
        """Blocks lying entirely in the bottom row."""
        return tuple(b for b in self._blocks if b[0] >= self._cod)

    def propagating_blocks(self) -> Blocks:
        """Blocks meeting both rows."""
        return tuple(b for b in self._blocks if b[0] < self._cod <= b[-1])

    @property
    def free_vertices(self) -> tuple[int, ...]:
        """The singleton blocks' vertices, in vertex-number order."""
        return tuple(b[0] for b in self._blocks if len(b) == 1)

    def is_planar(self) -> bool:
        """True when no two blocks cross (docs/conventions.md §1).

        >>> PartitionDiagram([[0, 3], [1, 2]], dom=2, cod=2).is_planar()
        False
        """
        blocks = self._blocks
        return not any(_blocks_cross(a, b, self._cod, self._dom) for i, a in enumerate(blocks) for b in blocks[i + 1 :])

    def is_permutation(self) -> bool:
        """True for a permutation diagram: every block one top and one bottom vertex."""
        return self._dom == self._cod and all(len(b) == 2 and b[0] < self._cod <= b[1] for b in self._blocks)

    def crossings(self) -> int:
        """Number of unordered pairs of blocks that cross."""
        blocks = self._blocks
        return sum(_blocks_cross(a, b, self._cod, self._dom) for i, a in enumerate(blocks) for b in blocks[i + 1 :])

    # -- structural operations (no scalars involved) --------------------------------------
    def dagger(self) -> Self:
        """Flip top and bottom rows: a (k, l)-diagram becomes an (l, k)-diagram.

        >>> PartitionDiagram([[0, 1, 2]], dom=2, cod=1).dagger()
        PartitionDiagram([[0, 1, 2]], dom=1, cod=2)
        """
        k, l = self._dom, self._cod

        def move(v: int) -> int:
            return v + k if v < l else v - l

        blocks = tuple(sorted(tuple(sorted(move(v) for v in b)) for b in self._blocks))
        return type(self)._from_canonical(blocks, l, k)

    def tensor(self, other: Diagram) -> Diagram:
        """Place ``other`` to the right of ``self`` (docs/conventions.md §2.1). No scalar arises.

        The kind of the result is the more general of the two kinds.

        >>> PartitionDiagram([[0, 1]], 1, 1) @ PartitionDiagram([[0], [1]], 1, 1)
        PartitionDiagram([[0, 2], [1], [3]], dom=2, cod=2)
        """
        if not isinstance(other, Diagram):
            return NotImplemented
        l1, k1, l2 = self._cod, self._dom, other._cod
        top = l1 + l2

        def left(v: int) -> int:
            return v if v < l1 else top + (v - l1)

        def right(v: int) -> int:
            return l1 + v if v < l2 else top + k1 + (v - l2)

        blocks = [tuple(left(v) for v in b) for b in self._blocks]
        blocks += [tuple(right(v) for v in b) for b in other._blocks]
        return _join_kind(self, other)._from_canonical(tuple(sorted(blocks)), k1 + other._dom, top)

    __matmul__ = tensor

    def then(self, other: Diagram) -> Combination:
        """ "self, then other" in the natural category of the pair, with a symbolic parameter
        where the category needs one (``n`` for partition and Brauer diagrams; Brauer–Grood
        diagrams with free vertices use n = their number of free vertices). Returns a
        :class:`~catlayer.diagrams.combination.Combination`.

        >>> cup = BrauerDiagram([[0, 1]], dom=2, cod=0)
        >>> cap = BrauerDiagram([[0, 1]], dom=0, cod=2)
        >>> cap >> cup
        Combination({BrauerDiagram([], dom=0, cod=0): n}, dom=0, cod=0, category=BrauerCategory(n))
        """
        from .categories import natural_category

        return natural_category(self, other).compose(self, other)

    def __rshift__(self, other: Diagram) -> Combination:
        if not isinstance(other, Diagram):
            return NotImplemented
        return self.then(other)

    # -- printing --------------------------------------------------------------------------
    def __repr__(self) -> str:
        blocks = ", ".join("[" + ", ".join(map(str, b)) + "]" for b in self._blocks)
        return f"{self._kind_name}([{blocks}], dom={self._dom}, cod={self._cod})"

    def vertex_name(self, vertex: int) -> str:
        """Blackboard name: top vertices 1..l, bottom vertices 1'..k'.

        >>> PartitionDiagram([[0, 1]], dom=1, cod=1).vertex_name(1)
        "1'"
        """
        _check_vertex(vertex, self.size)
        if vertex < self._cod:
            return str(vertex + 1)
        return f"{vertex - self._cod + 1}'"

    def __str__(self) -> str:
        blocks = " ".join("{" + ",".join(self.vertex_name(v) for v in b) + "}" for b in self._blocks)
        return f"{blocks} : {self._dom} → {self._cod}" if blocks else f"∅ : {self._dom} → {self._cod}"

    def draw_ascii(self) -> str:
        """A two-row ASCII picture: top vertices above, bottom vertices below, each vertex
        marked by the letter of its block.

        >>> print(PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3).draw_ascii())
        top    : a b c
        bottom : c d a d c
        blocks : a={1,3'} b={2} c={3,1',5'} d={2',4'}
        """
        from .drawing import draw_ascii

        return draw_ascii(self)

    def draw(self, path: str | os.PathLike[str] | None = None, ax: Axes | None = None) -> Figure | SubFigure:
        """Draw with matplotlib (optional dependency ``catlayer[draw]``); save to ``path``
        (PNG or SVG, chosen by the suffix) when given. Returns the matplotlib figure."""
        from .drawing import draw

        return draw(self, path=path, ax=ax)

    # -- equality ----------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diagram):
            return NotImplemented
        return (
            self._hash == other._hash
            and self._dom == other._dom
            and self._cod == other._cod
            and self._blocks == other._blocks
        )

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: Diagram) -> bool:
        """A total order (by dom, cod, blocks) so that lists of diagrams sort reproducibly."""
        if not isinstance(other, Diagram):
            return NotImplemented
        return (self._dom, self._cod, self._blocks) < (other._dom, other._cod, other._blocks)

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def identity(cls, k: int) -> Self:
        """The identity on k points.

        >>> PartitionDiagram.identity(2)
        PartitionDiagram([[0, 2], [1, 3]], dom=2, cod=2)
        """
        k = check_order(k, "k")
        check_diagram_size(2 * k, f"the identity on {short_repr(k)} points")
        return cls._from_canonical(tuple((j, k + j) for j in range(k)), k, k)

    @classmethod
    def permutation(cls, p: Sequence[int]) -> Self:
        """The permutation diagram of ``p`` in S_k: blocks {p[j], k+j}; its matrix sends input
        axis j to output axis p[j] (docs/conventions.md §1).

        >>> PartitionDiagram.permutation([1, 0])
        PartitionDiagram([[0, 3], [1, 2]], dom=2, cod=2)
        """
        if isinstance(p, (str, bytes)) or not isinstance(p, Iterable):
            raise TypeError(f"a permutation is a sequence of ints, got {short_repr(p)}")
        if isinstance(p, Sized):
            check_diagram_size(2 * len(p), f"a permutation diagram on {len(p)} points")
        p = tuple(p)
        k = len(p)
        check_diagram_size(2 * k, f"a permutation diagram on {k} points")
        for x in p:
            if isinstance(x, bool) or not isinstance(x, int):
                raise TypeError(f"a permutation is a sequence of ints; {short_repr(x)} is not an int")
        if sorted(p) != list(range(k)):
            raise ValueError(f"{short_repr(p)} is not a permutation of 0..{k - 1}")
        return cls._from_canonical(tuple(sorted((p[j], k + j) for j in range(k))), k, k)

    @classmethod
    def swap(cls, a: int = 1, b: int = 1) -> Self:
        """The symmetric braiding a ⊗ b → b ⊗ a: the first a strands cross over the last b.

        >>> PartitionDiagram.swap()
        PartitionDiagram([[0, 3], [1, 2]], dom=2, cod=2)
        """
        a, b = check_order(a, "a"), check_order(b, "b")
        check_diagram_size(2 * (a + b), f"the swap of {short_repr(a)} and {short_repr(b)} points")
        return cls.permutation(tuple(list(range(b, a + b)) + list(range(b))))

    def permutation_of(self) -> tuple[int, ...]:
        """For a permutation diagram, the p with blocks {p[j], k+j}."""
        if not self.is_permutation():
            raise ValueError(f"{short_repr(self)} is not a permutation diagram")
        k = self._dom
        p = [0] * k
        for top, bottom in self._blocks:
            p[bottom - k] = top
        return tuple(p)


def _join_kind(a: Diagram, b: Diagram) -> type[Diagram]:
    order = (BrauerDiagram, BrauerGroodDiagram, PartitionDiagram)
    ta, tb = type(a), type(b)
    if ta is tb:
        return ta
    for kind in reversed(order):
        if issubclass(ta, kind) or issubclass(tb, kind):
            return kind
    return PartitionDiagram


class PartitionDiagram(Diagram):
    """Any set partition of the vertices: a morphism of the partition category P(n).

    >>> d = PartitionDiagram([[0, 2], [1], [3]], dom=2, cod=2)
    >>> d.blocks
    ((0, 2), (1,), (3,))
    >>> str(d)
    "{1,1'} {2} {2'} : 2 → 2"
    """

    __slots__ = ()
    _kind_name: ClassVar[str] = "PartitionDiagram"


class BrauerDiagram(Diagram):
    """A set partition into pairs: a morphism of the Brauer category B(δ).

    >>> BrauerDiagram([[0, 1], [2, 3]], dom=2, cod=2).top_only_blocks()
    ((0, 1),)
    >>> BrauerDiagram([[0, 1, 2]], dom=2, cod=1)
    Traceback (most recent call last):
    ...
    ValueError: block (0, 1, 2) has 3 vertices: every block of a Brauer diagram is a pair
    """

    __slots__ = ()
    _kind_name: ClassVar[str] = "BrauerDiagram"

    def _check_kind(self, blocks: list[tuple[int, ...]], dom: int, cod: int) -> None:
        for b in blocks:
            if len(b) != 2:
                raise ValueError(f"block {b} has {len(b)} vertices: every block of a Brauer diagram is a pair")


class BrauerGroodDiagram(Diagram):
    """A set partition into pairs and free vertices (singletons): with exactly n free vertices
    it is an (l+k)\\n-diagram of the Brauer–Grood category BG(n) (docs/conventions.md §3.4).

    >>> d = BrauerGroodDiagram([[0], [1], [2]], dom=1, cod=2)
    >>> d.free_vertices
    (0, 1, 2)
    """

    __slots__ = ()
    _kind_name: ClassVar[str] = "BrauerGroodDiagram"

    def _check_kind(self, blocks: list[tuple[int, ...]], dom: int, cod: int) -> None:
        for b in blocks:
            if len(b) > 2:
                raise ValueError(
                    f"block {b} has {len(b)} vertices: a Brauer–Grood diagram has only pairs and "
                    "free vertices (singletons)"
                )
