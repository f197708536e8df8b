"""Execute a :class:`~catlayer.plan.LayerPlan` with torch ops (design.md §4).

:func:`compile_program` turns a plan and n into a :class:`Program`: nested tuples of ints and
strings only (einsum equations, permutations, reshape sizes, ``torch.diagonal`` axis pairs), so
that ``forward`` branches on static structure alone and ``torch.compile(fullgraph=True)``,
``torch.export`` and ``torch.func.vmap`` see a fixed sequence of tensor ops. Nothing here
re-derives the maths: every step reads the plan's index tables.

Executing a program on x of shape (B, c_in) + (n,)*k with weights W of shape
(c_out, c_in, D):

1. **reduce**: each distinct bottom half once, x → (B, c_in, n^slots): one ``einsum`` takes the
   diagonals of the slots and sums the closed "delta" blocks (reading, when possible, a smaller
   reduced tensor instead of x: the total sum from the row sums); a symplectic closed pair is
   then contracted with ε (a matmul against ε flattened), the free axes of an n-diagram with
   the Levi-Civita symbol (a matmul against the symbol reshaped to (n^free_axes, n^free_slots));
2. **mix**: per expansion group, the reduced tensors permuted by ``matching`` are stacked on the
   channel axis and mixed by one ``matmul`` against the signed weights gathered to
   (c_out, D_e·c_in);
3. **expand**: expansions that only broadcast are summed in compact form and written once;
   the identity expansion's matmul accumulates straight into that buffer (``baddbmm_``); the
   others add onto strided diagonal views of the output (``torch.diagonal`` chains; a closed
   "delta" block broadcasts, a closed ε pair multiplies by ε).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..plan import LayerPlan

__all__ = [
    "ExpansionStep",
    "Program",
    "ReductionStep",
    "compile_program",
    "run_expansions",
    "run_mixing",
    "run_reductions",
]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


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
    """(B, c, n^num_slots) → contribution to the output (B, c, n…n) for one top half.

    The output view is built by ``diagonals`` (successive ``torch.diagonal(dim1, dim2)`` calls,
    dims counted after the batch and channel axes), then ``permute`` orders its axes as: slots,
    then one axis per closed block (two for an ε pair). The tensor is reshaped to
    ``src_shape`` (size-1 axes broadcast along closed delta blocks) and multiplied by ε on each
    pair of view axes in ``eps_axes``. ``is_identity`` marks a top half that is the identity
    map (its tensor is the output itself).
    """

    num_slots: int
    diagonals: tuple[tuple[int, int], ...]
    permute: tuple[int, ...]
    src_shape: tuple[int, ...]
    eps_axes: tuple[tuple[int, int], ...]
    is_identity: bool


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
        return any(r.num_eps_pairs for r in self.reductions) or any(e.eps_axes for e in self.expansions)

    @property
    def levi_civita_shapes(self) -> tuple[int, ...]:
        """The numbers of free slots q of the Levi-Civita contractions used (one buffer each)."""
        return tuple(sorted({r.num_free_slots for r in self.reductions if r.uses_levi_civita}))

    @property
    def trivial_order(self) -> bool:
        return self.order == tuple(range(self.num_diagrams)) and all(s == 1 for s in self.signs)


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


def _reduction_steps(plan: LayerPlan) -> tuple[tuple[ReductionStep, ...], tuple[int, ...]]:
    """The reduction steps and an order to compute them in (sources first)."""
    k = plan.dom
    steps = [_reduction_step(r, k) for r in plan.reductions]
    order = sorted(range(len(steps)), key=lambda i: -plan.reductions[i].num_slots)
    done: list[int] = []
    for i in order:
        target = plan.reductions[i]
        if _plain(target) and steps[i].equation is not None:
            best, best_size = None, k
            for j in done:
                source = plan.reductions[j]
                if _plain(source) and source.num_slots < best_size:
                    equation = _derivation(source, target)
                    if equation is not None:
                        best, best_size = (j, equation), source.num_slots
            if best is not None:
                step = steps[i]
                steps[i] = ReductionStep(best[1], step.num_plain_slots, 0, 0, 0, source=best[0])
        done.append(i)
    return tuple(steps), tuple(order)


def _expansion_step(expansion, l: int) -> ExpansionStep:
    groups: list[tuple[int, ...]] = [tuple(axes) for axes in expansion.slot_axes]
    src_shape_tail: list[int] = []
    closed_groups: list[tuple[int, ...]] = []
    eps_pairs: list[tuple[int, int]] = []
    for block in expansion.closed:
        if expansion.form_pairs:
            a, b = block
            eps_pairs.append((len(groups) + len(closed_groups), len(groups) + len(closed_groups) + 1))
            closed_groups += [(a,), (b,)]
        else:
            closed_groups.append(tuple(block))
        src_shape_tail += [1] * (2 if expansion.form_pairs else 1)
    groups += closed_groups
    # Chain torch.diagonal calls; track what each dim (after batch, channel) holds.
    names: list[tuple[str, int]] = [("axis", a) for a in range(l)]
    diagonals: list[tuple[int, int]] = []
    for g, axes in enumerate(groups):
        if len(axes) == 1:
            names[names.index(("axis", axes[0]))] = ("group", g)
            continue
        first = ("axis", axes[0])
        for a in axes[1:]:
            i, j = names.index(first), names.index(("axis", a))
            diagonals.append((i, j))
            names = [name for t, name in enumerate(names) if t not in (i, j)] + [("group", g)]
            first = ("group", g)
    permute = tuple(names.index(("group", g)) for g in range(len(groups)))
    r = expansion.num_slots
    is_identity = r == l and not expansion.closed and all(axes == (i,) for i, axes in enumerate(expansion.slot_axes))
    return ExpansionStep(
        num_slots=r,
        diagonals=tuple(diagonals),
        permute=permute,
        src_shape=tuple(src_shape_tail),
        eps_axes=tuple(eps_pairs),
        is_identity=is_identity,
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
    """
    reductions, reduction_order = _reduction_steps(plan)
    expansions = tuple(_expansion_step(e, plan.cod) for e in plan.expansions)
    order: list[int] = []
    slices: list[tuple[int, int]] = []
    terms = []
    for group in plan.groups:
        start = len(order)
        order.extend(group)
        slices.append((start, len(order)))
        group_terms = []
        for t in group:
            matching = plan.matching[t]
            group_terms.append((plan.reduction_of[t], tuple(matching)))
        terms.append(tuple(group_terms))
    identity = next((e for e, step in enumerate(expansions) if step.is_identity), None)
    # Groups that stack the same reduced tensors share one matmul (weights stacked on the output
    # axis); the identity expansion keeps its own, so that its result can become the output.
    units: dict[tuple, list[int]] = {}
    for e, group_terms in enumerate(terms):
        key = (group_terms, e) if e == identity else (group_terms, None)
        units.setdefault(key, []).append(e)
    return Program(
        n=n,
        dom=plan.dom,
        cod=plan.cod,
        num_diagrams=len(plan),
        reductions=reductions,
        expansions=expansions,
        order=tuple(order),
        signs=tuple(plan.sign[t] for t in order),
        group_slices=tuple(slices),
        terms=tuple(terms),
        identity_expansion=identity,
        reduction_order=reduction_order,
        units=tuple((key[0], tuple(members)) for key, members in units.items()),
    )


def run_reductions(
    program: Program,
    x: torch.Tensor,
    eps: torch.Tensor | None,
    levi_civita: dict[int, torch.Tensor],
) -> list[torch.Tensor]:
    """Reduce x (B, c) + (n,)*k once per bottom half: a list of (B, c, n^slots) tensors."""
    n = program.n
    batch, channels = x.shape[0], x.shape[1]
    reduced: list[torch.Tensor] = [x] * len(program.reductions)
    for index in program.reduction_order:
        step = program.reductions[index]
        if step.source >= 0:
            source = reduced[step.source]
            shape = (batch, channels) + (n,) * program.reductions[step.source].num_slots
            r = torch.einsum(step.equation, source.reshape(shape))
            reduced[index] = r.reshape(batch, channels, n**step.num_plain_slots)
            continue
        r = x if step.equation is None else torch.einsum(step.equation, x)
        if step.num_eps_pairs:
            # Contract the trailing pairs one at a time: (…, n·n) @ ε flattened.
            flat = eps.reshape(n * n)
            for remaining in range(step.num_eps_pairs - 1, -1, -1):
                rest = n ** (step.num_plain_slots + step.num_free_axes + 2 * remaining)
                r = torch.matmul(r.reshape(batch, channels, rest, n * n), flat)
        if step.uses_levi_civita:
            lc = levi_civita[step.num_free_slots]
            r = torch.matmul(r.reshape(batch, channels, n**step.num_plain_slots, n**step.num_free_axes), lc)
        reduced[index] = r.reshape(batch, channels, n ** (step.num_plain_slots + step.num_free_slots))
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
    group by group. With ``defer_identity`` the identity expansion's entry is the pair
    (weights (c_out, K), stacked (B, K, n^l)) instead, for :func:`run_expansions` to multiply
    straight into the output buffer.
    """
    n = program.n
    c_out = weight.shape[0]
    w = weight
    if order is not None:
        w = w.index_select(2, order) * signs
    mixed: list[torch.Tensor] = [weight] * len(program.expansions)
    for terms, members in program.units:
        r = program.expansions[members[0]].num_slots
        stacked = _stack(terms, reduced, n, r)
        width = stacked.shape[1]
        blocks = []
        for e in members:
            start, stop = program.group_slices[e]
            blocks.append(w[:, :, start:stop].permute(0, 2, 1).reshape(c_out, width))
        w_u = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=0)
        if defer_identity and members == (program.identity_expansion,):
            mixed[members[0]] = (w_u, stacked.reshape(stacked.shape[0], width, n**r))
            continue
        if r == 0:
            z = torch.matmul(stacked.reshape(stacked.shape[0], width), w_u.t())
        else:
            z = torch.matmul(w_u, stacked)
        z = z.reshape(z.shape[0], len(members) * c_out, n**r)
        for i, e in enumerate(members):
            mixed[e] = z if len(members) == 1 else z[:, i * c_out : (i + 1) * c_out]
    return mixed


def _stack(terms, reduced: list[torch.Tensor], n: int, r: int) -> torch.Tensor:
    """The reduced tensors of ``terms``, slots permuted by their matching, stacked on the
    channel axis: (B, D_e·c_in, n^r). Written block by block into one buffer (``torch.cat``
    of permuted views is several times slower)."""
    identity = tuple(range(r))
    views = []
    for reduction, matching in terms:
        t = reduced[reduction]
        if matching != identity:
            t = t.reshape((t.shape[0], t.shape[1]) + (n,) * r).permute(0, 1, *(2 + m for m in matching))
        views.append(t)
    first = views[0]
    batch, channels = first.shape[0], first.shape[1]
    if len(views) == 1:
        return first.reshape(batch, channels, n**r)
    out = first.new_empty((batch, channels * len(views)) + (n,) * r)
    for j, t in enumerate(views):
        out[:, j * channels : (j + 1) * channels].copy_(t.reshape((batch, channels) + (n,) * r))
    return out.reshape(batch, channels * len(views), n**r)


def _expansion_source(step: ExpansionStep, z: torch.Tensor, n: int, eps: torch.Tensor | None) -> torch.Tensor:
    src = z.reshape((z.shape[0], z.shape[1]) + (n,) * step.num_slots + step.src_shape)
    for a, b in step.eps_axes:
        shape = [1] * (2 + len(step.permute))
        shape[2 + a] = n
        shape[2 + b] = n
        src = src * eps.reshape(shape)
    return src


def _diagonal_view(step: ExpansionStep, out: torch.Tensor) -> torch.Tensor:
    view = out
    for i, j in step.diagonals:
        view = torch.diagonal(view, 0, 2 + i, 2 + j)
    return view.permute(0, 1, *(2 + p for p in step.permute))


def _broadcast_layout(step: ExpansionStep, l: int) -> tuple[tuple[int, ...], tuple[bool, ...]] | None:
    """For an expansion without diagonals or ε (each slot and closed block one output axis):
    the permutation taking its source (slots, then closed blocks) to output axis order, and
    which output axes have size n (the others broadcast). None for any other expansion."""
    if step.diagonals or step.eps_axes or step.is_identity:
        return None
    inverse = [0] * l
    for g, position in enumerate(step.permute):
        inverse[position] = g
    return tuple(inverse), tuple(inverse[a] < step.num_slots for a in range(l))


def _broadcast_sum(sources: list[tuple[torch.Tensor, tuple[bool, ...]]]) -> tuple[torch.Tensor | None, bool]:
    """Sum broadcastable tensors cheaply: fold each into an accumulator whose full axes
    contain its own (compact adds), largest patterns first, then add the accumulators.
    Also returns whether the sum has every axis full (decided from the static patterns)."""
    accumulators: list[tuple[tuple[bool, ...], torch.Tensor]] = []
    for tensor, pattern in sorted(sources, key=lambda item: -sum(item[1])):
        for i, (acc_pattern, acc) in enumerate(accumulators):
            if all(a or not p for a, p in zip(acc_pattern, pattern, strict=True)):
                accumulators[i] = (acc_pattern, acc + tensor)
                break
        else:
            accumulators.append((pattern, tensor))
    if not accumulators:
        return None, False
    total = accumulators[0][1]
    for _, acc in accumulators[1:]:
        total = total + acc
    full = all(any(pattern[a] for pattern, _ in accumulators) for a in range(len(accumulators[0][0])))
    return total, full


def run_expansions(
    program: Program,
    mixed: list,
    eps: torch.Tensor | None,
    extra: list[tuple[ExpansionStep, torch.Tensor]] = (),
    batch_broadcast: tuple[bool, ...] = (),
) -> torch.Tensor:
    """Expand each mixed tensor onto the output (B, c_out) + (n,)*l and accumulate.

    ``extra`` holds further (step, tensor) pairs (e.g. bias expansions with no counterpart in
    the layer) whose tensors have batch size 1; ``batch_broadcast[e]`` says the same of
    ``mixed[e]`` (static flags, never read from shapes). Expansions that only broadcast (no
    diagonal, no ε) are summed in compact form first and written once; the identity expansion,
    when deferred by :func:`run_mixing`, is multiplied straight into that buffer
    (``baddbmm_``); diagonal and ε expansions are added onto strided views.
    """
    n, l = program.n, program.cod
    base = program.identity_expansion
    work = [
        (step, z, e < len(batch_broadcast) and batch_broadcast[e])
        for e, (step, z) in enumerate(zip(program.expansions, mixed, strict=True))
        if e != base
    ]
    work += [(step, z, True) for step, z in extra]
    pending = mixed[base] if base is not None and isinstance(mixed[base], tuple) else None
    sources, rest = [], []
    for step, z, batch1 in work:
        layout = _broadcast_layout(step, l)
        if layout is None:
            rest.append((step, z))
            continue
        inverse, full = layout
        src = _expansion_source(step, z, n, eps).permute(0, 1, *(2 + g for g in inverse))
        sources.append((src, (not batch1, True, *full)))
    if base is not None and pending is None:
        z = mixed[base]
        shape = (z.shape[0], z.shape[1]) + (n,) * l
        sources.append((z.reshape(shape), (True, True) + (True,) * l))
    total, full = _broadcast_sum(sources)
    if pending is not None:
        weight, stacked = pending
        batch, c_out = stacked.shape[0], weight.shape[0]
        shape = (batch, c_out) + (n,) * l
        if total is None:
            out = torch.matmul(weight, stacked).reshape(shape)
        else:
            out = total.contiguous() if full else total.expand(shape).contiguous()
            out = out.reshape(batch, c_out, n**l).baddbmm_(weight.expand(batch, -1, -1), stacked).reshape(shape)
    elif total is not None:
        shape = (mixed[0].shape[0], total.shape[1]) + (n,) * l
        out = total.contiguous() if full else total.expand(shape).contiguous()
    else:
        z = mixed[0]
        out = z.new_zeros((z.shape[0], z.shape[1]) + (n,) * l)
    for step, z in rest:
        _diagonal_view(step, out).add_(_expansion_source(step, z, n, eps))
    return out


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
