"""Plans: how to apply a diagram, or a weighted sum of diagrams, without forming its matrix.

A plan is derived once from :func:`~catlayer.diagrams.factorisation.split` (a refinement of the
planar factorisation, docs/conventions.md §6) and holds only small integer tables, so that the numba
kernels (``catlayer.backend``) and the torch layers (``catlayer.nn``) execute the same plan
instead of re-deriving the maths. Executing a term of a plan means (docs/conventions.md §7):

1. **reduce** the input x (k axes) with the term's :class:`Reduction` into a tensor with one
   axis per slot: diagonal extraction for each slot's input axes, contraction of each closed
   block (a sum over its diagonal, or, when the group has a pair form, a contraction of the pair
   with it), and for an n-diagram a contraction of the free input axes with the Levi-Civita
   symbol (weighted by the group's free weights) whose first slots become the free slots;
2. **permute** the slots: slot i of the expansion reads slot ``matching[i]`` of the reduction;
3. **expand** with the term's :class:`Expansion` into l axes: each slot is written on the
   diagonal of its output axes; a closed top block is an all-ones diagonal (broadcast) or, for
   a pair (a < b) of a group with a pair form, the factor form[i_a, i_b];
4. multiply by the term's ``sign`` (:meth:`catlayer.groups.Group.sign`: the s(d) of the signed
   Sp functor, docs/conventions.md §3.3; +1 for the other families).

The plan reads three things off the group (docs/conventions.md §3.6): whether it has a pair form
(``group.pair_form is not None``: ε = J for Sp(n), η for O(p, q)), whether singletons are free
vertices (``group.free_singletons``) and each diagram's sign; the executors read the numeric
form and free weights off the same group. The Levi-Civita slots are ordered: free slots first,
then the free input axes in axis order (docs/conventions.md §3.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from .diagrams.diagram import Diagram
from .diagrams.factorisation import split

if TYPE_CHECKING:
    from .groups import Group

__all__ = [
    "Expansion",
    "LayerPlan",
    "Reduction",
    "plan_diagram",
    "plan_layer",
]


def _label_axes(size: int, groups) -> tuple[int, ...]:
    """Label ``size`` axes by the index of the group (a tuple of axes) that holds each one."""
    labels = [0] * size
    for label, axes in enumerate(groups):
        for a in axes:
            labels[a] = label
    return tuple(labels)


@dataclass(frozen=True)
class Reduction:
    """The bottom half of a diagram as index tables (step 1 above).

    ``slot_axes[i]`` lists the input axes fed into slot i (empty for the trailing
    ``num_free_slots`` Levi-Civita slots); ``closed`` lists the bottom-only blocks (axes);
    ``free_axes`` the input axes that are free vertices; ``form_pairs`` says that a closed pair
    (a < b) contracts with the group's pair form, form[x_a, x_b] (else a closed block sums over
    its diagonal).
    """

    half: Diagram
    dom: int
    slot_axes: tuple[tuple[int, ...], ...]
    num_free_slots: int
    closed: tuple[tuple[int, ...], ...]
    free_axes: tuple[int, ...]
    form_pairs: bool

    @property
    def num_slots(self) -> int:
        return len(self.slot_axes)

    @property
    def axis_labels(self) -> tuple[int, ...]:
        """A label per input axis: its slot (0..num_slots−1), or num_slots + c for closed
        block c, or num_slots + len(closed) + f for the f-th free axis."""
        return _label_axes(self.dom, (*self.slot_axes, *self.closed, *((a,) for a in self.free_axes)))


@dataclass(frozen=True)
class Expansion:
    """The top half of a diagram as index tables (step 3 above).

    ``slot_axes[i]`` lists the output axes that receive slot i (on their diagonal);
    ``closed`` lists the top-only blocks; ``form_pairs`` as in :class:`Reduction`.
    """

    half: Diagram
    cod: int
    slot_axes: tuple[tuple[int, ...], ...]
    closed: tuple[tuple[int, ...], ...]
    form_pairs: bool

    @property
    def num_slots(self) -> int:
        return len(self.slot_axes)

    @property
    def axis_labels(self) -> tuple[int, ...]:
        """A label per output axis: its slot, or num_slots + c for closed block c."""
        return _label_axes(self.cod, (*self.slot_axes, *self.closed))


@lru_cache(maxsize=4096)
def _reduction(form_pairs: bool, free_singletons: bool, half: Diagram, num_free_slots: int) -> Reduction:
    r, k = half.cod, half.dom
    slot_axes: list[tuple[int, ...]] = [()] * r
    closed, free = [], []
    for block in half.blocks:
        axes = tuple(v - r for v in block if v >= r)
        tops = [v for v in block if v < r]
        if tops:
            slot_axes[tops[0]] = axes
        elif free_singletons and len(block) == 1:
            free.append(axes[0])
        else:
            closed.append(axes)
    return Reduction(half, k, tuple(slot_axes), num_free_slots, tuple(closed), tuple(sorted(free)), form_pairs)


@lru_cache(maxsize=4096)
def _expansion(form_pairs: bool, half: Diagram) -> Expansion:
    l, r = half.cod, half.dom
    slot_axes: list[tuple[int, ...]] = [()] * r
    closed = []
    for block in half.blocks:
        axes = tuple(v for v in block if v < l)
        bottoms = [v - l for v in block if v >= l]
        if bottoms:
            slot_axes[bottoms[0]] = axes
        else:
            closed.append(axes)
    return Expansion(half, l, tuple(slot_axes), tuple(closed), form_pairs)


@dataclass(frozen=True)
class LayerPlan:
    """How to apply Σ_d w_d F(d) for a list of (k, l)-diagrams, sharing work.

    Each distinct bottom half is reduced once (``reductions``), each distinct top half is
    expanded once (``expansions``); diagram t uses reduction ``reduction_of[t]``, slot
    permutation ``matching[t]``, expansion ``expansion_of[t]`` and ``sign[t]``.
    ``groups[e]`` lists the diagrams expanded by expansion e (their permuted reductions are
    stacked on the channel axis and mixed by one matmul).
    """

    group: Group
    dom: int
    cod: int
    diagrams: tuple[Diagram, ...]
    reductions: tuple[Reduction, ...]
    expansions: tuple[Expansion, ...]
    reduction_of: tuple[int, ...]
    expansion_of: tuple[int, ...]
    matching: tuple[tuple[int, ...], ...]
    sign: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...] = field(repr=False)

    def __len__(self) -> int:
        return len(self.diagrams)

    @property
    def max_slots(self) -> int:
        """The largest number of slots of a reduced tensor (its size is n ** max_slots)."""
        return max((r.num_slots for r in self.reductions), default=0)


@lru_cache(maxsize=512)
def _plan_layer(group: Group, diagrams: tuple[Diagram, ...]) -> LayerPlan:
    if not diagrams:
        raise ValueError("a layer plan needs at least one diagram")
    group.check_diagram(diagrams[0])
    k, l = diagrams[0].dom, diagrams[0].cod
    form_pairs = group.pair_form is not None
    free_singletons = group.free_singletons
    reductions: dict[Reduction, int] = {}
    expansions: dict[Expansion, int] = {}
    reduction_of, expansion_of, matchings, signs = [], [], [], []
    for d in diagrams:
        group.check_diagram(d)
        if (d.dom, d.cod) != (k, l):
            raise ValueError(f"all diagrams of a layer must be ({k}, {l})-diagrams; {d!r} is ({d.dom}, {d.cod})")
        s = split(d, free_singletons=free_singletons)
        reduction = _reduction(form_pairs, free_singletons, s.bottom, s.num_free_slots)
        expansion = _expansion(form_pairs, s.top)
        reduction_of.append(reductions.setdefault(reduction, len(reductions)))
        expansion_of.append(expansions.setdefault(expansion, len(expansions)))
        matchings.append(s.matching)
        signs.append(group.sign(d))
    groups = tuple(tuple(t for t, e in enumerate(expansion_of) if e == index) for index in range(len(expansions)))
    return LayerPlan(
        group=group,
        dom=k,
        cod=l,
        diagrams=diagrams,
        reductions=tuple(reductions),
        expansions=tuple(expansions),
        reduction_of=tuple(reduction_of),
        expansion_of=tuple(expansion_of),
        matching=tuple(matchings),
        sign=tuple(signs),
        groups=groups,
    )


def plan_layer(group: Group, diagrams) -> LayerPlan:
    """The shared-work plan for a weighted sum of ``diagrams`` of ``group``'s category (cached).

    >>> from catlayer import S
    >>> G = S(5)
    >>> plan = plan_layer(G, G.category.hom(2, 2))
    >>> len(plan), len(plan.reductions), len(plan.expansions), plan.max_slots
    (15, 6, 6, 2)
    """
    return _plan_layer(group, tuple(diagrams))


def plan_diagram(group: Group, d: Diagram) -> LayerPlan:
    """The plan of a single diagram: a layer plan with one term.

    >>> from catlayer import S, PartitionDiagram
    >>> plan = plan_diagram(S(5), PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3))
    >>> plan.reductions[0].slot_axes, plan.reductions[0].closed, plan.matching[0]
    (((0, 4), (2,)), ((1, 3),), (1, 0))
    >>> plan.expansions[0].slot_axes, plan.expansions[0].closed
    (((0,), (2,)), ((1,),))
    """
    return _plan_layer(group, (d,))
