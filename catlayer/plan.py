"""Plans: how to apply a diagram, or a weighted sum of diagrams, without forming its matrix.

A plan is derived once from :func:`~catlayer.diagrams.factorisation.split` (a refinement of the
planar factorisation, math.md §6) and holds only small integer tables, so that the numba
kernels (``catlayer.backend``) and the torch layers (``catlayer.nn``) execute the same plan
instead of re-deriving the maths. Executing a term of a plan means (math.md §7, design.md §4):

1. **reduce** the input x (k axes) with the term's :class:`Reduction` into a tensor with one
   axis per slot: diagonal extraction for each slot's input axes, contraction of each closed
   block (a sum over its diagonal, or ε for a symplectic pair), and for an n-diagram a
   contraction of the free input axes with the Levi-Civita symbol whose first slots become the
   free slots;
2. **permute** the slots: slot i of the expansion reads slot ``matching[i]`` of the reduction;
3. **expand** with the term's :class:`Expansion` into l axes: each slot is written on the
   diagonal of its output axes; a closed top block is an all-ones diagonal (broadcast) or, for
   a symplectic pair (a < b), the factor ε[i_a, i_b];
4. multiply by the term's ``sign`` (the s(d) of the signed Sp functor, math.md §3.3; +1
   otherwise).

The form ε is the symplectic form of math.md §3.3: ε[a, b] is +1 for (a, b) = (2i, 2i+1) and −1
for (2i+1, 2i). The Levi-Civita slots are ordered: free slots first, then the free input axes
in axis order (math.md §3.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from .diagrams.diagram import Diagram
from .diagrams.factorisation import split

__all__ = [
    "FAMILIES",
    "Expansion",
    "LayerPlan",
    "Reduction",
    "plan_diagram",
    "plan_layer",
    "symplectic_sign",
]

#: The functor families: which category a diagram lives in and how its closed blocks act.
PARTITION = "partition"  # S_n, functor Θ on P(n)
ORTHOGONAL = "orthogonal"  # O(n), functor Φ on B(n)
SYMPLECTIC = "symplectic"  # Sp(n), signed functor X on B(−n)
SPECIAL_ORTHOGONAL = "special_orthogonal"  # SO(n), functor Ψ on BG(n)
FAMILIES = (PARTITION, ORTHOGONAL, SYMPLECTIC, SPECIAL_ORTHOGONAL)


def symplectic_sign(d: Diagram) -> int:
    """s(d) = (−1)^(#caps + #crossings) of the signed Sp functor F′ = s·F (math.md §3.3).

    >>> from catlayer import BrauerDiagram
    >>> symplectic_sign(BrauerDiagram([[0, 3], [1, 2]], dom=2, cod=2))   # crossing ↦ −swap
    -1
    >>> symplectic_sign(BrauerDiagram([[0, 1]], dom=0, cod=2))           # cap ↦ −ε
    -1
    """
    parity = len(d.top_only_blocks()) + d.crossings()
    return -1 if parity % 2 else 1


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
    ``free_axes`` the input axes that are free vertices; ``pair_form`` is ``"delta"`` (a closed
    block sums over its diagonal) or ``"epsilon"`` (a closed pair (a < b) contracts with
    ε[x_a, x_b]).
    """

    half: Diagram
    dom: int
    slot_axes: tuple[tuple[int, ...], ...]
    num_free_slots: int
    closed: tuple[tuple[int, ...], ...]
    free_axes: tuple[int, ...]
    pair_form: str

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
    ``closed`` lists the top-only blocks; ``pair_form`` as in :class:`Reduction`.
    """

    half: Diagram
    cod: int
    slot_axes: tuple[tuple[int, ...], ...]
    closed: tuple[tuple[int, ...], ...]
    pair_form: str

    @property
    def num_slots(self) -> int:
        return len(self.slot_axes)

    @property
    def axis_labels(self) -> tuple[int, ...]:
        """A label per output axis: its slot, or num_slots + c for closed block c."""
        return _label_axes(self.cod, (*self.slot_axes, *self.closed))


def _pair_form(family: str) -> str:
    return "epsilon" if family == SYMPLECTIC else "delta"


@lru_cache(maxsize=4096)
def _reduction(family: str, half: Diagram, num_free_slots: int) -> Reduction:
    r, k = half.cod, half.dom
    free_singletons = family == SPECIAL_ORTHOGONAL
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
    return Reduction(half, k, tuple(slot_axes), num_free_slots, tuple(closed), tuple(sorted(free)), _pair_form(family))


@lru_cache(maxsize=4096)
def _expansion(family: str, half: Diagram) -> Expansion:
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
    return Expansion(half, l, tuple(slot_axes), tuple(closed), _pair_form(family))


def _check_family_diagram(family: str, d: Diagram) -> None:
    if not isinstance(d, Diagram):
        raise TypeError(f"expected a diagram, got {type(d).__name__}")
    if family == PARTITION:
        return
    sizes = {len(b) for b in d.blocks}
    if family in (ORTHOGONAL, SYMPLECTIC) and sizes - {2}:
        raise ValueError(f"{d!r} is not a Brauer diagram: the {family} family needs blocks of size 2")
    if family == SPECIAL_ORTHOGONAL and sizes - {1, 2}:
        raise ValueError(f"{d!r} has a block of more than 2 vertices: not a Brauer–Grood diagram")


@dataclass(frozen=True)
class LayerPlan:
    """How to apply Σ_d w_d F(d) for a list of (k, l)-diagrams, sharing work.

    Each distinct bottom half is reduced once (``reductions``), each distinct top half is
    expanded once (``expansions``); diagram t uses reduction ``reduction_of[t]``, slot
    permutation ``matching[t]``, expansion ``expansion_of[t]`` and ``sign[t]``.
    ``groups[e]`` lists the diagrams expanded by expansion e (their permuted reductions are
    stacked on the channel axis and mixed by one matmul).
    """

    family: str
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
def _plan_layer(family: str, diagrams: tuple[Diagram, ...]) -> LayerPlan:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    if not diagrams:
        raise ValueError("a layer plan needs at least one diagram")
    _check_family_diagram(family, diagrams[0])
    k, l = diagrams[0].dom, diagrams[0].cod
    reductions: dict[Reduction, int] = {}
    expansions: dict[Expansion, int] = {}
    reduction_of, expansion_of, matchings, signs = [], [], [], []
    for d in diagrams:
        _check_family_diagram(family, d)
        if (d.dom, d.cod) != (k, l):
            raise ValueError(f"all diagrams of a layer must be ({k}, {l})-diagrams; {d!r} is ({d.dom}, {d.cod})")
        s = split(d, free_singletons=family == SPECIAL_ORTHOGONAL)
        reduction = _reduction(family, s.bottom, s.num_free_slots)
        expansion = _expansion(family, s.top)
        reduction_of.append(reductions.setdefault(reduction, len(reductions)))
        expansion_of.append(expansions.setdefault(expansion, len(expansions)))
        matchings.append(s.matching)
        signs.append(symplectic_sign(d) if family == SYMPLECTIC else 1)
    groups = tuple(tuple(t for t, e in enumerate(expansion_of) if e == index) for index in range(len(expansions)))
    return LayerPlan(
        family=family,
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


def plan_layer(family: str, diagrams) -> LayerPlan:
    """The shared-work plan for a weighted sum of ``diagrams`` in ``family`` (cached).

    >>> from catlayer import PartitionCategory
    >>> plan = plan_layer("partition", PartitionCategory(5).hom(2, 2))
    >>> len(plan), len(plan.reductions), len(plan.expansions), plan.max_slots
    (15, 6, 6, 2)
    """
    return _plan_layer(family, tuple(diagrams))


def plan_diagram(family: str, d: Diagram) -> LayerPlan:
    """The plan of a single diagram: a layer plan with one term.

    >>> from catlayer import PartitionDiagram
    >>> plan = plan_diagram("partition", PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3))
    >>> plan.reductions[0].slot_axes, plan.reductions[0].closed, plan.matching[0]
    (((0, 4), (2,)), ((1, 3),), (1, 0))
    >>> plan.expansions[0].slot_axes, plan.expansions[0].closed
    (((0,), (2,)), ((1,),))
    """
    return _plan_layer(family, (d,))
