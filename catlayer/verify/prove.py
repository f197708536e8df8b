"""``prove_module``: prove, refute or leave undecided the equivariance of an arbitrary torch module.

>>> import torch
>>> from catlayer import S
>>> from catlayer.verify import prove_module
>>> deepsets = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU())
>>> report = prove_module(deepsets, S(5), (torch.randn(2, 5, 3),), axes=[(None, 0, None)])
>>> bool(report), report.exact, report.output_axes
(True, True, ((None, 0, None),))

**How.** The module is traced with ``torch.export.export`` (non-strict), in eval mode by default:
the tracer runs the Python code on fake tensors, so control flow on shapes and flags, dict
inputs, shape checks and library layers (``nn.MultiheadAttention``, ``einsum``, catlayer's
executor) are seen through, and the result is an ATen graph with shapes, the source line of
every node and the list of parameters, buffers and constants. Export's graph keeps high-level ops
(``linear``, ``einsum``, ``layer_norm``, ``scaled_dot_product_attention``), which have rules of
their own, so the graph stays small and the reported op is the one the user wrote; when it still
holds in-place ops, they are functionalised (``run_decompositions({})``, which keeps
the ops), and an op with no rule is decomposed on the spot with ATen's own decomposition.
``torch.fx.symbolic_trace`` was not chosen: it stops at Python control flow on values, keeps
module calls opaque, gives no shapes and leaves in-place writes and views as they are;
``make_fx`` is as fast but gives neither the parameter/buffer signature nor functionalisation.

Every node is then interpreted by the rules of :mod:`catlayer.verify.rules` over the tensor networks of
:mod:`catlayer.verify.network`: each tensor axis is a tuple of atomic indices, each either not
acted on or an index of one group factor; linear and multilinear segments are tensor networks
decided exactly against the group's category and functor, nonlinear ops are accepted by rule
(pointwise on permutation axes or invariants, symmetric reductions along permutation axes).

**The verdict.** ``"proved"`` only from the rules (``exact`` is True); a proof is then also
confirmed numerically (``confirm=True``), which can only veto it (a disagreement is reported as
undecided and would be a bug in a rule). ``"refuted"`` only with a numeric counterexample: a
group element g and an input x with f(g·x) ≠ g·f(x), found on elements of every connected
component (and the exact group generators), and only when every plausible reading of the output
axes fails (the inferred roles can be wrong once a rule has failed); the first op that breaks is
named with its source line. ``"undecided"`` otherwise: an op without a rule, a network too large
to decide, or a rule that fails while no counterexample was found; the numeric check is then
reported as numeric evidence, never as a proof.

**Scope of a proof.** It holds for every value of the parameters (a learned tensor is never an
invariant constant) with the buffers and constants as they are, for inputs of the traced shapes
and dtypes, and for the path the Python code took while tracing (export specialises on shapes,
flags and train/eval mode). Floating-point rounding is not modelled: the proof is about the
real-valued function the graph computes.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..tolerance import default_tolerance
from .forward import describe_element
from .network import FLEX, PLAIN, Atom, Conflict, Expr, _acts_by_permutations, decide

__all__ = ["Counterexample", "ProofReport", "prove_module"]


@dataclass(frozen=True, kw_only=True)
class Counterexample:
    """A group element g and an input x with f(g·x) ≠ g·f(x), confirmed numerically.

    ``element``: g (an n × n array; a tuple of one array per factor for a product group);
    ``inputs``: x (the module's positional arguments, float64 where the module ran in float64);
    ``output``: which output tensor (position in the flattened outputs); ``index``: the entry where
    the two sides differ most, with ``transformed_input`` = f(g·x) and ``transformed_output`` =
    g·f(x) there; ``max_residual``: max ``|f(g·x) − g·f(x)|`` / max(``|f(g·x)|``, ``|g·f(x)|``).
    """

    element: object
    inputs: tuple
    output: int
    index: tuple
    transformed_input: float
    transformed_output: float
    max_residual: float
    element_name: str = ""

    def __str__(self) -> str:
        return (
            f"g = {self.element_name}: output {self.output} at {self.index}: f(g·x) = "
            f"{self.transformed_input:.6g}, g·f(x) = {self.transformed_output:.6g} "
            f"(relative residual {self.max_residual:.3g})"
        )


@dataclass(frozen=True, kw_only=True)
class ProofReport:
    """The outcome of :func:`prove_module`; truthy exactly when the module is proved.

    ``status``: "proved", "refuted" or "undecided". ``exact``: True for a proof by the rules.
    ``node``: the first op that breaks (ATen op and graph node, with the module it sits in),
    ``source``: its source line, ``reason``: why. ``counterexample``: a
    :class:`Counterexample` when refuted (None otherwise). ``output_axes``: the inferred roles of
    the output axes, one tuple per output tensor and one entry per axis: None (not acted on),
    the factor acting on it, or a tuple of roles when the axis is several atoms merged by a
    reshape (e.g. ``(None, 0)`` for an axis of size batch·n). ``numeric``: what the numeric check
    did. ``ops``: the ATen ops of the traced graph. ``output_atoms`` (internal): the inferred
    atoms (role, size) of every output axis, used to act on the outputs.
    """

    ok: bool
    exact: bool
    status: str
    group: str
    subject: str
    node: str | None = None
    source: str | None = None
    reason: str | None = None
    counterexample: Counterexample | None = None
    output_axes: tuple | None = None
    tracer: str = ""
    numeric: str | None = None
    ops: tuple[str, ...] = ()
    output_atoms: tuple | None = field(default=None, repr=False, compare=False)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdicts = {
            "proved": "equivariant (proved by the rules, exact)",
            "refuted": "NOT equivariant (refuted by a counterexample)",
            "undecided": "undecided (not proved)",
        }
        lines = [f"{self.subject} under {self.group}: {verdicts[self.status]}"]
        if self.output_axes is not None:
            lines.append(f"  output axes: {self.output_axes}")
        if self.node:
            lines.append(f"  first op that breaks: {self.node}")
        if self.source:
            lines.append(f"  at {self.source}")
        if self.reason:
            lines.append(f"  reason: {self.reason}")
        if self.counterexample is not None:
            lines.append(f"  counterexample: {self.counterexample}")
        if self.numeric:
            lines.append(f"  numeric check: {self.numeric}")
        lines.append(f"  traced with {self.tracer}")
        return "\n".join(lines)


# -- groups ------------------------------------------------------------------------------------------
def factor_groups(group: Any) -> tuple:
    """The factor groups of ``group``: ``group.factors`` when it is a tuple (a product group),
    else ``(group,)``. (A single group's ``factors`` is the method giving a diagram's entry
    formula, not a tuple.)"""
    factors = getattr(group, "factors", None)
    if isinstance(factors, (tuple, list)):
        return tuple(factors)
    return (group,)


def _specialise(groups: Any, roles: Any, tensors: Any) -> Any:
    """Factors of no fixed size (``S()``) at the size of the axes they act on."""
    out = []
    for f, g in enumerate(groups):
        sizes = {int(t.shape[d]) for t, r in zip(tensors, roles, strict=True) for d, k in enumerate(r) if k == f}
        if len(sizes) > 1:
            raise ValueError(f"the axes acted on by factor {f} ({g!r}) have different sizes {sorted(sizes)}")
        if g.n is None:
            if not sizes:
                raise ValueError(f"no input axis is acted on by factor {f} ({g!r}), which has no fixed size")
            g = g.at(sizes.pop())
        elif sizes and sizes != {int(g.n)}:
            raise ValueError(f"axes acted on by {g!r} must have length {g.n}, got {sorted(sizes)}")
        out.append(g)
    return out


def _check_axes(axes: Any, tensors: Any, count: Any) -> Any:
    if axes is None:
        raise TypeError("pass axes: one tuple per input tensor with None or a factor index per dimension")
    axes = list(axes)
    if len(tensors) == 1 and axes and not isinstance(axes[0], (tuple, list)):
        axes = [tuple(axes)]  # the roles of a single input tensor, given without the outer list
    if len(axes) != len(tensors):
        raise ValueError(f"axes has {len(axes)} entries for {len(tensors)} input tensors (one tuple per tensor)")
    roles = []
    for j, (a, t) in enumerate(zip(axes, tensors, strict=True)):
        a = tuple(a)
        if len(a) != t.dim():
            raise ValueError(f"axes[{j}] = {a} has {len(a)} entries for a tensor with {t.dim()} dimensions")
        for k in a:
            if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < count):
                raise ValueError(f"axes[{j}] = {a}: each entry is None or a factor index in 0..{count - 1}")
        roles.append(a)
    return roles


# -- the proof ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def _mode(module: Any, train: Any) -> Any:
    if train is None:
        yield
        return
    flags = [(m, m.training) for m in module.modules()]
    module.train(bool(train))
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _roles_of_dims(dims: Any) -> tuple:

    out: list[Any] = []
    for atoms in dims:
        kinds = [None if a.kind == PLAIN else a.kind for a in atoms]
        groups = [k for k in kinds if k is not None]
        if not groups:
            out.append(None)
        elif len(kinds) == 1:
            out.append(kinds[0])
        else:
            out.append(tuple(kinds))
    return tuple(out)


def prove_module(
    module: Any,
    group: Any,
    inputs: Any,
    axes: Any,
    *,
    output_axes: Any = None,
    train: bool | None = False,
    confirm: bool = True,
    samples: int = 2,
    rng: Any = 0,
    tolerance: float | None = None,
) -> ProofReport:
    """Prove that ``module`` is equivariant, or refute it with a counterexample, or say undecided.

    Args:
        module: a ``torch.nn.Module`` (or a function of tensors).
        group: a catlayer group (``S(6)``, ``O(3)``, …) or a product of groups (``S() * O(3)``,
            one factor per role index).
        inputs: the module's positional arguments (a tensor, or a tuple; dicts and lists of
            tensors are allowed inside), used for tracing and as the first numeric input.
        axes: one tuple per input tensor (in the order ``torch.utils._pytree.tree_flatten(inputs)``
            lists them), one entry per dimension: None (not acted on: batch, channels, features)
            or the index of the group factor acting on it (0 for a single group).
        output_axes: optional roles of the outputs (same format, one tuple per output tensor):
            the proof is then for these roles; by default they are inferred and reported.
        train: trace and check in training mode (True), eval mode (False, the default: dropout
            is random in training mode) or the module's current mode (None).
        confirm: run the numeric check after a proof too (it can only veto a proof).
        samples: random group elements per connected component in the numeric check.
        rng: seed or numpy Generator for the numeric check.
        tolerance: relative residual above which the numeric check reports a counterexample
            (default: the row of :data:`catlayer.tolerance.DEFAULT_TOLERANCE` for the dtype the
            check runs in: float64 where the module runs in float64, else the module's own).

    Returns a :class:`ProofReport`.
    """
    import torch
    from torch.utils import _pytree as pytree

    from .rules import Const, Culprit, Interpreter, as_expr

    if not isinstance(module, torch.nn.Module):
        module = _function_module(module)
    args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    flat, _ = pytree.tree_flatten(args)
    tensors = [x for x in flat if isinstance(x, torch.Tensor)]
    if not tensors:
        raise ValueError("the inputs contain no tensor")
    groups = factor_groups(group)
    roles = _check_axes(axes, tensors, len(groups))
    groups = _specialise(groups, roles, tensors)

    permutation = [_acts_by_permutations(g) for g in groups]
    subject = getattr(module, "_catlayer_function_name", None) or type(module).__name__
    group_name = repr(group)
    tracer = "torch.export.export (non-strict, ATen graph)"

    with _mode(module, train), warnings.catch_warnings(), torch.enable_grad():
        warnings.simplefilter("ignore")
        try:
            ep = torch.export.export(module, args, strict=False)
            if _has_mutations(ep, torch):
                # export's training IR keeps in-place ops on intermediate tensors (e.g. the padding
                # mask of nn.MultiheadAttention); functionalise them without decomposing anything
                ep = ep.run_decompositions({})
            trace_error = None
        except Exception as error:
            ep, trace_error = None, f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"

    culprit: Any = None
    out_atoms: Any = None
    inferred: Any = None
    ops: tuple[str, ...] = ()
    if ep is not None:
        ip = Interpreter(groups, permutation, ep.graph_module)
        env: dict[Any, Any] = {}
        state = dict(ep.state_dict)
        constants = dict(getattr(ep, "constants", {}))
        user = iter(t for t in flat if isinstance(t, torch.Tensor))
        user_roles = iter(roles)
        placeholders = [n for n in ep.graph.nodes if n.op == "placeholder"]
        specs = ep.graph_signature.input_specs
        for node, spec in zip(placeholders, specs, strict=True):
            kind = spec.kind.name
            if kind == "PARAMETER":
                t = state[spec.target]
                dims = [(_plain_atom(s),) if s != 1 else () for s in t.shape]
                env[node] = ip.leaf(f"parameter {spec.target}", dims)
            elif kind in ("BUFFER", "CONSTANT_TENSOR"):
                t = state.get(spec.target, constants.get(spec.target))
                env[node] = Const(t.detach()) if isinstance(t, torch.Tensor) else t
            elif kind == "USER_INPUT":
                val = node.meta.get("val")
                if isinstance(val, torch.Tensor):
                    t, r = next(user), next(user_roles)
                    env[node] = ip.leaf(f"input {node.name}", _input_dims(t, r, groups))
                else:
                    env[node] = getattr(spec.arg, "value", val)
            else:
                env[node] = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                outs = ip.run(ep.graph, env)
                run_error = None
            except Exception as error:
                if os.environ.get("CATLAYER_PROVE_DEBUG"):
                    raise
                outs, run_error = None, f"{type(error).__name__}: {error}"
        ops = tuple(sorted(ip.ops_seen))
        if outs is None:
            culprit = Culprit(0, "interpreter", "", None, f"the interpreter failed: {run_error}", False)
        else:
            out_specs = ep.graph_signature.output_specs
            values = [v for v, s in zip(outs, out_specs, strict=True) if s.kind.name == "USER_OUTPUT"]
            out_atoms, inferred = [], []
            given = list(output_axes) if output_axes is not None else None
            for j, v in enumerate(values):
                if v is None or isinstance(v, (int, float, bool)):
                    out_atoms.append(None)
                    inferred.append(None)
                    continue
                e = v if isinstance(v, Expr) else as_expr(v)
                if given is not None:
                    try:
                        e = _apply_roles(e, given[j])
                    except Exception as error:
                        culprit = ip.earliest(
                            culprit,
                            Culprit(
                                10**9, "output", f"output {j}", None, f"the output cannot have the given axes: {error}"
                            ),
                        )
                settled, verdict = decide(e, groups, ip.leaf_names)
                out_atoms.append(tuple(tuple((a.kind, a.size) for a in d) for d in settled.dims))
                inferred.append(_roles_of_dims(settled.dims))
                if e.broken is not None:
                    culprit = ip.earliest(culprit, e.broken)
                elif not verdict.ok:
                    c = e.suspect or Culprit(10**9, "output", f"output {j}", None, verdict.reason)
                    culprit = ip.earliest(culprit, c)
    else:
        culprit = Culprit(0, "trace", "", None, f"torch.export could not trace the module: {trace_error}", False)

    if output_axes is not None and out_atoms is None:
        out_atoms = _atoms_from_roles(output_axes, groups)
        inferred = tuple(tuple(r) for r in output_axes)
    inferred_t = tuple(inferred) if inferred is not None else None

    proved = culprit is None
    check = None
    if out_atoms is not None and (confirm or not proved):
        check = _numeric(
            module,
            args,
            roles,
            out_atoms,
            groups,
            train,
            samples,
            rng,
            tolerance,
            fixed_roles=output_axes is not None,
            quick=proved,
        )
    if proved:
        if check is not None and check[0] is not None:
            return ProofReport(
                ok=False,
                exact=False,
                status="undecided",
                group=group_name,
                subject=subject,
                reason="the rules proved the module but the numeric check found a counterexample: a rule is wrong "
                "(please report this)",
                counterexample=check[0],
                output_axes=inferred_t,
                tracer=tracer,
                numeric=check[1],
                ops=ops,
                output_atoms=out_atoms,
            )
        return ProofReport(
            ok=True,
            exact=True,
            status="proved",
            group=group_name,
            subject=subject,
            output_axes=inferred_t,
            tracer=tracer,
            numeric=check[1] if check else None,
            ops=ops,
            output_atoms=out_atoms,
        )
    counterexample = check[0] if check else None
    numeric = check[1] if check else "not run: the output axes are unknown (pass output_axes=)"
    status = "refuted" if counterexample is not None else "undecided"
    assert culprit is not None
    node = culprit.describe() if culprit.op not in ("trace", "interpreter") else None
    reason = culprit.reason
    if not culprit.has_rule and status == "undecided":
        reason = f"{reason}; an op without a rule is never proved (the numeric check is evidence only)"
    return ProofReport(
        ok=False,
        exact=False,
        status=status,
        group=group_name,
        subject=subject,
        node=node,
        source=culprit.source,
        reason=reason,
        counterexample=counterexample,
        output_axes=inferred_t,
        tracer=tracer,
        numeric=numeric,
        ops=ops,
        output_atoms=out_atoms,
    )


def _plain_atom(size: Any) -> Any:

    return Atom(PLAIN, int(size))


def _input_dims(t: Any, roles: Any, groups: Any) -> Any:

    dims = []
    for s, r in zip(t.shape, roles, strict=True):
        s = int(s)
        if r is None:
            dims.append((Atom(PLAIN, s),) if s != 1 else ())
        else:
            dims.append((Atom(r, s),))
    return dims


def _apply_roles(e: Any, roles: Any) -> Any:
    """Retype the output's undecided atoms to the given roles (a role per axis)."""

    roles = tuple(roles)
    if len(roles) != e.ndim:
        raise ValueError(f"{len(roles)} roles for an output with {e.ndim} axes")
    for d, r in enumerate(roles):
        kinds = list(r) if isinstance(r, tuple) else [r] * len(e.dims[d])
        if len(kinds) != len(e.dims[d]):
            if len(e.dims[d]) == 1 and e.dims[d][0].kind in (FLEX, PLAIN) and isinstance(r, tuple):
                raise Conflict("cannot split the axis to the given roles")
            if r is None and all(a.kind in (FLEX, PLAIN) for a in e.dims[d]):
                kinds = [None] * len(e.dims[d])
            else:
                raise Conflict(f"axis {d} has {len(e.dims[d])} atoms")
        for i, k in enumerate(kinds):
            e = e.retype(d, i, PLAIN if k is None else k)
    return e


def _atoms_from_roles(output_axes: Any, groups: Any) -> Any:
    out = []
    for roles in output_axes:
        dims: list[Any] = []
        for r in roles:
            if r is None:
                dims.append(None)
            elif isinstance(r, tuple):
                dims.append(tuple((None if k is None else k, None) for k in r))
            else:
                dims.append(((r, int(groups[r].n)),))
        out.append(tuple(dims))
    return tuple(out)


def _has_mutations(ep: Any, torch: Any) -> bool:
    return any(
        n.op == "call_function" and isinstance(n.target, torch._ops.OpOverload) and n.target._schema.is_mutable
        for n in ep.graph.nodes
    )


def _function_module(fn: Any) -> Any:
    """A function of tensors as a module (export traces modules)."""
    import torch

    class FunctionModule(torch.nn.Module):
        def forward(self, *args: Any) -> Any:
            return fn(*args)

    module: Any = FunctionModule()
    module._catlayer_function_name = getattr(fn, "__name__", type(fn).__name__)
    return module


# -- the numeric check ---------------------------------------------------------------------------------
def _is_permutation(g: np.ndarray) -> bool:
    return bool(np.all((g == 0) | (g == 1)) and np.all(g.sum(0) == 1) and np.all(g.sum(1) == 1))


def _act(t: Any, axis: int, g: np.ndarray) -> Any:
    """g applied along one axis of a torch tensor: (g·t)[j] = Σ_i g[j, i] t[i]."""
    import torch

    if _is_permutation(g):
        source = torch.as_tensor(np.argmax(g, axis=1), dtype=torch.long, device=t.device)
        return t.index_select(axis, source)
    m = torch.as_tensor(g, dtype=t.dtype if t.is_floating_point() else torch.float64, device=t.device)
    moved = torch.movedim(t.to(m.dtype), axis, -1)
    return torch.movedim(moved @ m.T, -1, axis)


def _act_roles(t: Any, roles: Any, elements: Any) -> Any:
    for axis, r in enumerate(roles):
        if r is not None:
            t = _act(t, axis, elements[r])
    return t


def _compare(y: Any, yg: Any, reading: Any, element: Any, tol: Any, floor: Any = 1e-9) -> Any:
    """(largest relative residual, output, index, f(g·x) there, g·f(x) there) over the outputs."""
    import torch

    best: tuple[float, int, tuple[int, ...], float, float] = (0.0, 0, (), 0.0, 0.0)
    for j, (a, b) in enumerate(zip(y, yg, strict=True)):
        if not isinstance(a, torch.Tensor):
            continue
        atoms = reading[j] if j < len(reading) else None
        ga = _act_atoms(a.to(torch.float64), atoms, element)
        fb = b.to(torch.float64)
        if ga.shape != fb.shape:
            continue
        both_nan = torch.isnan(ga) & torch.isnan(fb)
        same_inf = torch.isinf(ga) & torch.isinf(fb) & (ga == fb)
        diff = torch.where(both_nan | same_inf, torch.zeros_like(ga), (ga - fb).abs())
        diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
        finite = torch.cat([ga[torch.isfinite(ga)].abs().reshape(-1), fb[torch.isfinite(fb)].abs().reshape(-1)])
        # an absolute floor: outputs that are zero up to rounding (e.g. a centred softmax summed)
        # must not make rounding noise look like a counterexample
        scale = max(float(finite.max()) if finite.numel() else 0.0, floor)
        residual = float(diff.max()) / scale if diff.numel() else 0.0
        if residual > best[0]:
            flat = int(torch.argmax(diff.reshape(-1)))
            index = tuple(int(i) for i in np.unravel_index(flat, tuple(diff.shape)))
            best = (residual, j, index, float(fb.reshape(-1)[flat]), float(ga.reshape(-1)[flat]))
    return best


def _alternative_readings(out_atoms: Any, groups: Any, limit: int = 32) -> Any:
    """The inferred reading of the output axes first, then the others where each axis that is one
    atom (or plain) of length n_f is read as plain or as an axis of factor f."""

    per_axis = []
    for atoms in out_atoms:
        if atoms is None:
            per_axis.append([None])
            continue
        for dim in atoms:
            options = [dim]
            size = math.prod(s for _, s in dim) if dim else 1
            if len(dim) <= 1 and size > 1:
                for cand in [((PLAIN, size),)] + [((f, size),) for f, g in enumerate(groups) if int(g.n) == size]:
                    if cand not in options:
                        options.append(cand)
            per_axis.append(options)
    shapes = [len(atoms) if atoms is not None else None for atoms in out_atoms]
    out = []
    for combo in itertools.product(*per_axis):
        reading: list[Any] = []
        k = 0
        for count in shapes:
            if count is None:
                reading.append(None)
                k += 1
            else:
                reading.append(tuple(combo[k : k + count]))
                k += count
        out.append(tuple(reading))
        if len(out) >= limit:
            break
    return out


def _roles_of_atoms(reading: Any) -> tuple:

    out: list[Any] = []
    for atoms in reading:
        if atoms is None:
            out.append(None)
            continue
        roles = []
        for dim in atoms:
            kinds = [None if k in (PLAIN, None) else k for k, _ in dim]
            roles.append(
                None if not any(k is not None for k in kinds) else kinds[0] if len(kinds) == 1 else tuple(kinds)
            )
        out.append(tuple(roles))
    return tuple(out)


def _act_atoms(t: Any, atoms: Any, elements: Any) -> Any:
    """g applied to a tensor whose axes are the given atoms ((kind, size) per atom)."""

    if atoms is None:
        return t
    for axis, dim in enumerate(atoms):
        if dim is None or not dim:
            continue
        kinds = [k for k, _ in dim]
        if all(k in (PLAIN, None) for k in kinds):
            continue
        sizes = [s for _, s in dim]
        if None in sizes:  # roles given by the user with merged atoms: infer the plain size
            known = math.prod(s for s in sizes if s is not None)
            sizes = [s if s is not None else t.shape[axis] // known for s in sizes]
        shape = list(t.shape)
        t2 = t.reshape(shape[:axis] + sizes + shape[axis + 1 :])
        for i, k in enumerate(kinds):
            if k not in (PLAIN, None):
                t2 = _act(t2, axis + i, elements[k])
        t = t2.reshape(shape)
    return t


def _numeric(
    module: Any,
    args: Any,
    roles: Any,
    out_atoms: Any,
    groups: Any,
    train: Any,
    samples: Any,
    rng: Any,
    tolerance: Any,
    fixed_roles: Any = False,
    quick: Any = False,
) -> Any:
    """Look for a counterexample: (Counterexample or None, description).

    The counterexample is for the inferred output axes; unless ``fixed_roles`` (axes given by the
    user), it is only reported when every other plausible reading of the output axes (each axis
    of length n_f read as plain or as an axis of factor f) fails too, so that a refutation never
    rests on a wrong guess of the output roles. ``quick`` (the confirmation of a proof): one
    random element per connected component, no generators."""
    import torch
    from torch.utils import _pytree as pytree

    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    probe, dtype = module, None
    try:
        probe = copy.deepcopy(module).double()
        dtype = torch.float64
    except Exception:
        probe = module
    flat, spec = pytree.tree_flatten(args)

    def convert(x: Any) -> Any:
        if isinstance(x, torch.Tensor) and x.is_floating_point() and dtype is not None:
            return x.detach().to(dtype)
        return x.detach() if isinstance(x, torch.Tensor) else x

    base = [convert(x) for x in flat]

    def run(values: Any) -> Any:
        a = pytree.tree_unflatten(values, spec)
        with _mode(probe, train), torch.no_grad():
            out = probe(*a)
        return pytree.tree_flatten(out)[0]

    try:
        first = run(base)
    except Exception:  # the module does not run in float64: use its own dtype
        probe, dtype = module, None
        base = [convert(x) for x in flat]
        first = None
    tol = tolerance if tolerance is not None else default_tolerance(dtype or _module_dtype(module))

    # group elements: the exact group generators, then random elements of every component
    candidates = []
    identity = [np.eye(int(g.n)) for g in groups]
    for f, g in enumerate(groups):
        for gen in () if quick else g.generators():
            if gen.kind == "group":
                element = list(identity)
                element[f] = np.asarray(gen.matrix, dtype=np.float64)
                candidates.append(element)
    components = [range(max(1, int(getattr(g, "num_components", 1)))) for g in groups]
    for combo in itertools.product(*components):
        for _ in range(1 if quick else samples):
            candidates.append(
                [
                    np.asarray(g.random_element(rng, component=c), dtype=np.float64)
                    for g, c in zip(groups, combo, strict=True)
                ]
            )
    tensor_positions = [i for i, x in enumerate(base) if isinstance(x, torch.Tensor)]
    readings = [tuple(out_atoms)] if fixed_roles else _alternative_readings(out_atoms, groups)
    alive = [True] * len(readings)
    found = None
    worst = 0.0
    tried = 0
    for trial, element in enumerate(candidates):
        values = list(base)
        if trial % 2 == 1:  # every other trial: fresh random values for the floating inputs
            for i in tensor_positions:
                if values[i].is_floating_point():
                    values[i] = torch.as_tensor(
                        rng.standard_normal(tuple(values[i].shape)), dtype=values[i].dtype, device=values[i].device
                    )
        transformed = list(values)
        for i, r in zip(tensor_positions, roles, strict=True):
            transformed[i] = _act_roles(values[i], r, element)
        try:
            y = first if trial % 2 == 0 and first is not None else run(values)
            yg = run(transformed)
        except Exception as error:
            return None, f"the module failed on a transformed input: {type(error).__name__}: {error}"[:300]
        tried += 1
        for r, reading in enumerate(readings):
            if not alive[r]:
                continue
            failure = _compare(y, yg, reading, element, tol, 1e-7 if dtype == torch.float64 else 1e-3)
            if r == 0:
                worst = max(worst, failure[0])
            if failure[0] > tol:
                alive[r] = False
                if r == 0 and found is None:
                    found = (trial, element, values, failure)
        if not any(alive):
            break
    if found is not None and not any(alive):
        trial, element, values, (residual, j, index, lhs, rhs) = found
        name = describe_element(element[0]) if len(element) == 1 else " × ".join(map(describe_element, element))
        return (
            Counterexample(
                element=element[0] if len(element) == 1 else tuple(element),
                inputs=tuple(pytree.tree_unflatten(values, spec)),
                output=j,
                index=index,
                transformed_input=lhs,
                transformed_output=rhs,
                max_residual=residual,
                element_name=name,
            ),
            f"counterexample found on group element #{trial} (relative residual {residual:.3g} > {tol:.3g})"
            + (
                ""
                if fixed_roles or len(readings) == 1
                else f"; no other reading of the output axes ({len(readings) - 1} tried) is consistent either"
            ),
        )
    if found is not None:
        other = readings[alive.index(True)]
        return None, (
            f"the inferred output axes fail numerically (relative residual {found[3][0]:.3g}), but the reading "
            f"{_roles_of_atoms(other)} passes on {tried} group elements: the module may be equivariant with "
            "those output axes (numeric evidence, not a proof; pass output_axes= to test a reading)"
        )
    precision = "float64" if dtype == torch.float64 else "the module's dtype"
    which = "a random element of each component" if quick else "the generators and random elements of every component"
    return None, (
        f"no counterexample on {tried} group element(s) ({which}) in {precision}: max relative residual "
        f"{worst:.3g} ≤ {tol:.3g} (numeric evidence, not a proof)"
    )


def _module_dtype(module: Any) -> str:
    """The dtype of the module's first floating parameter or buffer (float32 when it has none)."""
    for t in [*module.parameters(), *module.buffers()]:
        if t.is_floating_point():
            return str(t.dtype)
    return "float32"
