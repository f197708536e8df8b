"""The rules of :func:`catlayer.verify.prove_module`: one per ATen operation (or family), applied
by an abstract interpreter over a ``torch.export`` graph.

Every value of the graph becomes one of: a :class:`Const` (a tensor known at trace time: a
buffer, a lifted constant, ``torch.eye(3)``, anything computed from those alone, evaluated
exactly as the program would), an :class:`~catlayer.verify.network.Expr` (a sum of tensor
networks over the group axes), or a plain Python value. The rules:

* **Views and layout** (``view``/``reshape``/``flatten``/``unflatten``, ``permute``/``transpose``,
  ``unsqueeze``/``squeeze``, ``expand``, ``clone``, dtype casts to floating types): the atoms
  (group indices) move with the axes; a reshape may merge two group axes into one axis and split
  it again, never split a single group axis.
* **Linear and multilinear maps**: ``add``/``sub``/``neg``, ``mul``, ``div`` by a constant,
  ``sum``/``mean``, ``mm``/``bmm``/``matmul``/``einsum``/``linear``/``addmm``/``baddbmm``,
  ``diagonal``/``diag_embed``, 1×1 convolutions over group axes, and constant linear maps along
  one axis (``select``, ``slice``, ``index_select`` with a constant index, ``roll``, ``flip``,
  ``cat``, padding, ``index_put``/``index_add`` with a constant index, ``*_scatter``): they build
  tensor networks, decided by :func:`~catlayer.verify.network.check_term`.
* **Nonlinear maps** need an equivariant input (its network is decided first and replaced by a
  new leaf). Pointwise functions (every op tagged ``pointwise`` by ATen that is not linear:
  ReLU, GELU, exp, comparisons, ``maximum``…) are equivariant when every group axis of the
  operands belongs to a factor acting by permutations (S_n), or when no operand has a group axis
  (invariant inputs: any function of them is invariant); ``where``/``masked_fill`` also when the
  condition is constant along every non-permutation axis (it is linear in the two branches then).
  Symmetric reductions along a permutation axis (``amax``/``amin``/``max``/``min`` values,
  ``logsumexp``, ``softmax``/``log_softmax``, ``var``/``std``, ``prod``, ``any``/``all``, norms)
  and layer/group/batch norms are equivariant under the same condition; the Euclidean
  ``vector_norm`` is read as √(Σ x·x), so it is invariant for O(n) too. ``argmax``/``argmin``,
  sorting and cumulative ops along a group axis have no rule.
* **Attention**: ``scaled_dot_product_attention`` is read as its definition (einsum, scale,
  mask, softmax along the keys, einsum); a causal mask is a constant (rejected under S_n).
* Anything else is decomposed with ATen's own decomposition, traced on the spot, and the pieces
  are interpreted; an op with neither a rule nor a decomposition is reported as having no rule.

Parameters are leaves with plain axes only: a learned tensor that would lie along a group axis
(a positional encoding) is a conflict, because the proof must hold for every value of the
weights. Random ops (dropout in training mode) have no rule: trace in eval mode.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..forms import levi_civita
from . import network as N
from .network import FLEX, PLAIN, Atom, Conflict, Expr, Unsupported

__all__ = ["Const", "Culprit", "Interpreter"]

_TORCH_DIR = os.path.dirname(torch.__file__)
_VERIFY_DIR = os.path.dirname(__file__)

#: Most terms a symbolic value may carry before the interpreter gives up on it.
TERM_LIMIT = 4096


@dataclass(frozen=True)
class Const:
    """A tensor known at trace time."""

    value: torch.Tensor


@dataclass(frozen=True)
class Culprit:
    """Where and why a value stopped being provably equivariant."""

    order: int
    op: str
    name: str
    source: str | None
    reason: str
    has_rule: bool = True

    def describe(self) -> str:
        return f"{self.op} ({self.name})"


# -- helpers ----------------------------------------------------------------------------------------
def source_line(node: Any) -> str | None:
    """The innermost frame of the node's stack trace outside torch (the user's line), else the
    innermost frame."""
    trace = node.meta.get("stack_trace") if hasattr(node, "meta") else None
    if not trace:
        return None
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)\n\s*(.*)', trace)
    if not frames:
        return None
    chosen = None
    for path, line, func, code in frames:
        if not path.startswith(_TORCH_DIR) and not path.startswith(_VERIFY_DIR):
            chosen = (path, line, func, code)
    if chosen is None:
        chosen = frames[-1]
    path, line, func, code = chosen
    return f"{path}:{line} in {func}: {code.strip()}"


def module_path(node: Any) -> str:
    stack = node.meta.get("nn_module_stack") if hasattr(node, "meta") else None
    if not stack:
        return ""
    path, kind = list(stack.values())[-1]
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    return f"{path or 'the module'} ({kind.split('.')[-1]})"


def op_name(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target.__name__}" if target.namespace == "aten" else str(target)
    return getattr(target, "__name__", str(target))


def bind(op: Any, args: Any, kwargs: Any) -> dict:
    """The op's arguments by schema name (defaults filled in)."""
    out = {}
    for i, a in enumerate(op._schema.arguments):
        if i < len(args):
            out[a.name] = args[i]
        elif a.name in kwargs:
            out[a.name] = kwargs[a.name]
        elif a.has_default_value():
            out[a.name] = a.default_value
        else:
            out[a.name] = None
    return out


def _meta(node: Any) -> Any:
    return node.meta.get("val") if hasattr(node, "meta") else None


def _shape(node: Any) -> tuple[int, ...]:
    v = _meta(node)
    if isinstance(v, (list, tuple)):
        v = v[0]
    return tuple(int(s) for s in v.shape)


def _is_tensorish(v: Any) -> bool:
    return isinstance(v, (Const, Expr))


def _flatten(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        for x in v:
            yield from _flatten(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from _flatten(x)
    else:
        yield v


def _concrete(v: Any) -> Any:
    if isinstance(v, Const):
        return v.value
    if isinstance(v, list):
        return [_concrete(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_concrete(x) for x in v)
    if isinstance(v, dict):
        return {k: _concrete(x) for k, x in v.items()}
    return v


class Blocks:
    """A tensor that is a concatenation of differently shaped pieces along one axis (``dim``):
    e.g. features of orders 0, 1, 2 flattened and concatenated into one vector. Slicing a block
    back out gives its expression exactly; ops that act block by block (layout, elementwise,
    matrix products along or across the axis) are applied per block; anything else first turns
    the value into one expression (each block embedded by a constant)."""

    __slots__ = ("dim", "parts")

    def __init__(self, dim: int, parts: Any) -> None:
        self.dim = dim
        self.parts = list(parts)

    @property
    def ndim(self) -> int:
        return self.parts[0].ndim

    @property
    def shape(self) -> tuple[int, ...]:
        s = list(self.parts[0].shape)
        s[self.dim] = sum(p.shape[self.dim] for p in self.parts)
        return tuple(s)

    def bounds(self) -> list[tuple[int, int]]:
        out, start = [], 0
        for p in self.parts:
            out.append((start, start + p.shape[self.dim]))
            start += p.shape[self.dim]
        return out

    @property
    def broken(self) -> Any:
        return Interpreter.earliest(*(p.broken for p in self.parts))

    @property
    def suspect(self) -> Any:
        return Interpreter.earliest(*(p.suspect for p in self.parts))


def blocks_to_expr(b: Blocks) -> Expr:
    """The blocks as one expression: each embedded in the whole axis by a constant."""
    total = b.shape[b.dim]
    parts = []
    for part, (start, stop) in zip(b.parts, b.bounds(), strict=True):
        parts.append(_embed(part, b.dim, total, list(range(start, stop)), force=True))
    return N.add(parts)


def as_expr(v: Any) -> Expr:
    if isinstance(v, Expr):
        return v
    if isinstance(v, Blocks):
        return blocks_to_expr(v)
    if isinstance(v, Const):
        t = v.value
        if t.is_complex():
            raise Unsupported("complex constants")
        return N.const_expr(t.detach().to("cpu", torch.float64).numpy())
    if isinstance(v, (bool, int, float)):
        return N.const_expr(np.array(float(v)))
    raise Unsupported(f"an argument of type {type(v).__name__} where a tensor was expected")


def _dim(d: Any, ndim: Any) -> int:
    return d % ndim if ndim else 0


def _dims(dims: Any, ndim: Any) -> list[int]:
    if dims is None:
        return list(range(ndim))
    if isinstance(dims, int):
        dims = [dims]
    dims = list(dims)
    if not dims:
        return list(range(ndim))
    return [_dim(d, ndim) for d in dims]


# -- the interpreter -----------------------------------------------------------------------------------
class Interpreter:
    """Abstract interpretation of a graph (see the module docstring). ``groups``: the factor
    groups; ``permutation``: per factor, whether it acts by permutation matrices."""

    def __init__(self, groups: Any, permutation: Any, owner: Any = None) -> None:
        self.owner = owner  # the graph module whose attributes get_attr reads (HOP bodies)
        self.groups = list(groups)
        self.permutation = list(permutation)
        self.leaf_names: dict[int, str] = {}
        self._leaves = itertools.count()
        self.order = 0
        self.current: Any = None  # the node being interpreted (for culprits)
        self.current_outer = None  # the graph node whose decomposition is being interpreted
        self.ops_seen: set[str] = set()
        self._cse: dict = {}  # the same op on the same values gives the same value (copies in a cat)

    # -- leaves and culprits ---------------------------------------------------------------------
    def leaf(self, name: str, dims: Any, suspect: Any = None, broken: Any = None) -> Expr:
        i = next(self._leaves)
        self.leaf_names[i] = name
        return N.leaf_expr(i, dims, suspect, broken)

    def culprit(self, reason: str, has_rule: bool = True) -> Culprit:
        node = self.current_outer or self.current
        op = (
            op_name(node.target)
            if node is not None and node.op == "call_function"
            else str(getattr(node, "target", "?"))
        )
        if self.current_outer is not None and self.current is not None and self.current is not self.current_outer:
            inner = op_name(self.current.target) if self.current.op == "call_function" else ""
            if inner and inner != op:
                reason = f"{reason} (in {inner}, inside the decomposition of {op})"
        name = node.name if node is not None else "?"
        where = module_path(node) if node is not None else ""
        if where:
            name = f"{name} in {where}"
        return Culprit(self.order, op, name, source_line(node) if node is not None else None, reason, has_rule)

    @staticmethod
    def earliest(*culprits: Any) -> Any:
        present = [c for c in culprits if c is not None]
        return min(present, key=lambda c: c.order) if present else None

    # -- running a graph --------------------------------------------------------------------------
    def run(self, graph: Any, env: dict) -> list:
        """Interpret ``graph`` with the placeholders bound in ``env`` (node → value); returns the
        output node's argument values."""
        for node in graph.nodes:
            if node.op == "placeholder":
                continue
            if node.op == "output":
                return (
                    [self._lookup(a, env) for a in node.args[0]]
                    if isinstance(node.args[0], (list, tuple))
                    else [self._lookup(node.args[0], env)]
                )
            if node.op == "get_attr":
                value = self.owner
                for part in str(node.target).split("."):
                    value = getattr(value, part, None)
                env[node] = _wrap(value) if isinstance(value, torch.Tensor) else value
                continue
            if self.current_outer is None:
                self.order += 1
            self.current = node
            args = self._lookup(node.args, env)
            kwargs = self._lookup(node.kwargs, env)
            key = _cse_key(node.target, args, kwargs)
            if key is not None and key in self._cse:
                env[node] = self._cse[key][0]
                continue
            env[node] = self.call(node, args, kwargs)
            if key is not None:
                self._cse[key] = (env[node], args, kwargs)  # the arguments keep their ids alive
        return []

    def _lookup(self, a: Any, env: Any) -> Any:
        if isinstance(a, torch.fx.Node):
            return env[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self._lookup(x, env) for x in a)
        if isinstance(a, dict):
            return {k: self._lookup(x, env) for k, x in a.items()}
        return a

    def call(self, node: Any, args: Any, kwargs: Any) -> Any:
        target = node.target
        if target is __import__("operator").getitem:
            container, index = args
            return container[index]
        if isinstance(target, torch._ops.HigherOrderOperator) and target.name() in (
            "wrap_with_set_grad_enabled",
            "wrap_with_autocast",
        ):
            # a region under torch.no_grad() / autocast: its body computes the same values
            body_index = 1 if target.name() == "wrap_with_set_grad_enabled" else 4
            body = args[body_index]
            if isinstance(body, torch.fx.GraphModule):
                return self._run_body(body, args[body_index + 1 :])
        if not isinstance(target, torch._ops.OpOverload):
            name = getattr(target, "__name__", str(target))
            return self.broken_value(node, f"no rule for the Python call {name}", has_rule=False)
        name = op_name(target)
        self.ops_seen.add(name)
        if target._schema.is_mutable:
            return self.broken_value(node, f"no rule for the in-place op {name}", has_rule=False)
        inputs = list(_flatten((args, kwargs)))
        self._inputs = inputs
        if not any(isinstance(v, (Expr, Blocks)) for v in inputs):
            folded = self.fold(node, target, args, kwargs)
            if folded is not NotImplemented:
                return folded
        packet = target.overloadpacket.__name__
        rule = RULES.get(f"{packet}.{target._overloadname}") or RULES.get(packet)
        if rule is None and torch.Tag.nondeterministic_seeded in target.tags:
            return self.broken_value(node, f"{name} is random: no rule (trace in eval mode)", has_rule=False)
        if rule is None and torch.Tag.pointwise in target.tags:
            rule = rule_pointwise
        try:
            if any(isinstance(v, Blocks) for v in inputs):
                if rule is not None:
                    try:
                        out = _blocks_rule(self, node, rule, bind(target, args, kwargs))
                        if out is not NotImplemented:
                            return self.finish(out, inputs)
                    except _Fallback:
                        pass
                args, kwargs = _unblock(args), _unblock(kwargs)
                inputs = list(_flatten((args, kwargs)))
                self._inputs = inputs
            if rule is None:
                return self.decompose(node, target, args, kwargs)
            p = bind(target, args, kwargs)
            out = rule(self, node, p)
            return self.finish(out, inputs, layout=rule in LAYOUT)
        except Exception as error:  # a failing rule only leaves this op unproved
            if not isinstance(error, Unsupported):
                return self.broken_value(
                    node, f"the rule for {name} failed ({type(error).__name__}: {str(error)[:120]})", has_rule=False
                )
            reason = str(error)
            if isinstance(error, Conflict):
                named = [self.describe_operand(v) for v in inputs if isinstance(v, (Expr, Const))]
                named = [x for x in named if x]
                if named:
                    reason = f"{reason} (operands: {', '.join(named)})"
            return self.broken_value(node, reason, has_rule=not isinstance(error, _NoRule))

    def describe_operand(self, v: Any) -> str:
        """A short name for an operand: the leaf it is (an input, a parameter, a value), or a constant."""
        if isinstance(v, Const):
            return f"a constant of shape {tuple(v.value.shape)}"
        if len(v.terms) == 1 and len(v.terms[0].leaves) == 1 and not v.terms[0].consts:
            name = self.leaf_names.get(v.terms[0].leaves[0][0], "")
            return f"{name} {_roles_text(v)}".strip()
        return f"a tensor {_roles_text(v)}"

    def _run_body(self, body: Any, values: Any) -> Any:
        placeholders = [n for n in body.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(values):
            raise _NoRule("a wrapped region with unexpected arguments")
        owner, self.owner = self.owner, body
        try:
            outs = self.run(body.graph, dict(zip(placeholders, values, strict=True)))
        finally:
            self.owner = owner
        return tuple(outs)

    def fold(self, node: Any, target: Any, args: Any, kwargs: Any) -> Any:
        """Evaluate an op whose tensor inputs are all constants (or that creates a tensor)."""
        if torch.Tag.nondeterministic_seeded in target.tags:
            return NotImplemented
        name = target.overloadpacket.__name__
        if name in ("empty", "empty_like", "new_empty", "empty_strided", "new_empty_strided"):
            shape = _shape(node)
            return Const(torch.zeros(shape, dtype=_meta(node).dtype))
        try:
            with torch.no_grad():
                value = target(*_concrete(args), **_concrete(kwargs))
        except Exception:
            return NotImplemented
        return _wrap(value)

    def finish(self, out: Any, inputs: Any, layout: bool = False) -> Any:
        """Attach suspects/breaks of the inputs to a new value and compact it when it is decided
        (a value whose every term is equivariant becomes one new leaf). ``layout``: the op only
        relabels axes (a view, a permutation), so the value is decided exactly when its input is."""
        if isinstance(out, (list, tuple)):
            return type(out)(self.finish(o, inputs, layout) for o in out)
        if isinstance(out, Blocks):
            return Blocks(out.dim, [self.finish(o, inputs, layout) for o in out.parts])
        if not isinstance(out, Expr):
            return out
        if _is_leaf(out):
            return out
        if any(out is v for v in inputs):
            out = out.replace()  # an op that returns its input: never write into the input's value
        ins = [v for v in inputs if isinstance(v, Expr)]
        sources = [v for v in inputs if isinstance(v, (Expr, Blocks))]
        broken = self.earliest(out.broken, *(v.broken for v in sources))
        suspect = self.earliest(*(v.suspect for v in sources))
        if len(ins) != len(sources):
            layout = False
        if len(out.terms) > TERM_LIMIT:
            c = self.culprit(f"the value has {len(out.terms)} terms (more than {TERM_LIMIT})")
            return self.leaf(self.current.name, _settled_dims(out), broken=self.earliest(broken, c))
        if out.has_flex():
            out = self.commit_flex(out)
        if out.has_flex():
            out.suspect, out.broken, out.valid = suspect, broken, None
            return out
        if layout and ins and all(v.valid is not None for v in ins):
            if all(v.valid for v in ins):
                return self.leaf(self.current.name, out.dims, None, broken)
            out.suspect, out.broken, out.valid = suspect, broken, False
            return out
        verdict = N.check_expr(out, self.groups, self.leaf_names)
        if verdict.ok:
            return self.leaf(self.current.name, out.dims, None, broken)
        out.suspect = suspect or self.culprit(verdict.reason)
        out.broken = broken
        out.valid = False if verdict.ok is False else None
        return out

    def commit_flex(self, out: Expr) -> Expr:
        """Decide the undecided axes that carry constants (e.g. the output axes of a constant
        matrix applied to a group axis) when the plain reading makes the value non-equivariant and
        exactly one reading as a group axis makes it equivariant; the other undecided axes
        (broadcasts, which touch no constant) are read as plain for this test and stay undecided.
        When the plain reading works nothing is decided (a later reshape may split the axis into
        group axes, and ``s * torch.eye(n)`` may become plain or a group axis). Deciding early
        keeps the value small (it is then compacted into a leaf); it never makes a proof
        unsound, because every reading is checked."""
        positions = []
        for d, atoms in enumerate(out.dims):
            for i, a in enumerate(atoms):
                if a.kind != FLEX:
                    continue
                if any(t.out[d][i] is not None and any(t.out[d][i] in vs for _, vs in t.consts) for t in out.terms):
                    positions.append((d, i))
        if not positions or len(positions) > 4:
            return out
        options = N.readings([out.dims[d][i].size for d, i in positions], self.groups)
        if all(len(o) == 1 for o in options):
            return out
        valid = []
        for choice in itertools.product(*options):
            try:
                e = N.read_as(out, positions, choice)
                test = e.settle()
            except Conflict:
                continue
            if N.check_expr(test, self.groups, self.leaf_names).ok:
                if all(k == PLAIN for k in choice):
                    return out  # valid as plain: nothing forces a group reading (a later reshape may)
                valid.append(e)
                if len(valid) > 1:
                    return out
        return valid[0] if len(valid) == 1 else out

    def broken_value(self, node: Any, reason: str, has_rule: bool = True) -> Any:
        """A best-effort value for an op whose rule failed or is missing: fresh leaves shaped
        like the output, taking the atoms of an input of the same shape when there is one."""
        culprit = self.culprit(reason, has_rule)
        return self._guess(_meta(node), culprit, node)

    def _guess(self, meta: Any, culprit: Any, node: Any) -> Any:
        if isinstance(meta, (list, tuple)):
            return type(meta)(self._guess(m, culprit, node) for m in meta)
        if not isinstance(meta, torch.Tensor):
            return meta
        shape = tuple(int(s) for s in meta.shape)
        dims = None
        for v in getattr(self, "_inputs", ()):
            if isinstance(v, Expr) and v.shape == shape:
                dims = _settled_dims(v)
                break
        if dims is None:
            dims = [(Atom(PLAIN, s),) if s != 1 else () for s in shape]
        return self.leaf(node.name, dims, broken=culprit)

    # -- decompositions --------------------------------------------------------------------------
    def decompose(self, node: Any, target: Any, args: Any, kwargs: Any) -> Any:
        """Interpret the op through ATen's decomposition (traced on fake tensors of the node's
        shapes), or report that it has no rule."""
        from torch._decomp import decomposition_table

        fn = decomposition_table.get(target)
        if fn is None:
            fn = _implicit_decomposition(target)
        if fn is None or (self.current_outer is not None and target is getattr(self.current_outer, "target", None)):
            raise _NoRule(f"no rule for {op_name(target)}")
        return self._run_decomposition(node, fn, args, kwargs)

    def _run_decomposition(self, node: Any, fn: Any, args: Any, kwargs: Any) -> Any:
        from torch.fx.experimental.proxy_tensor import make_fx

        flat_args, spec = torch.utils._pytree.tree_flatten((args, kwargs))
        tensor_pos = [i for i, a in enumerate(flat_args) if _is_tensorish(a)]
        examples = []
        node_vals = list(_flatten((node.args, node.kwargs)))
        metas: list[Any] = [n.meta.get("val") for n in node_vals if isinstance(n, torch.fx.Node)]
        metas = [m for m in metas if isinstance(m, torch.Tensor)]
        if len(metas) != len(tensor_pos):
            raise _NoRule(f"no rule for {op_name(node.target)}")
        for m in metas:
            examples.append(torch.zeros(tuple(int(s) for s in m.shape), dtype=m.dtype))

        def f(*tensors: Any) -> Any:
            flat = list(flat_args)
            for i, t in zip(tensor_pos, tensors, strict=True):
                flat[i] = t
            a, k = torch.utils._pytree.tree_unflatten(flat, spec)
            a = [_concrete_arg(x) for x in a]
            k = {key: _concrete_arg(x) for key, x in k.items()}
            return fn(*a, **k)

        try:
            gm = make_fx(f, tracing_mode="fake", record_stack_traces=False)(*examples)
        except Exception as error:
            raise _NoRule(f"no rule for {op_name(node.target)} (its decomposition fails: {str(error)[:80]})") from None
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        env = {p: flat_args[i] for p, i in zip(placeholders, tensor_pos, strict=True)}
        outer, current = self.current_outer, self.current
        self.current_outer = outer or node
        try:
            outs = self.run(gm.graph, env)
        finally:
            self.current_outer, self.current = outer, current
        result = outs[0] if len(outs) == 1 else tuple(outs)
        meta = _meta(node)
        if isinstance(meta, (list, tuple)) and not isinstance(result, (list, tuple)):
            result = (result,)
        return result


class _NoRule(Unsupported):
    pass


def _roles_text(e: Expr) -> str:
    parts = []
    for atoms in e.dims:
        kinds = ["·" if a.kind == PLAIN else "?" if a.kind == FLEX else str(a.kind) for a in atoms]
        parts.append("".join(kinds) if kinds else "1")
    return "[" + ", ".join(parts) + "]"


def _cse_key(target: Any, args: Any, kwargs: Any) -> Any:
    """A key identifying a deterministic op applied to given values (by identity), or None."""
    if not isinstance(target, torch._ops.OpOverload) or torch.Tag.nondeterministic_seeded in target.tags:
        return None

    def key(v: Any) -> Any:
        if isinstance(v, (Expr, Blocks, Const)):
            return ("value", id(v))
        if isinstance(v, (list, tuple)):
            return (type(v).__name__, *(key(x) for x in v))
        if isinstance(v, dict):
            return ("dict", *((k, key(x)) for k, x in sorted(v.items())))
        if isinstance(
            v, (int, float, bool, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format)
        ):
            return ("const", type(v).__name__, repr(v))
        raise TypeError

    try:
        return (target, key(args), key(kwargs))
    except TypeError:
        return None


def _is_leaf(e: Expr) -> bool:
    """A single leaf, read as is (nothing to decide)."""
    if len(e.terms) != 1 or e.has_flex():
        return False
    t = e.terms[0]
    return not t.consts and len(t.leaves) == 1 and t.leaves[0][1] == tuple(v for vs in t.out for v in vs)


def _concrete_arg(x: Any) -> Any:
    if isinstance(x, Const):
        return x.value
    return x


def _implicit_decomposition(target: Any) -> Any:
    """The CompositeImplicitAutograd kernel of the op, when it has one."""
    if not torch._C._dispatch_has_kernel_for_dispatch_key(target.name(), "CompositeImplicitAutograd"):
        return None

    def fn(*args: Any, **kwargs: Any) -> Any:
        out = target.decompose(*args, **kwargs)
        if out is NotImplemented:
            raise RuntimeError("no decomposition")
        return out

    return fn


def _wrap(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return Const(value.detach())
    if isinstance(value, (list, tuple)):
        return type(value)(_wrap(v) for v in value)
    return value


def _settled_dims(e: Expr) -> Any:
    return [tuple(Atom(PLAIN if a.kind == FLEX else a.kind, a.size) for a in d) for d in e.dims]


# -- materialising before a nonlinear op ---------------------------------------------------------------
def materialise(ip: Interpreter, exprs: list[Expr], dim_lists: list[list[int]]) -> Any:
    """Line up the operands of a nonlinear op (broadcasting), settle their undecided atoms jointly
    (plain first, else the first factor assignment that makes them equivariant), and decide each.
    Returns (settled operands, output atoms per slot, culprit or None)."""
    exprs, atoms = N.align(exprs, dim_lists)
    flex = [(m, p) for m, a in enumerate(atoms) for p, x in enumerate(a) if x.kind == FLEX]
    options = N.readings([atoms[m][p].size for m, p in flex], ip.groups)
    best = None
    for choice in sorted(itertools.product(*options), key=lambda c: sum(k != PLAIN for k in c))[:64]:
        try:
            settled = list(exprs)
            for (m, p), k in zip(flex, choice, strict=True):
                for j, dl in enumerate(dim_lists):
                    d = dl[m]
                    if d >= 0 and settled[j].dims[d]:
                        if settled[j].dims[d][p].kind == FLEX:
                            settled[j] = settled[j].retype(d, p, k)
                        elif settled[j].dims[d][p].kind != k:
                            raise Conflict("tied")
            settled = [s.settle() for s in settled]
        except Conflict:
            continue
        verdicts = [N.check_expr(s, ip.groups, ip.leaf_names) for s in settled]
        if all(v.ok for v in verdicts):
            best = (settled, choice, verdicts)
            break
        if best is None:
            best = (settled, choice, verdicts)
    if best is None:
        raise Conflict("the operands' axes cannot be given consistent roles")
    settled, choice, verdicts = best
    rows = [list(a) for a in atoms]
    for (m, p), k in zip(flex, choice, strict=True):
        rows[m][p] = Atom(k, rows[m][p].size)
    culprit = None
    for s, v in zip(settled, verdicts, strict=True):
        if not v.ok:
            culprit = ip.earliest(culprit, s.suspect or ip.culprit(v.reason))
    return settled, [tuple(a) for a in rows], culprit


def _broadcast_lists(exprs: list[Expr]) -> tuple[int, list[list[int]]]:
    ndim = max(e.ndim for e in exprs)
    return ndim, [[-1] * (ndim - e.ndim) + list(range(e.ndim)) for e in exprs]


def _nonpermutation(ip: Interpreter, atoms: Any) -> list:
    return sorted({a.kind for d in atoms for a in d if a.kind not in (PLAIN, FLEX) and not ip.permutation[a.kind]})


def _factor_name(ip: Interpreter, f: Any) -> str:
    return repr(ip.groups[f]) if len(ip.groups) == 1 else f"factor {f} ({ip.groups[f]!r})"


def strip_broadcasts(e: Expr) -> Expr:
    """e with every axis that is a pure broadcast (undecided atoms whose index touches nothing
    but that output position, in every term: an ``expand`` of a size-1 axis) made size 1."""
    dims = list(e.dims)
    terms = list(e.terms)
    for d, atoms in enumerate(e.dims):
        if not atoms or any(a.kind != FLEX for a in atoms):
            continue
        pure = True
        for t in terms:
            for v in t.out[d]:
                if v is None or sum(w == v for vs in t.out for w in vs) != 1:
                    pure = False
                elif any(v in vs for _, vs in t.leaves) or any(v in vs for _, vs in t.consts):
                    pure = False
        if pure:
            dims[d] = ()
            terms = [t.with_out([o if k != d else () for k, o in enumerate(t.out)]) for t in terms]
    return Expr(dims, terms, e.suspect, e.broken, e.valid)


def nonlinear(
    ip: Interpreter,
    node: Any,
    operands: list,
    out_dims_fn: Any,
    what: str,
    linear_in: Any = None,
    strip: Any = True,
    shape: Any = None,
) -> Any:
    """The common part of every nonlinear rule: decide the operands, check that every group axis
    they carry belongs to a factor acting by permutations (or, for ``linear_in``, that the other
    operands are constant along the non-permutation axes), and return a new leaf with the atoms
    ``out_dims_fn(aligned atoms)``.

    ``strip``: operands' pure broadcast axes are taken out first and the result is broadcast
    again along them (a function applied entry by entry, or symmetrically along an axis, of a
    value constant along an axis is constant along it), so a broadcast keeps its undecided role;
    ``shape``: the output shape to broadcast back to (the node's, by default)."""
    exprs = [as_expr(o) for o in operands]
    if strip:
        exprs = [strip_broadcasts(e) for e in exprs]
    broken = ip.earliest(*(e.broken for e in exprs))
    out = _nonlinear(ip, node, exprs, out_dims_fn, what, linear_in, broken)
    if strip:
        target = shape
        if target is None:
            meta = _meta(node)
            target = tuple(int(x) for x in meta.shape) if isinstance(meta, torch.Tensor) else None
        if target is not None and len(target) == out.ndim and out.shape != tuple(target):
            if all(a == b or a == 1 for a, b in zip(out.shape, target, strict=True)):
                out = N.expand(out, tuple(target))
    return out


def _nonlinear(ip: Any, node: Any, exprs: Any, out_dims_fn: Any, what: Any, linear_in: Any, broken: Any) -> Any:
    _, lists = _broadcast_lists(exprs)
    settled, atoms, culprit = materialise(ip, exprs, lists)
    bad = _nonpermutation(ip, [a for s in settled for a in s.dims])
    out_dims = out_dims_fn(atoms)
    if bad and linear_in is not None:
        # linear in the operands linear_in (where / masked_fill): the others must not vary along
        # the non-permutation axes, and every linear operand must carry those axes itself (a
        # constant broadcast along a vector axis is not a vector) unless it is zero
        others = [s for j, s in enumerate(settled) if j not in linear_in]
        if not _nonpermutation(ip, [a for s in others for a in s.dims]):
            needed = [
                (m, p)
                for m, slot in enumerate(atoms)
                for p, a in enumerate(slot)
                if a.kind not in (PLAIN, FLEX) and not ip.permutation[a.kind]
            ]
            carried = all(
                not settled[j].terms or all(lists[j][m] >= 0 and settled[j].dims[lists[j][m]] for m, _ in needed)
                for j in linear_in
            )
            if carried:
                bad = []
    if bad:
        names = ", ".join(_factor_name(ip, f) for f in bad)
        c = ip.culprit(f"{what} on an axis acted on by {names}, which does not act by permutations")
        return ip.leaf(node.name, out_dims, broken=ip.earliest(broken, culprit, c))
    if culprit is not None:
        return ip.leaf(node.name, out_dims, broken=ip.earliest(broken, culprit))
    return ip.leaf(node.name, out_dims, broken=broken)


# -- rules ------------------------------------------------------------------------------------------------
RULES: dict = {}


def rule(*names: Any) -> Any:
    def register(fn: Any) -> Any:
        for name in names:
            RULES[name] = fn
        return fn

    return register


@rule(
    "clone",
    "contiguous",
    "alias",
    "detach",
    "lift_fresh_copy",
    "alias_copy",
    "detach_copy",
    "positive",
    "resolve_conj",
    "resolve_neg",
    "neg",
    "_conj",
    "conj",
)
def rule_identity(ip: Any, node: Any, p: Any) -> Any:
    return as_expr(p["self"])


@rule("_to_copy", "to", "_to_dim_order_copy", "type_as")
def rule_cast(ip: Any, node: Any, p: Any) -> Any:
    x = p.get("self")
    meta = _meta(node)
    if meta is not None and (meta.dtype.is_floating_point or meta.dtype.is_complex):
        return as_expr(x)
    src = getattr(_meta(node.args[0]), "dtype", None) if isinstance(node.args[0], torch.fx.Node) else None
    if src is not None and not src.is_floating_point and not src.is_complex:
        return as_expr(x)
    return rule_pointwise(ip, node, p)


@rule("copy")
def rule_copy(ip: Any, node: Any, p: Any) -> Any:
    return N.expand(as_expr(p["src"]), _shape(node))


@rule(
    "_assert_tensor_metadata",
    "_assert_scalar",
    "sym_constrain_range_for_size",
    "sym_constrain_range",
    "_assert_async",
    "_functional_assert_async",
)
def rule_assert(ip: Any, node: Any, p: Any) -> Any:
    return None


@rule("dropout", "feature_dropout", "alpha_dropout")
def rule_dropout(ip: Any, node: Any, p: Any) -> Any:
    if not p.get("train") or not p.get("p"):
        return as_expr(p["input"])
    raise _NoRule("dropout in training mode is random: trace the module in eval mode")


@rule("native_dropout")
def rule_native_dropout(ip: Any, node: Any, p: Any) -> Any:
    if p.get("train") is False or not p.get("p"):
        x = as_expr(p["input"])
        return (x, N.const_expr(np.ones(x.shape)))
    raise _NoRule("dropout in training mode is random: trace the module in eval mode")


@rule("view", "_unsafe_view", "reshape", "view_copy", "_reshape_alias", "flatten", "unflatten", "_reshape_copy")
def rule_reshape(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p.get("self", p.get("input")))
    return N.reshape(x, _shape(node))


@rule("permute", "permute_copy")
def rule_permute(ip: Any, node: Any, p: Any) -> Any:
    return N.permute(as_expr(p["self"]), p["dims"])


@rule("transpose", "swapaxes", "swapdims", "transpose_copy")
def rule_transpose(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    a, b = (p.get("dim0"), p.get("dim1")) if "dim0" in p else (p.get("axis0"), p.get("axis1"))
    order = list(range(x.ndim))
    if x.ndim:
        a, b = _dim(a, x.ndim), _dim(b, x.ndim)
        order[a], order[b] = order[b], order[a]
    return N.permute(x, order)


@rule("t", "numpy_T", "t_copy")
def rule_t(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    return N.permute(x, list(range(x.ndim))[::-1]) if x.ndim == 2 else x


@rule("movedim")
def rule_movedim(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    src = _dims(p["source"], x.ndim)
    dst = _dims(p["destination"], x.ndim)
    order = [d for d in range(x.ndim) if d not in src]
    for s, d in sorted(zip(dst, src, strict=True)):
        order.insert(s, d)
    return N.permute(x, order)


@rule("unsqueeze", "unsqueeze_copy")
def rule_unsqueeze(ip: Any, node: Any, p: Any) -> Any:
    return N.unsqueeze(as_expr(p["self"]), p["dim"])


@rule("squeeze", "squeeze_copy")
def rule_squeeze(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    dims = p.get("dim", None)
    if dims is None:
        dims = p.get("dims", None)
    return N.squeeze(x, None if dims is None else _dims(dims, x.ndim))


@rule("expand", "expand_copy", "broadcast_to", "expand_as")
def rule_expand(ip: Any, node: Any, p: Any) -> Any:
    return N.expand(as_expr(p["self"]), _shape(node))


@rule("repeat")
def rule_repeat(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    repeats = list(p["repeats"])
    lead = len(repeats) - x.ndim
    for _ in range(lead):
        x = N.unsqueeze(x, 0)
    for d, r in enumerate(repeats):
        if r == 1:
            continue
        if x.shape[d] == 1:
            shape = list(x.shape)
            shape[d] = r
            x = N.expand(x, tuple(shape))
        else:
            # tiling: a broadcast atom in front of the axis's atoms
            y = N.unsqueeze(x, d)
            shape = list(y.shape)
            shape[d] = r
            y = N.expand(y, tuple(shape))
            x = N.reshape(y, (*tuple(x.shape[:d]), r * x.shape[d], *tuple(x.shape[d + 1 :])))
    return x


LAYOUT = {rule_identity, rule_reshape, rule_permute, rule_transpose, rule_t, rule_movedim, rule_unsqueeze, rule_squeeze}


# -- constant maps along one axis --------------------------------------------------------------------------
def _select_matrix(size: int, indices: Any) -> np.ndarray:
    if len(indices) * size > N.MATRIX_LIMIT:
        raise Unsupported(f"a selection of {len(indices)} of {size} entries along an axis of mixed roles")
    m = np.zeros((len(indices), size))
    for j, i in enumerate(indices):
        m[j, i] = 1.0
    return m


def select_along(x: Expr, d: int, indices: list[int]) -> Expr:
    """x[..., indices, ...] along axis d (``indices`` into the axis). Plain axes need no constant;
    an axis whose leading atoms are plain, with a selection of whole blocks of the trailing atoms
    (a slice of a flattened (batch·channels, n, n) axis at channel boundaries), selects along the
    plain part only; otherwise a constant selection matrix."""
    atoms = x.dims[d]
    size = x.shape[d]
    if indices == list(range(size)):
        return x
    if all(a.kind == PLAIN for a in atoms):
        return N.dim_map(x, d, _LazySelection(size, indices))
    lead = 0
    while lead < len(atoms) and atoms[lead].kind == PLAIN:
        lead += 1
    if lead:
        inner = math.prod(a.size for a in atoms[lead:])
        blocks = indices[::inner]
        expected = [b + r for b in blocks for r in range(inner)]
        if indices == expected and all(b % inner == 0 for b in blocks):
            outer = len(blocks)
            dims = list(x.dims)
            dims[d] = ((Atom(PLAIN, outer),) if outer != 1 else ()) + tuple(atoms[lead:])
            terms = []
            for t in x.terms:
                out = list(t.out)
                out[d] = ((None,) if outer != 1 else ()) + tuple(t.out[d][lead:])
                terms.append(t.with_out(out))
            return Expr(dims, terms, x.suspect, x.broken)
    return N.dim_map(x, d, _select_matrix(size, indices))


class _LazySelection:
    """The shape of a selection matrix, for plain axes (where no matrix is built)."""

    def __init__(self, size: Any, indices: Any) -> None:
        self.shape = (len(indices), size)
        self.size = 0
        self.indices = list(indices)

    def dense(self) -> np.ndarray:
        return _select_matrix(self.shape[1], self.indices)


@rule("select", "select_copy")
def rule_select(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    d = _dim(p["dim"], x.ndim)
    i = p["index"] % x.shape[d]
    return N.squeeze(select_along(x, d, [i]), [d])


@rule("slice", "slice_copy")
def rule_slice(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    d = _dim(p.get("dim", 0), x.ndim)
    size = x.shape[d]
    start, end, step = p.get("start"), p.get("end"), p.get("step") or 1
    indices = list(range(size))[slice(start, end, step)]
    return select_along(x, d, indices)


@rule("narrow", "narrow_copy")
def rule_narrow(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    d = _dim(p["dim"], x.ndim)
    start = p["start"] % x.shape[d] if p["start"] < 0 else p["start"]
    indices = list(range(start, start + p["length"]))
    return select_along(x, d, indices)


def _const_index(v: Any, what: str) -> list[int]:
    if not isinstance(v, Const):
        raise _NoRule(f"{what} with an index computed from the input (data-dependent)")
    t = v.value
    if t.dtype == torch.bool:
        raise _NoRule(f"{what} with a boolean mask")
    return [int(i) for i in t.reshape(-1).tolist()]


@rule("index_select")
def rule_index_select(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    d = _dim(p["dim"], x.ndim)
    idx = [i % x.shape[d] for i in _const_index(p["index"], "index_select")]
    return select_along(x, d, idx)


@rule("index.Tensor")
def rule_index(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    indices = list(p["indices"])
    used = [(d, i) for d, i in enumerate(indices) if i is not None]
    if len(used) != 1:
        raise _NoRule("advanced indexing with several index tensors")
    d, index = used[0]
    if not isinstance(index, Const) or index.value.dim() != 1 or index.value.dtype == torch.bool:
        raise _NoRule("advanced indexing with a non-constant or multi-dimensional index")
    idx = [i % x.shape[d] for i in _const_index(index, "indexing")]
    return select_along(x, d, idx)


@rule("roll")
def rule_roll(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    shifts, dims = list(p["shifts"]), list(p["dims"] or [])
    if not dims:
        raise _NoRule("roll of the flattened tensor")
    for s, d in zip(shifts, dims, strict=True):
        d = _dim(d, x.ndim)
        size = x.shape[d]
        m = np.roll(np.eye(size), s, axis=0)
        x = N.dim_map(x, d, m, out_kind=True)
    return x


@rule("flip")
def rule_flip(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    for d in _dims(p["dims"], x.ndim):
        size = x.shape[d]
        x = N.dim_map(x, d, np.eye(size)[::-1].copy(), out_kind=True)
    return x


@rule("cumsum")
def rule_cumsum(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    d = _dim(p["dim"], x.ndim)
    size = x.shape[d]
    return N.dim_map(x, d, np.tril(np.ones((size, size))), out_kind=True)


def _embed(x: Expr, d: int, size: int, positions: list[int], force: bool = False) -> Expr:
    """x along axis d placed at ``positions`` of an axis of ``size`` (zeros elsewhere).
    ``force``: give the new axis an undecided role even when x's axis is plain (the blocks of a
    concatenation of differently shaped blocks, to be sliced apart later)."""
    if not force and all(a.kind == PLAIN for a in x.dims[d]):
        return N.dim_map(x, d, _LazySelection(x.shape[d], list(range(size))))
    if size * x.shape[d] > N.MATRIX_LIMIT:
        raise Unsupported(f"an embedding of {x.shape[d]} into {size} entries along an axis of mixed roles")
    m = np.zeros((size, x.shape[d]))
    for j, i in enumerate(positions):
        m[i, j] += 1.0
    return N.dim_map(x, d, m, force=force)


@rule("cat", "concat", "concatenate")
def rule_cat(ip: Any, node: Any, p: Any) -> Any:
    out_shape = _shape(node)
    nd = len(out_shape)
    d = _dim(p.get("dim", 0), nd)
    pieces = [t for t in p["tensors"] if (_is_tensorish(t) or isinstance(t, Blocks)) and len(_value_shape(t)) == nd]
    if len(pieces) > 1 and all(t is pieces[0] for t in pieces) and isinstance(pieces[0], Expr):
        return _tile(pieces[0], d, len(pieces))
    if any(isinstance(t, Blocks) for t in pieces):
        if all(not isinstance(t, Blocks) or t.dim == d for t in pieces):
            parts: list[Any] = []
            for t in pieces:
                parts += t.parts if isinstance(t, Blocks) else [as_expr(t)]
            return Blocks(d, parts)
        if all(isinstance(t, Blocks) for t in pieces) and _same_partition(pieces):
            inner = [
                rule_cat(ip, node, {**p, "tensors": [t.parts[k] for t in pieces]}) for k in range(len(pieces[0].parts))
            ]
            return Blocks(pieces[0].dim, inner)
    tensors = [as_expr(t) for t in pieces]
    total = out_shape[d]
    if all(all(a.kind == PLAIN for a in t.dims[d]) for t in tensors):
        parts = []
        for t in tensors:
            dims = list(t.dims)
            dims[d] = (Atom(PLAIN, total),) if total != 1 else ()
            terms = [
                term.with_out([o if k != d else ((None,) if total != 1 else ()) for k, o in enumerate(term.out)])
                for term in t.terms
            ]
            parts.append(Expr(dims, terms, t.suspect, t.broken))
        return N.add(parts)
    return Blocks(d, tensors)


def _value_shape(v: Any) -> tuple[int, ...]:
    if isinstance(v, Const):
        return tuple(v.value.shape)
    return tuple(v.shape)


def _same_partition(values: Any) -> bool:
    first = values[0]
    return all(
        isinstance(v, Blocks)
        and v.dim == first.dim
        and [b[1] - b[0] for b in v.bounds()] == [b[1] - b[0] for b in first.bounds()]
        for v in values
    )


def _tile(x: Expr, d: int, copies: int) -> Expr:
    """``copies`` copies of x concatenated along axis d: a broadcast index in front of the axis's
    atoms (the same value at every copy), as ``repeat`` does."""
    y = N.unsqueeze(x, d)
    shape = list(y.shape)
    shape[d] = copies
    y = N.expand(y, tuple(shape))
    out = list(x.shape)
    out[d] = copies * x.shape[d]
    return N.reshape(y, tuple(out))


@rule("stack")
def rule_stack(ip: Any, node: Any, p: Any) -> Any:
    d = p.get("dim", 0)
    if len(p["tensors"]) > 1 and all(t is p["tensors"][0] for t in p["tensors"]) and isinstance(p["tensors"][0], Expr):
        x = p["tensors"][0]
        d = _dim(d, x.ndim + 1)
        return _tile(N.unsqueeze(x, d), d, len(p["tensors"]))
    tensors = [as_expr(t) for t in p["tensors"]]
    nd = tensors[0].ndim + 1
    d = _dim(d, nd)
    parts = [N.unsqueeze(t, d) for t in tensors]
    fake = dict(p)
    fake["tensors"] = parts
    fake["dim"] = d
    return rule_cat(ip, node, fake)


@rule(
    "split",
    "split_with_sizes",
    "split_copy",
    "split_with_sizes_copy",
    "unsafe_split",
    "chunk",
    "tensor_split",
    "unbind",
    "unbind_copy",
)
def rule_split(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    d = _dim(p.get("dim", 0), x.ndim)
    metas = _meta(node)
    outs, start = [], 0
    unbind = node.target.overloadpacket.__name__.startswith("unbind")
    for m in metas:
        size = 1 if unbind else int(m.shape[d])
        idx = list(range(start, start + size))
        part = select_along(x, d, idx)
        outs.append(N.squeeze(part, [d]) if unbind else part)
        start += size
    return tuple(outs)


@rule("constant_pad_nd", "pad")
def rule_pad(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"] if "self" in p else p["input"])
    pad = list(p["pad"])
    value = p.get("value") or 0.0
    if p.get("mode", "constant") not in (None, "constant"):
        raise _NoRule(f"{p.get('mode')} padding")
    out = x
    for k in range(len(pad) // 2):
        d = x.ndim - 1 - k
        before, after = pad[2 * k], pad[2 * k + 1]
        size = out.shape[d]
        new = size + before + after
        m = np.zeros((new, size))
        for i in range(size):
            j = i + before
            if 0 <= j < new:
                m[j, i] = 1.0
        out = N.dim_map(out, d, m)
    if value:
        shape = tuple(int(s) for s in x.shape)
        mask = torch.nn.functional.pad(torch.zeros(shape, dtype=torch.float64), pad, value=float(value))
        out = N.add([out, N.const_expr(mask.numpy())])
    return out


@rule("diagonal", "diagonal_copy")
def rule_diagonal(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"] if "self" in p else p["input"])
    d1, d2 = _dim(p.get("dim1", 0), x.ndim), _dim(p.get("dim2", 1), x.ndim)
    offset = p.get("offset", 0)
    if offset == 0 and x.shape[d1] == x.shape[d2]:
        return N.diagonal(x, d1, d2)
    return _general_diagonal(x, d1, d2, offset, _shape(node))


def _general_diagonal(x: Any, d1: Any, d2: Any, offset: Any, out_shape: Any) -> Any:
    # a constant D[out, a, b] over both axes -> Any: flatten them into one axis and use a dim map
    others = [d for d in range(x.ndim) if d not in (d1, d2)]
    y = N.permute(x, [*others, d1, d2])
    a, b = x.shape[d1], x.shape[d2]
    y = N.reshape(y, (*tuple(y.shape[: len(others)]), a * b))
    length = out_shape[-1]
    m = np.zeros((length, a * b))
    for j in range(length):
        i1, i2 = (j, j + offset) if offset >= 0 else (j - offset, j)
        m[j, i1 * b + i2] = 1.0
    return N.dim_map(y, y.ndim - 1, m)


@rule("diag_embed")
def rule_diag_embed(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    offset = p.get("offset", 0)
    if offset:
        raise _NoRule("diag_embed with an offset")
    return N.diag_embed(x, p.get("dim1", -2), p.get("dim2", -1))


@rule("diag")
def rule_diag(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    if p.get("diagonal", 0):
        raise _NoRule("diag with an offset")
    if x.ndim == 1:
        return N.diag_embed(x, 0, 1)
    return N.diagonal(x, 0, 1)


@rule("diagonal_scatter")
def rule_diagonal_scatter(ip: Any, node: Any, p: Any) -> Any:
    base, src = as_expr(p["self"]), as_expr(p["src"])
    if p.get("offset", 0):
        raise _NoRule("diagonal_scatter with an offset")
    d1, d2 = p.get("dim1", 0), p.get("dim2", 1)
    old = N.diag_embed(N.diagonal(base, d1, d2), d1, d2)
    new = N.diag_embed(src, d1, d2)
    return N.add([base, old, new])  # base − old + new: signs are not tracked


@rule("select_scatter")
def rule_select_scatter(ip: Any, node: Any, p: Any) -> Any:
    base, src = as_expr(p["self"]), as_expr(p["src"])
    d = _dim(p["dim"], base.ndim)
    i = p["index"] % base.shape[d]
    size = base.shape[d]
    old = _embed(select_along(base, d, [i]), d, size, [i])
    new = _embed(N.unsqueeze(src, d), d, size, [i])
    return N.add([base, old, new])


@rule("slice_scatter")
def rule_slice_scatter(ip: Any, node: Any, p: Any) -> Any:
    base, src = as_expr(p["self"]), as_expr(p["src"])
    d = _dim(p.get("dim", 0), base.ndim)
    size = base.shape[d]
    idx = list(range(size))[slice(p.get("start"), p.get("end"), p.get("step") or 1)]
    old = _embed(select_along(base, d, idx), d, size, idx)
    new = _embed(src, d, size, idx)
    return N.add([base, old, new])


@rule("index_put")
def rule_index_put(ip: Any, node: Any, p: Any) -> Any:
    base, values = as_expr(p["self"]), as_expr(p["values"])
    indices = list(p["indices"])
    used = [(d, i) for d, i in enumerate(indices) if i is not None]
    if len(used) != 1 or not isinstance(used[0][1], Const) or used[0][1].value.dim() != 1:
        raise _NoRule("index_put with several or non-constant indices")
    d, index = used[0]
    size = base.shape[d]
    idx = [i % size for i in _const_index(index, "index_put")]
    # values broadcast to base's shape with axis d of length len(idx)
    shape = list(base.shape)
    shape[d] = len(idx)
    values = N.expand(values, tuple(shape)) if values.shape != tuple(shape) else values
    new = _embed(values, d, size, idx)
    if p.get("accumulate"):
        return N.add([base, new])
    if len(set(idx)) != len(idx):
        raise _NoRule("index_put with repeated indices")
    old = _embed(select_along(base, d, idx), d, size, idx)
    return N.add([base, old, new])


@rule("index_add")
def rule_index_add(ip: Any, node: Any, p: Any) -> Any:
    base, src = as_expr(p["self"]), as_expr(p["source"])
    d = _dim(p["dim"], base.ndim)
    idx = [i % base.shape[d] for i in _const_index(p["index"], "index_add")]
    return N.add([base, _embed(src, d, base.shape[d], idx)])


@rule(
    "fill",
    "zero",
    "zeros_like",
    "ones_like",
    "full_like",
    "new_zeros",
    "new_ones",
    "new_full",
    "empty_like",
    "new_empty",
)
def rule_fill(ip: Any, node: Any, p: Any) -> Any:
    meta = _meta(node)
    shape = tuple(int(s) for s in meta.shape)
    name = node.target.overloadpacket.__name__
    value = p.get("value", p.get("fill_value"))
    if name in ("zero", "zeros_like", "new_zeros", "empty_like", "new_empty"):
        value = 0
    if name in ("ones_like", "new_ones"):
        value = 1
    if isinstance(value, Expr):
        raise _NoRule("fill with a value computed from the input")
    if isinstance(value, Const):
        value = value.value.item()
    return N.const_expr(np.full(shape, float(value)))


# -- linear combinations and products --------------------------------------------------------------------------
@rule("add", "sub", "rsub")
def rule_add(ip: Any, node: Any, p: Any) -> Any:
    a, b = p["self"], p["other"]
    return N.add([as_expr(a), as_expr(b)])


def _labels(n: Any, start: Any = 0) -> Any:
    return tuple(chr(ord("a") + start + i) for i in range(n))


def _broadcast_contract(operands: Any) -> Any:
    """Elementwise product with numpy broadcasting, as an einsum."""
    exprs = [as_expr(o) for o in operands]
    ndim = max(e.ndim for e in exprs)
    labels = _labels(ndim)
    ops = [(e, labels[ndim - e.ndim :]) for e in exprs]
    return N.contract(ops, labels)


@rule("mul")
def rule_mul(ip: Any, node: Any, p: Any) -> Any:
    a, b = p["self"], p["other"]
    return _broadcast_contract([a, b])


@rule("div")
def rule_div(ip: Any, node: Any, p: Any) -> Any:
    a, b = p["self"], p["other"]
    if p.get("rounding_mode") is not None:
        return rule_pointwise(ip, node, p)
    if isinstance(b, (int, float)):
        return as_expr(a)
    if isinstance(b, Const):
        inv = 1.0 / b.value.to(torch.float64)
        if not torch.isfinite(inv).all():
            return rule_pointwise(ip, node, p)
        return _broadcast_contract([a, Const(inv)])
    return _broadcast_contract([a, reciprocal(ip, node, b)])


def reciprocal(ip: Any, node: Any, b: Any) -> Any:
    """1/b as a nonlinear pointwise function of b alone."""
    return nonlinear(
        ip, node, [b], lambda atoms: atoms, "the reciprocal (a division by a computed tensor)", shape=_value_shape(b)
    )


@rule("square")
def rule_square(ip: Any, node: Any, p: Any) -> Any:
    return _broadcast_contract([p["self"], p["self"]])


@rule("pow")
def rule_pow(ip: Any, node: Any, p: Any) -> Any:
    e = p.get("exponent")
    if isinstance(e, (int, float)) and e == 2 and "self" in p and _is_tensorish(p["self"]):
        return _broadcast_contract([p["self"], p["self"]])
    if isinstance(e, (int, float)) and e == 1:
        return as_expr(p["self"])
    return rule_pointwise(ip, node, p)


@rule("addcmul")
def rule_addcmul(ip: Any, node: Any, p: Any) -> Any:
    return N.add([as_expr(p["self"]), _broadcast_contract([p["tensor1"], p["tensor2"]])])


@rule("addcdiv")
def rule_addcdiv(ip: Any, node: Any, p: Any) -> Any:
    return N.add([as_expr(p["self"]), _broadcast_contract([p["tensor1"], reciprocal(ip, node, p["tensor2"])])])


@rule("lerp")
def rule_lerp(ip: Any, node: Any, p: Any) -> Any:
    w = p["weight"]
    if isinstance(w, (int, float)):
        return N.add([as_expr(p["self"]), as_expr(p["end"])])
    return N.add([as_expr(p["self"]), _broadcast_contract([p["end"], w]), _broadcast_contract([p["self"], w])])


@rule("sum", "mean")
def rule_sum(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    dims = p.get("dim")
    if x.ndim == 0:
        return x
    return N.sum_dims(x, _dims(dims, x.ndim), bool(p.get("keepdim", False)))


@rule("trace")
def rule_trace(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    return N.sum_dims(N.diagonal(x, 0, 1), [0], False)


def _matmul(a: Expr, b: Expr) -> Expr:
    squeeze_a = squeeze_b = False
    if a.ndim == 1:
        a, squeeze_a = N.unsqueeze(a, 0), True
    if b.ndim == 1:
        b, squeeze_b = N.unsqueeze(b, 1), True
    batch = max(a.ndim, b.ndim) - 2
    bl = _labels(batch, 3)
    la = (*bl[batch - (a.ndim - 2) :], "a", "b")
    lb = (*bl[batch - (b.ndim - 2) :], "b", "c")
    out = N.contract([(a, la), (b, lb)], (*bl, "a", "c"))
    if squeeze_b:
        out = N.squeeze(out, [out.ndim - 1])
    if squeeze_a:
        out = N.squeeze(out, [out.ndim - 2 if not squeeze_b else out.ndim - 1])
    return out


@rule("mm", "bmm", "matmul", "mv", "dot", "vdot")
def rule_matmul(ip: Any, node: Any, p: Any) -> Any:
    a = as_expr(p["self"])
    b = as_expr(p.get("other", p.get("mat2", p.get("vec", p.get("tensor")))))
    return _matmul(a, b)


@rule("outer", "ger")
def rule_outer(ip: Any, node: Any, p: Any) -> Any:
    a, b = as_expr(p["self"]), as_expr(p.get("vec2"))
    return N.contract([(a, ("a",)), (b, ("b",))], ("a", "b"))


@rule("addmm", "addmv", "baddbmm", "addbmm", "addr")
def rule_addmm(ip: Any, node: Any, p: Any) -> Any:
    name = node.target.overloadpacket.__name__
    if name == "addr":
        prod = rule_outer(ip, node, {"self": p["vec1"], "vec2": p["vec2"]})
    elif name == "addmv":
        prod = _matmul(as_expr(p["mat"]), as_expr(p["vec"]))
    elif name == "addbmm":
        prod = N.sum_dims(_matmul(as_expr(p["batch1"]), as_expr(p["batch2"])), [0], False)
    elif name == "baddbmm":
        prod = _matmul(as_expr(p["batch1"]), as_expr(p["batch2"]))
    else:
        prod = _matmul(as_expr(p["mat1"]), as_expr(p["mat2"]))
    beta = p.get("beta", 1)
    if beta == 0:
        return prod
    return N.add([as_expr(p["self"]), prod])


@rule("linear")
def rule_linear(ip: Any, node: Any, p: Any) -> Any:
    x, w = as_expr(p["input"]), as_expr(p["weight"])
    out = _matmul(x, N.permute(w, list(range(w.ndim))[::-1]) if w.ndim == 2 else w)
    if p.get("bias") is not None:
        out = N.add([out, as_expr(p["bias"])])
    return out


@rule("einsum")
def rule_einsum(ip: Any, node: Any, p: Any) -> Any:
    equation = p["equation"].replace(" ", "")
    operands = [as_expr(o) for o in p["tensors"]]
    if "->" in equation:
        lhs, rhs = equation.split("->")
    else:
        lhs, rhs = equation, None
    specs = lhs.split(",")
    used = set(c for c in equation if c.isalpha())
    free = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    ell_rank = max(
        (e.ndim - len(s.replace("...", "")) for s, e in zip(specs, operands, strict=True) if "..." in s), default=0
    )
    ell = tuple(next(free) for _ in range(ell_rank))
    labelled = []
    for s, e in zip(specs, operands, strict=True):
        if "..." in s:
            before, after = s.split("...")
            k = e.ndim - len(before) - len(after)
            labelled.append((e, tuple(before) + ell[ell_rank - k :] + tuple(after)))
        else:
            labelled.append((e, tuple(s)))
    if rhs is None:
        counts: dict[Any, Any] = {}
        for s in specs:
            for c in s.replace("...", ""):
                counts[c] = counts.get(c, 0) + 1
        out = ell + tuple(sorted(c for c, k in counts.items() if k == 1))
    elif "..." in rhs:
        before, after = rhs.split("...")
        out = tuple(before) + ell + tuple(after)
    else:
        out = tuple(rhs)
    return N.contract(labelled, out)


@rule("embedding")
def rule_embedding(ip: Any, node: Any, p: Any) -> Any:
    """A lookup of rows of a table by integer indices: a function of each index on its own, so
    the indices' group axes must act by permutations; the table must not lie along a group axis
    (a learned table) and must be invariant when it is computed."""
    table = as_expr(p["weight"]).settle()
    if any(a.kind != PLAIN for d in table.dims for a in d):
        raise Conflict("an embedding table with an axis acted on by a group")
    if not N.check_expr(table, ip.groups, ip.leaf_names).ok:
        raise Unsupported("an embedding table computed from the input that is not invariant")
    width = table.shape[-1]
    extra = (Atom(PLAIN, width),) if width != 1 else ()
    return nonlinear(ip, node, [p["indices"]], lambda atoms: [*atoms, extra], "an embedding lookup", shape=_shape(node))


@rule("linalg_cross", "cross")
def rule_cross(ip: Any, node: Any, p: Any) -> Any:
    """a × b along an axis of length 3: ε_ijk a_j b_k with the Levi-Civita constant (a morphism
    of SO(3)'s category, not of O(3)'s)."""
    a, b = as_expr(p["self"]), as_expr(p["other"])
    nd = max(a.ndim, b.ndim)
    d = p.get("dim")
    d = _dim(-1 if d is None else d, nd)

    eps = N.const_expr(levi_civita(3).astype(np.float64))
    labels = list(_labels(nd))
    la = list(labels[nd - a.ndim :])
    lb = list(labels[nd - b.ndim :])

    la[d - (nd - a.ndim)] = "J"
    lb[d - (nd - b.ndim)] = "K"
    out = list(labels)
    out[d] = "I"
    return N.contract([(eps, ("I", "J", "K")), (a, tuple(la)), (b, tuple(lb))], tuple(out))


@rule("tensordot")
def rule_tensordot(ip: Any, node: Any, p: Any) -> Any:
    a, b = as_expr(p["self"]), as_expr(p["other"])
    da, db = _dims(p["dims_self"], a.ndim), _dims(p["dims_other"], b.ndim)
    la = list(_labels(a.ndim))
    lb = list(_labels(b.ndim, a.ndim))
    for x, y in zip(da, db, strict=True):
        lb[y] = la[x]
    out = tuple(c for i, c in enumerate(la) if i not in da) + tuple(c for i, c in enumerate(lb) if i not in db)
    return N.contract([(a, tuple(la)), (b, tuple(lb))], out)


@rule("convolution", "conv1d", "conv2d", "conv3d", "_convolution")
def rule_convolution(ip: Any, node: Any, p: Any) -> Any:
    x, w = as_expr(p["input"]), as_expr(p["weight"])
    bias = p.get("bias")
    spatial = x.ndim - 2
    stride = _expand_param(p.get("stride", 1), spatial)
    padding = p.get("padding", 0)
    if isinstance(padding, str):
        padding = [0] * spatial if padding == "valid" else None
    padding = _expand_param(padding, spatial) if padding is not None else None
    out_shape = _shape(node)
    w = w.settle()
    if w.dims and any(a.kind != PLAIN for d in w.dims for a in d):
        raise Conflict("a convolution kernel with an axis acted on by a group")
    if not N.check_expr(w, ip.groups, ip.leaf_names).ok:
        raise Unsupported("a convolution kernel computed from the input that is not invariant")
    # the channels are mixed by the (learned) kernel: they must not be acted on by a group
    for i, a in enumerate(x.dims[1]):
        if a.kind == FLEX:
            x = x.retype(1, i, PLAIN)
        elif a.kind != PLAIN:
            raise Conflict(f"a convolution mixes the channel axis, which is acted on by {_factor_name(ip, a.kind)}")
    dims = [x.dims[0], (Atom(PLAIN, out_shape[1]),) if out_shape[1] != 1 else ()]
    for k in range(spatial):
        atoms = x.dims[2 + k]
        plain = all(a.kind == PLAIN for a in atoms)
        kernel = w.shape[2 + k]
        if plain:
            dims.append((Atom(PLAIN, out_shape[2 + k]),) if out_shape[2 + k] != 1 else ())
            continue
        if (
            kernel != 1
            or stride[k] != 1
            or (padding is None or padding[k] != 0)
            or (p.get("transposed") and any(_expand_param(p.get("output_padding", 0), spatial)))
        ):
            raise Unsupported(
                f"a convolution with kernel {kernel}, stride {stride[k]} or padding along an axis acted on by "
                f"{_factor_name(ip, next(a.kind for a in atoms if a.kind not in (PLAIN, FLEX)))}"
                if any(a.kind not in (PLAIN, FLEX) for a in atoms)
                else "a convolution along an axis of undecided role"
            )
        dims.append(atoms)
    terms = []
    for t in x.terms:
        out = [t.out[0], (None,) if dims[1] else ()] + [
            t.out[2 + k] if not all(a.kind == PLAIN for a in x.dims[2 + k]) else ((None,) if dims[2 + k] else ())
            for k in range(spatial)
        ]
        terms.append(t.with_out(out))
    result = Expr(dims, terms, N.earliest(x.suspect, w.suspect), N.earliest(x.broken, w.broken))
    if bias is not None:
        b = as_expr(bias)
        b = N.reshape(b, (1, out_shape[1]) + (1,) * spatial)
        result = N.add([result, b])
    return result


def _expand_param(v: Any, k: Any) -> Any:
    if isinstance(v, int):
        return [v] * k
    v = list(v)
    return v * k if len(v) == 1 else v


# -- nonlinear rules ------------------------------------------------------------------------------------------------
def _tensor_args(p: Any) -> list:
    return [v for v in p.values() if _is_tensorish(v)]


def rule_pointwise(ip: Any, node: Any, p: Any) -> Any:
    """Any pointwise (entry by entry) function of its tensor arguments."""
    operands = _tensor_args(p)
    if not operands:
        raise Unsupported("no tensor operand")
    name = op_name(node.target)
    return nonlinear(ip, node, operands, lambda atoms: atoms, f"the pointwise function {name}")


@rule("where")
def rule_where(ip: Any, node: Any, p: Any) -> Any:
    cond, a, b = p["condition"], p["self"], p["other"]
    operands = [cond, a, b]
    return nonlinear(ip, node, operands, lambda atoms: atoms, "where", linear_in={1, 2})


@rule("masked_fill")
def rule_masked_fill(ip: Any, node: Any, p: Any) -> Any:
    x, mask, value = p["self"], p["mask"], p["value"]
    operands = [x, mask, value if _is_tensorish(value) else float(value)]
    return nonlinear(ip, node, operands, lambda atoms: atoms, "masked_fill", linear_in={0, 2})


def _reduce_rule(what: Any, order_dependent: Any = False, outputs: Any = 1, indices: Any = False) -> Any:
    """A reduction; ``indices``: its second output holds positions along the reduced axes."""

    def fn(ip: Any, node: Any, p: Any) -> Any:
        x = as_expr(p["self"] if "self" in p else p["input"])
        dims = p.get("dim", None)
        if dims is None and "dims" in p:
            dims = p.get("dims")
        reduced = _dims(dims, x.ndim) if x.ndim else []
        keep = bool(p.get("keepdim", False))

        def out_dims(atoms: Any) -> Any:
            if order_dependent:
                for d in reduced:
                    if any(a.kind not in (PLAIN,) for a in atoms[d]):
                        raise Unsupported(
                            f"{what} along an axis acted on by a group depends on the order of its entries"
                        )
            return [() if d in reduced else atoms[d] for d in range(len(atoms)) if keep or d not in reduced]

        shape = tuple(int(s) for s in _meta(node)[0].shape) if outputs > 1 else None
        out = nonlinear(ip, node, [x], out_dims, what, shape=shape)
        along = indices and any(a.kind not in (PLAIN, FLEX) for d in reduced for a in x.dims[d])
        return tuple([out] + [_second_leaf(ip, node, out, i, along) for i in range(1, outputs)]) if outputs > 1 else out

    return fn


def _second_leaf(ip: Any, node: Any, first: Expr, i: Any, positions_along: Any = None) -> Any:
    """The other outputs of a multi-output op, with the first output's roles. ``positions_along``:
    this output holds positions (indices) along those input axes; positions along a group axis
    are not equivariant values, so the output is then marked as broken."""
    meta = _meta(node)[i]
    shape = tuple(int(s) for s in meta.shape)
    broken = first.broken
    if positions_along:
        broken = ip.earliest(
            broken,
            ip.culprit(f"output {i} of {op_name(node.target)} holds positions along an axis acted on by a group"),
        )
    if shape == first.shape:
        return ip.leaf(f"{node.name}[{i}]", first.dims, broken=broken)
    return ip.leaf(f"{node.name}[{i}]", [(Atom(PLAIN, s),) if s != 1 else () for s in shape], broken=broken)


for _name in (
    "amax",
    "amin",
    "logsumexp",
    "prod",
    "any",
    "all",
    "var",
    "std",
    "nanmean",
    "nansum",
    "count_nonzero",
    "norm",
    "frobenius_norm",
    "nuclear_norm",
):
    RULES[_name] = _reduce_rule(_name)
RULES["max.dim"] = _reduce_rule("max", outputs=2, indices=True)
RULES["min.dim"] = _reduce_rule("min", outputs=2, indices=True)
RULES["max.default"] = _reduce_rule("max")
RULES["min.default"] = _reduce_rule("min")
RULES["var_mean"] = _reduce_rule("var_mean", outputs=2)
RULES["std_mean"] = _reduce_rule("std_mean", outputs=2)
RULES["aminmax"] = _reduce_rule("aminmax", outputs=2)
RULES["argmax"] = _reduce_rule("argmax", order_dependent=True)
RULES["argmin"] = _reduce_rule("argmin", order_dependent=True)
RULES["median.dim"] = _reduce_rule("median", outputs=2, indices=True)
RULES["mode"] = _reduce_rule("mode", outputs=2, indices=True)
RULES["kthvalue"] = _reduce_rule("kthvalue", outputs=2, indices=True)


@rule("linalg_vector_norm")
def rule_vector_norm(ip: Any, node: Any, p: Any) -> Any:
    x = as_expr(p["self"])
    ordv = p.get("ord", 2)
    dims = _dims(p.get("dim"), x.ndim)
    keep = bool(p.get("keepdim", False))
    if ordv == 2:
        labels = _labels(x.ndim)
        out_labels = tuple(c for i, c in enumerate(labels) if i not in dims)
        sq = N.contract([(x, labels), (x, labels)], out_labels)
        sq = ip.finish(sq, [x])
        out = nonlinear(ip, node, [sq], lambda atoms: atoms, "the square root of a sum of squares", shape=sq.shape)
        if keep:
            for d in sorted(dims):
                out = N.unsqueeze(out, d)
        return out
    return _reduce_rule("vector_norm")(ip, node, p)


def _along_rule(what: Any, order_dependent: Any = False, outputs: Any = 1) -> Any:
    def fn(ip: Any, node: Any, p: Any) -> Any:
        x = as_expr(p["self"] if "self" in p else p["input"])
        d = _dim(p.get("dim", -1), x.ndim) if x.ndim else 0

        def out_dims(atoms: Any) -> Any:
            if order_dependent and x.ndim and any(a.kind not in (PLAIN,) for a in atoms[d]):
                raise Unsupported(f"{what} along an axis acted on by a group depends on the order of its entries")
            return atoms

        shape = tuple(int(s) for s in _meta(node)[0].shape) if outputs > 1 else None
        out = nonlinear(ip, node, [x], out_dims, what, strip=not order_dependent, shape=shape)
        return tuple([out] + [_second_leaf(ip, node, out, i) for i in range(1, outputs)]) if outputs > 1 else out

    return fn


for _name in ("_softmax", "softmax", "_log_softmax", "log_softmax", "_safe_softmax"):
    RULES[_name] = _along_rule("softmax")
for _name in ("cumprod", "cummax", "cummin", "logcumsumexp"):
    RULES[_name] = _along_rule(_name, order_dependent=True, outputs=2 if _name in ("cummax", "cummin") else 1)
RULES["sort"] = _along_rule("sort", order_dependent=True, outputs=2)
RULES["topk"] = _along_rule("topk", order_dependent=True, outputs=2)
RULES["argsort"] = _along_rule("argsort", order_dependent=True)


def _norm_rule(what: Any, weight_names: Any, channel_axis: Any = None, outputs: Any = 1) -> Any:
    """Normalisation layers: statistics over some axes (symmetric), an affine map per entry of the
    normalised shape (layer norm) or per channel (batch/group norm)."""

    def fn(ip: Any, node: Any, p: Any) -> Any:
        x = as_expr(p["input"])
        if what == "group_norm" and x.ndim > 1:
            # statistics over blocks of channels: the channel axis must not be permuted
            for i, a in enumerate(x.dims[1]):
                if a.kind == FLEX:
                    x = x.retype(1, i, PLAIN)
                elif a.kind != PLAIN:
                    raise Conflict(f"group_norm pools blocks of the channel axis, which is acted on by {a.kind}")
        operands = [x]
        for name in weight_names:
            w = p.get(name)
            if w is None:
                continue
            w = as_expr(w)
            if channel_axis is not None:
                w = N.reshape(w, (1, w.shape[0]) + (1,) * (x.ndim - 2))
            operands.append(w)
        shape = tuple(int(s) for s in _meta(node)[0].shape) if outputs > 1 else None
        out = nonlinear(ip, node, operands, lambda atoms: atoms, what, shape=shape)
        if outputs == 1:
            return out
        return tuple([out] + [_second_leaf(ip, node, out, i) for i in range(1, outputs)])

    return fn


RULES["layer_norm"] = _norm_rule("layer_norm", ["weight", "bias"])
RULES["native_layer_norm"] = _norm_rule("layer_norm", ["weight", "bias"], outputs=3)
RULES["rms_norm"] = _norm_rule("rms_norm", ["weight"])
RULES["_fused_rms_norm"] = _norm_rule("rms_norm", ["weight"], outputs=2)
RULES["group_norm"] = _norm_rule("group_norm", ["weight", "bias"], channel_axis=1)
RULES["native_group_norm"] = _norm_rule("group_norm", ["weight", "bias"], channel_axis=1, outputs=3)
_bn = ["weight", "bias", "running_mean", "running_var"]
RULES["batch_norm"] = _norm_rule("batch_norm", _bn, channel_axis=1)
RULES["_native_batch_norm_legit_no_training"] = _norm_rule("batch_norm", _bn, channel_axis=1, outputs=3)
RULES["_native_batch_norm_legit"] = _norm_rule("batch_norm", _bn, channel_axis=1, outputs=3)
RULES["_native_batch_norm_legit_functional"] = _norm_rule("batch_norm", _bn, channel_axis=1, outputs=5)
RULES["native_batch_norm"] = _norm_rule("batch_norm", _bn, channel_axis=1, outputs=3)
RULES["instance_norm"] = _norm_rule("instance_norm", ["weight", "bias"], channel_axis=1)


@rule("scaled_dot_product_attention")
def rule_sdpa(ip: Any, node: Any, p: Any) -> Any:
    q, k, v = as_expr(p["query"]), as_expr(p["key"]), as_expr(p["value"])
    if p.get("dropout_p"):
        raise _NoRule("attention dropout is random: trace in eval mode")
    if p.get("enable_gqa"):
        raise _NoRule("grouped-query attention")
    nd = q.ndim
    batch = _labels(nd - 2)
    scores = N.contract([(q, (*batch, "L", "E")), (k, (*batch, "S", "E"))], (*batch, "L", "S"))
    scores = ip.finish(scores, [q, k])
    L, S = q.shape[-2], k.shape[-2]
    mask = p.get("attn_mask")
    mask_dtype = _meta_dtype(bind(node.target, node.args, node.kwargs).get("attn_mask"))
    if p.get("is_causal"):
        mask, mask_dtype = Const(torch.ones(L, S, dtype=torch.bool).tril()), torch.bool
    if isinstance(mask, Const):
        mask_dtype = mask.value.dtype
    if mask is not None:
        if mask_dtype == torch.bool:
            scores = nonlinear(
                ip,
                node,
                [mask, scores, -math.inf],
                lambda atoms: atoms,
                "the attention mask",
                linear_in={1, 2},
                shape=scores.shape,
            )
        else:
            scores = ip.finish(N.add([scores, as_expr(mask)]), [scores])
    weights = nonlinear(ip, node, [scores], lambda atoms: atoms, "the softmax of attention", shape=scores.shape)
    out = N.contract([(weights, (*batch, "L", "S")), (v, (*batch, "S", "F"))], (*batch, "L", "F"))
    return out


def _meta_dtype(n: Any) -> Any:
    m = _meta(n) if isinstance(n, torch.fx.Node) else None
    return getattr(m, "dtype", None)


# -- block-structured values -----------------------------------------------------------------------------------
class _Fallback(Exception):
    """A block-structured value that an op cannot treat block by block."""


def permute_any(v: Any, order: Any) -> Any:
    if isinstance(v, Blocks):
        order = [o % v.ndim for o in order]
        return Blocks(order.index(v.dim), [permute_any(p, order) for p in v.parts])
    return N.permute(as_expr(v), order)


def slice_any(v: Any, d: Any, indices: list[int]) -> Any:
    """v[..., indices, ...] along axis d."""
    if not isinstance(v, Blocks):
        return select_along(as_expr(v), d, indices)
    if v.dim != d:
        return Blocks(v.dim, [slice_any(p, d, indices) for p in v.parts])
    if not indices or indices != list(range(indices[0], indices[0] + len(indices))):
        raise _Fallback
    lo, hi = indices[0], indices[0] + len(indices)
    parts = []
    for part, (start, stop) in zip(v.parts, v.bounds(), strict=True):
        a, b = max(lo, start), min(hi, stop)
        if a >= b:
            continue
        parts.append(part if (a, b) == (start, stop) else slice_any(part, d, list(range(a - start, b - start))))
    return parts[0] if len(parts) == 1 else Blocks(d, parts)


def unsqueeze_any(v: Any, u: Any) -> Any:
    if isinstance(v, Blocks):
        u = u % (v.ndim + 1)
        return Blocks(v.dim + (1 if u <= v.dim else 0), [unsqueeze_any(p, u) for p in v.parts])
    return N.unsqueeze(as_expr(v), u)


def squeeze_any(v: Any, dims: Any) -> Any:
    if isinstance(v, Blocks):
        dims = [d % v.ndim for d in dims]
        if v.dim in dims:
            raise _Fallback
        return Blocks(v.dim - sum(d < v.dim for d in dims), [squeeze_any(p, dims) for p in v.parts])
    return N.squeeze(as_expr(v), dims)


def reshape_any(v: Any, shape: Any) -> Any:
    if not isinstance(v, Blocks):
        return N.reshape(as_expr(v), tuple(shape))
    full = v.shape
    d = v.dim
    before = math.prod(full[:d])
    prefix, d2 = 1, 0
    while d2 < len(shape) and prefix < before:
        prefix *= shape[d2]
        d2 += 1
    while d2 < len(shape) and shape[d2] == 1 and full[d] != 1:
        d2 += 1
    if prefix != before or d2 >= len(shape) or shape[d2] != full[d]:
        raise _Fallback
    parts = []
    for part in v.parts:
        s = list(shape)
        s[d2] = part.shape[d]
        parts.append(reshape_any(part, s))
    return Blocks(d2, parts)


def expand_any(v: Any, shape: Any) -> Any:
    if not isinstance(v, Blocks):
        return N.expand(as_expr(v), tuple(shape))
    lead = len(shape) - v.ndim
    parts = []
    for part in v.parts:
        s = list(shape)
        s[lead + v.dim] = part.shape[v.dim]
        parts.append(expand_any(part, s))
    return Blocks(lead + v.dim, parts)


def elementwise_any(values: list, fn: Any) -> Any:
    """fn (a function of expressions) applied block by block: every block-structured operand must
    be split along the same (broadcast-aligned) axis into the same blocks; the other operands
    are sliced along that axis, or broadcast when they have size 1 there."""
    shapes = [_value_shape(v) if _is_tensorish(v) or isinstance(v, Blocks) else () for v in values]
    nd = max(len(s) for s in shapes)
    split = None
    for v, s in zip(values, shapes, strict=True):
        if isinstance(v, Blocks):
            key = (nd - len(s) + v.dim, [b[1] - b[0] for b in v.bounds()])
            if split is not None and split != key:
                raise _Fallback
            split = key
    if split is None:
        return fn([as_expr(v) if _is_tensorish(v) else v for v in values])
    axis, sizes = split
    results, start = [], 0
    for k, size in enumerate(sizes):
        picked = []
        for v, s in zip(values, shapes, strict=True):
            if isinstance(v, Blocks):
                picked.append(v.parts[k])
            elif _is_tensorish(v):
                local = axis - (nd - len(s))
                if local >= 0 and s[local] != 1:
                    picked.append(slice_any(v, local, list(range(start, start + size))))
                else:
                    picked.append(v)
            else:
                picked.append(v)
        results.append(elementwise_any(picked, fn))
        start += size
    return Blocks(axis, results)


def add_any(values: Any) -> Any:
    return elementwise_any(list(values), lambda es: N.add([as_expr(e) for e in es]))


def matmul_any(a: Any, b: Any) -> Any:
    """torch.matmul block by block: a product summed over the blocks of the contracted axis, or
    blocks of the result along a row/column axis."""
    if not isinstance(a, Blocks) and not isinstance(b, Blocks):
        return _matmul(as_expr(a), as_expr(b))
    a_nd, b_nd = len(_value_shape(a)), len(_value_shape(b))
    ca, cb = a_nd - 1, (0 if b_nd == 1 else b_nd - 2)
    if (isinstance(a, Blocks) and a.dim == ca) or (isinstance(b, Blocks) and b.dim == cb):
        ref = a if isinstance(a, Blocks) and a.dim == ca else b
        products = []
        for k, (start, stop) in enumerate(ref.bounds()):
            rng = list(range(start, stop))
            ak = a.parts[k] if ref is a else slice_any(a, ca, rng)
            bk = b.parts[k] if ref is b else slice_any(b, cb, rng)
            if (isinstance(ak, Blocks) and ak.dim == ca) or (isinstance(bk, Blocks) and bk.dim == cb):
                raise _Fallback
            products.append(matmul_any(ak, bk))
        return add_any(products)
    out_nd = (
        max(a_nd, b_nd)
        if a_nd > 1 and b_nd > 1
        else (b_nd - 1 if a_nd == 1 else a_nd - 1)
        if a_nd != b_nd or a_nd > 1
        else 0
    )
    if isinstance(a, Blocks):
        if a_nd < 2 or a.dim != a_nd - 2:
            raise _Fallback
        parts = [matmul_any(p, b) for p in a.parts]
        return Blocks(out_nd - (2 if b_nd > 1 else 1), parts)
    if b_nd < 2 or b.dim != b_nd - 1:
        raise _Fallback
    parts = [matmul_any(a, p) for p in b.parts]
    return Blocks(out_nd - 1, parts)


def _blocks_rule(ip: Any, node: Any, rule: Any, p: Any) -> Any:
    """The block-aware version of ``rule`` (NotImplemented when there is none)."""
    if rule in (rule_identity, rule_cast):
        key = "self" if "self" in p else "input"
        return elementwise_any([p[key]], lambda es: rule(ip, node, {**p, key: es[0]}))
    if rule is rule_permute:
        return permute_any(p["self"], list(p["dims"]))
    if rule is rule_transpose:
        x = p["self"]
        nd = len(_value_shape(x))
        a, b = (p.get("dim0"), p.get("dim1")) if "dim0" in p else (p.get("axis0"), p.get("axis1"))
        order = list(range(nd))
        a, b = a % nd, b % nd
        order[a], order[b] = order[b], order[a]
        return permute_any(x, order)
    if rule is rule_t:
        nd = len(_value_shape(p["self"]))
        return permute_any(p["self"], list(range(nd))[::-1]) if nd == 2 else p["self"]
    if rule is rule_unsqueeze:
        return unsqueeze_any(p["self"], p["dim"])
    if rule is rule_squeeze:
        x = p["self"]
        shape = _value_shape(x)
        dims = p.get("dim", None)
        if dims is None:
            dims = p.get("dims", None)
        dims = [d for d in range(len(shape)) if shape[d] == 1] if dims is None else _dims(dims, len(shape))
        return squeeze_any(x, [d for d in dims if shape[d] == 1])
    if rule is rule_reshape:
        return reshape_any(p.get("self", p.get("input")), _shape(node))
    if rule is rule_expand:
        return expand_any(p["self"], _shape(node))
    if rule in (rule_slice, rule_narrow, rule_select):
        x = p["self"]
        shape = _value_shape(x)
        d = _dim(p.get("dim", 0), len(shape))
        size = shape[d]
        if rule is rule_slice:
            indices = list(range(size))[slice(p.get("start"), p.get("end"), p.get("step") or 1)]
        elif rule is rule_narrow:
            start = p["start"] % size if p["start"] < 0 else p["start"]
            indices = list(range(start, start + p["length"]))
        else:
            indices = [p["index"] % size]
        out = slice_any(x, d, indices)
        return squeeze_any(out, [d]) if rule is rule_select else out
    if rule is rule_split:
        x = p["self"]
        shape = _value_shape(x)
        d = _dim(p.get("dim", 0), len(shape))
        outs, start = [], 0
        unbind = node.target.overloadpacket.__name__.startswith("unbind")
        for m in _meta(node):
            size = 1 if unbind else int(m.shape[d])
            part = slice_any(x, d, list(range(start, start + size)))
            outs.append(squeeze_any(part, [d]) if unbind else part)
            start += size
        return tuple(outs)
    if rule in (rule_cat, rule_stack):
        return rule(ip, node, p)
    if rule in (
        rule_add,
        rule_mul,
        rule_div,
        rule_pointwise,
        rule_where,
        rule_masked_fill,
        rule_square,
        rule_pow,
        rule_addcmul,
        rule_addcdiv,
    ):
        keys = [k for k, v in p.items() if _is_tensorish(v) or isinstance(v, Blocks)]

        def fn(es: Any) -> Any:
            q = dict(p)
            for k, e in zip(keys, es, strict=True):
                q[k] = e
            return ip.finish(rule(ip, node, q), es)

        return elementwise_any([p[k] for k in keys], fn)
    if rule is rule_matmul:
        return matmul_any(p["self"], p.get("other", p.get("mat2", p.get("vec", p.get("tensor")))))
    if rule is rule_addmm and node.target.overloadpacket.__name__ in ("addmm", "baddbmm"):
        a = p["mat1"] if "mat1" in p else p["batch1"]
        b = p["mat2"] if "mat2" in p else p["batch2"]
        prod = matmul_any(a, b)
        return prod if p.get("beta", 1) == 0 else add_any([p["self"], prod])
    if rule is rule_linear:
        w = p["weight"]
        nd = len(_value_shape(w))
        out = matmul_any(p["input"], permute_any(w, [1, 0]) if nd == 2 else w)
        return out if p.get("bias") is None else add_any([out, p["bias"]])
    return NotImplemented


def _unblock(v: Any) -> Any:
    if isinstance(v, Blocks):
        return blocks_to_expr(v)
    if isinstance(v, list):
        return [_unblock(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_unblock(x) for x in v)
    if isinstance(v, dict):
        return {k: _unblock(x) for k, x in v.items()}
    return v
