"""Equivariant linear layers: :class:`TypedLinear`, the one linear core, and
:class:`EquivariantLinear`, its single-block form on plain tensors.

A typed layer maps features of several orders to features of several orders; every pair of
orders (k, l) whose Hom space is non-zero is a *block* with one weight per diagram of
``group.basis(k, l)`` per channel pair, and every output order an equivariant bias (a
combination of the 0 → l diagrams). All blocks run as one program (:mod:`catlayer.nn.compile`):
each input is reduced once per distinct bottom half for every output, each output is assembled
once from the terms of all its blocks and its bias, and training runs the adjoint plan
(:mod:`catlayer.nn.function`). Small layers of fixed size can instead run dense
(:mod:`catlayer.nn.dense`), chosen by a cost model.

**The parameterisation** (one for every module). Diagram d of block k → l is applied as
F(d) / Π_f n_f^{c_f(d)} with ``reduce="mean"`` (the default), where c_f(d) counts the closed
bottom blocks of factor f: every sum over an index becomes a mean over the (valid) indices of
that sample, so each diagram maps inputs with entries of size O(1) to outputs with entries of
size O(1) whatever n is. Weights are initialised with variance 1 / (B_l · c_k · D_kl) (B_l the
number of blocks into order l, c_k the input channels, D_kl the diagrams): every output entry
is then a sum of B_l · c_k · D_kl terms of size O(1) with unit total variance, at every n, so
activations stay O(1) at every n and the same weights serve every n (``S()``). With
``reduce="sum"`` diagrams are the functor images F(d) exactly (the convention of IGN, and of
PELICAN with sum aggregation); entries then grow like n^c.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..diagrams.validation import short_repr
from ..memory import check_size, memory_budget
from ..plan import LayerPlan, plan_layer
from .compile import Block, Program, compile_adjoint, compile_program, inverse
from .core import Call, EquivariantModule, masked, order_axes, output_mask, type_str
from .dense import REFERENCE_BATCH, Cost, dense_gather, measure, pattern_tables, ternary_weights
from .function import PlanFunction, PlanSpec, Tables, plan_forward
from .run import Forms

__all__ = ["EquivariantLinear", "TypedLinear"]


def _key(order: Any) -> str:
    """An order as a parameter-name fragment: 2 → "2", (1, 0) → "1x0"."""
    return "x".join(map(str, order)) if isinstance(order, tuple) else str(order)


def _zero_order(num_factors: int) -> Any:
    return 0 if num_factors == 1 else (0,) * num_factors


def _needs_gradient(tensors: Sequence[torch.Tensor]) -> bool:
    """Whether to run :class:`~catlayer.nn.function.PlanFunction` (backward by the adjoint plan):
    when autograd will need a gradient, unless the module is being traced for export
    (``torch.export``, ONNX, TorchScript), which must see the plain graph of aten ops."""
    if not torch.is_grad_enabled():
        return False
    if torch.jit.is_tracing() or torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export():
        return False
    return any(t.requires_grad for t in tensors)


def _eager() -> bool:
    return not (torch.jit.is_tracing() or torch.compiler.is_compiling())


class TypedLinear(EquivariantModule):
    """An equivariant linear map from features of type ``in_type`` to features of type ``out_type``.

    Args:
        group: a catlayer group: ``S(5)``, ``S()`` (S_n for every n), ``O(3)``, ``O(1, 3)``,
            a product such as ``S() * O(3)``, …
        in_type: a dict order → channels (orders are ints, or tuples for a product).
        out_type: a dict order → channels.
        bias: an equivariant bias per output order (when ``group.basis(0, l)`` is not empty).
        reduce: ``"mean"`` (default: sums over indices are means, see the module docstring) or
            ``"sum"`` (the functor images exactly).
        execution: ``"auto"`` (a cost model picks), ``"plan"`` or ``"dense"`` (fixed sizes only).
        device, dtype: of the parameters.

    ``weight_{k}_{l}`` has shape ``(out_type[l], in_type[k], len(group.basis(k, l)))`` and holds
    the coefficient of diagram ``blocks[(k, l)][t]``; ``bias_{l}`` has shape
    ``(out_type[l], len(group.basis(0, l)))``. Blocks whose Hom space is zero are absent; an output
    order that no block reaches is an error (it would be constant).

    Shape:
        - Input: a dict order k → ``(*batch, in_type[k]) + axes(k)`` with axes(k) = (n,) * k
          (for a product (a, b): (n,) * a + (m,) * b); ``mask`` (optional): bool
          ``(*batch, N)`` for the factor that permutes indices (a tuple, one per factor, for
          several).
        - Output: a dict order l → ``(*batch, out_type[l]) + axes(l)``.

    >>> import torch
    >>> from catlayer import O, S
    >>> layer = TypedLinear(O(3), {0: 2, 1: 3}, {0: 4, 2: 1})
    >>> out = layer({0: torch.randn(8, 2), 1: torch.randn(8, 3, 3)})
    >>> {k: tuple(v.shape) for k, v in out.items()}
    {0: (8, 4), 2: (8, 1, 3, 3)}
    >>> sorted(layer.blocks)                       # O(3): no map between orders of different parity
    [(0, 0), (0, 2)]
    >>> [name for name, _ in layer.named_parameters()]
    ['weight_0_0', 'weight_0_2', 'bias_0', 'bias_2']
    >>> graph = TypedLinear(S(), {2: 1}, {0: 2, 2: 2})     # any number of nodes
    >>> {k: tuple(v.shape) for k, v in graph({2: torch.randn(3, 1, 7, 7)}).items()}
    {0: (3, 2), 2: (3, 2, 7, 7)}
    """

    def __init__(
        self,
        group: Any,
        in_type: Any,
        out_type: Any,
        bias: bool = True,
        *,
        reduce: str = "mean",
        execution: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self._open(group, in_type, out_type, reduce=reduce, execution=execution)
        self._build(bias, device, dtype)

    # -- construction ----------------------------------------------------------------------------
    def _weight_name(self, k: Any, l: Any) -> str:
        return f"weight_{_key(k)}_{_key(l)}"

    def _bias_name(self, l: Any) -> str:
        return f"bias_{_key(l)}"

    def _empty_message(self, l: Any) -> str:
        return (
            f"no non-zero {self.group!r}-equivariant map from the orders {sorted(self.in_type)} to order {l}: "
            f"output order {l} of {type_str(self.out_type)} would be constant"
        )

    def _build(self, bias: bool, device: Any, dtype: torch.dtype | None) -> None:
        group = self.group
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {short_repr(bias)}")
        blocks: dict[tuple[Any, Any], tuple[Any, ...]] = {}
        for k in self.in_type:
            for l in self.out_type:
                diagrams = tuple(group.basis(k, l))
                if diagrams:
                    blocks[(k, l)] = diagrams
        for l in self.out_type:
            if not any(key[1] == l for key in blocks):
                raise ValueError(self._empty_message(l))
        self.blocks = blocks
        zero = _zero_order(len(self.factors))
        self.bias_diagrams = {}
        if bias:
            self.bias_diagrams = {l: tuple(group.basis(zero, l)) for l in self.out_type if group.basis(zero, l)}
        self._inputs = list(self.in_type)
        self._outputs = list(self.out_type)
        self._plans: dict[tuple[Any, Any], LayerPlan] = {key: plan_layer(group, d) for key, d in blocks.items()}
        self._block_keys = list(blocks)
        structure = self._structure()
        self._program = compile_program(*structure)
        self._adjoint = compile_adjoint(*structure)
        self._compile_bias(structure)
        factory = {"device": device, "dtype": dtype}
        for (k, l), diagrams in blocks.items():
            shape = (self.out_type[l], self.in_type[k], len(diagrams))
            self.register_parameter(self._weight_name(k, l), nn.Parameter(torch.empty(shape, **factory)))
        for l, diagrams in self.bias_diagrams.items():
            param = nn.Parameter(torch.empty(self.out_type[l], len(diagrams), **factory))
            self.register_parameter(self._bias_name(l), param)
        # Static shapes of the dense path (fixed sizes only), read in the forward without arithmetic
        # on generators (which torch.compile does not trace).
        self._axes_of: dict[Any, tuple[int, ...]] = {}
        self._entries_of: dict[Any, int] = {}
        if all(size is not None for size in self.fixed_sizes):
            for order in [*self._inputs, *self._outputs]:
                axes = tuple(int(self.fixed_sizes[f]) for f in order_axes(order))  # type: ignore[arg-type]
                self._axes_of[order] = axes
                self._entries_of[order] = math.prod(axes)
        self._dense: dict[str, Any] | None = None
        self._dense_cache: tuple[Any, Any] | None = None
        self._dense_checked_batch = 0  # the largest batch whose dense forward passed the memory check
        self._sizes_cache: dict[Any, int] = {}
        self._register_tables()
        like = self._like()
        if self.execution == "auto":
            self.execution = self._choose_execution(like.device)
        if self.execution == "dense":
            self._require_fixed("execution='dense'")
            self._dense = self._dense_tables()
            self._register_tables()
        if self._parameters:
            self._register_identity()
        self.reset_parameters()

    def _structure(self) -> tuple[Any, ...]:
        blocks = [
            Block(self._inputs.index(k), self._outputs.index(l), self._plans[(k, l)]) for k, l in self._block_keys
        ]
        channels = [(self.out_type[l], self.in_type[k]) for k, l in self._block_keys]
        return (
            blocks,
            [order_axes(k) for k in self._inputs],
            [order_axes(l) for l in self._outputs],
            channels,
            list(self.fixed_sizes),
            list(self.maskable),
            self.reduce == "mean",
        )

    def _compile_bias(self, structure: tuple[Any, ...]) -> None:
        """The bias terms: one expansion per bias diagram (an extra term of its output's
        assembly); their gradient is the adjoint's reduction of the output gradient when the
        layer has the same expansion, else a reduction of a small bias-only adjoint program."""
        _, _, outputs, _, sizes, runtime, _ = structure
        self._bias_blocks = [(l, plan_layer(self.group, d)) for l, d in self.bias_diagrams.items()]
        if not self._bias_blocks:
            self._bias_program = None
            self._bias_index: list[tuple[int, int]] = []
            self._spec = PlanSpec(self._program, self._adjoint, self._channels(), self._block_sizes())
            return
        blocks = [Block(0, self._outputs.index(l), plan) for l, plan in self._bias_blocks]
        channels = [(self.out_type[l], 1) for l, _ in self._bias_blocks]
        program = compile_program(blocks, [()], outputs, channels, sizes, runtime, False)
        self._bias_program = program
        # Every bias group holds one term; one input channel, so its column in its output's
        # gathered weights is the diagram's index in its block (one bias block per output).
        self._bias_index = []
        for e in range(len(program.expansions)):
            o = program.gather.group_output[e]
            (b,) = program.gather.sources[o]
            self._bias_index.append((b, program.gather.columns[o][program.gather.group_columns[e][0]]))
        steps = program.expansions
        sources = tuple(self._program.expansions.index(s) if s in self._program.expansions else -1 for s in steps)
        # Reduction i of the bias adjoint is the transpose of bias expansion i (same keys, same order).
        bias_adjoint = (
            compile_adjoint(blocks, [()], outputs, channels, sizes, runtime, False) if min(sources) < 0 else None
        )
        self._spec = PlanSpec(
            self._program,
            self._adjoint,
            self._channels(),
            self._block_sizes(),
            bias_steps=steps,
            bias_sources=sources,
            bias_adjoint=bias_adjoint,
        )

    def _certificate_structure(self) -> tuple[Any, ...]:
        """What the program is compiled from (for the certificate: :mod:`catlayer.verify.modules`)."""
        return self._structure()

    def _fresh(self) -> TypedLinear:
        """The same layer built anew in float64 (for the certificate: every table recomputed)."""
        return TypedLinear(
            self.group,
            self.in_type,
            self.out_type,
            bias=bool(self.bias_diagrams),
            reduce=self.reduce,
            execution=self.execution,
            dtype=torch.float64,
        )

    @staticmethod
    def _block_orders(key: Any) -> tuple[Any, Any]:
        """(input order, output order) of a block key."""
        return key[0], key[1]

    def _channels(self) -> tuple[tuple[int, int], ...]:
        return tuple((self.out_type[l], self.in_type[k]) for k, l in self._block_keys)

    def _block_sizes(self) -> tuple[int, ...]:
        return tuple(len(self.blocks[key]) for key in self._block_keys)

    def _require_fixed(self, what: str) -> None:
        if any(size is None for size in self.fixed_sizes):
            raise ValueError(f"{what} needs a fixed size: {self.group!r} takes any n (use it with a size, e.g. S(12))")

    # -- tables (non-persistent buffers, rebuilt exactly after every move or dtype change) --------
    def _table_arrays(self) -> dict[str, tuple[Any, str]]:
        """Every constant table as exact numpy/python data and its kind ("float" or "long")."""
        out: dict[str, tuple[Any, str]] = {}
        programs = [self._program, self._adjoint] + ([self._bias_program] if self._bias_program is not None else [])
        for f in sorted({f for p in programs for f in p.uses_forms}):
            out[f"_form_{f}"] = (np.asarray(self.factors[f].pair_form), "float")
        for f in sorted({f for p in programs for f in p.uses_diagonals}):
            if self.factors[f].n is not None:
                out[f"_eye_{f}"] = (np.eye(self.factors[f].n), "float")
        keys = sorted({key for p in programs for key in p.levi_civita_keys})
        self._lc_keys = keys
        for i, key in enumerate(keys):
            out[f"_lc_{i}"] = (self._levi_civita_table(key), "float")
        for prefix, program in (("fwd", self._program), ("adj", self._adjoint)):
            gather = program.gather
            for o in range(len(gather.sources)):
                out[f"_{prefix}_cols_{o}"] = (np.asarray(gather.columns[o], dtype=np.int64), "long")
                out[f"_{prefix}_coef_{o}"] = (np.asarray(gather.coefficients[o]), "float")
                out[f"_{prefix}_rcoef_{o}"] = (np.asarray(gather.runtime_coefficients[o]), "float")
                if prefix == "adj":
                    out[f"_adj_inv_{o}"] = (np.asarray(inverse(gather.columns[o]), dtype=np.int64), "long")
        if self._bias_program is not None:
            gather = self._bias_program.gather
            for o in range(len(gather.sources)):
                if gather.sources[o]:
                    out[f"_bias_coef_{o}"] = (np.asarray(gather.coefficients[o]), "float")
        if self._dense is not None:
            for name, (value, kind) in self._dense.items():
                out[name] = (value, kind)
        return out

    def _levi_civita_table(self, key: tuple[tuple[int, int, int], ...]) -> np.ndarray:
        """The Levi-Civita table of a contraction key: per (factor, free axes a, free slots q) the
        factor's symbol reshaped to (n^a, n^q) (input slots first), Kronecker products across
        factors."""
        table = np.ones((1, 1))
        for f, _, q in key:
            group = self.factors[f]
            n = group.n
            check_size(8 * n**n, f"the Levi-Civita symbol of {group!r}")
            symbol = np.asarray(group.levi_civita(q), dtype=np.float64)
            table = np.kron(table, symbol.reshape(n**q, n ** (n - q)).T)
        return table

    def _register_tables(self) -> None:
        like = self._like()
        for name, (value, kind) in self._table_arrays().items():
            dtype = torch.long if kind == "long" else like.dtype
            table = torch.tensor(np.array(value), dtype=dtype, device=like.device)
            self.register_buffer(name, table, persistent=False)

    def _apply(self, fn: Any, recurse: bool = True) -> TypedLinear:
        # The tables are constants of the group, not state: rebuild them exactly on the parameters'
        # device and dtype after every move or conversion (a layer built on the meta device and
        # materialised with ``to_empty`` computes the right thing; ``.double()`` keeps 1/3 exact).
        super()._apply(fn, recurse)
        self._register_tables()
        self._dense_cache = None
        self._dense_checked_batch = 0
        return self

    # -- parameters ------------------------------------------------------------------------------
    def weight_of(self, k: Any, l: Any) -> torch.Tensor:
        """The weight of block k → l: (out channels, in channels, diagrams)."""
        return getattr(self, self._weight_name(k, l))

    def bias_of(self, l: Any) -> torch.Tensor | None:
        """The bias of output order l, or None."""
        return getattr(self, self._bias_name(l), None) if l in self.bias_diagrams else None

    def weight_std(self, k: Any, l: Any) -> float:
        """The initial standard deviation of block k → l: 1 / sqrt(B_l · c_k · D_kl) (see the module
        docstring)."""
        into = sum(1 for key in self.blocks if key[1] == l)
        return (1.0 / (into * self.in_type[k] * len(self.blocks[(k, l)]))) ** 0.5

    def reset_parameters(self) -> None:
        """Weights ~ N(0, σ²) with σ = :meth:`weight_std`, biases 0; the constant tables are rebuilt
        too (they may hold garbage after ``to_empty``)."""
        self._register_tables()
        self._dense_cache = None
        self._dense_checked_batch = 0
        with torch.no_grad():
            for k, l in self.blocks:
                nn.init.normal_(self.weight_of(k, l), 0.0, self.weight_std(k, l))
            for l in self.bias_diagrams:
                bias = self.bias_of(l)
                assert bias is not None
                nn.init.zeros_(bias)

    def _like(self) -> torch.Tensor:
        """A tensor with the module's dtype and device (its first parameter or table)."""
        for t in self.parameters():
            return t
        return next(iter(self._buffers.values()))

    def _weights(self) -> list[torch.Tensor]:
        return [self.weight_of(k, l) for k, l in self._block_keys]

    def _biases(self) -> list[torch.Tensor]:
        out = []
        for l in self.bias_diagrams:
            bias = self.bias_of(l)
            if bias is not None:
                out.append(bias)
        return out

    def extra_repr(self) -> str:
        blocks = ", ".join(f"{k}→{l}: {len(d)}" for (k, l), d in self.blocks.items())
        text = f"group={self.group!r}, in_type={type_str(self.in_type)}, out_type={type_str(self.out_type)}, "
        text += f"diagrams={{{blocks}}}"
        if self.reduce != "mean":
            text += f", reduce={self.reduce!r}"
        return text + f", execution={self.execution}"

    # -- forward ---------------------------------------------------------------------------------
    def forward(self, features: dict[Any, torch.Tensor], mask: Any = None) -> dict[Any, torch.Tensor]:
        """The layer on a dict order → tensor (see the class docstring for shapes and ``mask``)."""
        call = self.check_inputs(features, mask)
        return call.restore(self.run(call))

    def run(self, call: Call) -> dict[Any, torch.Tensor]:
        """The forward on a checked call (:meth:`~catlayer.nn.core.EquivariantModule.check_inputs`)."""
        outputs = self._outputs_of(call)
        return dict(zip(self._outputs, outputs, strict=True))

    def _runtime(self, call: Call) -> bool:
        """Whether this call scales means at run time (masks, or sizes only known now)."""
        return self.reduce == "mean" and (call.masked or any(s is None for s in self.fixed_sizes))

    def plain_outputs(self, call: Call) -> list[torch.Tensor]:
        """The plan's outputs through the plain functional forward, never the adjoint plan's
        autograd Function (what tracers see; autograd then differentiates the ops themselves):
        a twin of the forward for tests and for the certificate."""
        return self._outputs_of(call, plain=True)

    def _outputs_of(self, call: Call, plain: bool = False) -> list[torch.Tensor]:
        runtime = self._runtime(call)
        if self._dense is not None and not runtime and not plain:
            return self._dense_outputs(call)
        inputs = [call.features[k] for k in self._inputs]
        if call.masked:
            inputs = [masked(x, call.masks, order_axes(k)) for x, k in zip(inputs, self._inputs, strict=True)]
        self._check_memory(call, inputs[0])  # the core's guard (nothing under a tracer)
        tables = self._tables(call, runtime, inputs[0])
        bias_terms = self._bias_terms(tables)
        weights = self._weights()
        if not plain and _needs_gradient([*inputs, *weights, *bias_terms]):
            tensors, key = tables.flat()
            counts = (len(inputs), len(weights), len(bias_terms))
            outputs = list(PlanFunction.apply(self._spec, key, counts, *inputs, *weights, *bias_terms, *tensors))
        else:
            outputs = plan_forward(self._spec, inputs, weights, tables, bias_terms)
        if call.masked:
            outputs = [self._mask_output(y, call, l) for y, l in zip(outputs, self._outputs, strict=True)]
        return outputs

    @staticmethod
    def _mask_output(y: torch.Tensor, call: Call, order: Any) -> torch.Tensor:
        keep = output_mask(call.masks, order_axes(order), y.dim())
        if keep is None:
            return y
        if not torch.is_grad_enabled() and _eager() and not y.requires_grad:
            return y.mul_(keep)
        return y * keep

    def _forms(self, sizes: tuple[Any, ...]) -> Forms:
        num = len(self.factors)
        form = {f: getattr(self, f"_form_{f}") for f in range(num) if hasattr(self, f"_form_{f}")}
        eye = {f: getattr(self, f"_eye_{f}") for f in range(num) if hasattr(self, f"_eye_{f}")}
        lc = {key: getattr(self, f"_lc_{i}") for i, key in enumerate(self._lc_keys)}
        return Forms(sizes, form, eye, lc)

    def _gather_tables(self, prefix: str, program: Program, runtime: bool) -> tuple[Any, ...]:
        out = []
        for o in range(len(program.gather.sources)):
            if program.gather.trivial(o, runtime):
                out.append(None)
            else:
                coef = getattr(self, f"_{prefix}_{'rcoef' if runtime else 'coef'}_{o}")
                out.append((getattr(self, f"_{prefix}_cols_{o}"), coef))
        return tuple(out)

    def _tables(self, call: Call, runtime: bool, like: torch.Tensor) -> Tables:
        forms = self._forms(call.sizes)
        forward = self._gather_tables("fwd", self._program, runtime)
        adjoint = self._gather_tables("adj", self._adjoint, runtime)
        gradient = []
        for o, item in enumerate(adjoint):
            gradient.append(None if item is None else (getattr(self, f"_adj_inv_{o}"), item[1]))
        scales: dict[int, torch.Tensor] = {}
        if runtime:
            counts = self._counts(call, like)
            for r, step in enumerate(self._program.reductions):
                scale = None
                for f, c in enumerate(step.summed):
                    if c and self.maskable[f]:
                        term = counts[f] ** -c
                        scale = term if scale is None else scale * term
                if scale is not None:
                    scales[r] = scale
        return Tables(forms, forward, adjoint, tuple(gradient), scales)

    def _counts(self, call: Call, like: torch.Tensor) -> list[Any]:
        """Per factor, the number of valid indices: (B, 1, 1) from a mask, a 0-d tensor read off
        the input's shape for a size known only now (tensor ops, so that exporters keep it
        dynamic), or the fixed size."""
        out: list[Any] = []
        for f, (m, size) in enumerate(zip(call.masks, call.sizes, strict=True)):
            if m is not None:
                # A sample with no valid index sums nothing: divide by 1 (not 0) so that it stays 0.
                out.append(m.sum(1, dtype=like.dtype).clamp(min=1).reshape(-1, 1, 1))
            elif self.fixed_sizes[f] is None:
                out.append(like.new_ones(size).sum())
            else:
                out.append(float(size))
        return out

    def _bias_terms(self, tables: Tables) -> list[torch.Tensor]:
        """The bias program's mixed tensors, (1, c_out, Π slots) per bias diagram: sign × bias[:, t]
        (times the Levi-Civita table of an n-diagram's free slots): a few ops instead of a
        reduction and a matmul."""
        program = self._bias_program
        if program is None:
            return []
        biases = self._biases()
        terms = []
        for e, (b, t) in enumerate(self._bias_index):
            o = program.gather.group_output[e]
            start = program.gather.group_columns[e][0]
            coef = getattr(self, f"_bias_coef_{o}").narrow(0, start, 1)
            z = (biases[b].narrow(1, t, 1) * coef).unsqueeze(0)
            ((reduction, matching),) = program.terms[e]
            step = program.reductions[reduction]
            if step.uses_levi_civita:
                # The free slots of a 0 → l n-diagram are in the order of its free top vertices.
                assert matching == tuple(range(len(matching)))
                z = z * tables.forms.levi_civita[step.levi_civita].reshape(1, 1, -1)
            terms.append(z)
        return terms

    def _entries_per_sample(self, sizes: tuple[Any, ...]) -> int:
        """An upper bound on the entries one sample keeps in flight: inputs, reduced and stacked
        tensors, mixed tensors and twice the outputs (checked before every eager forward)."""
        if sizes in self._sizes_cache:
            return self._sizes_cache[sizes]
        program = self._program

        def count(factors: tuple[int, ...]) -> int:
            return math.prod(int(sizes[f]) for f in factors)

        total = sum(self.in_type[k] * count(order_axes(k)) for k in self._inputs)
        widths = {}
        for r, step in enumerate(program.reductions):
            c = self.in_type[self._inputs[step.input]]
            widths[r] = c
            total += c * count(step.slot_factor)
        for e, step in enumerate(program.expansions):
            stacked = sum(widths[r] for r, _ in program.terms[e])
            total += (stacked + self.out_type[self._outputs[step.output]]) * count(step.slot_factor)
        total += 2 * sum(self.out_type[l] * count(order_axes(l)) for l in self._outputs)
        self._sizes_cache[sizes] = total
        return total

    # -- dense execution -------------------------------------------------------------------------
    def _dense_bytes(self) -> int:
        sizes = self.fixed_sizes
        rows = sum(c * math.prod(sizes[f] for f in order_axes(l)) for l, c in self.out_type.items())  # type: ignore[misc]
        cols = sum(c * math.prod(sizes[f] for f in order_axes(k)) for k, c in self.in_type.items())  # type: ignore[misc]
        itemsize = self._like().element_size()
        return rows * cols * (2 * itemsize + 8)

    def _dense_tables(self) -> dict[str, Any]:
        """Exact integer tables of every block, read off the block's own plan run in float64 on
        the CPU (:func:`catlayer.nn.dense.pattern_tables`): the distinct columns of its diagram
        images (patterns (D, C)), where each entry takes its column (a gather index), the mean
        scale of each diagram, and the bias images."""
        check_size(self._dense_bytes(), f"the dense matrix of {type(self).__name__}({self.group!r}, ...)")
        sizes = self.fixed_sizes
        out: dict[str, Any] = {}
        for b, (k, l) in enumerate(self._block_keys):
            plan = self._plans[(k, l)]
            rows = math.prod(sizes[f] for f in order_axes(l))  # type: ignore[misc]
            cols = math.prod(sizes[f] for f in order_axes(k))  # type: ignore[misc]
            images = _images(self, plan, k, l)
            chunk = max(1, 2**22 // (ternary_weights(len(plan)).shape[0] * rows))
            patterns, index = pattern_tables(images, len(plan), rows, cols, chunk)
            out[f"_patterns_{b}"] = (patterns, "float")
            out[f"_gather_{b}"] = (dense_gather(index, self.in_type[k], patterns.shape[1]), "long")
            scale = []
            for t in range(len(plan)):
                reduction = plan.reductions[plan.reduction_of[t]]
                s = 1.0
                if self.reduce == "mean":
                    for f, size in enumerate(sizes):
                        s *= float(size) ** -reduction.summed(f)  # type: ignore[operator]
                scale.append(s)
            out[f"_scale_{b}"] = (np.asarray(scale), "float")
        for l, plan in self._bias_blocks:
            rows = math.prod(sizes[f] for f in order_axes(l))  # type: ignore[misc]
            out[f"_bias_basis_{self._outputs.index(l)}"] = (_bias_images(self, plan, l, rows), "float")
        return out

    def dense_matrix(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole layer as one matrix and bias vector on the flattened, concatenated orders
        (orders increasing, channel axis most significant within an order): the dense path's
        matrix, gathered from the current weights. Fixed sizes only."""
        self._require_fixed("dense_matrix()")
        if self._dense is None:
            self._dense = self._dense_tables()
            self._register_tables()
        return self._gather_dense()

    def _gather_dense(self) -> tuple[torch.Tensor, torch.Tensor]:
        like = self._like()
        rows_of = {l: self.out_type[l] * self._entries_of[l] for l in self._outputs}
        cols_of = {k: self.in_type[k] * self._entries_of[k] for k in self._inputs}
        pieces: dict[tuple[Any, Any], torch.Tensor] = {}
        for b, (k, l) in enumerate(self._block_keys):
            w = self.weight_of(k, l) * getattr(self, f"_scale_{b}")
            u = torch.matmul(w, getattr(self, f"_patterns_{b}")).reshape(self.out_type[l], -1)
            gather = getattr(self, f"_gather_{b}")
            pieces[(k, l)] = u.index_select(1, gather).reshape(rows_of[l], cols_of[k])
        rows = []
        biases = []
        for o, l in enumerate(self._outputs):
            blocks = [
                pieces[(k, l)] if (k, l) in pieces else like.new_zeros(rows_of[l], cols_of[k]) for k in self._inputs
            ]
            rows.append(blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1))
            bias = self.bias_of(l)
            if bias is not None:
                biases.append(torch.matmul(bias, getattr(self, f"_bias_basis_{o}")).reshape(-1))
            else:
                biases.append(like.new_zeros(rows_of[l]))
        matrix = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
        return matrix, biases[0] if len(biases) == 1 else torch.cat(biases)

    def _cached_dense(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The gathered matrix, kept while the weights are unchanged and nothing records a
        gradient (inference); rebuilt on every call otherwise (training, tracing)."""
        if not _eager() or torch._C._are_functorch_transforms_active():
            return self._gather_dense()
        # The layer's parameters are its own (no submodules): read them off the dict directly,
        # since this runs on every inference call and parameters() walks the module tree.
        params = [p for p in self._parameters.values() if p is not None]
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            return self._gather_dense()
        key = tuple((p.data_ptr(), p._version, p.device, p.dtype) for p in params)
        if self._dense_cache is None or self._dense_cache[0] != key:
            with torch.no_grad():
                self._dense_cache = (key, self._gather_dense())
        return self._dense_cache[1]

    def _dense_outputs(self, call: Call) -> list[torch.Tensor]:
        features = call.features
        batch = features[self._inputs[0]].shape[0]
        parts = [features[k].flatten(1) for k in self._inputs]
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        if _eager() and batch > self._dense_checked_batch:
            # Checked once per larger batch: the bytes only grow with it (the matrix is fixed).
            per_sample = 2 * x.shape[1] + 2 * sum(self.out_type[l] * self._entries_of[l] for l in self._outputs)
            check_size(
                batch * per_sample * x.element_size() + self._dense_bytes(),
                lambda: f"the dense forward of {type(self).__name__}({self.group!r}, ...) on a batch of {batch}",
            )
            self._dense_checked_batch = batch
        matrix, bias = self._cached_dense()
        y = torch.nn.functional.linear(x, matrix, bias)
        out, start = [], 0
        for l in self._outputs:
            size = self.out_type[l] * self._entries_of[l]
            out.append(y.narrow(1, start, size).reshape((batch, self.out_type[l]) + self._axes_of[l]))
            start += size
        return out

    # -- the cost model --------------------------------------------------------------------------
    def _example(self, batch: int) -> dict[Any, torch.Tensor]:
        sizes = [s if s is not None else 16 for s in self.fixed_sizes]
        like = self._like()
        return {
            k: torch.empty((batch, c, *tuple(sizes[f] for f in order_axes(k))), dtype=like.dtype)
            for k, c in self.in_type.items()
        }

    def plan_cost(self, batch: int = REFERENCE_BATCH) -> Cost:
        """What the plan's forward does on a batch, counted on meta tensors
        (:func:`catlayer.nn.dense.measure`).

        >>> from catlayer import S
        >>> layer = EquivariantLinear(S(8), 2, 2, 4, 4, execution="plan")
        >>> cost = layer.plan_cost()
        >>> cost.flops > 0 and cost.ops > 10
        True
        """
        example = self._example(batch)
        names = [name for name, _ in self.named_parameters()] + [name for name, _ in self.named_buffers()]
        tensors = [t for _, t in self.named_parameters()] + [t for _, t in self.named_buffers()]

        def forward(*args: torch.Tensor) -> list[torch.Tensor]:
            features = dict(zip(self._inputs, args[: len(self._inputs)], strict=True))
            state = dict(zip(names, args[len(self._inputs) :], strict=True))
            with _swapped(self, state), _plan_only(self):
                call = self.check_inputs(features)
                return self._outputs_of(call)

        return measure(forward, *[example[k] for k in self._inputs], *tensors)

    def dense_cost(self, batch: int = REFERENCE_BATCH) -> Cost:
        """What the dense forward does on a batch when its matrix is gathered (training; in
        inference the gathered matrix is kept while the weights are unchanged), counted with as
        many distinct entry patterns as diagrams (the patterns are only known once the dense
        tables are built). Fixed sizes only.

        >>> from catlayer import S
        >>> EquivariantLinear(S(8), 3, 3, 1, 1, execution="plan").dense_cost().ops  # scale, matmul, gather, bias, GEMM
        5
        """
        self._require_fixed("dense_cost()")
        sizes = self.fixed_sizes
        meta = {"device": "meta", "dtype": self._like().dtype}

        def entries(order: Any) -> int:
            return math.prod(sizes[f] for f in order_axes(order))  # type: ignore[misc]

        tables = []
        for k, l in self._block_keys:
            d = len(self.blocks[(k, l)])
            gather = torch.empty(entries(l) * self.in_type[k] * entries(k), device="meta", dtype=torch.long)
            tables.append((torch.empty(d, **meta), torch.empty(d, d, **meta), gather))
        x = torch.empty((batch, sum(c * entries(k) for k, c in self.in_type.items())), **meta)
        weights = [w.to("meta") for w in self._weights()]
        biases = [b.to("meta") for b in self._biases()]
        bias_bases = [torch.empty(len(self.bias_diagrams[l]), entries(l), **meta) for l in self.bias_diagrams]

        def forward(x: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
            pieces = {}
            for b, (k, l) in enumerate(self._block_keys):
                scale, patterns, gather = tables[b]
                u = torch.matmul(tensors[b] * scale, patterns).reshape(self.out_type[l], -1)
                pieces[(k, l)] = u.index_select(1, gather).reshape(self.out_type[l] * entries(l), -1)
            rows = []
            for l in self._outputs:
                blocks = [
                    pieces[(k, l)]
                    if (k, l) in pieces
                    else x.new_zeros(self.out_type[l] * entries(l), self.in_type[k] * entries(k))
                    for k in self._inputs
                ]
                rows.append(blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1))
            matrix = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
            extra = tensors[len(self._block_keys) :]
            bias = None
            if biases:
                parts = [
                    torch.matmul(bb, basis).reshape(-1)
                    for bb, basis in zip(extra[: len(biases)], extra[len(biases) :], strict=True)
                ]
                bias = parts[0] if len(parts) == 1 and len(self._outputs) == 1 else None
            return torch.nn.functional.linear(x, matrix, bias)

        return measure(forward, x, *weights, *biases, *bias_bases)

    def _choose_execution(self, device: torch.device) -> str:
        """The cost model's choice (:mod:`catlayer.nn.dense`): dense when its estimate at the
        reference batch is below the plan's and the dense matrix is small (at most 2^20 entries
        per channel pair and its tables within 1/8 of the memory budget); the plan otherwise, on
        ``meta``, and for sizes known only at run time."""
        if device.type == "meta" or any(size is None for size in self.fixed_sizes):
            return "plan"
        sizes = self.fixed_sizes
        for k, l in self._block_keys:
            if math.prod(sizes[f] for f in order_axes(k) + order_axes(l)) > 2**20:  # type: ignore[misc]
                return "plan"
        if self._dense_bytes() > memory_budget() // 8:
            return "plan"
        dense, plan = self.dense_cost().seconds(device.type), self.plan_cost().seconds(device.type)
        return "dense" if dense < plan else "plan"


class _swapped:
    """Temporarily replace a module's parameters and buffers by other tensors (for counting)."""

    def __init__(self, module: nn.Module, state: dict[str, torch.Tensor]) -> None:
        self.module, self.state = module, state
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        for name, tensor in self.state.items():
            if name in self.module._parameters:
                self.saved[name] = ("p", self.module._parameters[name])
                self.module._parameters[name] = tensor  # type: ignore[assignment]
            elif name in self.module._buffers:
                self.saved[name] = ("b", self.module._buffers[name])
                self.module._buffers[name] = tensor

    def __exit__(self, *exc: object) -> None:
        for name, (kind, tensor) in self.saved.items():
            if kind == "p":
                self.module._parameters[name] = tensor
            else:
                self.module._buffers[name] = tensor


class _plan_only:
    """Temporarily run a layer's plan whatever its execution (for counting the plan's cost)."""

    def __init__(self, module: TypedLinear) -> None:
        self.module, self.dense = module, None

    def __enter__(self) -> None:
        self.dense, self.module._dense = self.module._dense, None

    def __exit__(self, *exc: object) -> None:
        self.module._dense = self.dense


def _images(layer: TypedLinear, plan: LayerPlan, k: Any, l: Any) -> Any:
    """images(start, stop) for :func:`~catlayer.nn.dense.pattern_tables`: the block's diagram
    images F(d) (signed, no mean scale) with ternary weights applied to one-hot inputs."""
    sizes = layer.fixed_sizes
    axes_in, axes_out = order_axes(k), order_axes(l)
    program = compile_program(
        [Block(0, 0, plan)], [axes_in], [axes_out], [(1, 1)], list(sizes), [False] * len(sizes), False
    )
    adjoint = compile_adjoint(
        [Block(0, 0, plan)], [axes_in], [axes_out], [(1, 1)], list(sizes), [False] * len(sizes), False
    )
    spec = PlanSpec(program, adjoint, ((1, 1),), (len(plan),))
    cols = math.prod(sizes[f] for f in axes_in)  # type: ignore[misc]
    forms = _exact_forms(layer, sizes, program)
    weights = torch.tensor(ternary_weights(len(plan)), dtype=torch.float64).unsqueeze(1)
    shape_in = tuple(sizes[f] for f in axes_in)

    tables = _standalone_tables(program, forms)

    def images(start: int, stop: int) -> np.ndarray:
        x = torch.zeros(stop - start, cols, dtype=torch.float64)
        x[:, start:stop] = torch.eye(stop - start, dtype=torch.float64)
        with torch.no_grad():
            (out,) = plan_forward(spec, [x.reshape((stop - start, 1, *shape_in))], [weights], tables)
        return out.reshape(stop - start, weights.shape[0], -1).numpy()

    return images


def _standalone_tables(program: Program, forms: Forms) -> Tables:
    """The tables of a standalone program (forward only) in float64: its gathers as tensors."""
    gather = program.gather
    forward = tuple(
        None
        if gather.trivial(o, False)
        else (
            torch.tensor(gather.columns[o], dtype=torch.long),
            torch.tensor(gather.coefficients[o], dtype=torch.float64),
        )
        for o in range(len(gather.sources))
    )
    return Tables(forms, forward, (), (), {})


def _exact_forms(layer: TypedLinear, sizes: Sequence[Any], program: Program) -> Forms:
    form = {f: torch.tensor(np.asarray(layer.factors[f].pair_form), dtype=torch.float64) for f in program.uses_forms}
    eye = {f: torch.eye(sizes[f], dtype=torch.float64) for f in program.uses_diagonals}
    lc = {key: torch.tensor(layer._levi_civita_table(key), dtype=torch.float64) for key in program.levi_civita_keys}
    return Forms(tuple(sizes), form, eye, lc)


def _bias_images(layer: TypedLinear, plan: LayerPlan, l: Any, rows: int) -> np.ndarray:
    """The images of the 0 → l diagrams of ``plan`` as a (D, rows) float64 array (signed)."""
    sizes = layer.fixed_sizes
    axes = order_axes(l)
    program = compile_program(
        [Block(0, 0, plan)], [()], [axes], [(len(plan), 1)], list(sizes), [False] * len(sizes), False
    )
    adjoint = compile_adjoint(
        [Block(0, 0, plan)], [()], [axes], [(len(plan), 1)], list(sizes), [False] * len(sizes), False
    )
    spec = PlanSpec(program, adjoint, ((len(plan), 1),), (len(plan),))
    forms = _exact_forms(layer, sizes, program)
    weights = torch.eye(len(plan), dtype=torch.float64).unsqueeze(1)
    tables = _standalone_tables(program, forms)
    with torch.no_grad():
        (out,) = plan_forward(spec, [torch.ones(1, 1, dtype=torch.float64)], [weights], tables)
    return out.reshape(len(plan), rows).numpy()


class EquivariantLinear(TypedLinear):
    """A linear layer from order ``in_order`` to order ``out_order`` equivariant under ``group``:
    per channel pair a combination of the images of ``group.basis(in_order, out_order)``
    (see :class:`TypedLinear`, of which it is the single-block form on plain tensors).

    Args:
        group: ``S(5)``, ``S()`` (any n), ``O(3)``, ``SO(3)``, ``Sp(4)``, ``O(1, 3)``, a product
            such as ``S() * O(3)`` (orders are then tuples), …
        in_order, out_order: the tensor orders k and l.
        in_channels, out_channels: channels.
        bias: an equivariant bias (a combination of ``group.basis(0, l)``) when it exists.
        reduce: ``"mean"`` (default; sums over indices are means) or ``"sum"`` (F(d) exactly).
        execution: ``"auto"``, ``"plan"`` or ``"dense"`` (see :class:`TypedLinear`).
        device, dtype: of the parameters.

    ``weight[o, c, t]`` is the coefficient of diagram ``self.diagrams[t]`` from input channel c to
    output channel o (applied as F(d) / n^c with ``reduce="mean"``); ``bias[o, t]`` the
    coefficient of ``self.bias_diagrams[t]``.

    Shape:
        - Input: ``(*batch, in_channels) + axes(k)`` (zero or more batch axes), and optionally a
          bool ``mask`` ``(*batch, N)`` for a factor acting by permutations (``S()``, ``S(n)``).
        - Output: ``(*batch, out_channels) + axes(l)``; with a mask, 0 wherever a multi-index
          touches a padded index.

    >>> import torch
    >>> from catlayer import S
    >>> layer = EquivariantLinear(S(5), in_order=2, out_order=2, in_channels=3, out_channels=4)
    >>> layer(torch.randn(8, 3, 5, 5)).shape
    torch.Size([8, 4, 5, 5])
    >>> tuple(layer.weight.shape), tuple(layer.bias.shape)
    ((4, 3, 15), (4, 2))
    >>> layer  # doctest: +NORMALIZE_WHITESPACE
    EquivariantLinear(group=S(5), in_order=2, out_order=2, in_channels=3, out_channels=4, diagrams=15,
                      bias_diagrams=2, execution=dense)
    >>> sets = EquivariantLinear(S(), 2, 2, 3, 4)          # every n: Bell(4) = 15 diagrams
    >>> x, mask = torch.randn(2, 3, 6, 6), torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    >>> sets(x, mask).shape
    torch.Size([2, 4, 6, 6])
    """

    def __init__(
        self,
        group: Any,
        in_order: Any,
        out_order: Any,
        in_channels: int,
        out_channels: int,
        bias: bool = True,
        *,
        reduce: str = "mean",
        execution: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        nn.Module.__init__(self)
        for value, name, minimum in ((in_channels, "in_channels", 1), (out_channels, "out_channels", 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"{name} must be an int >= {minimum}, got {short_repr(value)}")
        self._open(group, {in_order: in_channels}, {out_order: out_channels}, reduce=reduce, execution=execution)
        (self.in_order,) = self.in_type
        (self.out_order,) = self.out_type
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self._build(bias, device, dtype)
        if "bias" not in self._parameters:
            self.register_parameter("bias", None)

    def _weight_name(self, k: Any, l: Any) -> str:
        return "weight"

    def _fresh(self) -> EquivariantLinear:
        return EquivariantLinear(
            self.group,
            self.in_order,
            self.out_order,
            self.in_channels,
            self.out_channels,
            bias=bool(self.bias_diagrams),
            reduce=self.reduce,
            execution=self.execution,
            dtype=torch.float64,
        )

    def _bias_name(self, l: Any) -> str:
        return "bias"

    def _empty_message(self, l: Any) -> str:
        reason = self.group.basis_empty_reason(self.in_order, self.out_order)
        return (
            f"there is no non-zero {self.group!r}-equivariant map from order {self.in_order} to order "
            f"{self.out_order}" + (f" ({reason})" if reason else "") + ", so this layer would be constant"
        )

    @property
    def diagrams(self) -> tuple[Any, ...]:
        """The diagrams of the weights' last axis."""
        return self.blocks[(self.in_order, self.out_order)]

    @property
    def bias_diagrams_tuple(self) -> tuple[Any, ...]:
        return self.bias_diagrams.get(self.out_order, ())

    def extra_repr(self) -> str:
        text = (
            f"group={self.group!r}, in_order={self.in_order}, out_order={self.out_order}, "
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, diagrams={len(self.diagrams)}"
        )
        text += f", bias_diagrams={len(self.bias_diagrams_tuple)}" if self.bias_diagrams else ", bias=False"
        if self.reduce != "mean":
            text += f", reduce={self.reduce!r}"
        return text + f", execution={self.execution}"

    def forward(self, x: torch.Tensor, mask: Any = None) -> torch.Tensor:  # type: ignore[override]
        """The layer on ``x`` of shape ``(*batch, in_channels) + axes(k)``; ``mask`` optional."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        call = self.check_inputs({self.in_order: x}, mask)
        return call.restore(self.run(call))[self.out_order]

    # -- dense twins ------------------------------------------------------------------------------
    def basis_matrices(self) -> torch.Tensor:
        """The images of :attr:`diagrams` as applied by the layer (F(d), divided by n^c with
        ``reduce="mean"``) as a (D, n^l, n^k) tensor (rows: output multi-index in C order).
        Size-guarded: raises :class:`~catlayer.memory.AllocationTooLarge` when large."""
        self._require_fixed("basis_matrices()")
        like = self._like()
        rows = math.prod(self.fixed_sizes[f] for f in order_axes(self.out_order))  # type: ignore[misc]
        cols = math.prod(self.fixed_sizes[f] for f in order_axes(self.in_order))  # type: ignore[misc]
        d = len(self.diagrams)
        check_size(3 * d * rows * cols * like.element_size(), f"the {d} dense {rows}×{cols} basis matrices of {self!r}")
        if self._dense is None:
            self._dense = self._dense_tables()
            self._register_tables()
        patterns = self._patterns_0 * self._scale_0[:, None]
        index = torch.as_tensor(self._gather_0).reshape(rows, self.in_channels, cols)[:, 0] % patterns.shape[1]
        return patterns[:, index]

    def bias_tensor(self) -> torch.Tensor:
        """The bias as a (c_out,) + axes(l) tensor (zeros when the layer has no bias). Fixed sizes."""
        self._require_fixed("bias_tensor()")
        shape = (self.out_channels, *tuple(self.fixed_sizes[f] for f in order_axes(self.out_order)))
        if self.bias is None:
            return self.weight.new_zeros(shape)  # type: ignore[arg-type]
        if self._dense is None:
            self._dense = self._dense_tables()
            self._register_tables()
        return torch.matmul(self.bias, self._bias_basis_0).reshape(shape)  # type: ignore[arg-type]

    def to_dense(self) -> nn.Linear:
        """A plain ``torch.nn.Linear`` equal to this layer on flattened tensors.

        It maps ``x.reshape(batch, c_in * n**k)`` to ``y.reshape(batch, c_out * n**l)`` (channel
        axis most significant, C order). Raises :class:`~catlayer.memory.AllocationTooLarge`
        when the matrix does not fit.

        >>> import torch
        >>> from catlayer import S
        >>> layer = EquivariantLinear(S(4), 1, 2, in_channels=2, out_channels=3)
        >>> dense = layer.to_dense()
        >>> dense
        Linear(in_features=8, out_features=48, bias=True)
        >>> x = torch.randn(5, 2, 4)
        >>> torch.allclose(dense(x.reshape(5, -1)).reshape(5, 3, 4, 4), layer(x), atol=1e-5)
        True
        """
        self._require_fixed("to_dense()")
        like = self._like()
        check_size(self._dense_bytes(), f"the dense matrix of {self!r}")
        with torch.no_grad():
            matrix, bias = self.dense_matrix()
        linear = nn.Linear(
            matrix.shape[1], matrix.shape[0], bias=self.bias is not None, device=like.device, dtype=like.dtype
        )
        with torch.no_grad():
            linear.weight.copy_(matrix)
            if self.bias is not None:
                linear.bias.copy_(bias)
        return linear

    @classmethod
    def from_dense(
        cls,
        group: Any,
        weight: Any,
        in_order: int,
        out_order: int,
        bias: Any = None,
        *,
        reduce: str = "mean",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> EquivariantLinear:
        """The nearest equivariant layer to a dense linear map: each channel pair's n^l × n^k block
        projected orthogonally onto Hom_G (:func:`catlayer.projection.dense_layer_coordinates`).
        ``weight``: an ``nn.Linear`` or its weight, shape (c_out·n^l, c_in·n^k) or
        (c_out, c_in, n^l, n^k). ``bias``: shape (c_out·n^l,) or (c_out, n^l). The layer takes the
        weight's device and floating dtype unless ``device`` / ``dtype`` are given.

        >>> import torch
        >>> from catlayer import S
        >>> layer = EquivariantLinear(S(4), 2, 1, in_channels=2, out_channels=3)
        >>> again = EquivariantLinear.from_dense(S(4), layer.to_dense(), 2, 1)
        >>> torch.allclose(again.weight, layer.weight, atol=1e-6), torch.allclose(again.bias, layer.bias, atol=1e-6)
        (True, True)
        """
        from ..projection import dense_layer_coordinates

        if isinstance(weight, nn.Linear):
            weight, bias = weight.weight, weight.bias if bias is None else bias
        if getattr(group, "n", 0) is None:
            raise ValueError(f"from_dense needs a fixed size: {group!r} takes any n (give e.g. S(12))")
        coords, bias_coords = dense_layer_coordinates(group, weight, in_order, out_order, bias)
        if isinstance(weight, torch.Tensor):
            device = weight.device if device is None else device
            dtype = (weight.dtype if weight.is_floating_point() else None) if dtype is None else dtype
        c_out, c_in = coords.shape[0], coords.shape[1]
        layer = cls(
            group, in_order, out_order, c_in, c_out, bias=bias is not None, reduce=reduce, device=device, dtype=dtype
        )
        # The layer applies weight_t · scale_t · F(d_t): divide the coordinates by the scales.
        plan = layer._plans[(layer.in_order, layer.out_order)]
        scale = []
        for t in range(len(plan)):
            reduction = plan.reductions[plan.reduction_of[t]]
            s = 1.0
            if reduce == "mean":
                for f, g in enumerate(layer.factors):
                    s *= float(g.n) ** -reduction.summed(f)
            scale.append(s)
        with torch.no_grad():
            layer.weight.copy_(coords / torch.tensor(scale, dtype=coords.dtype, device=coords.device))
            if layer.bias is not None:
                layer.bias.copy_(bias_coords)
        return layer

    def export(self, example_input: torch.Tensor | None = None, *, dynamic_batch: bool = True) -> nn.Module:
        """A plain ``torch.fx.GraphModule`` computing the same function, matrix-free, that needs
        no catlayer import to run or to unpickle: the ``torch.export`` graph of this layer (aten
        ops only, dynamic batch axis, the input-shape checks kept) on a bare ``torch.nn.Module``
        root holding frozen copies of the parameters (:func:`catlayer.nn.export.plain_module`).
        For a ``torch.export.save``-able artifact use :func:`catlayer.nn.export_program`.

        >>> import pickle, torch
        >>> from catlayer import S
        >>> layer = EquivariantLinear(S(4), 2, 1, in_channels=2, out_channels=3)
        >>> exported = layer.export()
        >>> x = torch.randn(7, 2, 4, 4)
        >>> torch.allclose(exported(x), layer(x))
        True
        >>> type(pickle.loads(pickle.dumps(exported))).__module__.split(".")[0]
        'torch'
        """
        from .export import export_program, plain_module

        return plain_module(export_program(self, example_input, dynamic_batch=dynamic_batch))
