"""Run a compiled :class:`~catlayer.nn.compile.Program` with torch ops (docs/conventions.md §7).

Executing a program on inputs x_i of shape (B, c_i) + axes, with the mixing matrices of its
expansion groups:

1. **reduce** (:func:`run_reductions`): each distinct bottom half once, x_i → (B, c_i, Π slots):
   one ``einsum`` takes the diagonals of the slots and sums the closed "delta" blocks (reading,
   when possible, a smaller reduced tensor instead of x: the total sum from the row sums); a
   closed pair with a pair form is then contracted with its factor's form (a matmul against the
   form flattened), the free axes of an n-diagram with the Levi-Civita symbol (a matmul against
   the symbol reshaped to (n^free axes, n^free slots)); a mean scales the result by the sizes
   of the factors it sums over, when they are only known at run time (masks, ``S()``);
2. **mix** (:func:`mix_units`): per expansion group, the reduced tensors permuted by their
   matching are stacked on the channel axis (one ``cat``) and mixed by one ``bmm``;
3. **expand** (:func:`run_expansions`): each mixed tensor is viewed so that it broadcasts to
   its output (a closed "delta" block is a size-1 axis); expansions with the same constant
   factor (δ on each diagonal, a form on each closed pair) are summed in that compact form, and
   each such sum meets the output once (``add`` or ``addcmul`` with the factor), onto the
   identity expansion's matmul when there is one.

Sizes are read off the inputs (``sizes[f]`` for factor f: an int, or a symbolic size under a
tracer), so the same ops run at every n. Whenever ops are traced or recorded by autograd every op
is out-of-place (the graph is functional: nothing writes into a view or a preallocated buffer);
in eager inference and inside the adjoint plan's autograd Function the expansions are
accumulated in place into tensors this module created (fewer passes, fewer fresh allocations).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .compile import ExpansionStep, Gather, Program

__all__ = [
    "Deferred",
    "Forms",
    "gather_weights",
    "mix_units",
    "run_expansions",
    "run_reductions",
    "weight_gradients",
]

Size = Any  # an int, or a torch.SymInt under a tracer


class Forms:
    """The constant tensors a program reads, by factor: pair forms, identities (δ), and the
    Levi-Civita tables by contraction key; ``sizes`` gives each factor's size for this call."""

    __slots__ = ("eye", "form", "levi_civita", "sizes")

    def __init__(
        self,
        sizes: Sequence[Size],
        form: dict[int, torch.Tensor],
        eye: dict[int, torch.Tensor],
        levi_civita: dict[Any, torch.Tensor],
    ) -> None:
        self.sizes = tuple(sizes)
        self.form = form
        self.eye = eye
        self.levi_civita = levi_civita

    def identity(self, f: int, like: torch.Tensor) -> torch.Tensor:
        """δ of factor f: a buffer for a fixed size, built for this call otherwise."""
        eye = self.eye.get(f)
        if eye is None:
            eye = torch.eye(self.sizes[f], dtype=like.dtype, device=like.device)
            self.eye[f] = eye
        return eye


def _flat(t: torch.Tensor, r: int) -> torch.Tensor:
    """(B, c) + r slot axes → (B, c, Π slots) without reading the batch size."""
    if r == 1:
        return t
    return t.flatten(2) if r else t.unsqueeze(2)


def _split(t: torch.Tensor, sizes: tuple[Size, ...]) -> torch.Tensor:
    """(B, c, Π sizes) → (B, c) + sizes, the inverse of :func:`_flat`. A ``reshape`` with the
    leading sizes read from t, not ``Tensor.unflatten``, whose TorchScript ONNX translation bakes
    the example's batch size into the graph."""
    if len(sizes) == 1:
        return t
    if not sizes:
        return t.squeeze(2)
    return t.reshape(t.shape[:2] + tuple(sizes) + t.shape[3:])


def _slot_sizes(factors: tuple[int, ...], forms: Forms) -> tuple[Size, ...]:
    return tuple(forms.sizes[f] for f in factors)


def run_reductions(
    program: Program,
    inputs: Sequence[torch.Tensor],
    forms: Forms,
    scales: dict[int, torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Reduce every input once per bottom half: a list of (B, c, Π slots) tensors (new tensors
    or views of the inputs; nothing is written). ``scales[r]`` (per sample, (B, 1, 1), or one
    number) multiplies reduction r (the mean over a size known only at run time)."""
    reduced: list[Any] = [None] * len(program.reductions)
    for index in program.reduction_order:
        step = program.reductions[index]
        x = inputs[step.input]
        if step.source >= 0:
            source_step = program.reductions[step.source]
            source = _split(reduced[step.source], _slot_sizes(source_step.slot_factor, forms))
            reduced[index] = _flat(torch.einsum(step.equation, source), step.num_plain_slots)
            continue
        r = x if step.equation is None else torch.einsum(step.equation, x)
        for f in reversed(step.eps_factors):  # the last pair first: contract the trailing two axes
            r = torch.matmul(r.flatten(-2), forms.form[f].reshape(-1))
        if step.uses_levi_civita:
            free = step.num_free_axes
            lc = forms.levi_civita[step.levi_civita]
            r = torch.matmul(r.flatten(r.dim() - free) if free else r.unsqueeze(-1), lc)
            reduced[index] = r.flatten(2) if step.num_plain_slots else r
            continue
        reduced[index] = _flat(r, step.num_plain_slots)
    if scales:
        for index, scale in scales.items():
            reduced[index] = reduced[index] * scale
    return reduced


def gather_weights(weights: Sequence[torch.Tensor], gather: Gather, tables: Sequence[Any]) -> list[torch.Tensor]:
    """The mixing matrix of every expansion group, from the block weights (c_out, c_in, D)
    (pass them transposed for an adjoint program). ``tables[o]`` is (columns, coefficients) of
    output o as tensors, or None when its gather is trivial."""
    gathered: list[Any] = []
    for o, blocks in enumerate(gather.sources):
        if not blocks:  # an output no block writes (in an adjoint: an input no output reads)
            gathered.append(None)
            continue
        parts = [weights[b].permute(0, 2, 1).reshape(weights[b].shape[0], -1) for b in blocks]
        w = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        if tables[o] is not None:
            columns, coefficients = tables[o]
            w = w.index_select(1, columns) * coefficients
        gathered.append(w)
    return [
        gathered[o].narrow(1, start, stop - start)
        for o, (start, stop) in zip(gather.group_output, gather.group_columns, strict=True)
    ]


def _batched(weight: torch.Tensor, stacked: torch.Tensor) -> torch.Tensor:
    return weight.expand(stacked.shape[0], weight.shape[0], weight.shape[1])


def _mix(weight: torch.Tensor, stacked: torch.Tensor) -> torch.Tensor:
    """(c_out, K) @ (B, K, N) → (B, c_out, N) by ``bmm`` against the weight expanded over the
    batch (stride 0, no copy): the same kernel ``matmul`` picks in eager, but a core op that
    export, ONNX and compile take as is."""
    return torch.bmm(_batched(weight, stacked), stacked)


def _stack(
    program: Program, terms: Any, reduced: list[torch.Tensor], forms: Forms, r_factors: tuple[int, ...]
) -> torch.Tensor:
    """The reduced tensors of ``terms``, slots permuted by their matching, stacked on the
    channel axis: (B, Σ c, Π slots), by one ``torch.cat`` of (strided) views (functional: nothing
    is written into a preallocated buffer, which export would see as writes into views)."""
    r = len(r_factors)
    identity = tuple(range(r))
    if len(terms) == 1 and terms[0][1] == identity:
        return reduced[terms[0][0]]
    views = []
    for reduction, matching in terms:
        t = _split(reduced[reduction], _slot_sizes(program.reductions[reduction].slot_factor, forms))
        if matching != identity:
            t = t.permute(0, 1, *(2 + m for m in matching))
        views.append(t)
    return _flat(torch.cat(views, dim=1), r)


def _eager() -> bool:
    """Whether nothing traces, compiles or transforms the ops (sizes are plain ints)."""
    return not (torch.jit.is_tracing() or torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active())


def _in_place() -> bool:
    """Whether :func:`run_expansions` may accumulate in place: in eager without autograd
    recording (inference, and PlanFunction's forward and backward). Under a tracer (TorchScript,
    dynamo, ``torch.export``, the ONNX exporters) or a ``torch.func`` transform every op stays
    out-of-place, so that the traced graph is functional; the export tests compare that graph's
    numbers with the eager ones. Under autocast too: autocast casts the operands of
    out-of-place ops only, so an in-place op would meet mixed dtypes."""
    return not torch.is_grad_enabled() and _eager() and not torch._C._is_any_autocast_enabled()


class Deferred:
    """An identity expansion's matmul, left by :func:`mix_units` for :func:`run_expansions`
    to accumulate onto the output: Σ_i weights[i] @ stack(terms[i]).

    In eager its terms are split into chunks whose stacked tensor holds at most about as many
    bytes as the layer's input and output together, and each chunk's stack is built only when
    it is multiplied, so one is alive at a time: this bounds the forward's temporaries (a 3 → 3
    S_n layer stacks 6 permuted copies of its input, a 4 → 4 O(n) layer 24). Traced, it is one
    chunk (no size-dependent decision in the graph). When ``contract`` is set (the backward's
    weight gradient), each chunk's stack is also contracted with it (Σ_batch contract @ stackᵀ)
    into ``partials``.
    """

    def __init__(
        self,
        program: Program,
        weights: Sequence[torch.Tensor],
        terms: Sequence[Sequence[tuple[int, tuple[int, ...]]]],
        reduced: list[torch.Tensor],
        forms: Forms,
        r_factors: tuple[int, ...],
    ) -> None:
        self.program, self.weights, self.terms, self.reduced = program, weights, terms, reduced
        self.forms, self.r_factors = forms, r_factors
        self.contract: torch.Tensor | None = None
        self.partials: list[torch.Tensor] = []

    def chunks(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(weights (c_out, K_i), stacked (B, K_i, Π slots)) for each chunk, built on demand."""
        for w, terms in zip(self.weights, self.terms, strict=True):
            stacked = _stack(self.program, terms, self.reduced, self.forms, self.r_factors)
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


def _chunks(terms: Any, reduced: list[torch.Tensor], c_out: int, out_entries: int) -> list[tuple[int, int]]:
    """Chunks of ``terms`` (eager only) whose stacked tensor stays within the bytes of the
    largest input read plus the output."""
    if not _eager() or len(terms) == 1:
        return [(0, len(terms))]
    widths = [reduced[r].shape[1] * reduced[r].shape[2] for r, _ in terms]
    budget = max(widths) + c_out * out_entries
    chunks, start, used = [], 0, 0
    for i, width in enumerate(widths):
        if i > start and used + width > budget:
            chunks.append((start, i))
            start, used = i, 0
        used += width
    chunks.append((start, len(terms)))
    return chunks


def mix_units(
    program: Program,
    reduced: list[torch.Tensor],
    weights: list[torch.Tensor],
    forms: Forms,
    defer_identity: bool,
    mix: bool = True,
) -> tuple[list[Any], list[Any]]:
    """Mix channels: one matmul per unit of expansion groups; returns one (B, c_out, Π slots)
    tensor per expansion (a :class:`Deferred` for a deferred identity expansion) and each unit's
    stacked tensor (with ``mix=False`` only the stacks: the weight gradient needs them, not the
    products). ``weights[e]`` is the mixing matrix of group e (:func:`gather_weights`)."""
    mixed: list[Any] = [None] * len(program.expansions)
    stacks: list[Any] = []
    for terms, members in program.units:
        factors = program.expansions[members[0]].slot_factor
        if defer_identity and len(members) == 1 and members[0] in program.identity:
            e = members[0]
            w = weights[e]
            widths = [reduced[r].shape[1] for r, _ in terms]
            out_entries = reduced[terms[0][0]].shape[2]
            pieces, splits = [], []
            for start, stop in _chunks(terms, reduced, w.shape[0], out_entries):
                lo, hi = sum(widths[:start]), sum(widths[:stop])
                pieces.append(w if (lo, hi) == (0, w.shape[1]) else w.narrow(1, lo, hi - lo))
                splits.append(terms[start:stop])
            mixed[e] = Deferred(program, pieces, splits, reduced, forms, factors)
            stacks.append(mixed[e])
            continue
        stacked = _stack(program, terms, reduced, forms, factors)
        stacks.append(stacked)
        if not mix:
            continue
        w_u = weights[members[0]] if len(members) == 1 else torch.cat([weights[e] for e in members], dim=0)
        z = _mix(w_u, stacked)
        start = 0
        for e in members:
            c_out = weights[e].shape[0]
            mixed[e] = z if len(members) == 1 else z.narrow(1, start, c_out)
            start += c_out
    return mixed, stacks


def weight_gradients(
    adjoint: Program,
    stacks: list[Any],
    reduced: list[torch.Tensor],
    tables: Sequence[Any],
    channels: Sequence[tuple[int, int]],
    sizes: Sequence[int],
) -> list[torch.Tensor]:
    """∂L/∂W_b (c_out, c_in, D) of every block from the stacked, permuted reductions of the
    output gradients (``stacks``, one per unit of the adjoint program, as its mixing builds them)
    and the reductions of the inputs (``reduced``, one per bottom half: the adjoint's expansions):
    per bottom half one batched matmul summed over the batch, in the adjoint's gathered layout,
    then scattered back to the blocks (``tables[i]`` = (inverse columns, coefficients) of
    adjoint output i, or None when trivial; ``sizes[b]`` = D_b)."""
    blocks: list[Any] = [None] * len(adjoint.expansions)
    for (_, members), stacked in zip(adjoint.units, stacks, strict=True):
        if isinstance(stacked, Deferred):
            blocks[members[0]] = stacked.gradient_block(reduced[members[0]])
            continue
        transposed = stacked.transpose(1, 2)
        for e in members:
            blocks[e] = torch.bmm(reduced[e], transposed).sum(0)
    gather = adjoint.gather
    out: list[Any] = [None] * len(channels)
    for i, sources in enumerate(gather.sources):
        if not sources:
            continue
        mine = [e for e, o in enumerate(gather.group_output) if o == i]
        mine.sort(key=lambda e: gather.group_columns[e][0])
        parts = [blocks[e] for e in mine]
        g = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        if tables[i] is not None:
            inverse_columns, coefficients = tables[i]
            g = (g * coefficients).index_select(1, inverse_columns)
        start = 0
        for b in sources:
            c_out, c_in = channels[b]
            width = c_out * sizes[b]
            piece = g.narrow(1, start, width).reshape(c_in, sizes[b], c_out)
            out[b] = piece.permute(2, 0, 1)
            start += width
    return out


# -- expansions ---------------------------------------------------------------------------------
def _compact(step: ExpansionStep, z: torch.Tensor, forms: Forms) -> torch.Tensor:
    """z (B, c, Π slots) as a tensor that broadcasts to the output (B, c) + axes: slot values on
    the first output axis of their slot, size 1 on every other axis."""
    if step.uses_levi_civita:
        # (B, c, plain slots…, free slots flattened) @ tableᵀ → (B, c, plain slots…, free axes flattened)
        plain = step.slot_factor[: step.num_slots - step.num_free_slots]
        table = forms.levi_civita[step.levi_civita]
        z = torch.matmul(z.reshape(z.shape[:2] + _slot_sizes(plain, forms) + (table.shape[1],)), table.t()).flatten(2)
    r = len(step.permute)
    factors = _compact_factors(step)
    if step.permute != tuple(range(r)):
        z = _split(z, _slot_sizes(factors, forms)).permute(0, 1, *(2 + p for p in step.permute)).flatten(2)
    if not step.view_shape:
        return z.squeeze(2)
    if step.view_shape == (True,):
        return z
    sizes = tuple(forms.sizes[f] if full else 1 for f, full in zip(step.axis_factor, step.view_shape, strict=True))
    return z.reshape(z.shape[:2] + sizes)


def _compact_factors(step: ExpansionStep) -> tuple[int, ...]:
    """The factor of each slot after the Levi-Civita contraction (free axes appended last)."""
    plain = step.slot_factor[: step.num_slots - step.num_free_slots]
    free = tuple(f for f, a, _ in step.levi_civita for _ in range(a))
    return plain + free


def _factor(
    key: tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, int], ...]],
    step: ExpansionStep,
    like: torch.Tensor,
    forms: Forms,
) -> torch.Tensor:
    """The constant factor of an expansion (see :class:`ExpansionStep`) as a (1, 1) + (n or
    1,)*l tensor: a product of broadcast n × n matrices (δ tying the first axis of each diagonal
    group to each other one, the form on each pair). Its size is at most n^l, independent of
    batch and channels, so building it on each call is cheap and keeps it a traced constant."""
    diagonals, eps_pairs = key
    l = len(step.axis_factor)
    pairs = [(axes[0], a, forms.identity(step.axis_factor[axes[0]], like)) for axes in diagonals for a in axes[1:]]
    pairs += [(a, b, forms.form[step.axis_factor[a]]) for a, b in eps_pairs]
    factor = None
    for a, b, matrix in pairs:
        shape = [1] * (2 + l)
        shape[2 + a] = shape[2 + b] = matrix.shape[0]
        t = matrix.reshape(shape)
        factor = t if factor is None else factor * t
    assert factor is not None, "a key (ExpansionStep.factor) has a diagonal or a pair"
    return factor


_Source = tuple[str, int]
_Pattern = tuple[bool, ...]


@dataclass(frozen=True)
class _Assembly:
    """How one output is assembled, read once off the static program (a forward only adds the
    tensors): the deferred identity expansion, and per constant factor (None first, then by key)
    the step that defines it and its accumulators, each a broadcast pattern and the sources summed
    into it ("m", e: mixed tensor e; "x", i: extra term i), largest patterns first."""

    deferred: int | None
    groups: tuple[
        tuple[Any, tuple[str, int], tuple[bool, ...], tuple[tuple[tuple[bool, ...], tuple[tuple[str, int], ...]], ...]],
        ...,
    ]


def _cache(program: Program) -> dict[Any, Any]:
    """Static data derived from a program, kept on the program (its ``cache``). Under a compiler
    a fresh dict: the derivation is plain Python on constants, traced once, and nothing guards on
    a cache's contents."""
    if torch.compiler.is_compiling():
        return {}
    return program.cache


def _output_expansions(program: Program, o: int) -> tuple[int, ...]:
    cache = _cache(program)
    key = ("mine", o)
    if key not in cache:
        cache[key] = program.output_expansions(o)
    return cache[key]


def _assembly(program: Program, o: int, deferred: int | None, extras: tuple[ExpansionStep, ...]) -> _Assembly:
    cache = _cache(program)
    key = ("assembly", o, deferred, extras)
    found = cache.get(key)
    if found is not None:
        return found
    l = len(program.outputs[o])
    groups: dict[Any, list[tuple[tuple[bool, ...], tuple[str, int]]]] = {}
    definer: dict[Any, tuple[str, int]] = {}
    for e in _output_expansions(program, o):
        if e == deferred:
            continue
        step = program.expansions[e]
        groups.setdefault(step.factor, []).append(((True, True, *step.view_shape), ("m", e)))
        definer.setdefault(step.factor, ("m", e))
    for i, step in enumerate(extras):
        groups.setdefault(step.factor, []).append(((False, True, *step.view_shape), ("x", i)))
        definer.setdefault(step.factor, ("x", i))
    out = []
    for factor in sorted(groups, key=lambda k: (k is not None, repr(k))):
        factor_axes = set()
        if factor is not None:
            diagonals, eps_pairs = factor
            factor_axes = {a for axes in diagonals for a in axes} | {a for pair in eps_pairs for a in pair}
        factor_pattern = (False, False, *(a in factor_axes for a in range(l)))
        # Fold each source into an accumulator whose full axes contain its own (compact adds),
        # largest patterns first.
        accumulators: list[tuple[tuple[bool, ...], list[tuple[str, int]]]] = []
        for pattern, source in sorted(groups[factor], key=lambda item: -sum(item[0])):
            for acc_pattern, members in accumulators:
                if all(a or not p for a, p in zip(acc_pattern, pattern, strict=True)):
                    members.append(source)
                    break
            else:
                accumulators.append((pattern, [source]))
        out.append((factor, definer[factor], factor_pattern, tuple((p, tuple(m)) for p, m in accumulators)))
    assembly = _Assembly(deferred, tuple(out))
    cache[key] = assembly
    return assembly


def run_expansions(
    program: Program,
    mixed: list[Any],
    forms: Forms,
    extra: Sequence[tuple[ExpansionStep, torch.Tensor]] = (),
    scales: dict[int, torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Expand each mixed tensor onto its output (B, c_out) + axes and sum: one new tensor per
    output of the program (None for an output that no expansion writes).

    ``extra`` holds further (step, tensor) pairs (the bias expansions) whose tensors have batch
    size 1. ``scales[e]`` multiplies mixed tensor e first (an adjoint program's means).

    Expansions are summed in compact (broadcast) form, grouped by their constant factor
    (diagonal indicators, forms), and each group meets the output once, by one ``add`` or
    ``addcmul``. Traced (export, compile) or recorded by autograd, every step is out-of-place
    and a diagonal is written by multiplying with a constant δ = I_n: a pass over the output
    instead of n^(#blocks) writes, but in-place writes into views are what the TorchScript ONNX
    exporter silently mistranslates and what the dynamo exporter rejects, while
    ``mul``/``addcmul`` by a constant export to plain ONNX ``Mul``/``Add`` everywhere and fuse into
    one kernel under ``torch.compile``. In eager inference (and inside the adjoint plan's
    Function) the same terms are accumulated in place into the sum this function created, a δ
    group through the diagonal view (see :func:`_sum_parts`).

    The identity expansion (deferred by :func:`mix_units`) is one ``bmm``. With two or more
    groups besides it, they are summed first into a full tensor C and the matmul accumulates
    onto it (``baddbmm``; in place in eager): fresh full-size tensors cost a pass and, with the
    default CPU allocator, page faults; with one group, the group is added onto the matmul's
    result (no copy of C).
    """
    outputs: list[Any] = []
    for o in range(len(program.outputs)):
        mine = _output_expansions(program, o)
        extras = tuple((step, z) for step, z in extra if step.output == o)
        if not mine and not extras:  # nothing writes this output (an adjoint's unread input)
            outputs.append(None)
            continue
        outputs.append(_expand_output(program, o, mine, mixed, forms, extras, scales))
        for e in mine:
            mixed[e] = None  # free the mixed tensors early
    return outputs


def _expand_output(
    program: Program,
    o: int,
    mine: tuple[int, ...],
    mixed: list[Any],
    forms: Forms,
    extras: tuple[tuple[ExpansionStep, torch.Tensor], ...],
    scales: dict[int, torch.Tensor] | None,
) -> torch.Tensor:
    axes = program.outputs[o]
    l = len(axes)
    deferred_e = next((e for e in mine if isinstance(mixed[e], Deferred)), None)
    assembly = _assembly(program, o, deferred_e, tuple(step for step, _ in extras))
    like = None

    def source(kind: str, index: int) -> torch.Tensor:
        nonlocal like
        if kind == "x":
            step, z = extras[index]
        else:
            step, z = program.expansions[index], mixed[index]
            if scales and index in scales:
                z = z * scales[index]
        like = z if like is None else like
        return _compact(step, z, forms)

    # Plain broadcasts first (largest patterns first), then one multiply-add per factor.
    parts = []
    for key, (kind, index), factor_pattern, accumulators in assembly.groups:
        sums = []
        for pattern, members in accumulators:
            acc = None
            for member in members:
                t = source(*member)
                acc = t if acc is None else acc + t
            assert acc is not None, "an accumulator has a member"
            sums.append((pattern, acc))
        factor = None
        if key is not None:
            step = extras[index][0] if kind == "x" else program.expansions[index]
            factor = _factor(key, step, sums[0][1], forms)
        diagonals = key[0] if key is not None and not key[1] else None  # δ only: a diagonal view serves
        for pattern, acc in sums:
            parts.append((tuple(a or f for a, f in zip(pattern, factor_pattern, strict=True)), acc, factor, diagonals))
    out_sizes = tuple(forms.sizes[f] for f in axes)
    if deferred_e is not None:
        deferred = mixed[deferred_e]
        in_place = _in_place()
        spatial = [any(p[2 + a] for p, *_ in parts) for a in range(l)]
        summed_first = len(parts) >= 2 and all(spatial)
        out = None
        if summed_first:
            out = _flat(_sum_parts(parts, in_place=in_place)[0], l)
            parts = []  # free the compact terms (and, through them, the mixed tensors) early
        for weight, stacked in deferred.chunks():
            w = _batched(weight, stacked)
            if out is None:
                out = torch.bmm(w, stacked)
            elif in_place and out.shape == (stacked.shape[0], weight.shape[0], stacked.shape[2]):
                out = out.baddbmm_(w, stacked)
            else:
                out = torch.baddbmm(out, w, stacked)
            del stacked, w
        assert out is not None, "a deferred expansion has a chunk"
        return _sum_parts([((True,) * (2 + l), None, None, None), *parts], _split(out, out_sizes), in_place)[0]
    out, pattern = _sum_parts(parts)
    if not all(pattern):
        # Some axis is still a broadcast: materialise, taking batch and channel sizes from the
        # first batch-sized mixed tensor (the layer's own terms always include one).
        batch_like = next((mixed[e] for e in mine if isinstance(mixed[e], torch.Tensor)), like)
        assert batch_like is not None
        out = out.expand((batch_like.shape[0], out.shape[1], *out_sizes)).contiguous()
    return out


def _sum_parts(
    parts: list[Any], out: torch.Tensor | None = None, in_place: bool = False
) -> tuple[torch.Tensor, tuple[bool, ...]]:
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
    assert out is not None and pattern is not None
    return out, pattern


def _fits(t: torch.Tensor, out: torch.Tensor) -> bool:
    """Whether t broadcasts to out's shape (same rank, each size 1 or out's)."""
    return t.dim() == out.dim() and all(a == b or a == 1 for a, b in zip(t.shape, out.shape, strict=True))


def _diagonal(t: torch.Tensor, diagonals: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """The view of t (B, c) + axes on which the output axes of each group in ``diagonals``
    carry one index: the group's axes merge into its first (strides summed)."""
    sizes, strides = list(t.shape), list(t.stride())
    tied: set[int] = set()
    for axes in diagonals:
        strides[2 + axes[0]] = sum(strides[2 + a] for a in axes)
        tied.update(2 + a for a in axes[1:])
    keep = [i for i in range(t.dim()) if i not in tied]
    return t.as_strided([sizes[i] for i in keep], [strides[i] for i in keep], t.storage_offset())


def count_entries(factors: tuple[int, ...], sizes: Sequence[int]) -> int:
    """Π sizes over ``factors`` (the entries of a tensor with those axes)."""
    return math.prod(sizes[f] for f in factors)
