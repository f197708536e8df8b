"""Planar factorisation d = σ_l ∘ planar ∘ σ_k (math.md §6) and the tensor decomposition of
the planar middle into elementary one-block diagrams (the paper's Figure 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from .diagram import Diagram

__all__ = ["Factorisation", "factorise"]


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


def _inverse(p: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(p)
    for i, x in enumerate(p):
        inv[x] = i
    return tuple(inv)


def factorise(d: Diagram) -> Factorisation:
    """The canonical planar factorisation of math.md §6.

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

    planar_blocks = []
    for b in d.blocks:
        planar_blocks.append(
            tuple(sorted(pos_top[v] if v < l else l + pos_bottom[v - l] for v in b))
        )
    planar = kind._from_canonical(tuple(sorted(planar_blocks)), k, l)

    elementary = []
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
