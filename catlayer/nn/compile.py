"""Compile layer plans into programs: the static tables the torch executor runs.

A :class:`Program` is what :mod:`catlayer.nn.run` executes for one layer: nested tuples of ints
and strings only (einsum equations, permutations, axis groups, factor labels), so that a forward
branches on static structure alone and ``torch.compile(fullgraph=True)``, ``torch.export``, the
ONNX exporters and ``torch.func`` see a fixed sequence of tensor ops. Nothing here depends on the
sizes of the axes: the executor reads them off its inputs, so one program serves every n of
``S()``. Nothing re-derives the maths either: every step reads the tables of
:mod:`catlayer.plan`.

A program may hold several **blocks** (a typed layer: inputs of several orders, outputs of
several orders, one plan per pair): the reductions of all blocks reading one input are shared,
the expansions of all blocks writing one output too, and an expansion group stacks the reduced
tensors of every block that feeds it (one matmul). The weights of the blocks are gathered into
one matrix per expansion group by a :class:`Gather`; the adjoint program (for the backward) is
compiled from the same plans with inputs and outputs swapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..plan import Expansion, LayerPlan, Reduction

__all__ = [
    "Block",
    "ExpansionStep",
    "Gather",
    "Program",
    "ReductionStep",
    "compile_adjoint",
    "compile_program",
    "inverse",
]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: A term: reduction, expansion, slot matching, block, diagram in the block, coefficient, runtime coefficient.
_Term = tuple[int, int, tuple[int, ...], int, int, float, float]


def inverse(p: Sequence[int]) -> tuple[int, ...]:
    """The inverse permutation of ``p``."""
    inv = [0] * len(p)
    for i, x in enumerate(p):
        inv[x] = i
    return tuple(inv)


class _Slots:
    """What a step (or a half) reads off its slot factors and its Levi-Civita contractions (per
    contraction: factor, free axes, free slots)."""

    slot_factor: tuple[int, ...]
    levi_civita: tuple[tuple[int, int, int], ...]

    @property
    def num_slots(self) -> int:
        return len(self.slot_factor)

    @property
    def num_free_axes(self) -> int:
        return sum(a for _, a, _ in self.levi_civita)

    @property
    def num_free_slots(self) -> int:
        return sum(q for _, _, q in self.levi_civita)

    @property
    def uses_levi_civita(self) -> bool:
        return bool(self.levi_civita)


@dataclass(frozen=True)
class ReductionStep(_Slots):
    """Input ``input`` (B, c) + axes → (B, c, Π slot sizes) for one bottom half.

    ``equation`` (None when the reduction is the identity) leaves, after the batch and channel
    axes, the plain slots, then the free axes to contract with the Levi-Civita symbol
    (``levi_civita``: per contraction (factor, free axes, free slots); the free slots are appended
    last), then one pair of axes per entry of ``eps_factors`` to contract with that factor's pair
    form (trailing, so that they go first). ``source`` is −1 when the einsum reads the input,
    else the index of a smaller reduced tensor it reads instead (a plain delta reduction whose
    diagonals and sums are a further reduction of that one's: the total sum from the row sums).
    ``slot_factor`` gives the factor of every slot of the result; ``summed[f]`` how many indices
    of factor f it sums over (a mean divides by the factor's size that many times; 0 in
    adjoint programs, whose reductions transpose broadcasts).
    """

    input: int
    equation: str | None
    num_plain_slots: int
    eps_factors: tuple[int, ...]
    levi_civita: tuple[tuple[int, int, int], ...]
    slot_factor: tuple[int, ...]
    summed: tuple[int, ...]
    source: int = -1


@dataclass(frozen=True)
class ExpansionStep(_Slots):
    """(B, c, Π slot sizes) → contribution to output ``output`` (B, c) + axes, for one top half.

    The slots are permuted by ``permute`` (ordering them by the first output axis they reach)
    and viewed with ``view_shape`` (after the batch and channel axes: the size on the first
    output axis of each slot, 1 elsewhere), which broadcasts them along every other axis. The
    contribution is that view times a constant factor: the product of the indicators δ over each
    group of output axes in ``diagonals`` and of the pair forms over each pair in ``eps_pairs``.
    ``is_identity`` marks a top half that is the identity map. ``axis_factor`` gives the factor
    of each output axis, ``slot_factor`` of each slot of the mixed tensor.

    In an adjoint program an expansion is the transpose of a bottom half: its last Levi-Civita
    slots first meet the transposed Levi-Civita table (``levi_civita`` as in
    :class:`ReductionStep`), which turns them into one slot per free axis, appended after the
    others; and ``summed`` repeats the bottom half's summed indices (a mean scales the mixed
    tensor, as the forward scales the reduced one).
    """

    output: int
    permute: tuple[int, ...]
    view_shape: tuple[bool, ...]
    diagonals: tuple[tuple[int, ...], ...]
    eps_pairs: tuple[tuple[int, int], ...]
    is_identity: bool
    axis_factor: tuple[int, ...]
    slot_factor: tuple[int, ...]
    summed: tuple[int, ...]
    levi_civita: tuple[tuple[int, int, int], ...] = ()

    @property
    def factor(self) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, int], ...]] | None:
        """A hashable description of the constant factor (None when there is none)."""
        return (self.diagonals, self.eps_pairs) if self.diagonals or self.eps_pairs else None


@dataclass(frozen=True)
class Block:
    """One block of a typed layer: the diagrams of ``plan`` map input ``input`` to output
    ``output``; its weight has shape (c_out, c_in, len(plan))."""

    input: int
    output: int
    plan: LayerPlan


@dataclass(frozen=True)
class Gather:
    """How the block weights become one mixing matrix per expansion group.

    Output o's blocks (``sources[o]``, in order) are laid side by side as
    Wcat_o = cat_b W_b.permute(0, 2, 1).reshape(c_o, D_b·c_in_b) (columns: diagram, then input
    channel); ``columns[o]`` selects and orders its columns group by group and ``coefficients``
    [o] multiplies each (the diagram's sign times the mean scale of its fixed-size factors,
    ``runtime_coefficients`` the same without the scales of the factors that are scaled at run
    time); group e of output ``group_output[e]`` uses columns ``group_columns[e]`` (a slice).
    """

    sources: tuple[tuple[int, ...], ...]
    columns: tuple[tuple[int, ...], ...]
    coefficients: tuple[tuple[float, ...], ...]
    runtime_coefficients: tuple[tuple[float, ...], ...]
    group_output: tuple[int, ...]
    group_columns: tuple[tuple[int, int], ...]

    def trivial(self, o: int, runtime: bool) -> bool:
        """Whether output o's gather is the identity with unit coefficients (nothing to do)."""
        coefficients = self.runtime_coefficients[o] if runtime else self.coefficients[o]
        return (
            len(self.sources[o]) == 1
            and self.columns[o] == tuple(range(len(self.columns[o])))
            and all(c == 1.0 for c in coefficients)
        )


@dataclass(frozen=True)
class Program:
    """The static part of a (typed) layer, in torch-ready form.

    ``inputs[i]`` / ``outputs[o]`` give the factor of every axis of input i / output o.
    ``terms[e]`` lists, per term of expansion group e, its reduction index and the permutation of
    the reduced tensor's slots; ``units`` lists the matmuls: groups whose stacked tensors are the
    same (same ``terms``) share one, with their weights stacked on the output-channel axis.
    ``identity[o]`` is the identity expansion of output o, or None. ``gather`` builds the mixing
    matrices from the block weights. ``halves[r]`` is the plan's half that reduction r reads (a
    :class:`~catlayer.plan.Reduction`, or an :class:`~catlayer.plan.Expansion` in an adjoint
    program), for executors that reduce their own way (the bilinear layers contract two inputs).
    """

    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    reductions: tuple[ReductionStep, ...]
    reduction_order: tuple[int, ...]
    expansions: tuple[ExpansionStep, ...]
    terms: tuple[tuple[tuple[int, tuple[int, ...]], ...], ...]
    units: tuple[tuple[tuple[tuple[int, tuple[int, ...]], ...], tuple[int, ...]], ...]
    identity: tuple[int | None, ...]
    gather: Gather
    halves: tuple[Any, ...] = ()
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def uses_forms(self) -> tuple[int, ...]:
        """The factors whose pair form some step uses."""
        factors = {f for r in self.reductions for f in r.eps_factors}
        for e in self.expansions:
            factors |= {e.axis_factor[a] for a, _ in e.eps_pairs}
        return tuple(sorted(factors))

    @property
    def uses_diagonals(self) -> tuple[int, ...]:
        """The factors on whose axes some expansion writes a diagonal (multiplies by δ)."""
        return tuple(sorted({e.axis_factor[axes[0]] for e in self.expansions for axes in e.diagonals}))

    @property
    def levi_civita_keys(self) -> tuple[tuple[tuple[int, int, int], ...], ...]:
        """The Levi-Civita contractions used (one table each)."""
        steps = [*self.reductions, *self.expansions]
        return tuple(sorted({s.levi_civita for s in steps if s.uses_levi_civita}))

    def output_expansions(self, o: int) -> tuple[int, ...]:
        return tuple(e for e, step in enumerate(self.expansions) if step.output == o)


@dataclass(frozen=True)
class _Half(_Slots):
    """The index tables of one half as the executor reads them: a plan's
    :class:`~catlayer.plan.Reduction` or :class:`~catlayer.plan.Expansion`, or the transpose of
    one (the transpose of a diagram's map is read off the same tables with the roles of input
    and output swapped: a top half becomes a reduction of the output gradient, a bottom half an
    expansion onto the input gradient; every entry keeps its value, so a form keeps its
    orientation and the Levi-Civita table is used transposed)."""

    size: int
    slot_axes: tuple[tuple[int, ...], ...]
    closed: tuple[tuple[int, ...], ...]
    closed_form: tuple[bool, ...]
    axis_factor: tuple[int, ...]
    slot_factor: tuple[int, ...]
    free_axes: tuple[int, ...] = ()
    levi_civita: tuple[tuple[int, int, int], ...] = ()
    summed: tuple[int, ...] = ()

    @property
    def num_slots(self) -> int:
        return len(self.slot_axes)

    @property
    def axis_labels(self) -> tuple[int, ...]:
        labels = [0] * self.size
        for label, axes in enumerate((*self.slot_axes, *self.closed, *((a,) for a in self.free_axes))):
            for a in axes:
                labels[a] = label
        return tuple(labels)

    @property
    def plain(self) -> bool:
        """A reduction with only diagonals and sums (no form, no Levi-Civita symbol)."""
        return not any(self.closed_form) and not self.levi_civita


def _summed(reduction: Reduction, num_factors: int) -> tuple[int, ...]:
    return tuple(reduction.summed(f) for f in range(num_factors))


def _bottom(reduction: Reduction, num_factors: int) -> _Half:
    return _Half(
        reduction.dom,
        reduction.slot_axes,
        reduction.closed,
        reduction.closed_form,
        reduction.axis_factor,
        reduction.slot_factor,
        reduction.free_axes,
        reduction.levi_civita,
        _summed(reduction, num_factors),
    )


def _top(expansion: Expansion) -> _Half:
    return _Half(
        expansion.cod,
        expansion.slot_axes,
        expansion.closed,
        expansion.closed_form,
        expansion.axis_factor,
        expansion.slot_factor,
    )


def _reduction_step(half: _Half, index: int, num_factors: int, scaled: bool) -> ReductionStep:
    k = half.size
    labels = half.axis_labels
    q = half.num_free_slots
    plain = half.num_slots - q
    letter_of: dict[Any, str] = {}

    def letter(label: Any) -> str:
        if label not in letter_of:
            letter_of[label] = _LETTERS[2 + len(letter_of)]
        return letter_of[label]

    # Pair-form blocks keep both axes (each its own label) to be contracted after the einsum.
    form_axes = {a for block, form in zip(half.closed, half.closed_form, strict=True) if form for a in block}
    in_letters = [letter(("axis", a)) if a in form_axes else letter(labels[a]) for a in range(k)]
    out_labels = [letter(i) for i in range(plain)]
    out_labels += [letter(labels[a]) for a in half.free_axes]
    eps_factors = []
    for block, form in zip(half.closed, half.closed_form, strict=True):
        if form:
            out_labels += [letter(("axis", block[0])), letter(("axis", block[1]))]
            eps_factors.append(half.axis_factor[block[0]])
    lhs = "ab" + "".join(in_letters)
    rhs = "ab" + "".join(out_labels)
    return ReductionStep(
        input=index,
        equation=None if lhs == rhs else f"{lhs}->{rhs}",
        num_plain_slots=plain,
        eps_factors=tuple(eps_factors),
        levi_civita=half.levi_civita,
        slot_factor=half.slot_factor,
        summed=half.summed if scaled and half.summed else (0,) * num_factors,
    )


def _derivation(source: _Half, target: _Half) -> str | None:
    """The einsum computing reduction ``target`` from reduced tensor ``source`` (both plain
    delta reductions of the same input), or None when it cannot: every slot of ``source`` must
    lie inside one block of ``target`` and every closed block of ``source`` must be a closed
    block of ``target`` (it has been summed already)."""
    block_of: dict[int, int] = {}
    for b, axes in enumerate(target.slot_axes + target.closed):
        for a in axes:
            block_of[a] = b
    if set(source.closed) - set(target.closed):
        return None
    letters = []
    for axes in source.slot_axes:
        blocks = {block_of[a] for a in axes}
        if len(blocks) != 1:
            return None
        letters.append(_LETTERS[2 + blocks.pop()])
    out = [_LETTERS[2 + b] for b in range(target.num_slots)]
    if not set(out) <= set(letters):
        return None
    return "ab" + "".join(letters) + "->ab" + "".join(out)


def _reduction_steps(
    halves: list[tuple[int, _Half]], num_factors: int, scaled: bool
) -> tuple[tuple[ReductionStep, ...], tuple[int, ...]]:
    """The reduction steps (each (input, half)) and an order to compute them in (sources first)."""
    steps = [_reduction_step(h, i, num_factors, scaled) for i, h in halves]
    order = sorted(range(len(steps)), key=lambda i: -halves[i][1].num_slots)
    done: list[int] = []
    for i in order:
        index, target = halves[i]
        if target.plain and steps[i].equation is not None:
            best, best_size = None, target.size
            for j in done:
                source_index, source = halves[j]
                if source_index == index and source.plain and source.num_slots < best_size:
                    equation = _derivation(source, target)
                    if equation is not None:
                        best, best_size = (j, equation), source.num_slots
            if best is not None:
                step = steps[i]
                steps[i] = ReductionStep(
                    step.input, best[1], step.num_plain_slots, (), (), step.slot_factor, step.summed, source=best[0]
                )
        done.append(i)
    return tuple(steps), tuple(order)


def _expansion_step(half: _Half, index: int, num_factors: int, scaled: bool) -> ExpansionStep:
    """The expansion writing ``half``'s slots onto its ``size`` axes. For a bottom half
    (transposed) the Levi-Civita slots come last and become one slot per free axis."""
    q = half.num_free_slots
    plain = [tuple(axes) for axes in half.slot_axes[: half.num_slots - q]]
    slot_axes = plain + [(a,) for a in half.free_axes]
    diagonals = [axes for axes in slot_axes if len(axes) > 1]
    diagonals += [tuple(b) for b, form in zip(half.closed, half.closed_form, strict=True) if not form and len(b) > 1]
    eps_pairs = [(b[0], b[1]) for b, form in zip(half.closed, half.closed_form, strict=True) if form]
    permute = tuple(sorted(range(len(slot_axes)), key=lambda i: slot_axes[i][0]))
    firsts = {axes[0] for axes in slot_axes}
    l = half.size
    is_identity = not q and not half.free_axes and not half.closed and slot_axes == [(a,) for a in range(l)]
    return ExpansionStep(
        output=index,
        permute=permute,
        view_shape=tuple(a in firsts for a in range(l)),
        diagonals=tuple(sorted(diagonals)),
        eps_pairs=tuple(sorted(eps_pairs)),
        is_identity=is_identity,
        axis_factor=half.axis_factor,
        slot_factor=half.slot_factor,
        summed=half.summed if scaled and half.summed else (0,) * num_factors,
        levi_civita=half.levi_civita,
    )


def _assemble(
    inputs: tuple[tuple[int, ...], ...],
    outputs: tuple[tuple[int, ...], ...],
    reductions: tuple[ReductionStep, ...],
    reduction_order: tuple[int, ...],
    expansions: tuple[ExpansionStep, ...],
    terms: list[_Term],
    channels: list[tuple[int, int]],
    sources: list[list[int]],
    halves: tuple[Any, ...] = (),
) -> Program:
    """A program from its steps and its terms (reduction, expansion, matching, block, diagram
    index in the block, coefficient, runtime coefficient). ``channels[b]`` = (c_out, c_in) of
    block b (the block's own orientation in this program), ``sources[o]`` the blocks into o."""
    groups: list[list[int]] = [[] for _ in expansions]
    for t, term in enumerate(terms):
        groups[term[1]].append(t)
    # Column offsets of each block in Wcat of its output.
    offset: dict[int, int] = {}
    for blocks in sources:
        start = 0
        for b in blocks:
            offset[b] = start
            start += channels[b][1] * _block_size(terms, b)
    columns: list[list[int]] = [[] for _ in outputs]
    coefficients: list[list[float]] = [[] for _ in outputs]
    runtime: list[list[float]] = [[] for _ in outputs]
    group_columns = []
    group_terms = []
    for e, group in enumerate(groups):
        o = expansions[e].output
        start = len(columns[o])
        for t in group:
            _, _, _, b, j, coefficient, runtime_coefficient = terms[t]
            c_in = channels[b][1]
            columns[o] += [offset[b] + j * c_in + c for c in range(c_in)]
            coefficients[o] += [coefficient] * c_in
            runtime[o] += [runtime_coefficient] * c_in
        group_columns.append((start, len(columns[o])))
        group_terms.append(tuple((terms[t][0], terms[t][2]) for t in group))
    identity = []
    for o in range(len(outputs)):
        identity.append(next((e for e, s in enumerate(expansions) if s.output == o and s.is_identity), None))
    # Groups that stack the same reduced tensors share one matmul (weights stacked on the output
    # axis); an identity expansion keeps its own, so that its result can become the output.
    units: dict[tuple[Any, ...], list[int]] = {}
    for e, stacked in enumerate(group_terms):
        key = (stacked, e) if e in identity else (stacked, None)
        units.setdefault(key, []).append(e)
    return Program(
        inputs=inputs,
        outputs=outputs,
        reductions=reductions,
        reduction_order=reduction_order,
        expansions=expansions,
        terms=tuple(group_terms),
        units=tuple((key[0], tuple(members)) for key, members in units.items()),
        identity=tuple(identity),
        gather=Gather(
            sources=tuple(tuple(s) for s in sources),
            columns=tuple(tuple(c) for c in columns),
            coefficients=tuple(tuple(c) for c in coefficients),
            runtime_coefficients=tuple(tuple(c) for c in runtime),
            group_output=tuple(s.output for s in expansions),
            group_columns=tuple(group_columns),
        ),
        halves=halves,
    )


def _block_size(terms: list[_Term], b: int) -> int:
    return sum(1 for term in terms if term[3] == b)


def _coefficients(plan: LayerPlan, sizes: Sequence[int | None], runtime: Sequence[bool]) -> list[tuple[float, float]]:
    """Per diagram: sign × the mean scale of every factor not scaled at run time, with all fixed
    factors folded (first) and with the ``runtime`` factors left out (second)."""
    out = []
    for t in range(len(plan)):
        reduction = plan.reductions[plan.reduction_of[t]]
        full = part = float(plan.sign[t])
        for f, size in enumerate(sizes):
            count = reduction.summed(f)
            if not count:
                continue
            if size is not None:
                full *= float(size) ** -count
            if not runtime[f]:
                if size is None:
                    raise ValueError("a factor of no fixed size must be scaled at run time")
                part *= float(size) ** -count
        out.append((full if all(s is not None for s in sizes) else part, part))
    return out


def _terms(
    blocks: Sequence[Block], count: int, sizes: Sequence[int | None], runtime: Sequence[bool], mean: bool, adjoint: bool
) -> tuple[list[tuple[int, Any]], list[tuple[int, Any]], list[_Term], list[list[int]]]:
    """Every diagram of every block as a term (reduction, expansion, matching, block, diagram,
    coefficient, runtime coefficient), with the distinct halves it reduces with and expands with,
    each (feature, half) numbered in order of first use, and the blocks writing each of the
    ``count`` results. The forward reduces an input with a bottom half and expands a top half onto
    an output; the adjoint reduces an output with a top half and expands a bottom half onto an
    input, its slots matched by the inverse permutation."""
    reduced: dict[tuple[int, Any], int] = {}
    expanded: dict[tuple[int, Any], int] = {}
    terms: list[_Term] = []
    sources: list[list[int]] = [[] for _ in range(count)]
    for b, block in enumerate(blocks):
        source, target = (block.output, block.input) if adjoint else (block.input, block.output)
        sources[target].append(b)
        plan = block.plan
        coefficients = _coefficients(plan, sizes, runtime) if mean else [(float(s), float(s)) for s in plan.sign]
        for t in range(len(plan)):
            bottom, top = plan.reductions[plan.reduction_of[t]], plan.expansions[plan.expansion_of[t]]
            reads, writes = (top, bottom) if adjoint else (bottom, top)
            r = reduced.setdefault((source, reads), len(reduced))
            e = expanded.setdefault((target, writes), len(expanded))
            matching = inverse(plan.matching[t]) if adjoint else plan.matching[t]
            terms.append((r, e, matching, b, t, *coefficients[t]))
    return list(reduced), list(expanded), terms, sources


def compile_program(
    blocks: Sequence[Block],
    inputs: Sequence[tuple[int, ...]],
    outputs: Sequence[tuple[int, ...]],
    channels: Sequence[tuple[int, int]],
    sizes: Sequence[int | None],
    runtime: Sequence[bool],
    mean: bool,
) -> Program:
    """The program of a typed layer made of ``blocks`` (``channels[b]`` = (c_out, c_in) of block
    b). ``inputs`` / ``outputs`` give the factor of every axis of each input / output; ``sizes``
    the size of each factor (None: known only at run time); ``runtime[f]`` says that factor f's
    mean scale is applied at run time (masked or variable-size factors) rather than folded into
    the weights; ``mean``: sums over indices become means (else the functor images exactly).

    >>> from catlayer import S
    >>> from catlayer.plan import plan_layer
    >>> plan = plan_layer(S(5), S(5).category.hom(2, 2))
    >>> program = compile_program([Block(0, 0, plan)], [(0, 0)], [(0, 0)], [(1, 1)], [5], [False], True)
    >>> sorted(r.equation for r in program.reductions if r.source < 0 and r.equation)  # read x
    ['abcc->abc', 'abcd->abc', 'abcd->abd']
    >>> sorted(r.equation for r in program.reductions if r.source >= 0)  # from smaller ones
    ['abc->ab', 'abc->ab']
    >>> program.expansions[program.identity[0]].is_identity
    True
    """
    num_factors = len(sizes)
    bottoms, tops, terms, sources = _terms(blocks, len(outputs), sizes, runtime, mean, adjoint=False)
    reductions, order = _reduction_steps([(i, _bottom(r, num_factors)) for i, r in bottoms], num_factors, mean)
    expansions = tuple(_expansion_step(_top(e), o, num_factors, False) for o, e in tops)
    return _assemble(
        tuple(inputs),
        tuple(outputs),
        reductions,
        order,
        expansions,
        terms,
        list(channels),
        sources,
        tuple(r for _, r in bottoms),
    )


def compile_adjoint(
    blocks: Sequence[Block],
    inputs: Sequence[tuple[int, ...]],
    outputs: Sequence[tuple[int, ...]],
    channels: Sequence[tuple[int, int]],
    sizes: Sequence[int | None],
    runtime: Sequence[bool],
    mean: bool,
) -> Program:
    """The program of the transposed layer Σ_d w_dᵀ F(d)ᵀ: it maps the forward's outputs to its
    inputs; block b's weight enters transposed, (c_in, c_out, D) (pass ``weight.transpose(0, 1)``).

    The transpose of a diagram's map is the map of the flipped diagram (with the family's sign,
    which transposing the tables carries automatically): each top half of the plan becomes a
    reduction of the output gradient (shared by every diagram with that top half), each bottom
    half an expansion onto the input gradient, the slot permutations are inverted, and diagrams
    are grouped by bottom half, one matmul per group. A mean's scales move with the bottom
    halves: the adjoint scales its mixed tensors where the forward scales its reduced ones.

    >>> from catlayer import S
    >>> from catlayer.plan import plan_layer
    >>> plan = plan_layer(S(5), S(5).category.hom(1, 2))
    >>> adjoint = compile_adjoint([Block(0, 0, plan)], [(0,)], [(0, 0)], [(1, 1)], [5], [False], True)
    >>> (len(adjoint.reductions), len(adjoint.expansions), adjoint.inputs, adjoint.outputs)
    (5, 2, ((0, 0),), ((0,),))
    """
    num_factors = len(sizes)
    tops, bottoms, terms, sources = _terms(blocks, len(inputs), sizes, runtime, mean, adjoint=True)
    # Terms are grouped by bottom half; within a group, by block (so that a block's terms are
    # contiguous in the weight gradient, see catlayer.nn.run.weight_gradients).
    terms.sort(key=lambda term: (term[1], term[3], term[4]))
    reductions, order = _reduction_steps([(o, _top(e)) for o, e in tops], num_factors, False)
    expansions = tuple(_expansion_step(_bottom(r, num_factors), i, num_factors, mean) for i, r in bottoms)
    flipped = [(c_in, c_out) for c_out, c_in in channels]
    return _assemble(
        tuple(outputs),
        tuple(inputs),
        reductions,
        order,
        expansions,
        terms,
        flipped,
        sources,
        tuple(e for _, e in tops),
    )
