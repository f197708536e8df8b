"""Execute a :class:`~catlayer.plan.LayerPlan` with torch ops (docs/conventions.md §7).

:func:`compile_program` turns a plan and n into a :class:`Program`: nested tuples of ints and
strings only (einsum equations, permutations, axis groups), so that ``forward`` branches on
static structure alone and ``torch.compile(fullgraph=True)``, ``torch.export``, ONNX export and
``torch.func.vmap`` see a fixed sequence of tensor ops. Whenever ops are traced or recorded by
autograd every op is out-of-place (the graph is functional: nothing writes into a view or a
preallocated buffer); in eager inference and inside the adjoint plan's autograd Function the
same sequence accumulates the expansions in place into tensors it created (fewer passes, fewer
fresh allocations). Nothing here re-derives the maths: every step reads the plan's index tables.

Executing a program on x of shape (B, c_in) + (n,)*k with weights W of shape
(c_out, c_in, D):

1. **reduce** (:func:`run_reductions`): each distinct bottom half once, x → (B, c_in, n^slots):
   one ``einsum`` takes the diagonals of the slots and sums the closed "delta" blocks (reading,
   when possible, a smaller reduced tensor instead of x: the total sum from the row sums); a
   symplectic closed pair is then contracted with ε (a matmul against ε flattened), the free
   axes of an n-diagram with the Levi-Civita symbol (a matmul against the symbol reshaped to
   (n^free_axes, n^free_slots));
2. **mix** (:func:`run_mixing`): per expansion group, the reduced tensors permuted by
   ``matching`` are stacked on the channel axis (one ``cat``) and mixed by one ``matmul``
   against the signed weights gathered to (c_out, D_e·c_in);
3. **expand** (:func:`run_expansions`): each mixed tensor is viewed so that it broadcasts to
   the output (a closed "delta" block is a size-1 axis); expansions with the same constant
   factor (δ = I_n on each diagonal, ε on each closed symplectic pair) are summed in that
   compact form, and each such sum meets the output once (``add`` or ``addcmul`` with the
   factor), onto the identity expansion's matmul when there is one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..plan import LayerPlan

__all__ = [
    "Deferred",
    "ExpansionStep",
    "Program",
    "ReductionStep",
    "compile_adjoint",
    "compile_program",
    "run_expansions",
    "run_mixing",
    "run_reductions",
]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _flat(t: torch.Tensor, r: int) -> torch.Tensor:
    """(B, c) + (n,)*r → (B, c, n^r) without reading the batch size."""
    if r == 1:
        return t
    return t.flatten(2) if r else t.unsqueeze(2)


def _split(t: torch.Tensor, n: int, r: int) -> torch.Tensor:
    """(B, c, n^r) → (B, c) + (n,)*r, the inverse of :func:`_flat`."""
    if r == 1:
        return t
    return _unflatten(t, (n,) * r) if r else t.squeeze(2)


def _unflatten(t: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Split axis 2 of t into ``sizes``. A ``reshape`` with the leading sizes read from t, not
    ``Tensor.unflatten``, whose TorchScript ONNX translation bakes the example's batch size
    into the graph."""
    return t.reshape(t.shape[:2] + sizes + t.shape[3:])


@dataclass(frozen=True)
class ReductionStep:
    """x (B, c, n…n) → (B, c, n^num_slots) for one bottom half.

    ``equation`` (None when the reduction is the identity) leaves, after the batch and channel
    axes, the non-Levi-Civita slots, then ``num_free_axes`` axes to contract with the
    Levi-Civita symbol into ``num_free_slots`` new trailing slots, then ``num_eps_pairs`` pairs
    of axes to contract with the pair form (trailing, so that they go first; an SO(p, q)
    n-diagram can have both). ``source`` is −1 when the einsum reads x, else the index of a smaller
    reduced tensor it reads instead (a plain delta reduction whose diagonals and sums are a
    further reduction of that one's: e.g. the total sum from the row sums).
    """

    equation: str | None
    num_plain_slots: int
    num_eps_pairs: int
    num_free_axes: int
    num_free_slots: int
    source: int = -1

    @property
    def num_slots(self) -> int:
        return self.num_plain_slots + self.num_free_slots

    @property
    def uses_levi_civita(self) -> bool:
        return self.num_free_axes + self.num_free_slots > 0


@dataclass(frozen=True)
class ExpansionStep:
    """(B, c, n^num_slots) → contribution to the output (B, c, n…n) for one top half, built
    without writing into any view (so that export and compile see what eager runs).

    The slots are permuted by ``permute`` (ordering them by the first output axis they reach;
    the identity for the canonical top halves of a plan) and viewed with ``view_shape`` (after
    the batch and channel axes: n on the first output axis of each slot, 1 elsewhere), which
    broadcasts them along every other axis. The contribution is that view times a constant
    factor: the product of the indicators δ over each group of output axes in ``diagonals`` (a
    slot reaching several axes, or a closed "delta" block of several axes) and of ε over each
    pair in ``eps_pairs``. ``is_identity`` marks a top half that is the identity map.

    In an adjoint program (:func:`compile_adjoint`) an expansion is the transpose of a bottom
    half: its last ``num_free_slots`` slots first meet the transposed Levi-Civita table, which
    turns them into ``num_free_axes`` slots of one output axis each, appended after the others.
    """

    num_slots: int
    permute: tuple[int, ...]
    view_shape: tuple[bool, ...]
    diagonals: tuple[tuple[int, ...], ...]
    eps_pairs: tuple[tuple[int, int], ...]
    is_identity: bool
    num_free_slots: int = 0
    num_free_axes: int = 0

    @property
    def uses_levi_civita(self) -> bool:
        return self.num_free_axes + self.num_free_slots > 0

    @property
    def factor(self) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, int], ...]] | None:
        """A hashable description of the constant factor (None when there is none)."""
        return (self.diagonals, self.eps_pairs) if self.diagonals or self.eps_pairs else None


@dataclass(frozen=True)
class Program:
    """The static part of a layer plan for a given n, in torch-ready form.

    ``order`` lists the diagrams group by group (weights are gathered in that order, multiplied
    by ``signs``); ``group_slices[e]`` is the slice of ``order`` mixed for expansion e;
    ``terms[e]`` lists, per diagram of the group, its reduction index and the permutation of
    the reduced tensor's slot axes (the plan's ``matching``). ``units`` lists the matmuls:
    groups whose stacked tensors are the same (same ``terms``) share one, with their weights
    stacked on the output-channel axis.
    """

    n: int
    dom: int
    cod: int
    num_diagrams: int
    reductions: tuple[ReductionStep, ...]
    expansions: tuple[ExpansionStep, ...]
    order: tuple[int, ...]
    signs: tuple[int, ...]
    group_slices: tuple[tuple[int, int], ...]
    terms: tuple[tuple[tuple[int, tuple[int, ...]], ...], ...]
    identity_expansion: int | None
    units: tuple[tuple[tuple[tuple[int, tuple[int, ...]], ...], tuple[int, ...]], ...] = ()
    reduction_order: tuple[int, ...] = ()

    @property
    def uses_epsilon(self) -> bool:
        return any(r.num_eps_pairs for r in self.reductions) or any(e.eps_pairs for e in self.expansions)

    @property
    def uses_diagonals(self) -> bool:
        """Whether some expansion writes a diagonal (multiplies by δ = I_n)."""
        return any(e.diagonals for e in self.expansions)

    @property
    def levi_civita_shapes(self) -> tuple[int, ...]:
        """The numbers of free slots q of the Levi-Civita contractions used (one buffer each)."""
        steps = [*self.reductions, *self.expansions]
        return tuple(sorted({s.num_free_slots for s in steps if s.uses_levi_civita}))

    @property
    def trivial_order(self) -> bool:
        return self.order == tuple(range(self.num_diagrams)) and all(s == 1 for s in self.signs)


@dataclass(frozen=True)
class _Half:
    """The index tables of one half as the executor reads them: a plan's
    :class:`~catlayer.plan.Reduction` or :class:`~catlayer.plan.Expansion`, or the transpose of
    one (the transpose of a diagram's map is read off the same tables with the roles of input
    and output swapped: a top half becomes a reduction of the output gradient, a bottom half an
    expansion onto the input gradient; every entry keeps its value, so ε keeps its orientation
    and the Levi-Civita table is used transposed)."""

    size: int
    slot_axes: tuple[tuple[int, ...], ...]
    closed: tuple[tuple[int, ...], ...]
    form_pairs: bool
    free_axes: tuple[int, ...] = ()
    num_free_slots: int = 0

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


def _bottom(reduction) -> _Half:
    return _Half(
        reduction.dom,
        reduction.slot_axes,
        reduction.closed,
        reduction.form_pairs,
        reduction.free_axes,
        reduction.num_free_slots,
    )


def _top(expansion) -> _Half:
    return _Half(expansion.cod, expansion.slot_axes, expansion.closed, expansion.form_pairs)


def _reduction_step(reduction, k: int) -> ReductionStep:
    labels = reduction.axis_labels
    num_slots = reduction.num_slots
    q = reduction.num_free_slots
    plain = num_slots - q
    eps_pairs = [c for c in reduction.closed] if reduction.form_pairs else []
    # Output of the einsum: plain slots, then free axes, then the pair-form pairs (contracted first).
    out_labels: list[str] = []
    in_letters: list[str] = []
    letter_of: dict[int, str] = {}

    def letter(label: int) -> str:
        if label not in letter_of:
            letter_of[label] = _LETTERS[2 + len(letter_of)]
        return letter_of[label]

    if reduction.form_pairs:
        # ε pairs keep both axes: give each axis of a closed pair its own label.
        closed_axes = {a for block in reduction.closed for a in block}
        for a in range(k):
            in_letters.append(letter(("axis", a)) if a in closed_axes else letter(labels[a]))
    else:
        in_letters = [letter(labels[a]) for a in range(k)]
    out_labels = [letter(i) for i in range(plain)]
    out_labels += [letter(labels[a]) for a in reduction.free_axes]
    for a, b in eps_pairs:
        out_labels += [letter(("axis", a)), letter(("axis", b))]
    lhs = "ab" + "".join(in_letters)
    rhs = "ab" + "".join(out_labels)
    equation = None if lhs == rhs else f"{lhs}->{rhs}"
    return ReductionStep(equation, plain, len(eps_pairs), len(reduction.free_axes), q)


def _derivation(source, target) -> str | None:
    """The einsum computing reduction ``target`` from reduced tensor ``source`` (both plain
    delta reductions), or None when it cannot: every slot of ``source`` must lie inside one
    block of ``target`` and every closed block of ``source`` must be a closed block of
    ``target`` (it has been summed already)."""
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


def _plain(reduction) -> bool:
    return not reduction.form_pairs and not reduction.free_axes and not reduction.num_free_slots


def _reduction_steps(halves: list[_Half], k: int) -> tuple[tuple[ReductionStep, ...], tuple[int, ...]]:
    """The reduction steps and an order to compute them in (sources first)."""
    steps = [_reduction_step(r, k) for r in halves]
    order = sorted(range(len(steps)), key=lambda i: -halves[i].num_slots)
    done: list[int] = []
    for i in order:
        target = halves[i]
        if _plain(target) and steps[i].equation is not None:
            best, best_size = None, k
            for j in done:
                source = halves[j]
                if _plain(source) and source.num_slots < best_size:
                    equation = _derivation(source, target)
                    if equation is not None:
                        best, best_size = (j, equation), source.num_slots
            if best is not None:
                step = steps[i]
                steps[i] = ReductionStep(best[1], step.num_plain_slots, 0, 0, 0, source=best[0])
        done.append(i)
    return tuple(steps), tuple(order)


def _expansion_step(half: _Half) -> ExpansionStep:
    """The expansion writing ``half``'s slots onto its ``size`` axes. For a bottom half
    (transposed) the Levi-Civita slots come last and become one slot per free axis."""
    q = half.num_free_slots
    plain = [tuple(axes) for axes in half.slot_axes[: half.num_slots - q]]
    slot_axes = plain + [(a,) for a in half.free_axes]
    epsilon = half.form_pairs
    diagonals = [axes for axes in slot_axes if len(axes) > 1]
    diagonals += [tuple(block) for block in half.closed if not epsilon and len(block) > 1]
    eps_pairs = [tuple(block) for block in half.closed] if epsilon else []
    permute = tuple(sorted(range(len(slot_axes)), key=lambda i: slot_axes[i][0]))
    firsts = {axes[0] for axes in slot_axes}
    l = half.size
    is_identity = not q and not half.free_axes and not half.closed and slot_axes == [(a,) for a in range(l)]
    return ExpansionStep(
        num_slots=len(plain) + q,
        permute=permute,
        view_shape=tuple(a in firsts for a in range(l)),
        diagonals=tuple(sorted(diagonals)),
        eps_pairs=tuple(sorted(eps_pairs)),
        is_identity=is_identity,
        num_free_slots=q,
        num_free_axes=len(half.free_axes),
    )


def _inverse(p: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(p)
    for i, x in enumerate(p):
        inv[x] = i
    return tuple(inv)


def _assemble(n, dom, cod, reductions, reduction_order, expansions, groups, reduction_of, matching, sign) -> Program:
    """A program from its steps and, per expansion, the group of terms it mixes (term t reads
    reduction ``reduction_of[t]`` with slots permuted by ``matching[t]``)."""
    order: list[int] = []
    slices: list[tuple[int, int]] = []
    terms = []
    for group in groups:
        start = len(order)
        order.extend(group)
        slices.append((start, len(order)))
        terms.append(tuple((reduction_of[t], tuple(matching[t])) for t in group))
    identity = next((e for e, step in enumerate(expansions) if step.is_identity), None)
    # Groups that stack the same reduced tensors share one matmul (weights stacked on the output
    # axis); the identity expansion keeps its own, so that its result can become the output.
    units: dict[tuple, list[int]] = {}
    for e, group_terms in enumerate(terms):
        key = (group_terms, e) if e == identity else (group_terms, None)
        units.setdefault(key, []).append(e)
    return Program(
        n=n,
        dom=dom,
        cod=cod,
        num_diagrams=len(sign),
        reductions=reductions,
        expansions=expansions,
        order=tuple(order),
        signs=tuple(sign[t] for t in order),
        group_slices=tuple(slices),
        terms=tuple(terms),
        identity_expansion=identity,
        reduction_order=reduction_order,
        units=tuple((key[0], tuple(members)) for key, members in units.items()),
    )


def compile_program(plan: LayerPlan, n: int) -> Program:
    """Turn ``plan`` into the static tables :func:`run_reductions`, :func:`run_mixing` and
    :func:`run_expansions` execute.

    >>> from catlayer import S
    >>> from catlayer.plan import plan_layer
    >>> program = compile_program(plan_layer(S(5), S(5).category.hom(2, 2)), 5)
    >>> sorted(r.equation for r in program.reductions if r.source < 0 and r.equation)  # read x
    ['abcc->abc', 'abcd->abc', 'abcd->abd']
    >>> sorted(r.equation for r in program.reductions if r.source >= 0)  # from smaller ones
    ['abc->ab', 'abc->ab']
    >>> program.expansions[program.identity_expansion].is_identity
    True
    >>> sorted(e.diagonals for e in program.expansions if e.diagonals)  # δ on output axes 0, 1
    [((0, 1),), ((0, 1),)]
    """
    reductions, reduction_order = _reduction_steps([_bottom(r) for r in plan.reductions], plan.dom)
    expansions = tuple(_expansion_step(_top(e)) for e in plan.expansions)
    return _assemble(
        n,
        plan.dom,
        plan.cod,
        reductions,
        reduction_order,
        expansions,
        plan.groups,
        plan.reduction_of,
        plan.matching,
        plan.sign,
    )


def compile_adjoint(plan: LayerPlan, n: int) -> Program:
    """The program of the transposed layer, Σ_d w_dᵀ F(d)ᵀ: it maps (B, c_out) + (n,)*l to
    (B, c_in) + (n,)*k with the weights transposed (pass ``weight.transpose(0, 1)``).

    The transpose of a diagram's map is the map of the flipped diagram (with the family's sign,
    which transposing the tables carries automatically): each top half of the plan becomes a
    reduction of the output gradient (shared by every diagram with that top half), each bottom
    half an expansion onto the input gradient, the slot permutations are inverted, and diagrams
    are grouped by bottom half, one matmul per group.

    >>> from catlayer import S
    >>> from catlayer.plan import plan_layer
    >>> plan = plan_layer(S(5), S(5).category.hom(1, 2))
    >>> adjoint = compile_adjoint(plan, 5)
    >>> (adjoint.dom, adjoint.cod, len(adjoint.reductions), len(adjoint.expansions))
    (2, 1, 5, 2)
    """
    reductions, reduction_order = _reduction_steps([_top(e) for e in plan.expansions], plan.cod)
    expansions = tuple(_expansion_step(_bottom(r)) for r in plan.reductions)
    groups = [tuple(t for t, r in enumerate(plan.reduction_of) if r == index) for index in range(len(plan.reductions))]
    matching = [_inverse(tuple(m)) for m in plan.matching]
    return _assemble(
        n, plan.cod, plan.dom, reductions, reduction_order, expansions, groups, plan.expansion_of, matching, plan.sign
    )


def run_reductions(
    program: Program,
    x: torch.Tensor,
    eps: torch.Tensor | None,
    levi_civita: dict[int, torch.Tensor],
) -> list[torch.Tensor]:
    """Reduce x (B, c) + (n,)*k once per bottom half: a list of (B, c, n^slots) tensors (new
    tensors or views of x; nothing is written)."""
    n = program.n
    reduced: list[torch.Tensor] = [x] * len(program.reductions)
    for index in program.reduction_order:
        step = program.reductions[index]
        if step.source >= 0:
            source = _split(reduced[step.source], n, program.reductions[step.source].num_slots)
            reduced[index] = _flat(torch.einsum(step.equation, source), step.num_plain_slots)
            continue
        r = x if step.equation is None else torch.einsum(step.equation, x)
        if step.num_eps_pairs:
            # Contract the trailing pairs one at a time: (…, n·n) @ ε flattened.
            flat = eps.reshape(n * n)
            for _ in range(step.num_eps_pairs):
                r = torch.matmul(r.flatten(-2), flat)
        if step.uses_levi_civita:
            lc = levi_civita[step.num_free_slots]
            free = step.num_free_axes
            r = torch.matmul(r.flatten(r.dim() - free) if free else r.unsqueeze(-1), lc)
            reduced[index] = r.flatten(2) if step.num_plain_slots else r
            continue
        reduced[index] = _flat(r, step.num_plain_slots)
    return reduced


def run_mixing(
    program: Program,
    reduced: list[torch.Tensor],
    weight: torch.Tensor,
    order: torch.Tensor | None,
    signs: torch.Tensor | None,
    defer_identity: bool = False,
) -> list[torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
    """Mix channels: one matmul per expansion group (groups with the same stacked tensors
    share one); a list of (B, c_out, n^slots) tensors, one per expansion.

    ``weight`` is (c_out, c_in, D); ``order``/``signs`` (None when trivial) gather and sign it
    group by group. With ``defer_identity`` the identity expansion's entry is a
    :class:`Deferred` matmul instead, for :func:`run_expansions` to accumulate when it
    assembles the output.
    """
    return _mix_units(program, reduced, gather_weights(weight, order, signs), defer_identity)[0]


def gather_weights(weight: torch.Tensor, order: torch.Tensor | None, signs: torch.Tensor | None) -> torch.Tensor:
    """The weights (c_out, c_in, D) in a program's ``order``, times its ``signs``."""
    return weight if order is None else weight.index_select(2, order) * signs


class Deferred:
    """The identity expansion's matmul, left by :func:`run_mixing` for :func:`run_expansions`
    to accumulate onto the output: Σ_i weights[i] @ stack(terms[i]).

    Its terms are split into chunks whose stacked tensor holds at most as many bytes as the
    layer's input and output together, and each chunk's stack is built only when it is
    multiplied, so one is alive at a time: this bounds the forward's temporaries (a 3 → 3 S_n
    layer stacks 6 permuted copies of its input, a 4 → 4 O(n) layer 24). When ``contract`` is
    set (the backward's weight gradient), each chunk's stack is also contracted with it
    (Σ_batch contract @ stackᵀ) into ``partials``.
    """

    def __init__(self, weights, terms, reduced, n: int, r: int) -> None:
        self.weights, self.terms, self.reduced, self.n, self.r = weights, terms, reduced, n, r
        self.contract: torch.Tensor | None = None
        self.partials: list[torch.Tensor] = []

    def chunks(self):
        """(weights (c_out, K_i), stacked (B, K_i, n^r)) for each chunk, built on demand."""
        for w, terms in zip(self.weights, self.terms, strict=True):
            stacked = _stack(terms, self.reduced, self.n, self.r)
            if self.contract is not None:
                self.partials.append(torch.bmm(self.contract, stacked.transpose(1, 2)).sum(0))
            yield w, stacked
            del stacked  # before the next chunk is stacked: one alive at a time

    def gradient_block(self, reduced: torch.Tensor) -> torch.Tensor:
        """Σ_batch reduced @ stackᵀ over all chunks, side by side: (c, K)."""
        if not self.partials:
            self.contract = reduced
            for _ in self.chunks():
                pass
        blocks, self.partials, self.contract = self.partials, [], None
        return blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1)


def _mix_units(program: Program, reduced, w: torch.Tensor, defer_identity: bool, mix: bool = True):
    """:func:`run_mixing` on gathered weights; also returns each unit's stacked tensor (a
    :class:`Deferred` for the deferred identity unit; with ``mix=False`` only the stacks: the
    weight gradient needs them, not the products)."""
    n = program.n
    c_out = w.shape[0]
    mixed: list = [w] * len(program.expansions)
    stacks = []
    for terms, members in program.units:
        r = program.expansions[members[0]].num_slots
        deferred = defer_identity and members == (program.identity_expansion,)
        if deferred:
            c_in = reduced[terms[0][0]].shape[1]
            size = max(1, (c_in * n**program.dom + c_out * n**program.cod) // (c_in * n**r))
            start, stop = program.group_slices[members[0]]
            chunks = [range(j, min(len(terms), j + size)) for j in range(0, len(terms), size)]
            weights = [w[:, :, start + c.start : start + c.stop].permute(0, 2, 1).reshape(c_out, -1) for c in chunks]
            mixed[members[0]] = Deferred(weights, [terms[c.start : c.stop] for c in chunks], reduced, n, r)
            stacks.append(mixed[members[0]])
            continue
        stacked = _stack(terms, reduced, n, r)
        stacks.append(stacked)
        if not mix:
            continue
        width = stacked.shape[1]
        blocks = []
        for e in members:
            start, stop = program.group_slices[e]
            blocks.append(w[:, :, start:stop].permute(0, 2, 1).reshape(c_out, width))
        w_u = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=0)
        z = _mix(w_u, stacked)
        for i, e in enumerate(members):
            mixed[e] = z if len(members) == 1 else z.narrow(1, i * c_out, c_out)
    return mixed, stacks


def weight_gradient(
    adjoint: Program,
    stacks: list,
    reduced: list[torch.Tensor],
    signs: torch.Tensor | None,
    inverse: torch.Tensor | None,
) -> torch.Tensor:
    """∂L/∂W (c_out, c_in, D) from the stacked, permuted reductions of the output gradient
    (``stacks``, one per unit of the adjoint program, as its mixing builds them: a tensor, or a
    :class:`Deferred`) and the reductions of the input (``reduced``, one per bottom half): per
    bottom half one batched matmul, summed over the batch. ``signs`` and ``inverse`` (None when
    the adjoint order is trivial) undo the adjoint program's weight gather."""
    blocks: list = [None] * len(adjoint.expansions)
    for (_, members), stacked in zip(adjoint.units, stacks, strict=True):
        if isinstance(stacked, Deferred):
            blocks[members[0]] = stacked.gradient_block(reduced[members[0]])
            continue
        transposed = stacked.transpose(1, 2)
        for e in members:
            blocks[e] = torch.bmm(reduced[e], transposed).sum(0)
    pieces = [
        b.reshape(b.shape[0], stop - start, -1) for b, (start, stop) in zip(blocks, adjoint.group_slices, strict=True)
    ]
    grad = (pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)).permute(2, 0, 1)
    if inverse is not None:
        grad = (grad * signs).index_select(2, inverse)
    return grad


def _mix(weight: torch.Tensor, stacked: torch.Tensor) -> torch.Tensor:
    """(c_out, K) @ (B, K, N) → (B, c_out, N) by ``bmm`` against the weight expanded over the
    batch (stride 0, no copy): the same kernel ``matmul`` picks in eager, but a core op that
    export, ONNX and compile take as is (``matmul``'s broadcasting decomposition is slow to
    trace with a symbolic batch)."""
    return torch.bmm(_batched(weight, stacked), stacked)


def _batched(weight: torch.Tensor, stacked: torch.Tensor) -> torch.Tensor:
    return weight.expand(stacked.shape[0], weight.shape[0], weight.shape[1])


def _stack(terms, reduced: list[torch.Tensor], n: int, r: int) -> torch.Tensor:
    """The reduced tensors of ``terms``, slots permuted by their matching, stacked on the
    channel axis: (B, D_e·c_in, n^r), by one ``torch.cat`` of (strided) views, which reads each
    permuted view once and writes the stack once (functional: nothing is written into a
    preallocated buffer, which export would see as writes into views)."""
    identity = tuple(range(r))
    if len(terms) == 1 and terms[0][1] == identity:
        return reduced[terms[0][0]]
    views = []
    for reduction, matching in terms:
        t = _split(reduced[reduction], n, r)
        if matching != identity:
            t = t.permute(0, 1, *(2 + m for m in matching))
        views.append(t)
    return _flat(torch.cat(views, dim=1), r)


def _compact(step: ExpansionStep, z: torch.Tensor, n: int, levi_civita: dict | None) -> torch.Tensor:
    """z (B, c, n^slots) as a tensor that broadcasts to the output (B, c) + (n,)*l: slot
    values on the first output axis of their slot, size 1 on every other axis."""
    if step.uses_levi_civita:
        q, plain = step.num_free_slots, step.num_slots - step.num_free_slots
        z = torch.matmul(_unflatten(z, (n**plain, n**q)), levi_civita[q].t()).flatten(2)
    r = len(step.permute)
    if step.permute != tuple(range(r)):
        z = _split(z, n, r).permute(0, 1, *(2 + p for p in step.permute)).flatten(2)
    if not step.view_shape:
        return z.squeeze(2)
    if step.view_shape == (True,):
        return z
    return _unflatten(z, tuple(n if full else 1 for full in step.view_shape))


def _factor(key, l: int, n: int, eye: torch.Tensor, eps: torch.Tensor | None) -> torch.Tensor:
    """The constant factor of an expansion (see :class:`ExpansionStep`) as a (1, 1) + (n or 1,)*l
    tensor: a product of broadcast n × n matrices (δ = ``eye`` tying the first axis of each
    diagonal group to each other one, ε on each pair). Its size is at most n^l, independent of
    batch and channels, so building it on each call is cheap and keeps it a traced constant."""
    diagonals, eps_pairs = key
    pairs = [(axes[0], a, eye) for axes in diagonals for a in axes[1:]]
    pairs += [(a, b, eps) for a, b in eps_pairs]
    factor = None
    for a, b, matrix in pairs:
        shape = [1] * (2 + l)
        shape[2 + a] = shape[2 + b] = n
        t = matrix.reshape(shape)
        factor = t if factor is None else factor * t
    return factor


def _accumulate(sources: list[tuple[tuple[bool, ...], torch.Tensor]]) -> list[tuple[tuple[bool, ...], torch.Tensor]]:
    """Sum broadcastable tensors cheaply: fold each into an accumulator whose full axes contain
    its own (compact adds), largest patterns first. Returns the accumulators (pattern, sum)."""
    accumulators: list[tuple[tuple[bool, ...], torch.Tensor]] = []
    for pattern, tensor in sorted(sources, key=lambda item: -sum(item[0])):
        for i, (acc_pattern, acc) in enumerate(accumulators):
            if all(a or not p for a, p in zip(acc_pattern, pattern, strict=True)):
                accumulators[i] = (acc_pattern, acc + tensor)
                break
        else:
            accumulators.append((pattern, tensor))
    return accumulators


def run_expansions(
    program: Program,
    mixed: list,
    eps: torch.Tensor | None,
    extra: list[tuple[ExpansionStep, torch.Tensor]] = (),
    batch_broadcast: tuple[bool, ...] = (),
    eye: torch.Tensor | None = None,
    levi_civita: dict[int, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Expand each mixed tensor onto the output (B, c_out) + (n,)*l and sum: a new tensor.

    ``extra`` holds further (step, tensor) pairs (e.g. bias expansions with no counterpart in
    the layer) whose tensors have batch size 1; ``batch_broadcast[e]`` says the same of
    ``mixed[e]`` (static flags, never read from shapes). ``eye`` is the n × n identity (built
    here when None; layers pass a buffer); ``levi_civita`` the tables of
    :func:`run_reductions`, needed by adjoint programs of SO(n) layers.

    Expansions are summed in compact (broadcast) form, grouped by their constant factor
    (diagonal indicators, ε), and each group meets the output once, by one ``add`` or
    ``addcmul``. Traced (export, compile) or recorded by autograd, every step is out-of-place
    and a diagonal is written by multiplying with a constant δ = I_n: a pass over the output
    instead of n^(#blocks) writes, but in-place writes into views are what the TorchScript ONNX
    exporter silently mistranslates and what the dynamo exporter rejects, while
    ``mul``/``addcmul`` by a constant export to plain ONNX ``Mul``/``Add`` everywhere and fuse into
    one kernel under ``torch.compile``. In eager inference (and inside the adjoint plan's
    Function) the same terms are accumulated in place into the sum this function created, a δ
    group through the diagonal view (see :func:`_sum_parts`).

    The identity expansion (deferred by :func:`run_mixing`) is one ``bmm``. With two or more
    groups besides it, they are summed first into a full tensor C and the matmul accumulates
    onto it (``baddbmm``; in place in eager): fresh full-size tensors cost a pass and, with the
    default CPU allocator, page faults; with one group, the group is added onto the matmul's
    result (no copy of C).
    """
    n, l = program.n, program.cod
    groups: dict = {}
    deferred = None
    for e, (step, z) in enumerate(zip(program.expansions, mixed, strict=True)):
        if isinstance(z, tuple):  # (weights, stacked): one precomputed chunk
            deferred = [z]
            continue
        if isinstance(z, Deferred):
            deferred = z.chunks()
            continue
        batch1 = e < len(batch_broadcast) and batch_broadcast[e]
        pattern = (not batch1, True, *step.view_shape)
        groups.setdefault(step.factor, []).append((pattern, _compact(step, z, n, levi_civita)))
    for step, z in extra:
        groups.setdefault(step.factor, []).append(((False, True, *step.view_shape), _compact(step, z, n, levi_civita)))
    # Plain broadcasts first (largest patterns first), then one multiply-add per factor.
    parts = []
    for key in sorted(groups, key=lambda key: key is not None):
        factor = None
        factor_pattern = (False,) * (2 + l)
        if key is not None:
            if eye is None and key[0]:  # δ factors only; an ε factor needs no identity
                first = next(z for z in [*mixed, *(z for _, z in extra)] if isinstance(z, torch.Tensor))
                eye = torch.eye(n, dtype=first.dtype, device=first.device)
            factor = _factor(key, l, n, eye, eps)
            factor_pattern = (False, False, *(s > 1 for s in factor.shape[2:]))
        diagonals = key[0] if key is not None and not key[1] else None  # δ only: a diagonal view serves
        for pattern, acc in _accumulate(groups[key]):
            parts.append((tuple(a or f for a, f in zip(pattern, factor_pattern, strict=True)), acc, factor, diagonals))
    del groups
    if deferred is not None:
        # Accumulating into tensors created here, rather than allocating one per term, saves a
        # pass and the page faults of a fresh allocation per term.
        in_place = _in_place()
        spatial = [any(p[2 + a] for p, *_ in parts) for a in range(l)]
        summed_first = len(parts) >= 2 and all(spatial)
        out = None
        if summed_first:
            out = _flat(_sum_parts(parts, in_place=in_place)[0], l)
            parts = []  # free the compact terms (and, through them, the mixed tensors) early
        del mixed
        for weight, stacked in deferred:
            w = _batched(weight, stacked)
            if out is None:
                out = torch.bmm(w, stacked)
            elif in_place and out.shape == (stacked.shape[0], weight.shape[0], stacked.shape[2]):
                out = out.baddbmm_(w, stacked)
            else:
                out = torch.baddbmm(out, w, stacked)
            del stacked, w
        return _sum_parts([((True,) * (2 + l), None, None, None), *parts], _split(out, n, l), in_place)[0]
    out, pattern = _sum_parts(parts)
    if not all(pattern):
        # Some axis is still a broadcast: materialise, taking batch and channel sizes from the
        # first batch-sized mixed tensor (the layer's own terms always include one).
        like = next((z for e, z in enumerate(mixed) if not (e < len(batch_broadcast) and batch_broadcast[e])), mixed[0])
        out = out.expand((like.shape[0], like.shape[1]) + (n,) * l).contiguous()
    return out


def _sum_parts(parts, out: torch.Tensor | None = None, in_place: bool = False) -> tuple[torch.Tensor, tuple[bool, ...]]:
    """Σ acc (× factor) over ``parts`` (pattern, acc, factor, diagonals), onto ``out`` when
    given (a tensor created by the caller; the first part is then a placeholder for it);
    returns the sum and its broadcast pattern.

    With ``in_place``, a sum this function owns (``out``, or a tensor it created) that already
    has the shape of the next term is accumulated into instead of replaced, and a factor made
    of δ alone (``diagonals`` not None) is then applied by adding into the diagonal view: about
    n^(l−1) writes instead of a pass over the output."""
    pattern = None
    owned = out is not None
    for part_pattern, acc, factor, diagonals in parts:
        pattern = part_pattern if pattern is None else tuple(a or b for a, b in zip(pattern, part_pattern, strict=True))
        if acc is None:
            continue
        if out is None:
            out, owned = (acc, False) if factor is None else (acc * factor, True)
            continue
        if in_place and owned and _fits(acc, out) and (factor is None or _fits(factor, out)):
            if factor is None:
                out.add_(acc)
            elif diagonals is not None:
                _diagonal(out, diagonals).add_(_diagonal(acc.expand(out.shape), diagonals))
            else:
                out.addcmul_(acc, factor)
        else:
            out, owned = (out + acc if factor is None else torch.addcmul(out, acc, factor)), True
    return out, pattern


def _fits(t: torch.Tensor, out: torch.Tensor) -> bool:
    """Whether t broadcasts to out's shape (same rank, each size 1 or out's)."""
    return t.dim() == out.dim() and all(a == b or a == 1 for a, b in zip(t.shape, out.shape, strict=True))


def _diagonal(t: torch.Tensor, diagonals: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """The view of t (B, c) + (n,)*l on which the output axes of each group in ``diagonals``
    carry one index: the group's axes merge into its first (strides summed)."""
    sizes, strides = list(t.shape), list(t.stride())
    tied = set()
    for axes in diagonals:
        strides[2 + axes[0]] = sum(strides[2 + a] for a in axes)
        tied.update(2 + a for a in axes[1:])
    keep = [i for i in range(t.dim()) if i not in tied]
    return t.as_strided([sizes[i] for i in keep], [strides[i] for i in keep], t.storage_offset())


def _in_place() -> bool:
    """Whether :func:`run_expansions` may accumulate in place: in eager without autograd
    recording (inference, and PlanFunction's forward and backward). Under a tracer (TorchScript,
    dynamo, ``torch.export``, the ONNX exporters) or a ``torch.func`` transform every op stays
    out-of-place, so that the traced graph is functional; the export tests compare that graph's
    numbers with the eager ones. Under autocast too: autocast casts the operands of
    out-of-place ops only, so an in-place op would meet mixed dtypes."""
    return not (
        torch.is_grad_enabled()
        or torch.jit.is_tracing()
        or torch.compiler.is_compiling()
        or torch._C._are_functorch_transforms_active()
        or torch._C._is_any_autocast_enabled()
    )


def mixing_shapes(program: Program, c_in: int) -> list[tuple[int, int]]:
    """(K, n^slots) of each group's channel-mixing matmul: K = D_e·c_in stacked channels."""
    return [
        ((stop - start) * c_in, program.n**step.num_slots)
        for (start, stop), step in zip(program.group_slices, program.expansions, strict=True)
    ]


def second_moments(plan: LayerPlan, n: int) -> tuple[int, ...]:
    """‖F(d)‖_F² for every diagram of ``plan``, in closed form from its halves.

    Every non-zero entry of F(d) is ±1 and the non-zeros are the index tuples that are constant
    on each block (n choices per block; a symplectic pair also has n non-zeros, one per first
    index), with the n free vertices of an n-diagram taking distinct values (n! choices).

    >>> from catlayer import S
    >>> from catlayer.plan import plan_layer
    >>> second_moments(plan_layer(S(3), S(3).category.hom(1, 1)), 3)
    (3, 9)
    """
    out = []
    for t in range(len(plan)):
        red = plan.reductions[plan.reduction_of[t]]
        exp = plan.expansions[plan.expansion_of[t]]
        blocks = red.num_slots - red.num_free_slots + len(red.closed) + len(exp.closed)
        free = red.num_free_slots + len(red.free_axes)
        out.append(n**blocks * (math.factorial(n) if free else 1))
    return tuple(out)
