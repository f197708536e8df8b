"""Certificates of catlayer's torch modules, and checks of whole networks.

* :func:`certify_module` — the exact certificate of a linear or bilinear module, block by block
  (below);
* :func:`check_network` — a catlayer module or network: every linear and bilinear part certified,
  every nonlinearity justified by its rule, every composition by its structure, and the forward
  pass checked numerically (:func:`catlayer.verify.check_forward`: every component of the group,
  each output order at its own scale, several sizes with padding for ``S()``). Submodules without
  a rule make the report fail: nothing is vouched for blindly;
* :func:`check_module` — an arbitrary torch module, numerically only.

**How modules are reached.** :mod:`catlayer.verify` sits below :mod:`catlayer.nn` and never
imports it: a catlayer module calls :func:`check_network` on itself through its one hook,
``EquivariantModule._catlayer_check_equivariance`` (what ``check_equivariance(module)`` calls).
The certificate reads the module's own members (``blocks``, ``_plans``, ``_program``,
``_fresh()``, ``_block_orders``, ``_certificate_structure``) and builds its float64 twins with the
class that compiles the module's program (the first class of its MRO that defines
``_certificate_structure``); the composition rules of catlayer's containers are keyed by their
qualified class names. Torch is imported by the functions that run a module, never at import time.

Every linear or bilinear module of :mod:`catlayer.nn` (``EquivariantLinear``, ``TypedLinear``,
``TypedBilinear``, ``InvariantPooling``) is a sum over blocks of Σ_t w_t · c_t · F(d_t), run by one
compiled program; its certificate (:func:`certify_module`) states, exactly:

1. **every diagram is a morphism of the group's category** (of every factor's, for a product), so
   its image F(d) is equivariant for every n: F is a functor into the equivariant maps (the
   theorem behind the library; ``proofs/`` certifies it exhaustively for small n and orders). In
   the dense mode each image is moreover proved equivariant at the certificate's size, in exact
   integer arithmetic on the group's generators;
2. **the module runs the program of its diagrams**: its plans and its compiled program (and its
   adjoint) equal those recompiled from its diagrams, its pair-form, identity and Levi-Civita
   tables are the group's, and its coefficients c_t are sign(d_t) × Π n_f^{−c_f(d_t)} (the mean
   of ``reduce="mean"``) rounded once to the module's dtype, its run-time scales read the summed
   indices of each bottom half;
3. **the program computes F(d), entry by entry**: the same program with unit coefficients runs
   exactly on one-hot inputs with one-hot weights (every value is an integer, so floating point is
   exact; checked) and equals F(d) at every entry (dense mode), or its plan, read in integer
   arithmetic, equals the entry formula of F(d) at one multi-index per orbit of the relabellings
   of the index values that fix the group's tables, and the program is spot-checked exactly with
   random integer weights at some of them (orbits mode: matrix-free, any n);
4. the dense execution's tables (when the module runs dense) equal F(d) at every entry.

A module for ``S()`` (every n) is certified at the size where every equality pattern of the
indices occurs (n = k + l): its plan and program do not depend on n, so agreement with the entry
formula on every pattern is agreement at every n.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..diagrams.product import ProductDiagram
from ..groups import ProductGroup
from ..groups.product import group_factors
from ..memory import check_size
from ..plan import LayerPlan, plan_layer
from ..tolerance import check_samples, check_tolerance
from .exact import check_matrix
from .forward import check_forward, order_axes
from .products import check_product_equivariance
from .report import EquivarianceReport

if TYPE_CHECKING:
    import torch

__all__ = ["DENSE_LIMIT", "PROVE_MODES", "certify_module", "check_module", "check_network"]


# -- what a module is (read off its members: verify never imports catlayer.nn) -------------------
def _is(module: Any, qualified_name: str) -> bool:
    """Whether one of the classes of ``module`` (its MRO) is the one of this qualified name."""
    return any(f"{c.__module__}.{c.__qualname__}" == qualified_name for c in type(module).__mro__)


def _certifiable(module: Any) -> bool:
    """A linear or bilinear catlayer module: it states what its program is compiled from."""
    return callable(getattr(module, "_certificate_structure", None))


def _compiling_class(module: Any) -> Any:
    """The class that compiles the module's program (``TypedLinear`` for ``EquivariantLinear`` and
    ``InvariantPooling``, ``TypedBilinear`` for ``EquivariantBilinear``): its twins are built
    with it."""
    return next(c for c in type(module).__mro__ if "_certificate_structure" in vars(c))


def _is_bilinear(module: Any) -> bool:
    """A bilinear module: its blocks are keyed (left order, right order, output order)."""
    return _certifiable(module) and all(len(key) == 3 for key in module.blocks)


def _type_str(ftype: Any) -> str:
    """A feature type as text (orders increasing), as :mod:`catlayer.nn` prints it."""
    return "{" + ", ".join(f"{k}: {c}" for k, c in sorted(ftype.items())) + "}"


def _on_tensors(module: Any) -> bool:
    """A linear module on plain tensors (one input order, one output order: ``EquivariantLinear``)."""
    return _certifiable(module) and not _is_bilinear(module) and hasattr(module, "in_order")


#: The values of ``prove`` besides False (no certificate) and True (= "auto").
PROVE_MODES = ("auto", "dense", "orbits")
#: ``prove="auto"`` runs the dense proof of a block when its matrix has at most this many entries.
DENSE_LIMIT = 4096
_CHUNK_ELEMENTS = 2**22
_SPOT_ELEMENTS = 2**24


def _mode(prove: Any, entries: int) -> str | None:
    if prove is False:
        return None
    if prove is True or prove == "auto":
        return "dense" if entries <= DENSE_LIMIT else "orbits"
    if isinstance(prove, str) and prove in PROVE_MODES:
        return prove
    raise ValueError(f"prove must be True, False or one of {PROVE_MODES}, got {prove!r}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _format(point: Any, l: int) -> str:
    return "(" + ", ".join(map(str, point[:l])) + " ; " + ", ".join(map(str, point[l:])) + ")"


def _mismatch(what: str, got: np.ndarray, expected: np.ndarray, points: np.ndarray, l: int) -> str | None:
    wrong = np.flatnonzero(got != expected)
    if not wrong.size:
        return None
    p = wrong[0]
    return (
        f"{what} {got[p]} but F(d) gives {expected[p]} at (output indices ; input indices) = "
        f"{_format(points[p].tolist(), l)} ({wrong.size} of {len(points)} checked entries differ)"
    )


# -- sizes and groups ----------------------------------------------------------------------------
def certificate_sizes(module: Any, k: Any, l: Any) -> tuple[int, ...]:
    """The size of every factor at which a block k → l is certified: the group's own size, or,
    for a factor of any size (``S()``), the number of its axes in the block (at least 1): every
    equality pattern of its indices then occurs."""
    ka, la = order_axes(k), order_axes(l)
    out = []
    for f, g in enumerate(module.factors):
        out.append(g.n if g.n is not None else max(1, ka.count(f) + la.count(f)))
    return tuple(out)


def _factors_of(d: Any) -> tuple[Any, ...]:
    return d.factors if isinstance(d, ProductDiagram) else (d,)


def _columns(k: Any, l: Any, f: int) -> list[int]:
    """The vertices (columns of a multi-index: output axes, then input axes) of factor f."""
    la, ka = order_axes(l), order_axes(k)
    return [a for a, g in enumerate(la) if g == f] + [len(la) + a for a, g in enumerate(ka) if g == f]


# -- the entry formula and the plan, at multi-indices --------------------------------------------
def _formula(factors: tuple[Any, ...], diagrams: tuple[Any, ...], k: Any, l: Any, points: np.ndarray) -> np.ndarray:
    """F(d) at each row of ``points`` for every diagram (the product of the factors' formulas)."""
    out = np.ones((len(diagrams), len(points)), dtype=np.int64)
    for f, group in enumerate(factors):
        parts = tuple(_factors_of(d)[f] for d in diagrams)
        out *= group.evaluate_many(parts, points[:, _columns(k, l, f)])
    return out


def _levi_civita_at(index: np.ndarray) -> np.ndarray:
    """ε at each row of ``index``: the sign of the permutation, 0 on a repeat (n = row length)."""
    n = index.shape[1]
    value = np.ones(len(index), dtype=np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            value *= np.sign(index[:, j] - index[:, i])
    return value


def _plan_entries(plan: LayerPlan, factors: tuple[Any, ...], t: int, points: np.ndarray) -> np.ndarray:
    """The entries of diagram t of ``plan`` at the multi-indices ``points``, read off the plan's own
    tables (slot axes, closed blocks and their forms, matching, Levi-Civita slots, factors, sign)
    and each factor's pair form and free weights, in integer arithmetic: the matrix the executor
    is told to compute, entry by entry."""
    reduction = plan.reductions[plan.reduction_of[t]]
    expansion = plan.expansions[plan.expansion_of[t]]
    l = len(expansion.axis_factor)
    outputs, inputs = points[:, :l], points[:, l:]
    value = np.full(len(points), plan.sign[t], dtype=np.int64)
    slots = np.zeros((len(points), reduction.num_slots), dtype=np.int64)

    def constant(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        if not axes:
            raise ValueError(f"diagram {t} of the plan has a slot without axes")
        return np.all(x[:, list(axes)] == x[:, [axes[0]]], axis=1)

    def closed(x: np.ndarray, half: Any) -> np.ndarray:
        out = np.ones(len(x), dtype=np.int64)
        for block, form in zip(half.closed, half.closed_form, strict=True):
            if form:
                matrix = factors[half.axis_factor[block[0]]].pair_form
                out *= matrix[x[:, block[0]], x[:, block[1]]]
            else:
                out *= constant(x, block)
        return out

    for i, axes in enumerate(expansion.slot_axes):
        value *= constant(outputs, axes)
        slots[:, plan.matching[t][i]] = outputs[:, axes[0]]
    value *= closed(outputs, expansion)
    plain = reduction.num_slots - reduction.num_free_slots
    for j in range(plain):
        axes = reduction.slot_axes[j]
        value *= constant(inputs, axes) & (inputs[:, axes[0]] == slots[:, j])
    value *= closed(inputs, reduction)
    start, slot = 0, plain
    for f, num_axes, q in reduction.levi_civita:
        free_axes = list(reduction.free_axes[start : start + num_axes])
        free = inputs[:, free_axes]
        value *= _levi_civita_at(np.concatenate([slots[:, slot : slot + q], free], axis=1))
        weights = factors[f].free_weights
        if weights is not None:
            value *= np.prod(weights[free], axis=1, dtype=np.int64)
        start += num_axes
        slot += q
    return value


def _orbits(factors: tuple[Any, ...], diagrams: tuple[Any, ...], k: Any, l: Any) -> tuple[np.ndarray, str]:
    """One multi-index per orbit of the relabellings fixing every factor's tables (a product of the
    factors' orbits, each factor on its own columns)."""
    size = len(order_axes(k)) + len(order_axes(l))
    per_factor = []
    words = []
    for f, group in enumerate(factors):
        columns = _columns(k, l, f)
        uses_lc = group.free_singletons and any(
            bool(_factors_of(d)[f].free_vertices) for d in diagrams if hasattr(_factors_of(d)[f], "free_vertices")
        )
        points, how = group.relabelling_orbits(len(columns), uses_lc)
        per_factor.append((columns, points))
        words.append(f"{group!r}: {how}" if len(factors) > 1 else how)
    count = math.prod(len(p) for _, p in per_factor)
    check_size(8 * count * max(size, 1), f"the {count} orbit representatives of a certificate")
    out = np.zeros((count, size), dtype=np.int64)
    grids = np.indices([len(p) for _, p in per_factor]).reshape(len(per_factor), count)
    for (columns, points), choice in zip(per_factor, grids, strict=True):
        if columns:
            out[:, columns] = points[choice]
    return out, "; ".join(words)


# -- running a module's code exactly --------------------------------------------------------------
def _twin(module: Any, key: Any, sizes: tuple[int, ...], outputs: int, bias: bool = False) -> Any:
    """A float64 twin of one block of ``module``: the same class of layer, the same diagrams, the
    group at the certificate's sizes, ``reduce="sum"`` (unit coefficients: every value of a
    one-hot run is then an integer) and ``outputs`` output channels, one input channel."""
    import torch

    factors = tuple(g if g.n is not None else g.at(n) for g, n in zip(module.factors, sizes, strict=True))
    group = _fixed_group(factors)
    options = {"reduce": "sum", "dtype": torch.float64}
    layer = _compiling_class(module)
    if _is_bilinear(module):
        a, b, c = key
        twin = layer(group, {a: 1, b: 1}, {c: outputs}, module.diagram_choice, pairs=[(a, b)], **options)
        if twin.blocks[key] != module.blocks[key]:
            raise ValueError(f"the twin of bilinear block {key} has other diagrams")
        return twin
    k, l = key
    twin = layer(group, {k: 1}, {l: outputs}, bias=bias, execution="plan", **options)
    if twin.blocks[key] != module.blocks[key]:
        raise ValueError(f"the twin of block {key} has other diagrams")
    return twin


def _block_entries(
    module: Any, key: Any, sizes: tuple[int, ...], weights: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Σ_t weights[r, t]·F(d_t)[x] as the module's code computes it (a float64 twin of the block,
    run on one-hot inputs) at each multi-index x (rows of ``points``: output indices, then input
    indices; for a bilinear block the inputs are x's then y's, factor by factor as in its
    diagrams). Shape (R, P); checked to be integers."""
    import torch

    count = len(weights)
    twin = _twin(module, key, sizes, count)
    with torch.no_grad():
        getattr(twin, next(name for name, _ in twin.named_parameters())).copy_(
            torch.as_tensor(weights, dtype=torch.float64).unsqueeze(1)
        )
    k, l = module._block_orders(key)
    out_axes, in_axes = order_axes(l), order_axes(k)
    out_shape = tuple(sizes[f] for f in out_axes)
    la = len(out_axes)
    rows = math.prod(out_shape)
    strides = [math.prod(out_shape[a + 1 :]) for a in range(la)]
    row_of = points[:, :la] @ np.asarray(strides, dtype=np.int64) if la else np.zeros(len(points), dtype=np.int64)
    inputs = points[:, la:].reshape(len(points), len(in_axes))
    columns, column_of = np.unique(inputs, axis=0, return_inverse=True)
    column_of = column_of.reshape(-1)
    per_column = 8 * (math.prod(sizes[f] for f in in_axes) + 4 * count * rows + 1)
    check_size(8 * per_column, f"one one-hot column of the certificate of {module!r}")
    step = max(1, min(len(columns), _CHUNK_ELEMENTS // per_column))
    values = np.zeros((count, len(points)), dtype=np.int64)
    bilinear = _is_bilinear(module)
    for c0 in range(0, len(columns), step):
        chunk = columns[c0 : c0 + step]
        if bilinear:
            x, y = _one_hot_pair(key, chunk, sizes)
            xs = {key[0]: x, key[1]: torch.zeros_like(y)}
            ys = {key[0]: torch.zeros_like(x), key[1]: y}
            xs[key[0]], ys[key[1]] = x, y
            with torch.no_grad():
                out = twin(xs, ys)[l]
        else:
            shape = (len(chunk), 1, *tuple(sizes[f] for f in in_axes))
            x = torch.zeros(shape, dtype=torch.float64)
            index = torch.as_tensor(chunk).T
            x[(torch.arange(len(chunk)), 0, *index)] = 1
            with torch.no_grad():
                out = twin({k: x})[l]
        out = out.reshape(len(chunk), count, rows)
        mine = np.flatnonzero((column_of >= c0) & (column_of < c0 + len(chunk)))
        picked = out[torch.as_tensor(column_of[mine] - c0), :, torch.as_tensor(row_of[mine])].T.numpy()
        rounded = np.rint(picked)
        if not np.array_equal(rounded, picked):
            raise ArithmeticError(f"the one-hot evaluation of {module!r} gave non-integer values: it is not exact")
        values[:, mine] = rounded.astype(np.int64)
    return values


def _one_hot_pair(key: Any, chunk: np.ndarray, sizes: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """One-hot x and y whose product x ⊗ y is one-hot at each column of ``chunk`` (the diagram's
    input indices: per factor, x's then y's)."""
    import torch

    a, b, _ = key
    ca = a if isinstance(a, tuple) else (a,)
    cb = b if isinstance(b, tuple) else (b,)
    x_cols, y_cols = [], []
    start = 0
    for fa, fb in zip(ca, cb, strict=True):
        x_cols += list(range(start, start + fa))
        y_cols += list(range(start + fa, start + fa + fb))
        start += fa + fb
    xa, ya = order_axes(a), order_axes(b)
    x = torch.zeros((len(chunk), 1, *tuple(sizes[f] for f in xa)), dtype=torch.float64)
    y = torch.zeros((len(chunk), 1, *tuple(sizes[f] for f in ya)), dtype=torch.float64)
    rows = torch.arange(len(chunk))
    x[(rows, 0, *torch.as_tensor(chunk[:, x_cols]).T)] = 1
    y[(rows, 0, *torch.as_tensor(chunk[:, y_cols]).T)] = 1
    return x, y


def _bias_entries(module: Any, l: Any, sizes: tuple[int, ...], count: int) -> np.ndarray:
    """The images of the bias diagrams of order l as the module's code computes them (a float64
    twin with zero weights and one-hot biases, on a zero input), (D, entries)."""
    import torch

    k = next(kk for kk, ll in module.blocks if ll == l)
    if isinstance(k, tuple) and len(k) == 3:  # a bilinear key: no bias
        raise ValueError("bilinear modules have no bias")
    twin = _twin(module, (k, l), sizes, count, bias=True)
    with torch.no_grad():
        for name, p in twin.named_parameters():
            p.copy_(torch.eye(count, dtype=torch.float64) if name.startswith("bias") else torch.zeros_like(p))
        shape = (1, 1, *tuple(sizes[f] for f in order_axes(k)))
        masks: Any = None
        if not order_axes(k) and any(g.n is None for g in module.factors):
            masks = tuple(
                torch.ones(1, n, dtype=torch.bool) if g.n is None else None
                for g, n in zip(module.factors, sizes, strict=True)
            )
            masks = masks[0] if len(masks) == 1 else masks
        out = twin({k: torch.zeros(shape, dtype=torch.float64)}, masks)[l]
    values = out.reshape(count, -1).numpy()
    rounded = np.rint(values)
    if not np.array_equal(rounded, values):
        raise ArithmeticError("the bias gave non-integer values: it is not exact")
    return rounded.astype(np.int64)


def _spot(points: np.ndarray, l: int) -> np.ndarray:
    """Indices of the points whose input columns the spot check runs: columns with the most
    distinct index values first, a bounded number of them (at least one)."""
    inputs = points[:, l:]
    columns, column_of = np.unique(inputs, axis=0, return_inverse=True)
    column_of = column_of.reshape(-1)
    distinct = np.array([len(set(c.tolist())) for c in columns])
    keep = np.argsort(-distinct, kind="stable")[: max(1, _SPOT_ELEMENTS // max(1, 64 * points.shape[1]) // 64)]
    return np.flatnonzero(np.isin(column_of, keep))


# -- the module's own tables ---------------------------------------------------------------------
def _structure_failures(module: Any) -> list[str]:
    """Part 2: the module's plans, programs and every table against a fresh build of the same
    module (everything recompiled from its diagrams and the group's forms, in float64, then
    rounded once to the module's dtype)."""
    import torch

    failures = []
    group = module.group
    for key, diagrams in module.blocks.items():
        if module._plans[key] != plan_layer(group, diagrams):
            failures.append(f"the plan of block {key} is not the one of its diagrams")
    fresh = module._fresh()
    if module._program != fresh._program:
        failures.append("the module's program is not the one compiled from its diagrams")
    if getattr(module, "_adjoint", None) != getattr(fresh, "_adjoint", None):
        failures.append("the module's adjoint program is not the one compiled from its diagrams")
    like = module._like()
    mine = dict(module.named_buffers())
    theirs = dict(fresh.named_buffers())
    if set(mine) != set(theirs):
        failures.append(f"the module's tables are not those of its diagrams: {sorted(set(mine) ^ set(theirs))}")
    for name in sorted(set(mine) & set(theirs)):
        expected = theirs[name].to(like.dtype) if theirs[name].is_floating_point() else theirs[name]
        if not torch.equal(mine[name].detach().cpu(), expected.cpu()):
            failures.append(
                f"the module's table {name} is not the one compiled from its diagrams and {_what(name, module)}"
            )
    return failures


def _what(name: str, module: Any) -> str:
    """What a table holds, for a failure message."""
    if name.startswith("_form_"):
        f = int(name.rsplit("_", 1)[1])
        return f"the pair form of {group_factors(module.group)[f]!r}"
    if name.startswith("_lc_") or name.startswith("_symbol_"):
        return "the group's (weighted) Levi-Civita symbol"
    if "coef" in name:
        return "the sign × mean scale of each diagram"
    return "the group's tables"


def _dense_failures(module: Any) -> list[str]:
    """Part 4: the dense execution's tables against the entry formula at every entry."""
    failures: list[str] = []
    if getattr(module, "_dense", None) is None:
        return failures
    sizes = module.fixed_sizes
    for b, (k, l) in enumerate(module._block_keys):
        diagrams = module.blocks[(k, l)]
        size = len(order_axes(k)) + len(order_axes(l))
        shape = tuple(sizes[f] for f in order_axes(l) + order_axes(k))
        count = math.prod(shape)
        check_size(8 * (size + 2) * count, f"the {count} multi-indices of the dense tables of {module!r}")
        points = np.indices(shape).reshape(size, count).T.astype(np.int64)
        patterns = getattr(module, f"_patterns_{b}").detach().cpu().double().numpy()
        rows = math.prod(shape[: len(order_axes(l))])
        gather = getattr(module, f"_gather_{b}").cpu().numpy().reshape(rows, module.in_type[k], -1)[:, 0, :]
        index = gather % patterns.shape[1]
        expected = _formula(module.factors, diagrams, k, l, points)
        for t, d in enumerate(diagrams):
            got = np.rint(patterns[t][index.reshape(-1)]).astype(np.int64)
            failure = _mismatch(
                f"block {k} → {l}, diagram {t} {d}: the dense tables give", got, expected[t], points, len(order_axes(l))
            )
            failures += [failure] if failure else []
    return failures


# -- the certificate -----------------------------------------------------------------------------
def certify_module(module: Any, prove: Any = "auto", rng: np.random.Generator | None = None) -> Any:
    """The exact certificate of a catlayer linear or bilinear module (see the module docstring), as
    an :class:`~catlayer.verify.EquivarianceReport` with ``exact=True``; None when ``prove`` is
    False.

    >>> from catlayer import S
    >>> from catlayer.nn import EquivariantLinear
    >>> report = certify_module(EquivariantLinear(S(), 2, 2, 1, 1))
    >>> bool(report), report.exact
    (True, True)
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    group = module.group
    checked: list[str] = []
    failures: list[str] = []
    modes = set()
    blocks = list(module.blocks.items())
    roles = [("block", key, diagrams) for key, diagrams in blocks]
    for l, diagrams in getattr(module, "bias_diagrams", {}).items():
        roles.append(("bias", l, diagrams))
    for role, key, diagrams in roles:
        for t, d in enumerate(diagrams):
            try:
                group.check_diagram(d)
            except (TypeError, ValueError) as error:
                failures.append(f"{role} {key} diagram {t} {d}: {error}")
    categories = ", ".join(repr(g.category) for g in module.factors)
    checked.append(
        f"every diagram is a morphism of {categories}, so its image is equivariant for every n (the functor theorem; "
        "exact certificates in proofs/, see proofs/README.md)"
    )
    failures += _structure_failures(module)
    checked.append("the module's plans, programs, forms and coefficients are those compiled from its diagrams")
    if getattr(module, "_dense", None) is not None:
        failures += _dense_failures(module)
        checked.append("the dense execution's tables equal the entry formula of F(d) at every entry")
    for key, diagrams in blocks:
        k, l = module._block_orders(key)
        sizes = certificate_sizes(module, k, l)
        factors = tuple(g if g.n is not None else g.at(n) for g, n in zip(group_factors(group), sizes, strict=True))
        at = _fixed_group(factors)
        entries = math.prod(sizes[f] for f in order_axes(k) + order_axes(l))
        mode = _mode(prove, entries)
        if mode is None:
            return None
        modes.add(mode)
        la = len(order_axes(l))
        where = f"block {key}" + (f" at n = {sizes}" if any(g.n is None for g in module.factors) else "")
        if mode == "dense":
            for t, d in enumerate(diagrams):
                report = _prove_image(at, d, k, l)
                if not report:
                    failures.append(f"{where}, diagram {t} {d}: {report.failure}")
            size = len(order_axes(k)) + la
            shape = tuple(sizes[f] for f in order_axes(l) + order_axes(k))
            points = np.indices(shape).reshape(size, entries).T.astype(np.int64)
            values = _block_entries(module, key, sizes, np.eye(len(diagrams), dtype=np.int64), points)
            expected = _formula(factors, diagrams, k, l, points)
            for t, d in enumerate(diagrams):
                failure = _mismatch(
                    f"{where}, diagram {t} {d}: the program computes", values[t], expected[t], points, la
                )
                failures += [failure] if failure else []
            checked.append(
                f"{where}: each of the {_count(len(diagrams), 'image')} proved equivariant on the generators, and the "
                f"program, run exactly on one-hot inputs, equals F(d) at all {len(points)} entries"
            )
            continue
        points, how = _orbits(factors, diagrams, k, l)
        formula = _formula(factors, diagrams, k, l, points)
        plan = module._plans[key]
        for t, d in enumerate(diagrams):
            got = _plan_entries(plan, factors, t, points)
            failure = _mismatch(f"{where}, diagram {t} {d}: its plan gives", got, formula[t], points, la)
            failures += [failure] if failure else []
        spot = _spot(points, la)
        weights = rng.integers(1, 2**20, size=(1, len(diagrams)))
        got = _block_entries(module, key, sizes, weights, points[spot])[0]
        failure = _mismatch(
            f"{where}: the program with integer weights computes", got, weights[0] @ formula[:, spot], points[spot], la
        )
        failures += [failure] if failure else []
        checked.append(
            f"{where}: the plan of each of the {_count(len(diagrams), 'diagram')}, read exactly, equals the entry "
            f"formula at one multi-index per orbit of {how} (so at every entry); the program spot-checked exactly "
            f"at {len(spot)} of them"
        )
    for l, diagrams in getattr(module, "bias_diagrams", {}).items():
        # At the size of a block into l (its twin carries the bias): every pattern of l indices occurs.
        k = next(kk for kk, ll in module.blocks if ll == l)
        sizes = certificate_sizes(module, k, l)
        factors = tuple(g if g.n is not None else g.at(n) for g, n in zip(module.factors, sizes, strict=True))
        shape = tuple(sizes[f] for f in order_axes(l))
        count = math.prod(shape)
        check_size(8 * (len(shape) + 1) * count * len(diagrams), f"the bias images of {module!r}")
        points = np.indices(shape).reshape(len(shape), count).T.astype(np.int64)
        got = _bias_entries(module, l, sizes, len(diagrams))
        expected = _formula(factors, diagrams, _zero(module), l, points)
        for t, d in enumerate(diagrams):
            failure = _mismatch(
                f"bias of order {l}, diagram {t} {d}: the module computes", got[t], expected[t], points, len(shape)
            )
            failures += [failure] if failure else []
        checked.append(f"the bias of order {l}: the module's bias terms equal F(d) at all {count} entries")
    method = (
        "exact certificate per block ("
        + ", ".join(sorted(modes))
        + "): functor theorem, "
        + (
            "program = F(d) at every entry"
            if modes == {"dense"}
            else "plan = F(d) at every relabelling orbit, program checked exactly"
        )
    )
    counts = _count(sum(len(d) for _, d in blocks), "diagram")
    return EquivarianceReport(
        ok=not failures,
        exact=True,
        group=repr(group),
        subject=f"parameterisation of {type(module).__name__} ({counts} in {_count(len(blocks), 'block')})",
        checked=tuple(checked),
        failure="; ".join(failures) or None,
        max_residual=0.0 if not failures else None,
        tolerance=None,
        method=method,
        negative="NOT certified",
    )


def _zero(module: Any) -> Any:
    return 0 if len(module.factors) == 1 else (0,) * len(module.factors)


def _fixed_group(factors: tuple[Any, ...]) -> Any:
    return factors[0] if len(factors) == 1 else ProductGroup(*factors)


def _prove_image(group: Any, d: Any, k: Any, l: Any) -> EquivarianceReport:
    """The exact proof, on the group's generators, that the image of d is equivariant."""
    if isinstance(group, ProductGroup):
        image = _image(group, d)
        return check_product_equivariance(
            group, image, k, l, tolerance=None, rng=None, samples=1, description=f"the image of {d}"
        )
    return check_matrix(group, _image(group, d), k, l)


def _image(group: Any, d: Any) -> Any:
    """The exact dense image of d (a sympy-convertible map, or for a product the exact Kronecker
    product of the factors' exact images as an object array)."""
    if isinstance(d, ProductDiagram):
        matrix = np.ones((1, 1), dtype=object)
        for g, e in zip(group.factors, d.factors, strict=True):
            a, q = g.functor(e).to_exact()
            if q != 1:
                raise ArithmeticError(f"the image of {e!r} under {g!r} is not an integer matrix")
            matrix = np.kron(matrix, np.asarray(a, dtype=object))
        return matrix
    return group.functor(d)


# -- networks --------------------------------------------------------------------------------------
def _report(**kwargs: Any) -> EquivarianceReport:
    return EquivarianceReport(**kwargs)


def _paired(bilinear: Any) -> Any:
    """A bilinear layer as a one-input module: the first half of every order's channels is x, the
    second half y (g acts on both alike, so this is equivariant iff the bilinear map is)."""
    from torch import nn

    class Paired(nn.Module):
        _catlayer_paired = True

        def __init__(self) -> None:
            super().__init__()
            self.bilinear = bilinear
            self.group = bilinear.group
            self.in_type = {k: 2 * c for k, c in bilinear.in_type.items()}
            self.out_type = dict(bilinear.out_type)

        def forward(self, features: dict[Any, Any], mask: Any = None) -> dict[Any, Any]:
            half = self.bilinear.channels
            x = {k: v[:, :half] for k, v in features.items()}
            y = {k: v[:, half:] for k, v in features.items()}
            return self.bilinear(x, y, mask)

    return Paired()


def _structure_rule(module: Any) -> str | None:
    from torch import nn

    if _is(module, "catlayer.nn.mlp.EquivariantMLP"):
        return (
            "embedding, residual blocks and head are composed; a residual adds two equivariant maps with a fixed "
            "scalar; the size inputs and scales are invariant (the number of valid indices): sums, products with "
            "invariants and compositions of equivariant maps are equivariant"
        )
    if _is(module, "catlayer.nn.mlp._Block"):
        return (
            "one linear layer's output is split by channels (ρ acts on each channel alike) into the "
            "nonlinearity's input and the two product factors; the nonlinearity's linear image and the "
            "products are added"
        )
    if isinstance(module, (nn.ModuleList, nn.ModuleDict, nn.Sequential)) or type(module) is nn.Module:
        return "a container: its parts are checked one by one"
    return None


def _types(module: Any) -> Any:
    from torch import nn

    if _is_bilinear(module):
        return _paired(module)
    if hasattr(module, "in_type") and hasattr(module, "out_type"):
        return module
    if isinstance(module, nn.Sequential) and len(module) and hasattr(module[0], "in_type"):
        module.in_type, module.out_type = module[0].in_type, module[-1].out_type
        return module
    raise ValueError(
        f"cannot tell the input and output types of {type(module).__name__}: give it in_type and out_type "
        f"attributes (feature types) or use catlayer modules"
    )


def check_network(
    module: Any,
    *,
    tolerance: float | None = None,
    rng: Any = None,
    samples: int = 3,
    batch: int = 2,
    prove: Any = "auto",
) -> EquivarianceReport:
    """Check a catlayer module or network: returns an :class:`~catlayer.verify.EquivarianceReport`
    whose parts are, in module order, the exact certificate of every linear and bilinear part, one
    report per nonlinearity and composition stating its rule, and finally the numeric check of the
    whole forward (``samples`` random group elements, at least one per component, float64). Truthy
    when all hold; ``exact`` is False (the forward is checked numerically).

    >>> from catlayer import S
    >>> from catlayer.nn import EquivariantMLP
    >>> from catlayer.verify import check_equivariance
    >>> report = check_equivariance(EquivariantMLP(S(3), {2: 1}, {0: 1}, depth=1), rng=0)
    >>> bool(report), report.exact
    (True, False)
    >>> print(str(report).splitlines()[0])  # doctest: +ELLIPSIS
    EquivariantMLP S(3) {2: 1} → {0: 1} under S(3): equivariant (exact certificate of the parameterisation + ...)
    """
    from torch import nn

    tolerance = check_tolerance(tolerance)
    samples = check_samples(samples)
    batch = check_samples(batch, "batch")
    group = getattr(module, "group", None)
    if group is None:
        group = next((m.group for m in module.modules() if hasattr(m, "group")), None)
    if group is None:
        raise ValueError(f"{type(module).__name__} has no catlayer part: nothing says which group to check")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    probe = _types(module)
    parts = []
    proved = rules = 0
    for name, sub in module.named_modules():
        label = name or type(module).__name__
        if _certifiable(sub):
            report = certify_module(sub, prove, generator)
            if report is not None:
                parts.append(_relabel(report, f"{label}: {report.subject}"))
                proved += 1
        elif hasattr(sub, "equivariance_rule"):
            holds, why = sub.equivariance_rule()
            parts.append(_rule_report(group, f"{label}: {type(sub).__name__}", holds, why))
            rules += 1
        elif (why := _structure_rule(sub)) is not None:
            if sub is module or not isinstance(sub, (nn.ModuleList, nn.ModuleDict)):
                parts.append(_rule_report(group, f"{label}: {type(sub).__name__}", True, why))
                rules += 1
        elif isinstance(sub, nn.Identity) or getattr(sub, "_catlayer_paired", False):
            continue
        else:
            why = f"no equivariance rule for {type(sub).__name__}: check it separately"
            parts.append(_rule_report(group, f"{label}: {type(sub).__name__}", False, why, exact=False))
    if _on_tensors(module):  # plain tensors in and out
        orders: tuple[Any, Any] = (module.in_order, module.out_order)
    else:
        orders = (probe.in_type, probe.out_type)
    forward = check_forward(
        probe,
        group,
        *orders,
        num_elements=samples,
        seed=generator,
        batch=batch,
        tolerance=tolerance,
    )
    if _on_tensors(module):
        subject = repr(module)
    else:
        subject = f"{type(module).__name__} {group!r} {_type_str(probe.in_type)} → {_type_str(probe.out_type)}"
    numeric = dataclasses.replace(forward, subject=f"forward of {subject}")
    parts.append(numeric)
    ok = all(p.ok for p in parts)
    failure = next((f"{p.subject}: {p.failure}" for p in parts if not p.ok), None)
    lines = []
    if prove is False:
        lines.append("parameterisation: not certified (prove=False)")
    elif proved:
        lines.append(
            "parameterisation: exact certificate per block"
            + (f" of each of the {proved} linear and bilinear parts" if proved > 1 or rules else "")
        )
    if rules:
        lines.append(f"{rules} nonlinearities and compositions: equivariant by the rule stated")
    lines.append(f"forward: numeric check on {forward.num_elements} random group elements in {forward.dtype}")
    checked = tuple(lines)
    certified = all(p.ok for p in parts if p.exact)
    return _report(
        ok=ok,
        exact=False,
        group=repr(group),
        subject=subject,
        checked=checked,
        failure=failure,
        max_residual=forward.max_residual,
        tolerance=forward.tolerance,
        parts=tuple(parts),
        method=(
            "exact certificate of the parameterisation + numeric check of the forward"
            if prove is not False
            else "numeric check of the forward only; parameterisation not certified (prove=False)"
        ),
        negative="NOT certified" if forward.ok and not certified else "NOT equivariant",
    )


def _rule_report(group: Any, subject: str, holds: bool, why: str, exact: bool = True) -> EquivarianceReport:
    """The report of a part decided by a rule, not computed: ``why`` is what was checked (nothing,
    when no exact rule applies) and, unless the rule holds, the failure."""
    return _report(
        ok=holds,
        exact=exact,
        group=repr(group),
        subject=subject,
        checked=(why,) if exact else (),
        failure=None if holds else why,
        max_residual=None,
        tolerance=None,
    )


def _relabel(report: EquivarianceReport, subject: str) -> EquivarianceReport:
    return dataclasses.replace(report, subject=subject)


# -- arbitrary torch modules -----------------------------------------------------------------------
def check_module(
    group: Any, module: Any, k: Any, l: Any, *, tolerance: Any = None, rng: Any = None, samples: int = 3, **kwargs: Any
) -> EquivarianceReport:
    """The forward of an arbitrary torch module, numerically (it has no diagrams to certify):
    ``check_equivariance(G, module, k, l, in_channels=…, batch=…)``. k and l are orders (ints,
    or tuples for a product) or both feature types (dicts order → channels)."""
    tolerance = check_tolerance(tolerance)
    samples = check_samples(samples)
    in_channels = kwargs.pop("in_channels", None)
    batch = check_samples(kwargs.pop("batch", 2), "batch")
    if kwargs:
        raise TypeError(f"unexpected keyword arguments {sorted(kwargs)} for a module")
    typed = isinstance(k, dict) and isinstance(l, dict)
    if not typed:
        for name, value in (("in_order k", k), ("out_order l", l)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer, tuple)):
                raise ValueError(
                    f"declare the module's {name} as an order (an int >= 0, or a tuple for a product) or both "
                    f"orders as feature types (dicts order -> channels), got {value!r}"
                )
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    forward = check_forward(
        module,
        group,
        k if typed or isinstance(k, tuple) else int(k),
        l if typed or isinstance(l, tuple) else int(l),
        in_channels=in_channels,
        num_elements=samples,
        seed=generator,
        batch=batch,
        tolerance=tolerance,
    )
    return dataclasses.replace(
        forward,
        subject=f"forward of {type(module).__name__} module",
        checked=tuple(
            f"random element {e} of {group!r}, batch of {batch} random inputs" for e in range(forward.num_elements)
        ),
        method=f"numeric check of the forward in {forward.dtype}, not a proof (an arbitrary module has no diagrams)",
    )
