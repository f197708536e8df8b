"""Planar factorisation d = σ_l ∘ planar ∘ σ_k (docs/conventions.md §6) and the tensor decomposition of
the planar middle into elementary one-block diagrams (the paper's Figure 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from .diagram import Diagram
from .validation import short_repr

__all__ = ["Factorisation", "Split", "factorise", "split"]


@dataclass(frozen=True)
class Factorisation:
    """``d = input_permutation, then planar, then output_permutation``, with no loops.

    Index tables (all 0-based tuples of ints):

    * ``bottom_order[a]``: the original input axis at planar bottom position a;
    * ``top_order[a]``: the original top vertex at planar top position a;
    * ``pos_bottom`` / ``pos_top``: their inverses.

    ``elementary`` lists one single-block diagram per block of ``planar``, left to right, whose
    tensor product is ``planar``: top-only blocks, then propagating blocks, then bottom-only
    blocks.

    >>> from catlayer import PartitionDiagram
    >>> f = factorise(PartitionDiagram([[0, 3], [1, 2]], dom=2, cod=2))   # the swap
    >>> print(f.input_permutation, "|", f.planar, "|", f.output_permutation)
    {1,2'} {2,1'} : 2 → 2 | {1,1'} {2,2'} : 2 → 2 | {1,1'} {2,2'} : 2 → 2
    >>> f.bottom_order, f.top_order, len(f.elementary)
    ((1, 0), (0, 1), 2)
    """

    diagram: Diagram
    input_permutation: Diagram
    planar: Diagram
    output_permutation: Diagram
    top_order: tuple[int, ...]
    bottom_order: tuple[int, ...]
    pos_top: tuple[int, ...]
    pos_bottom: tuple[int, ...]
    elementary: tuple[Diagram, ...]

    @property
    def num_top_only(self) -> int:
        return sum(1 for e in self.elementary if e.dom == 0)

    @property
    def num_propagating(self) -> int:
        return sum(1 for e in self.elementary if e.dom > 0 and e.cod > 0)


def _check_diagram(d: object) -> None:
    if not isinstance(d, Diagram):
        raise TypeError(f"expected a diagram, got {type(d).__name__}")


def _inverse(p: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(p)
    for i, x in enumerate(p):
        inv[x] = i
    return tuple(inv)


def factorise(d: Diagram) -> Factorisation:
    """The canonical planar factorisation of docs/conventions.md §6.

    Propagating blocks are ordered by their smallest top vertex; the planar top row holds the
    top-only blocks, then the propagating tops; the planar bottom row holds the propagating
    bottoms, then the bottom-only blocks; every block keeps its vertices' left-to-right order.

    >>> from catlayer import PartitionDiagram
    >>> d = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)
    >>> f = factorise(d)
    >>> f.top_order, f.bottom_order
    ((1, 0, 2), (2, 0, 4, 1, 3))
    >>> f.planar
    PartitionDiagram([[0], [1, 3], [2, 4, 5], [6, 7]], dom=5, cod=3)
    >>> (f.input_permutation >> f.planar >> f.output_permutation).terms == {d: 1}
    True
    >>> [e.blocks for e in f.elementary]
    [((0,),), ((0, 1),), ((0, 1, 2),), ((0, 1),)]
    """
    _check_diagram(d)
    k, l = d.dom, d.cod
    kind = type(d)
    top_only = [b for b in d.blocks if b[-1] < l]
    bottom_only = [b for b in d.blocks if b[0] >= l]
    propagating = sorted((b for b in d.blocks if b[0] < l <= b[-1]), key=lambda b: b[0])

    top_order: list[int] = []
    for b in top_only:
        top_order.extend(b)
    for b in propagating:
        top_order.extend(v for v in b if v < l)
    bottom_order: list[int] = []
    for b in propagating:
        bottom_order.extend(v - l for v in b if v >= l)
    for b in bottom_only:
        bottom_order.extend(v - l for v in b)
    top_t, bottom_t = tuple(top_order), tuple(bottom_order)
    pos_top, pos_bottom = _inverse(top_t), _inverse(bottom_t)

    planar_blocks: list[tuple[int, ...]] = []
    for b in d.blocks:
        planar_blocks.append(tuple(sorted(pos_top[v] if v < l else l + pos_bottom[v - l] for v in b)))
    planar = kind._from_canonical(tuple(sorted(planar_blocks)), k, l)

    elementary: list[Diagram] = []
    for b in top_only:
        elementary.append(kind._from_canonical((tuple(range(len(b))),), 0, len(b)))
    for b in propagating:
        t = sum(1 for v in b if v < l)
        elementary.append(kind._from_canonical((tuple(range(len(b))),), len(b) - t, t))
    for b in bottom_only:
        elementary.append(kind._from_canonical((tuple(range(len(b))),), len(b), 0))

    return Factorisation(
        diagram=d,
        input_permutation=kind.permutation(pos_bottom),
        planar=planar,
        output_permutation=kind.permutation(top_t),
        top_order=top_t,
        bottom_order=bottom_t,
        pos_top=pos_top,
        pos_bottom=pos_bottom,
        elementary=tuple(elementary),
    )


@dataclass(frozen=True)
class Split:
    """``d = bottom, then permutation, then top`` with no loops (a refinement of the planar
    factorisation that lets a whole layer share work, docs/conventions.md §6, §7).

    * ``bottom`` (k → r): every propagating block of d becomes a block joining its bottom
      vertices to one *slot* (a top vertex of ``bottom``); slots are ordered by the smallest
      bottom vertex of their block. For an n-diagram, each free top vertex of d becomes a free
      slot after those, so ``bottom`` holds all n free vertices. Bottom-only blocks stay.
    * ``matching[i]`` is the slot of ``bottom`` that feeds slot i of ``top``; the middle
      permutation diagram is ``permutation`` (it sends slot ``matching[i]`` to slot i).
    * ``top`` (r → l): slot i joins the top vertices of the i-th propagating block of d in the
      order of their smallest top vertex (free slots join the free top vertices, in order).
      Top-only blocks stay.

    ``bottom`` depends only on the bottom row's connections and ``top`` only on the top row's,
    so diagrams of a layer share them.

    >>> from catlayer import PartitionDiagram
    >>> s = split(PartitionDiagram([[0, 3], [1, 2]], dom=2, cod=2))      # the swap
    >>> print(s.bottom, "|", s.permutation, "|", s.top)
    {1,1'} {2,2'} : 2 → 2 | {1,2'} {2,1'} : 2 → 2 | {1,1'} {2,2'} : 2 → 2
    >>> s.matching
    (1, 0)
    """

    diagram: Diagram
    bottom: Diagram
    matching: tuple[int, ...]
    top: Diagram
    num_free_slots: int

    @property
    def permutation(self) -> Diagram:
        inverse = _inverse(self.matching)
        return type(self.bottom).permutation(inverse) if len(inverse) else type(self.bottom).identity(0)

    @property
    def num_slots(self) -> int:
        return len(self.matching)


def split(d: Diagram, free_singletons: bool | None = None) -> Split:
    """Split ``d`` into its bottom half, a slot permutation and its top half (see :class:`Split`).

    ``free_singletons`` says whether singletons are free vertices of an n-diagram (the default
    for :class:`~catlayer.diagrams.diagram.BrauerGroodDiagram`) rather than one-vertex blocks.

    >>> from catlayer import PartitionDiagram
    >>> d = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)
    >>> s = split(d)
    >>> s.bottom, s.matching
    (PartitionDiagram([[0, 2, 6], [1, 4], [3, 5]], dom=5, cod=2), (1, 0))
    >>> (s.bottom >> s.permutation >> s.top).terms == {d: 1}
    True
    """
    from .diagram import BrauerGroodDiagram

    _check_diagram(d)
    if free_singletons is not None and not isinstance(free_singletons, bool):
        raise TypeError(f"free_singletons must be True, False or None, got {short_repr(free_singletons)}")
    if free_singletons is None:
        free_singletons = isinstance(d, BrauerGroodDiagram)
    k, l = d.dom, d.cod
    kind = type(d)
    propagating = [b for b in d.blocks if b[0] < l <= b[-1]]
    by_bottom = sorted(propagating, key=lambda b: next(v for v in b if v >= l))
    by_top = sorted(propagating, key=lambda b: b[0])
    free_top = [b[0] for b in d.blocks if len(b) == 1 and b[0] < l] if free_singletons else []
    p, s = len(propagating), len(free_top)
    r = p + s

    bottom_blocks: list[tuple[int, ...]] = []
    for i, b in enumerate(by_bottom):
        bottom_blocks.append((i, *(r + v - l for v in b if v >= l)))
    bottom_blocks += [(p + j,) for j in range(s)]
    bottom_blocks += [tuple(r + v - l for v in b) for b in d.blocks if b[0] >= l]
    bottom_kind = kind
    bottom = bottom_kind._from_canonical(tuple(sorted(bottom_blocks)), k, r)

    top_blocks: list[tuple[int, ...]] = []
    for i, b in enumerate(by_top):
        top_blocks.append((*(v for v in b if v < l), l + i))
    top_blocks += [(f, l + p + j) for j, f in enumerate(free_top)]
    free_set = set(free_top)
    top_blocks += [b for b in d.blocks if b[-1] < l and not (len(b) == 1 and b[0] in free_set)]
    top_kind = kind if not free_singletons else _pairs_kind(kind)
    top = top_kind._from_canonical(tuple(sorted(top_blocks)), r, l)

    slot_of = {b: i for i, b in enumerate(by_bottom)}
    matching = tuple(slot_of[b] for b in by_top) + tuple(range(p, r))
    return Split(diagram=d, bottom=bottom, matching=matching, top=top, num_free_slots=s)


def _pairs_kind(kind: type[Diagram]) -> type[Diagram]:
    from .diagram import BrauerDiagram, BrauerGroodDiagram

    return BrauerDiagram if issubclass(kind, BrauerGroodDiagram) else kind
