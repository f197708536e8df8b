"""Plans: how to apply a diagram, or a weighted sum of diagrams, without forming its matrix.

A plan is derived once from :func:`~catlayer.diagrams.factorisation.split` (a refinement of the
planar factorisation, docs/conventions.md §6) and holds only small integer tables, so that the numba
kernels (``catlayer.backend``) and the torch layers (``catlayer.nn``) execute the same plan
instead of re-deriving the maths. Executing a term of a plan means (docs/conventions.md §7):

1. **reduce** the input x (k axes) with the term's :class:`Reduction` into a tensor with one
   axis per slot: diagonal extraction for each slot's input axes, contraction of each closed
   block (a sum over its diagonal, or, when its group has a pair form, a contraction of the pair
   with it), and for an n-diagram a contraction of the free input axes with the Levi-Civita
   symbol (weighted by the group's free weights) whose first slots become the free slots;
2. **permute** the slots: slot i of the expansion reads slot ``matching[i]`` of the reduction;
3. **expand** with the term's :class:`Expansion` into l axes: each slot is written on the
   diagonal of its output axes; a closed top block is an all-ones diagonal (broadcast) or, for
   a pair (a < b) of a group with a pair form, the factor form[i_a, i_b];
4. multiply by the term's ``sign`` (:meth:`catlayer.groups.Group.sign`: the s(d) of the signed
   Sp functor, docs/conventions.md §3.3; +1 for the other families).

The plan reads three things off each group: whether it has a pair form (``group.pair_form is
not None``: ε = J for Sp(n), η for O(p, q)), whether singletons are free vertices
(``group.free_singletons``) and each diagram's sign; the executors read the numeric form and the
weighted Levi-Civita tables (:meth:`~catlayer.groups.Group.levi_civita`) off the same group.

**Products** (docs/conventions.md §10). Every axis, slot and closed block belongs to one factor
of the group (``axis_factor``, ``slot_factor``; factor 0 for a single group). A product diagram's
halves are its factors' halves side by side: input axes, slots and output axes of the first
factor first. The slots of a reduction are its plain slots (every factor's, in factor order),
then its Levi-Civita slots (every factor's, in factor order); ``levi_civita`` lists, per
Levi-Civita contraction, (factor, number of free input axes, number of free slots), and
``free_axes`` concatenates the free input axes in the same order. Nothing depends on the sizes:
one plan serves every n of ``S()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .diagrams.diagram import Diagram
from .diagrams.factorisation import split
from .diagrams.product import ProductDiagram

if TYPE_CHECKING:
    from .groups import Group

__all__ = [
    "Expansion",
    "LayerPlan",
    "Reduction",
    "plan_diagram",
    "plan_layer",
]


def _label_axes(size: int, groups: Any) -> tuple[int, ...]:
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
    ``num_free_slots`` Levi-Civita slots); ``closed`` lists the bottom-only blocks (axes) and
    ``closed_form[c]`` says whether closed block c is a pair contracted with its group's pair
    form, form[x_a, x_b] (else it sums over its diagonal); ``free_axes`` are the input axes that
    are free vertices. ``axis_factor`` / ``slot_factor`` give the factor of each input axis and
    slot, ``levi_civita`` the Levi-Civita contractions (see the module docstring).

    >>> from catlayer import BrauerDiagram, PartitionDiagram, S, Sp
    >>> d = PartitionDiagram([[0, 1], [2]], dom=2, cod=1)             # y_i = Σ_j x_ij
    >>> r = plan_diagram(S(4), d).reductions[0]
    >>> r.slot_axes, r.closed, r.closed_form, r.axis_labels
    (((0,),), ((1,),), (False,), (0, 1))
    >>> cup = BrauerDiagram([[0, 1]], dom=2, cod=0)                    # Sp: Σ_ab J_ab x_ab
    >>> plan_diagram(Sp(2), cup).reductions[0].closed_form
    (True,)
    """

    half: Diagram | ProductDiagram
    dom: int
    slot_axes: tuple[tuple[int, ...], ...]
    num_free_slots: int
    closed: tuple[tuple[int, ...], ...]
    free_axes: tuple[int, ...]
    closed_form: tuple[bool, ...]
    axis_factor: tuple[int, ...]
    slot_factor: tuple[int, ...]
    levi_civita: tuple[tuple[int, int, int], ...] = ()

    @property
    def num_slots(self) -> int:
        return len(self.slot_axes)

    @property
    def closed_factor(self) -> tuple[int, ...]:
        """The factor of each closed block."""
        return tuple(self.axis_factor[block[0]] for block in self.closed)

    def summed(self, factor: int) -> int:
        """How many closed blocks of ``factor`` this reduction sums over, a pair contracted with
        its group's form included (each is one summed index: a mean divides by the factor's size
        once per block)."""
        return sum(1 for f in self.closed_factor if f == factor)

    @property
    def axis_labels(self) -> tuple[int, ...]:
        """A label per input axis: its slot (0..num_slots−1), or num_slots + c for closed
        block c, or num_slots + len(closed) + f for the f-th free axis."""
        return _label_axes(self.dom, (*self.slot_axes, *self.closed, *((a,) for a in self.free_axes)))


@dataclass(frozen=True)
class Expansion:
    """The top half of a diagram as index tables (step 3 above).

    ``slot_axes[i]`` lists the output axes that receive slot i (on their diagonal);
    ``closed`` lists the top-only blocks and ``closed_form`` which of them are pairs carrying
    their group's pair form; ``axis_factor`` / ``slot_factor`` as in :class:`Reduction`.

    >>> from catlayer import PartitionDiagram, S
    >>> x = plan_diagram(S(4), PartitionDiagram([[0, 1, 2]], dom=1, cod=2)).expansions[0]   # y_ii = x_i
    >>> x.slot_axes, x.closed
    (((0, 1),), ())
    >>> x = plan_diagram(S(4), PartitionDiagram([[0], [1, 2]], dom=1, cod=2)).expansions[0]  # y_ij = x_j
    >>> x.slot_axes, x.closed, x.axis_labels
    (((1,),), ((0,),), (1, 0))
    """

    half: Diagram | ProductDiagram
    cod: int
    slot_axes: tuple[tuple[int, ...], ...]
    closed: tuple[tuple[int, ...], ...]
    closed_form: tuple[bool, ...]
    axis_factor: tuple[int, ...]
    slot_factor: tuple[int, ...]

    @property
    def num_slots(self) -> int:
        return len(self.slot_axes)

    @property
    def closed_factor(self) -> tuple[int, ...]:
        return tuple(self.axis_factor[block[0]] for block in self.closed)

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
    free_axes = tuple(sorted(free))
    lc = ((0, len(free_axes), num_free_slots),) if free_axes or num_free_slots else ()
    return Reduction(
        half,
        k,
        tuple(slot_axes),
        num_free_slots,
        tuple(closed),
        free_axes,
        tuple(form_pairs and len(b) == 2 for b in closed),
        (0,) * k,
        (0,) * r,
        lc,
    )


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
    return Expansion(
        half, l, tuple(slot_axes), tuple(closed), tuple(form_pairs and len(b) == 2 for b in closed), (0,) * l, (0,) * r
    )


def _halves(group: Group, d: Diagram) -> tuple[Reduction, tuple[int, ...], Expansion]:
    """The reduction, matching and expansion of one factor's diagram."""
    s = split(d, free_singletons=group.free_singletons)
    form = group.pair_form is not None
    return _reduction(form, group.free_singletons, s.bottom, s.num_free_slots), s.matching, _expansion(form, s.top)


def _shift(axes: tuple[int, ...], by: int) -> tuple[int, ...]:
    return tuple(a + by for a in axes)


def _merge(parts: list[tuple[Reduction, tuple[int, ...], Expansion]]) -> tuple[Reduction, tuple[int, ...], Expansion]:
    """The halves of a product diagram from its factors' halves (see the module docstring)."""
    in_offset = out_offset = 0
    plain: list[tuple[int, ...]] = []
    plain_factor: list[int] = []
    lc_slots: list[int] = []
    closed: list[tuple[int, ...]] = []
    closed_form: list[bool] = []
    free_axes: list[int] = []
    levi_civita: list[tuple[int, int, int]] = []
    axis_in: list[int] = []
    axis_out: list[int] = []
    exp_slots: list[tuple[int, ...]] = []
    exp_factor: list[int] = []
    exp_closed: list[tuple[int, ...]] = []
    exp_form: list[bool] = []
    # Reduction slot index of factor f's slot j: plain slots first (all factors), then LC slots.
    num_plain = sum(r.num_slots - r.num_free_slots for r, _, _ in parts)
    slot_map: list[list[int]] = []
    plain_seen = lc_seen = 0
    for f, (red, _, exp) in enumerate(parts):
        p = red.num_slots - red.num_free_slots
        mapping = [plain_seen + j for j in range(p)] + [num_plain + lc_seen + j for j in range(red.num_free_slots)]
        slot_map.append(mapping)
        plain += [_shift(a, in_offset) for a in red.slot_axes[:p]]
        plain_factor += [f] * p
        lc_slots += [f] * red.num_free_slots
        closed += [_shift(b, in_offset) for b in red.closed]
        closed_form += red.closed_form
        free_axes += _shift(red.free_axes, in_offset)
        levi_civita += [(f, nf, q) for _, nf, q in red.levi_civita]
        axis_in += [f] * red.dom
        axis_out += [f] * exp.cod
        exp_slots += [_shift(a, out_offset) for a in exp.slot_axes]
        exp_factor += [f] * exp.num_slots
        exp_closed += [_shift(b, out_offset) for b in exp.closed]
        exp_form += exp.closed_form
        plain_seen += p
        lc_seen += red.num_free_slots
        in_offset += red.dom
        out_offset += exp.cod
    matching: list[int] = []
    for f, (_, m, _) in enumerate(parts):
        matching += [slot_map[f][j] for j in m]
    bottom = ProductDiagram(*(r.half for r, _, _ in parts))  # type: ignore[arg-type]
    top = ProductDiagram(*(e.half for _, _, e in parts))  # type: ignore[arg-type]
    reduction = Reduction(
        bottom,
        in_offset,
        (*plain, *[()] * lc_seen),
        lc_seen,
        tuple(closed),
        tuple(free_axes),
        tuple(closed_form),
        tuple(axis_in),
        (*plain_factor, *lc_slots),
        tuple(levi_civita),
    )
    expansion = Expansion(
        top, out_offset, tuple(exp_slots), tuple(exp_closed), tuple(exp_form), tuple(axis_out), tuple(exp_factor)
    )
    return reduction, tuple(matching), expansion


@dataclass(frozen=True)
class LayerPlan:
    """How to apply Σ_d w_d F(d) for a list of (k, l)-diagrams, sharing work.

    Each distinct bottom half is reduced once (``reductions``), each distinct top half is
    expanded once (``expansions``); diagram t uses reduction ``reduction_of[t]``, slot
    permutation ``matching[t]``, expansion ``expansion_of[t]`` and ``sign[t]``.
    ``groups[e]`` lists the diagrams expanded by expansion e (their permuted reductions are
    stacked on the channel axis and mixed by one matmul). For a product group, ``dom`` and
    ``cod`` are order tuples.

    >>> from catlayer import S
    >>> plan = plan_layer(S(5), S(5).basis(1, 1))           # the identity and x ↦ (Σ_j x_j)·1
    >>> len(plan), plan.reduction_of, plan.expansion_of, plan.groups, plan.num_axes
    (2, (0, 1), (0, 1), ((0,), (1,)), (1, 1))
    """

    group: Any
    dom: Any
    cod: Any
    diagrams: tuple[Any, ...]
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

    @property
    def num_axes(self) -> tuple[int, int]:
        """(input axes, output axes): k and l, summed over the factors of a product."""
        if isinstance(self.dom, tuple):
            return sum(self.dom), sum(self.cod)
        return self.dom, self.cod


def _terms(group: Any, d: Any) -> tuple[Reduction, tuple[int, ...], Expansion]:
    if isinstance(d, ProductDiagram):
        return _merge([_halves(g, e) for g, e in zip(group.factors, d.factors, strict=True)])
    return _halves(group, d)


@lru_cache(maxsize=512)
def _plan_layer(group: Any, diagrams: tuple[Any, ...]) -> LayerPlan:
    if not diagrams:
        raise ValueError("a layer plan needs at least one diagram")
    group.check_diagram(diagrams[0])
    k, l = diagrams[0].dom, diagrams[0].cod
    reductions: dict[Reduction, int] = {}
    expansions: dict[Expansion, int] = {}
    reduction_of, expansion_of, matchings, signs = [], [], [], []
    for d in diagrams:
        group.check_diagram(d)
        if (d.dom, d.cod) != (k, l):
            raise ValueError(f"all diagrams of a layer must be ({k}, {l})-diagrams; {d!r} is ({d.dom}, {d.cod})")
        reduction, matching, expansion = _terms(group, d)
        reduction_of.append(reductions.setdefault(reduction, len(reductions)))
        expansion_of.append(expansions.setdefault(expansion, len(expansions)))
        matchings.append(matching)
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


def plan_layer(group: Any, diagrams: Any) -> LayerPlan:
    """The shared-work plan for a weighted sum of ``diagrams`` of ``group``'s category (cached).

    >>> from catlayer import S, O
    >>> G = S(5)
    >>> plan = plan_layer(G, G.category.hom(2, 2))
    >>> len(plan), len(plan.reductions), len(plan.expansions), plan.max_slots
    (15, 6, 6, 2)
    >>> P = S() * O(3)                                   # pairs: the factors' halves side by side
    >>> plan = plan_layer(P, P.spanning_set((1, 2), (1, 0)))
    >>> len(plan), len(plan.reductions), plan.reductions[0].axis_factor
    (2, 2, (0, 1, 1))
    """
    return _plan_layer(group, tuple(diagrams))


def plan_diagram(group: Any, d: Any) -> LayerPlan:
    """The plan of a single diagram: a layer plan with one term.

    >>> from catlayer import S, PartitionDiagram
    >>> plan = plan_diagram(S(5), PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3))
    >>> plan.reductions[0].slot_axes, plan.reductions[0].closed, plan.matching[0]
    (((0, 4), (2,)), ((1, 3),), (1, 0))
    >>> plan.expansions[0].slot_axes, plan.expansions[0].closed
    (((0,), (2,)), ((1,),))
    """
    return _plan_layer(group, (d,))
