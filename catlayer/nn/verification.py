"""``catlayer.verify.check_equivariance(layer)`` for torch layers: an exact certificate of the
parameterisation, diagram by diagram, plus a numeric check of the forward, reported separately.

The certificate (exact) has three parts, for every weight and bias diagram d:

1. **d is a morphism of the group's category**, so its image F(d) is G-equivariant for every n:
   F is a functor into the G-equivariant maps (the theorem behind the library; ``proofs/``
   certifies it exhaustively for small n and orders, see ``proofs/README.md``). With
   ``prove="dense"`` each image is moreover proved equivariant at this n, in exact integer
   arithmetic on the group's generators.
2. **The layer executes the plan of its diagrams**: its plan and compiled programs equal those
   recomputed from the diagrams, and its ε / Levi-Civita buffers are the exact tables.
3. **What the layer computes is F(d), entry by entry.**

   * ``prove="dense"``: the layer's own program runs on one-hot inputs with one-hot weights. Every
     intermediate value is then 0 or ±1 and every sum has at most one non-zero term, so floating
     point is exact here (the outputs are checked to be integers); the result is compared with the
     exact dense image at every entry.
   * ``prove="orbits"`` (matrix-free): the plan's tables (slot axes, closed blocks, matching, pair
     form, Levi-Civita slots, sign) are read in integer arithmetic and compared with the entry
     formula of F(d) at one multi-index per orbit of the relabellings of the index values that
     fix the group's tables (:func:`catlayer.verify.relabelling_orbits`). Both are made of
     equality tests and lookups in those tables, so both are invariant under these relabellings,
     and agreement on one index of an orbit is agreement on all of it. The torch program is then
     spot-checked exactly (one-hot inputs, random integer weights, so every value is an integer
     below 2**53) against Σ w·F(d) at those multi-indices, as many one-hot columns as fit in a
     fixed amount of work. No n^(k+l) array is formed.
"""

from __future__ import annotations

import numpy as np
import torch

from ..memory import check_size
from .check import check_forward

__all__ = ["DENSE_LIMIT", "PROVE_MODES", "check_layer"]

#: The values of ``prove`` besides False (no certificate) and True (= "auto").
PROVE_MODES = ("auto", "dense", "orbits")
#: ``prove="auto"`` runs the dense proof when n^(k+l) is at most this, else the orbit certificate.
DENSE_LIMIT = 4096
#: Elements per chunk of the one-hot forward runs, and in all of the orbit mode's spot check.
_CHUNK_ELEMENTS = 2**22
_SPOT_ELEMENTS = 2**24


def _mode(prove, n: int, k: int, l: int) -> str | None:
    if prove is False:
        return None
    if prove is True or prove == "auto":
        return "dense" if n ** (k + l) <= DENSE_LIMIT else "orbits"
    if isinstance(prove, str) and prove in PROVE_MODES:
        return prove
    raise ValueError(f"prove must be True, False or one of {PROVE_MODES}, got {prove!r}")


def _roles(layer):
    """(role, diagrams, dom, plan) for the weights and, when present, the bias."""
    from ..plan import plan_layer

    yield "weight", layer.diagrams, layer.in_order, layer._plan
    if layer.bias is not None:
        yield "bias", layer.bias_diagrams, 0, plan_layer(layer.group, layer.bias_diagrams)


def _run_program(layer, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The layer's weight program (the forward without bias and input checks) on x of shape
    (B, 1) + (n,)*k with weights (c_out, 1, D), in float64 with the layer's own tables."""
    from .executor import run_expansions, run_mixing, run_reductions

    def cast(t):
        return None if t is None else t.to(torch.float64)

    tables = {q: cast(table) for q, table in layer._levi_civita_tables().items()}
    eps = cast(layer._eps)
    reduced = run_reductions(layer._program, x, eps, tables)
    mixed = run_mixing(layer._program, reduced, weight, layer._order, cast(layer._signs), defer_identity=True)
    return run_expansions(layer._program, mixed, eps)


def _chunk_columns(layer, num_columns: int, outputs: int) -> int:
    """Columns per run of the weight program so that one run holds about _CHUNK_ELEMENTS."""
    n, k, l = layer.n, layer.in_order, layer.out_order
    plan = layer._plan
    reduced = sum(n ** plan.reductions[plan.reduction_of[t]].num_slots for t in range(len(plan)))
    per_column = n**k + 2 * reduced + 4 * outputs * n**l
    check_size(8 * per_column, f"one one-hot column of {layer!r} with {outputs} outputs")
    return max(1, min(num_columns, _CHUNK_ELEMENTS // per_column))


def _float64_copy(layer):
    import copy

    return layer if layer.weight.dtype == torch.float64 else copy.deepcopy(layer).to(torch.float64)


def _forward_entries(layer, role: str, dom: int, weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Exact entries Σ_t weights[r, t]·E_t[x] of the layer's own computation at each multi-index
    x (rows of ``points``, output indices then input indices), for integer ``weights`` (R, D):
    the weight program run on one-hot input columns, or (role "bias") the forward with zero input
    and weights and the bias set to ``weights``. Shape (R, P). Every intermediate value is an
    integer far below 2**53 (a one-hot input has one non-zero entry, and every reduction,
    permutation and table contraction keeps at most one non-zero term per sum), so float64 is
    exact; the outputs are checked to be integers."""
    n, l = layer.n, layer.out_order
    device = layer.weight.device
    w = torch.as_tensor(weights, dtype=torch.float64, device=device)
    powers = n ** np.arange(l - 1, -1, -1, dtype=np.int64)
    row_of = points[:, :l] @ powers if l else np.zeros(len(points), dtype=np.int64)
    values = np.zeros((len(weights), len(points)), dtype=np.int64)
    blocks = []
    if role == "bias":
        probe = _float64_copy(layer)
        params = {"weight": probe.weight.new_zeros((len(weights), *probe.weight.shape[1:])), "bias": w}
        x = probe.weight.new_zeros((1, layer.in_channels) + (n,) * layer.in_order)
        with torch.no_grad():
            out = torch.func.functional_call(probe, params, (x,))
        blocks.append((np.arange(len(points)), out.reshape(len(weights), n**l)[:, torch.as_tensor(row_of)]))
    else:
        inputs = points[:, l:].reshape(len(points), dom)
        columns, column_of = np.unique(inputs, axis=0, return_inverse=True)
        column_of = column_of.reshape(-1)
        step = _chunk_columns(layer, len(columns), len(weights))
        for c0 in range(0, len(columns), step):
            chunk = columns[c0 : c0 + step]
            x = torch.zeros((len(chunk), 1) + (n,) * dom, dtype=torch.float64, device=device)
            index = torch.as_tensor(chunk, device=device).T
            x[(torch.arange(len(chunk), device=device), 0, *index)] = 1
            with torch.no_grad():
                out = _run_program(layer, x, w.unsqueeze(1)).reshape(len(chunk), len(weights), n**l)
            mine = np.flatnonzero((column_of >= c0) & (column_of < c0 + len(chunk)))
            picked = out[torch.as_tensor(column_of[mine] - c0), :, torch.as_tensor(row_of[mine])].T
            blocks.append((mine, picked))
    for mine, picked in blocks:
        picked = picked.to("cpu", torch.float64).numpy()
        rounded = np.rint(picked)
        if not np.array_equal(rounded, picked):
            raise ArithmeticError(f"the one-hot evaluation of {layer!r} gave non-integer values: it is not exact")
        values[:, mine] = rounded.astype(np.int64)
    return values


def _spot_points(layer, points: np.ndarray, dom: int) -> np.ndarray:
    """Indices of the points whose input columns the spot check runs: columns with the most
    distinct index values first, as many as fit in _SPOT_ELEMENTS of work (at least one)."""
    n, l = layer.n, layer.out_order
    inputs = points[:, l:].reshape(len(points), dom)
    columns, column_of = np.unique(inputs, axis=0, return_inverse=True)
    column_of = column_of.reshape(-1)
    plan = layer._plan
    work = n**dom + sum(n ** plan.reductions[plan.reduction_of[t]].num_slots for t in range(len(plan))) + n**l
    distinct = np.array([len(set(c.tolist())) for c in columns])
    keep = np.argsort(-distinct, kind="stable")[: max(1, _SPOT_ELEMENTS // work)]
    return np.flatnonzero(np.isin(column_of, keep))


def _exact_image(group, d) -> np.ndarray:
    """The dense exact image of d as the group's functor gives it (ints, or sympy Rationals)."""
    import sympy

    image = group.functor(d)
    if hasattr(image, "to_exact"):
        a, q = image.to_exact()
        if q == 1:
            return np.asarray(a)
        return np.array([sympy.Rational(int(x), q) for x in np.ravel(a)], dtype=object).reshape(a.shape)
    return np.array(sympy.Matrix(image).tolist(), dtype=object)


def _plan_entries(plan, t: int, points: np.ndarray, n: int) -> np.ndarray:
    """The entries of diagram t of ``plan`` at the multi-indices ``points``, read off the plan's
    own tables (slot axes, closed blocks, matching, form pairs, Levi-Civita slots, sign) and the
    group's pair form and free weights, in integer arithmetic: the matrix the executor is told to
    compute, entry by entry."""
    group = plan.group
    form = group.pair_form
    reduction = plan.reductions[plan.reduction_of[t]]
    expansion = plan.expansions[plan.expansion_of[t]]
    l = plan.cod
    outputs, inputs = points[:, :l], points[:, l:]
    value = np.full(len(points), plan.sign[t], dtype=np.int64)
    slots = np.zeros((len(points), reduction.num_slots), dtype=np.int64)

    def constant(x: np.ndarray, axes) -> np.ndarray:
        if not axes:
            raise ValueError(f"diagram {t} of the plan has a slot without axes")
        return np.all(x[:, list(axes)] == x[:, [axes[0]]], axis=1)

    def closed(x: np.ndarray, blocks, form_pairs: bool) -> np.ndarray:
        out = np.ones(len(x), dtype=np.int64)
        for block in blocks:
            out *= form[x[:, block[0]], x[:, block[1]]] if form_pairs and len(block) == 2 else constant(x, block)
        return out

    for i, axes in enumerate(expansion.slot_axes):
        value *= constant(outputs, axes)
        slots[:, plan.matching[t][i]] = outputs[:, axes[0]]
    value *= closed(outputs, expansion.closed, expansion.form_pairs)
    plain = reduction.num_slots - reduction.num_free_slots
    for j in range(plain):
        axes = reduction.slot_axes[j]
        value *= constant(inputs, axes) & (inputs[:, axes[0]] == slots[:, j])
    value *= closed(inputs, reduction.closed, reduction.form_pairs)
    if reduction.num_free_slots or reduction.free_axes:
        free = inputs[:, list(reduction.free_axes)]
        index = np.concatenate([slots[:, plain:], free], axis=1)
        value *= _levi_civita_at(index, n)
        if group.free_weights is not None:
            value *= np.prod(group.free_weights[free], axis=1, dtype=np.int64)
    return value


def _levi_civita_at(index: np.ndarray, n: int) -> np.ndarray:
    """ε at each row of ``index`` (values 0..n−1): the sign of the permutation, 0 on a repeat."""
    if index.shape[1] != n:
        raise ValueError(f"the plan's Levi-Civita contraction has {index.shape[1]} slots, not n = {n}")
    value = np.ones(len(index), dtype=np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            value *= np.sign(index[:, j] - index[:, i])
    return value


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _format(point, l: int) -> str:
    return "(" + ", ".join(map(str, point[:l])) + " ; " + ", ".join(map(str, point[l:])) + ")"


def _structure(layer) -> list[str]:
    """Failures of part 2: the layer's plan, program and tables against their recomputation."""
    from ..plan import plan_layer
    from .executor import compile_program

    group, n, failures = layer.group, layer.n, []
    plan = plan_layer(group, layer.diagrams)
    if layer._plan != plan or layer._program != compile_program(plan, n):
        failures.append("the layer's plan or program is not the one compiled from its diagrams")
    if layer.bias is not None:
        bias_program = compile_program(plan_layer(group, layer.bias_diagrams), n)
        if layer._bias_program != bias_program:
            failures.append("the layer's bias program is not the one compiled from its bias diagrams")
    if layer._eps is not None:
        expected = torch.tensor(np.asarray(group.pair_form, dtype=np.float64))
        if not torch.equal(layer._eps.detach().to("cpu", torch.float64), expected):
            failures.append(f"the layer's pair-form buffer is not the pair form of {group!r}")
    for q, table in layer._levi_civita_tables().items():
        check_size(16 * n**n, f"the Levi-Civita symbol of {group!r}")
        index = np.indices((n,) * n).reshape(n, n**n).T  # slots first, then the free axes
        symbol = _levi_civita_at(index, n)
        if group.free_weights is not None:
            symbol = symbol * np.prod(group.free_weights[index[:, q:]], axis=1, dtype=np.int64)
        expected = torch.tensor(symbol.reshape(n**q, n ** (n - q)).T.astype(np.float64))
        if not torch.equal(table.detach().to("cpu", torch.float64), expected):
            failures.append(f"the layer's Levi-Civita buffer with {q} free slots is not the (weighted) symbol")
    return failures


def _dense_structure(layer) -> list[str]:
    """Failures of the dense execution's tables (``execution="dense"``): the entry patterns and
    their index against the entry formula of F(d) at every multi-index, the bias basis likewise,
    and the buffers against those tables. Dense layers are small (n^(k+l) ≤ 2^20 when chosen by
    the cost model), so every entry is read."""
    from .dense import dense_gather

    group, n, k, l = layer.group, layer.n, layer.in_order, layer.out_order
    patterns, index, bias_basis = layer._dense_tables
    failures = []
    size = k + l
    check_size(8 * (size + 2) * n**size, f"the {n**size} multi-indices of the dense tables of {layer!r}")
    points = np.indices((n,) * size).reshape(size, n**size).T.astype(np.int64)
    roles = [("weight", layer.diagrams, points, lambda t: patterns[t][index.reshape(-1)])]
    if bias_basis is not None:
        outputs = np.indices((n,) * l).reshape(l, n**l).T.astype(np.int64)
        roles.append(("bias", layer.bias_diagrams, outputs, lambda t: bias_basis[t]))
    for role, diagrams, at, table in roles:
        expected = group.evaluate_many(diagrams, at)
        for t, d in enumerate(diagrams):
            failure = _mismatch(f"{role} diagram {t} {d}: the dense tables give", table(t), expected[t], at, l)
            failures += [failure] if failure else []
    gather = dense_gather(index, layer.in_channels, patterns.shape[1])
    if not torch.equal(layer._gather.cpu(), torch.as_tensor(gather)) or not torch.equal(
        layer._patterns.detach().to("cpu", torch.float64), torch.as_tensor(patterns, dtype=torch.float64)
    ):
        failures.append("the layer's dense pattern or gather buffers are not its dense tables")
    return failures


def _mismatch(what: str, got: np.ndarray, expected: np.ndarray, points: np.ndarray, l: int) -> str | None:
    wrong = np.flatnonzero(got != expected)
    if not wrong.size:
        return None
    p = wrong[0]
    return (
        f"{what} {got[p]} but F(d) gives {expected[p]} at (output indices ; input indices) = "
        f"{_format(points[p].tolist(), l)} ({wrong.size} of {len(points)} checked entries differ)"
    )


def _certify(layer, mode: str, rng: np.random.Generator):
    from ..verify import EquivarianceReport, check_equivariance, relabelling_orbits

    group, l, n = layer.group, layer.out_order, layer.n
    counts = _count(len(layer.diagrams), "weight diagram") + (
        ", " + _count(len(layer.bias_diagrams), "bias diagram") if layer.bias is not None else ""
    )
    subject = f"parameterisation of {layer!r} ({counts})"
    checked: list[str] = []
    failures: list[str] = []
    category = group.category
    for role, diagrams, dom, _ in _roles(layer):
        for t, d in enumerate(diagrams):
            if (d.dom, d.cod) != (dom, l) or not category.contains(d):
                failures.append(f"{role} diagram {t} {d} is not a morphism {dom} → {l} of {category!r}")
    checked.append(
        f"every diagram is a morphism of {category!r}, so its image under the functor is {group!r}-equivariant "
        "for every n (the theorem; exact certificates in proofs/, see proofs/README.md)"
    )
    if mode == "dense":
        for role, diagrams, dom, _ in _roles(layer):
            for t, d in enumerate(diagrams):
                report = check_equivariance(group, group.functor(d), dom, l)
                if not report:
                    failures.append(f"{role} diagram {t} {d}: {report.failure}")
        generators = ", ".join(f"{g.kind} generator {g.name}" for g in group.generators())
        checked.append(f"each image proved equivariant at n = {n} on the generators: {generators or 'none (trivial)'}")
    failures += _structure(layer)
    checked.append("the layer's plan, program and ε / Levi-Civita tables are those compiled from its diagrams")
    if layer.execution == "dense":
        failures += _dense_structure(layer)
        checked.append(
            "the dense execution's tables (entry patterns and their index, bias basis) equal the entry formula "
            "of F(d) at every entry"
        )
    uses_levi_civita = bool(layer._lc_slots)
    for role, diagrams, dom, plan in _roles(layer):
        size = dom + l
        if mode == "dense":
            check_size(8 * size * n**size, f"the {n**size} multi-indices of the dense proof of {layer!r}")
            points = np.indices((n,) * size).reshape(size, n**size).T.astype(np.int64)
            values = _forward_entries(layer, role, dom, np.eye(len(diagrams), dtype=np.int64), points)
            for t, d in enumerate(diagrams):
                expected = _exact_image(group, d).reshape(-1)
                failure = _mismatch(f"{role} diagram {t} {d}: the layer computes", values[t], expected, points, l)
                failures += [failure] if failure else []
            checked.append(
                f"the layer's program, run exactly on one-hot inputs, equals F(d) for each of the "
                f"{_count(len(diagrams), role + ' diagram')} at all {len(points)} entries"
            )
            continue
        generated, description = relabelling_orbits(group, size, uses_levi_civita)
        # generated: input indices first (so that few one-hot columns are needed), then outputs
        points = np.concatenate([generated[:, dom:], generated[:, :dom]], axis=1)
        formula = np.stack([group.evaluate(d, points) for d in diagrams])
        for t, d in enumerate(diagrams):
            got = _plan_entries(plan, t, points, n)
            failure = _mismatch(f"{role} diagram {t} {d}: its plan gives", got, formula[t], points, l)
            failures += [failure] if failure else []
        checked.append(
            f"the plan of each of the {_count(len(diagrams), role + ' diagram')}, read exactly, equals the entry "
            f"formula of F(d) at one multi-index per orbit of {description} (both are invariant under them, so at "
            "every entry)"
        )
        spot = _spot_points(layer, points, dom)
        weights = rng.integers(1, 2**20, size=(1, len(diagrams)))
        got = _forward_entries(layer, role, dom, weights, points[spot])[0]
        failure = _mismatch(
            f"the layer's {role} program with integer weights computes",
            got,
            weights[0] @ formula[:, spot],
            points[spot],
            l,
        )
        failures += [failure] if failure else []
        checked.append(
            f"the layer's {role} program, run exactly on one-hot inputs with random integer weights w, equals "
            f"Σ w·F(d) at {len(spot)} of those multi-indices (a spot check of its execution at n = {n})"
        )
    method = f"exact certificate per diagram ({mode}): functor theorem, " + (
        "dense proof on the generators, program = F(d) at every entry"
        if mode == "dense"
        else "plan = F(d) at every relabelling orbit, program spot-checked"
    )
    return EquivarianceReport(
        not failures,
        True,
        repr(group),
        subject,
        tuple(checked),
        "; ".join(failures) or None,
        0.0 if not failures else None,
        None,
        method=method,
        negative="NOT certified",
    )


def check_layer(
    layer, *, tolerance: float | None = None, rng=None, samples: int = 3, batch: int = 2, prove: bool | str = "auto"
):
    """Certify the parameterisation of an ``EquivariantLinear`` exactly, diagram by diagram, and
    check its forward numerically (float64, ``samples`` random group elements from ``rng``, a
    batch of ``batch`` random inputs, relative tolerance ``tolerance``, default 1e-10).

    ``prove`` chooses the exact part (see the module docstring for what each certifies):

    * ``"auto"`` (default; ``True`` is the same): ``"dense"`` when n^(k+l) ≤ ``DENSE_LIMIT``
      (4096), else ``"orbits"``;
    * ``"dense"``: every image proved equivariant on the group's generators at this n, and the
      layer's program compared with it at every entry (forms n^(k+l) arrays: small n only);
    * ``"orbits"``: the functor theorem, the plan compared with the entry formula at one
      multi-index per relabelling orbit, the program spot-checked: matrix-free, for any n;
    * ``False``: no certificate; the report rests on the numeric check alone and says so.

    Returns an :class:`~catlayer.verify.EquivarianceReport` that is truthy exactly when every
    part holds. Its ``parts`` are the certificate (``exact=True``; absent with ``prove=False``)
    and the numeric forward check (``exact=False``); the whole has ``exact=False``. Its verdict
    is "NOT equivariant" when the numeric check fails, "NOT certified" when only the certificate
    does (e.g. an equivariant forward that is not the claimed combination of diagrams).

    >>> from catlayer import S
    >>> from catlayer.nn import EquivariantLinear
    >>> report = check_layer(EquivariantLinear(S(12), 2, 2, 1, 1), rng=0)
    >>> bool(report), [part.exact for part in report.parts]
    (True, [True, False])
    >>> print(report.parts[0].method)
    exact certificate per diagram (orbits): functor theorem, plan = F(d) at every relabelling orbit, program ...
    """
    from ..verify import EquivarianceReport, check_samples, check_tolerance

    tolerance = check_tolerance(tolerance)
    samples = check_samples(samples)
    batch = check_samples(batch, "batch")
    group = layer.group
    mode = _mode(prove, layer.n, layer.in_order, layer.out_order)
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    proof = _certify(layer, mode, generator) if mode is not None else None
    forward = check_forward(
        layer,
        group,
        layer.in_order,
        layer.out_order,
        num_elements=samples,
        seed=generator,
        batch=batch,
        tolerance=tolerance,
    )
    numeric = EquivarianceReport(
        forward.ok,
        False,
        repr(group),
        f"forward of {layer!r}",
        tuple(f"random element {e} of {group!r}, batch of {batch} random inputs" for e in range(forward.num_elements)),
        None if forward.ok else forward.describe("the forward pass", group),
        forward.max_residual,
        forward.tolerance,
        method=f"numeric check on random group elements in {forward.dtype}, not a proof",
    )
    parts = (numeric,) if proof is None else (proof, numeric)
    if proof is None:
        checked = ("parameterisation: not certified (prove=False)",)
        method = "numeric check of the forward only; parameterisation not certified (prove=False)"
    else:
        checked = (f"parameterisation: exact certificate per diagram ({mode})",)
        method = "exact certificate of the parameterisation + numeric check of the forward"
    checked += (f"forward: numeric check on {forward.num_elements} random group elements in {forward.dtype}",)
    ok = numeric.ok and (proof is None or proof.ok)
    return EquivarianceReport(
        ok,
        False,
        repr(group),
        repr(layer),
        checked,
        (proof.failure if proof is not None and not proof.ok else None) or numeric.failure,
        forward.max_residual,
        forward.tolerance,
        parts=parts,
        method=method,
        negative="NOT equivariant" if not numeric.ok else "NOT certified",
    )
