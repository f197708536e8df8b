"""``EquivariantLinear``: a trainable layer W = Σ_d λ_d F(d) over a basis of diagrams.

The forward pass executes the layer plan of :mod:`catlayer.plan` with torch ops only (see
:mod:`catlayer.nn.executor`) or, for small layers, the dense matrix gathered from the weights
(:mod:`catlayer.nn.dense`, chosen by a cost model); training through the plan runs the adjoint
plan backwards (:mod:`catlayer.nn.function`). It runs on any device and under
``torch.compile``, ``torch.export``, ONNX export and ``torch.func`` transforms.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from ..diagrams.validation import short_repr
from ..groups import Group
from ..memory import check_size, memory_budget
from ..plan import plan_layer
from .dense import REFERENCE_BATCH, Cost, dense_forward, dense_gather, measure, pattern_tables, ternary_weights
from .executor import (
    Program,
    _inverse,
    compile_adjoint,
    compile_program,
    run_expansions,
    run_mixing,
    run_reductions,
    second_moments,
)
from .function import PlanFunction, PlanSpec, Tables, plan_forward
from .programs import levi_civita_table

__all__ = ["EquivariantLinear"]


def _needs_gradient(x: torch.Tensor, weight: torch.Tensor, bias_terms) -> bool:
    """Whether to run :class:`~catlayer.nn.function.PlanFunction` (backward by the adjoint plan):
    when autograd will need a gradient, unless the module is being traced for export
    (``torch.export``, ONNX, TorchScript), which must see the plain graph of aten ops."""
    if not torch.is_grad_enabled():
        return False
    if torch.jit.is_tracing() or torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export():
        return False
    return x.requires_grad or weight.requires_grad or any(t.requires_grad for t in bias_terms)


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class EquivariantLinear(nn.Module):
    """A linear layer (R^n)^{⊗k} → (R^n)^{⊗l} equivariant under ``group``, per channel pair a
    combination of the images of ``group.basis(in_order, out_order)``.

    Input ``(*batch, in_channels) + (n,) * in_order`` (zero or more batch axes), output
    ``(*batch, out_channels) + (n,) * out_order``. ``weight[o, c, t]`` is the coefficient of
    diagram ``self.diagrams[t]`` from input channel c to output channel o. ``bias[o, t]`` (present
    when ``bias=True`` and ``group.basis(0, out_order)`` is not empty) is the coefficient of
    ``self.bias_diagrams[t]``: the bias is itself an equivariant tensor.

    ``execution`` is ``"plan"`` (shared reductions, one matmul per group of diagrams, shared
    expansions; training runs the adjoint plan), ``"dense"`` (the n^l × n^k blocks gathered from
    the weights on every call, then one GEMM) or ``"auto"``: dense when the cost model of
    :mod:`catlayer.nn.dense` says it is faster at batch :data:`~catlayer.nn.dense.REFERENCE_BATCH`
    on the construction device (always the plan on ``meta``). The choice is in :attr:`execution`;
    both compute the same function from the same plan.

    >>> import torch
    >>> from catlayer import S
    >>> from catlayer.nn import EquivariantLinear
    >>> layer = EquivariantLinear(S(5), in_order=2, out_order=2, in_channels=3, out_channels=4)
    >>> layer(torch.randn(8, 3, 5, 5)).shape
    torch.Size([8, 4, 5, 5])
    >>> tuple(layer.weight.shape), tuple(layer.bias.shape)
    ((4, 3, 15), (4, 2))
    >>> layer  # doctest: +NORMALIZE_WHITESPACE
    EquivariantLinear(group=S(5), in_order=2, out_order=2, in_channels=3, out_channels=4, diagrams=15,
                      bias_diagrams=2, execution=dense)
    >>> sorted(layer.state_dict())
    ['bias', 'weight']
    """

    def __init__(
        self,
        group,
        in_order: int,
        out_order: int,
        in_channels: int,
        out_channels: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        execution: str = "auto",
    ) -> None:
        super().__init__()
        if execution not in ("auto", "plan", "dense"):
            raise ValueError(f"execution must be 'auto', 'plan' or 'dense', got {execution!r}")
        self.in_order = _check_count(in_order, "in_order", 0)
        self.out_order = _check_count(out_order, "out_order", 0)
        self.in_channels = _check_count(in_channels, "in_channels", 1)
        self.out_channels = _check_count(out_channels, "out_channels", 1)
        if isinstance(group, type) and issubclass(group, Group):
            raise TypeError(
                f"group must be a catlayer group value: call the class with its size, e.g. {group.__name__}(5)"
            )
        if not isinstance(group, Group):
            raise TypeError(f"group must be a catlayer group such as S(5) or O(3), got {short_repr(group)}")
        self.group = group
        self.n = int(group.n)
        diagrams = tuple(group.basis(self.in_order, self.out_order))
        if not diagrams:
            raise ValueError(
                f"there is no non-zero {group!r}-equivariant map from order {self.in_order} to order "
                f"{self.out_order}{self._empty_reason(self.in_order, self.out_order)}, so this layer would be constant"
            )
        self.diagrams = diagrams
        self.bias_diagrams = tuple(group.basis(0, self.out_order)) if bias else ()
        self._plan = plan_layer(group, diagrams)
        self._program = compile_program(self._plan, self.n)
        self._adjoint = compile_adjoint(self._plan, self.n)
        self._bias_program: Program | None = None
        # Entries one input sample needs in flight: input, reduced and stacked tensors, the
        # mixed tensors and the output (an upper bound, checked before every eager forward).
        n, c_in, c_out = self.n, self.in_channels, self.out_channels
        program = self._program
        self._entries_per_sample = (
            c_in * n**self.in_order
            + c_in * sum(n**step.num_slots for step in program.reductions)
            + sum(
                c_in * (stop - start) * n**step.num_slots
                for (start, stop), step in zip(program.group_slices, program.expansions, strict=True)
            )
            + c_out * sum(n**step.num_slots for step in program.expansions)
            + 2 * c_out * n**self.out_order
        )
        bias_adjoint = None
        if self.bias_diagrams:
            bias_plan = plan_layer(group, self.bias_diagrams)
            self._bias_program = compile_program(bias_plan, self.n)
            bias_adjoint = compile_adjoint(bias_plan, self.n)
        # Every program whose constant tables the layer holds (see _table_tensors).
        self._programs = (self._program, self._adjoint) + (
            (self._bias_program,) if self._bias_program is not None else ()
        )
        self._lc_slots = tuple(sorted({q for p in self._programs for q in p.levi_civita_shapes}))
        self._lc_names = tuple(f"_levi_civita_{q}" for q in self._lc_slots)
        bias_steps = self._bias_program.expansions if self._bias_program is not None else ()
        self._spec = PlanSpec(
            program=self._program,
            adjoint=self._adjoint,
            bias_steps=bias_steps,
            # A bias expansion that is also one of the layer's: its gradient is the adjoint's
            # reduction of the output gradient, summed over the batch.
            bias_sources=tuple(program.expansions.index(e) if e in program.expansions else -1 for e in bias_steps),
            bias_adjoint=bias_adjoint,
            lc_slots=self._lc_slots,
        )
        self._spec_without_bias = dataclasses.replace(self._spec, bias_steps=(), bias_sources=(), bias_adjoint=None)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(self.out_channels, self.in_channels, len(diagrams), **factory))
        if self.bias_diagrams:
            self.bias = nn.Parameter(torch.empty(self.out_channels, len(self.bias_diagrams), **factory))
        else:
            self.register_parameter("bias", None)
        self._dense_tables: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self._register_tables(device, self.weight.dtype)
        if execution == "auto":
            execution = self._choose_execution(torch.device(device) if device is not None else self.weight.device)
        self.execution = execution
        if execution == "dense":
            self._dense_tables = self._compute_dense_tables()
            self._register_tables(device, self.weight.dtype)
        self.reset_parameters()

    @classmethod
    def from_dense(
        cls,
        group,
        weight,
        in_order: int,
        out_order: int,
        bias=None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> EquivariantLinear:
        """The nearest equivariant layer to a dense linear map: each channel pair's n^l × n^k block
        (and each output channel's bias) is replaced by its orthogonal (Frobenius) projection onto
        the equivariant ones (:func:`catlayer.projection.dense_layer_coordinates`, matrix-free).

        ``weight`` (torch, numpy or a ``torch.nn.Linear``, whose bias is then used unless ``bias``
        is given) has shape (c_out·n^l, c_in·n^k), the layout of :meth:`to_dense` and of an
        ``nn.Linear`` on flattened tensors (channel axis most significant, C order), or
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
        coords, bias_coords = dense_layer_coordinates(group, weight, in_order, out_order, bias)
        if isinstance(weight, torch.Tensor):
            device = weight.device if device is None else device
            dtype = (weight.dtype if weight.is_floating_point() else None) if dtype is None else dtype
        c_out, c_in = coords.shape[0], coords.shape[1]
        layer = cls(group, in_order, out_order, c_in, c_out, bias=bias is not None, device=device, dtype=dtype)
        with torch.no_grad():
            layer.weight.copy_(coords)
            if layer.bias is not None:
                layer.bias.copy_(bias_coords)
        return layer

    # -- construction helpers ------------------------------------------------------------
    def _empty_reason(self, k: int, l: int) -> str:
        category = getattr(self.group, "category", None)
        reason = category.empty_reason(k, l) if hasattr(category, "empty_reason") else None
        return f" ({reason})" if reason else ""

    def _register_tables(self, device, dtype: torch.dtype) -> None:
        tables = self._table_tensors(dtype)
        if self._dense_tables is not None:
            # Exact integer tables computed once (numpy, CPU); only their tensors follow the layer.
            patterns, index, bias_basis = self._dense_tables
            tables["_patterns"] = torch.tensor(patterns, dtype=dtype)
            tables["_gather"] = torch.tensor(dense_gather(index, self.in_channels, patterns.shape[1]))
            tables["_bias_basis"] = None if bias_basis is None else torch.tensor(bias_basis, dtype=dtype)
        for name, table in tables.items():
            if table is None:
                setattr(self, name, None)
            else:
                self.register_buffer(name, table.to(device), persistent=False)

    def _table_tensors(self, dtype: torch.dtype) -> dict[str, torch.Tensor | None]:
        """The constant tables of the forward and adjoint programs, on the CPU, by buffer name
        (None where unused): the pair form, I_n, the Levi-Civita tables and the weight gathers."""
        tables: dict[str, torch.Tensor | None] = {"_eps": None, "_eye": None}
        if any(p.uses_epsilon for p in self._programs):
            tables["_eps"] = torch.tensor(self.group.pair_form, dtype=dtype)
        if any(p.uses_diagonals for p in self._programs):
            tables["_eye"] = torch.eye(self.n, dtype=dtype)
        for q, name in zip(self._lc_slots, self._lc_names, strict=True):
            tables[name] = torch.tensor(levi_civita_table(self.group, q), dtype=dtype)
        for prefix, program in (("", self._program), ("_adjoint", self._adjoint)):
            trivial = program.trivial_order
            tables[f"{prefix}_order"] = None if trivial else torch.tensor(program.order, dtype=torch.long)
            tables[f"{prefix}_signs"] = None if trivial else torch.tensor(program.signs, dtype=dtype)
        tables["_adjoint_inverse"] = None
        if not self._adjoint.trivial_order:
            tables["_adjoint_inverse"] = torch.tensor(_inverse(tuple(self._adjoint.order)), dtype=torch.long)
        return tables

    def _levi_civita_tables(self) -> dict[int, torch.Tensor]:
        return {q: getattr(self, name) for q, name in zip(self._lc_slots, self._lc_names, strict=True)}

    def _tables(self) -> Tables:
        lc = tuple(getattr(self, name) for name in self._lc_names)
        return Tables(
            self._eps,
            self._eye,
            self._order,
            self._signs,
            self._adjoint_order,
            self._adjoint_signs,
            self._adjoint_inverse,
            lc,
        )

    # -- execution: plan or dense --------------------------------------------------------
    def plan_cost(self, batch: int = REFERENCE_BATCH) -> Cost:
        """What the plan's forward does on a batch, counted on meta tensors
        (:func:`catlayer.nn.dense.measure`).

        >>> from catlayer import S
        >>> layer = EquivariantLinear(S(8), 2, 2, 4, 4, execution="plan")
        >>> cost = layer.plan_cost()
        >>> cost.flops > 0 and cost.ops > 10
        True
        """
        tables = self._tables()
        x = torch.empty((batch, self.in_channels) + (self.n,) * self.in_order, dtype=self.weight.dtype)
        head = len(tables) - 1

        def forward(x, weight, bias, *tensors):
            tables = Tables(*tensors[:head], tuple(tensors[head:]))
            lc = dict(zip(self._lc_slots, tables.levi_civita, strict=True))
            terms = self._bias_mixed(bias, lc) if bias is not None else []
            spec = self._spec if terms else self._spec_without_bias
            return plan_forward(spec, x, weight, tables, terms)

        return measure(forward, x, self.weight, self.bias, *tables[:-1], *tables.levi_civita)

    def dense_cost(self, batch: int = REFERENCE_BATCH) -> Cost:
        """What the dense forward does on a batch (counted with as many distinct entry patterns
        as diagrams: the patterns are only known once the dense tables are built).

        >>> from catlayer import S
        >>> EquivariantLinear(S(8), 3, 3, 1, 1, execution="plan").dense_cost().ops  # matmul, gather, GEMM
        3
        """
        n, k, l, d = self.n, self.in_order, self.out_order, len(self.diagrams)
        meta = {"device": "meta", "dtype": self.weight.dtype}
        x = torch.empty((batch, self.in_channels) + (n,) * k, **meta)
        patterns = torch.empty(d, d, **meta)
        gather = torch.empty(n**l * self.in_channels * n**k, device="meta", dtype=torch.long)
        bias = torch.empty(self.out_channels * n**l, **meta) if self.bias is not None else None
        return measure(dense_forward, x, self.weight, patterns, gather, bias, (n,) * l)

    def _dense_bytes(self) -> int:
        """Bytes of the dense matrix, of its gathered copy and of the int64 gather index."""
        entries = self.out_channels * self.in_channels * self.n ** (self.in_order + self.out_order)
        return entries * (2 * self.weight.element_size() + 8)

    def _choose_execution(self, device: torch.device) -> str:
        """The cost model's choice (:mod:`catlayer.nn.dense`): dense when its estimate at the
        reference batch is below the plan's and the dense matrix is small (n^(k+l) ≤ 2^20 and
        its tables within 1/8 of the memory budget); the plan otherwise and on ``meta``."""
        n, k, l = self.n, self.in_order, self.out_order
        if device.type == "meta" or n ** (k + l) > 2**20 or self._dense_bytes() > memory_budget() // 8:
            return "plan"
        dense, plan = self.dense_cost().seconds(device.type), self.plan_cost().seconds(device.type)
        return "dense" if dense < plan else "plan"

    def _compute_dense_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(patterns (D, C), index (n^l, n^k), bias basis (D_bias, n^l) or None), exact integers
        read off the layer's own plan run in float64 on the CPU (:func:`catlayer.nn.dense.pattern_tables`)."""
        n, k, l, d = self.n, self.in_order, self.out_order, len(self.diagrams)
        check_size(self._dense_bytes(), f"the dense matrix of {self.extra_repr().split(', diagrams')[0]}")
        weights = torch.tensor(ternary_weights(d), dtype=torch.float64).unsqueeze(1)
        cpu = self._table_tensors(torch.float64)
        names = ("_eps", "_eye", "_order", "_signs", "_adjoint_order", "_adjoint_signs", "_adjoint_inverse")
        tables = Tables(*(cpu[name] for name in names), tuple(cpu[name] for name in self._lc_names))

        def images(start: int, stop: int) -> np.ndarray:
            x = torch.zeros(stop - start, n**k, dtype=torch.float64)
            x[:, start:stop] = torch.eye(stop - start, dtype=torch.float64)
            with torch.no_grad():
                out = plan_forward(self._spec_without_bias, x.reshape((stop - start, 1) + (n,) * k), weights, tables)
            return out.reshape(stop - start, weights.shape[0], n**l).numpy()

        patterns, index = pattern_tables(images, d, n**l, n**k, chunk=max(1, 2**22 // (weights.shape[0] * n**l)))
        bias_basis = None
        if self.bias is not None:
            lc = dict(zip(self._lc_slots, tables.levi_civita, strict=True))
            with torch.no_grad():
                picks = torch.eye(len(self.bias_diagrams), dtype=torch.float64)
                mixed = self._bias_mixed(picks, lc)
                basis = run_expansions(self._bias_program, mixed, tables.eps, eye=tables.eye, levi_civita=lc)
            bias_basis = np.rint(basis.reshape(len(self.bias_diagrams), n**l).numpy()).astype(np.int64)
        return patterns, index, bias_basis

    # -- parameters ----------------------------------------------------------------------
    @property
    def weight_std(self) -> float:
        """The standard deviation :meth:`reset_parameters` draws the weights with.

        With iid zero-mean weights of variance σ² and iid inputs of unit variance, an output
        entry I has second moment σ²·c_in·Σ_d Σ_J F_d[I, J]²; averaged over the n^l output
        entries this is σ²·c_in·Σ_d ‖F_d‖_F² / n^l. ‖F_d‖_F² (the number of ±1 entries) is
        computed in closed form from the plan (:func:`catlayer.nn.executor.second_moments`), and
        σ is chosen to make the mean second moment of the output 1.
        """
        total = sum(second_moments(self._plan, self.n))
        return math.sqrt(self.n**self.out_order / (self.in_channels * total))

    def _apply(self, fn, recurse: bool = True):
        # The index and form tables are constants of the group, not state: rebuild them on the
        # parameters' device and dtype after every move or conversion, so that a layer built on
        # the meta device and materialised with ``to_empty`` computes the right thing.
        super()._apply(fn, recurse)
        self._register_tables(self.weight.device, self.weight.dtype)
        return self

    def reset_parameters(self) -> None:
        """Variance-preserving initialisation: weights ~ N(0, σ²) with σ = :attr:`weight_std`,
        bias 0. For iid unit-variance inputs the output entries have mean second moment 1. The
        constant tables are rebuilt too (they may hold garbage after ``to_empty``)."""
        self._register_tables(self.weight.device, self.weight.dtype)
        with torch.no_grad():
            nn.init.normal_(self.weight, 0.0, self.weight_std)
            if self.bias is not None:
                nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        text = (
            f"group={self.group!r}, in_order={self.in_order}, out_order={self.out_order}, "
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, diagrams={len(self.diagrams)}"
        )
        text += f", bias_diagrams={len(self.bias_diagrams)}" if self.bias is not None else ", bias=False"
        return text + f", execution={self.execution}"

    # -- forward -------------------------------------------------------------------------
    def _shape_text(self, channels: int, order: int) -> str:
        return "(*batch, " + ", ".join([str(channels)] + [str(self.n)] * order) + ")"

    def _check_input(self, x: torch.Tensor) -> None:
        k, n = self.in_order, self.n
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a torch.Tensor, got {type(x).__name__}")
        expected = self._shape_text(self.in_channels, k)
        if x.dim() < 1 + k:
            raise ValueError(
                f"{type(self).__name__} expects input of shape {expected}: {1 + k} or more axes, "
                f"got shape {tuple(x.shape)}"
            )
        if x.shape[x.dim() - 1 - k] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects input of shape {expected}: {self.in_channels} channels on axis "
                f"{x.dim() - 1 - k}, got shape {tuple(x.shape)}"
            )
        for axis in range(x.dim() - k, x.dim()):
            if x.shape[axis] != n:
                raise ValueError(
                    f"{type(self).__name__} expects input of shape {expected}: the last {k} axes must have size "
                    f"n = {n} of {self.group!r}, got shape {tuple(x.shape)}"
                )
        if not (x.dtype.is_floating_point or (x.dtype.is_complex and self.weight.dtype.is_complex)):
            raise TypeError(
                f"{type(self).__name__} has {self.weight.dtype} parameters and needs input of that dtype, "
                f"got {x.dtype}; convert it first "
                f"(e.g. x.to({self.weight.dtype}))"
            )
        if x.dtype != self.weight.dtype:
            raise TypeError(
                f"{type(self).__name__} has {self.weight.dtype} parameters but got a {x.dtype} input; "
                f"convert the input or the layer (layer.to({x.dtype}))"
            )
        if x.device != self.weight.device:
            raise ValueError(
                f"{type(self).__name__} has its parameters on {self.weight.device} but got an input on {x.device}"
            )

    def _bias_mixed(self, bias: torch.Tensor, lc: dict[int, torch.Tensor] | None = None) -> list[torch.Tensor]:
        """The bias program's mixed tensors, (1, c_out, n^slots) per bias expansion.

        A 0 → l diagram is its own top half, so every expansion group of the bias plan has one
        diagram t, its reduction of the empty input is 1 (or, for an n-diagram, the
        Levi-Civita table of its free slots, in slot order) and the mixed tensor is
        sign_t · bias[:, t] times that: a few ops instead of a reduction and a matmul.
        """
        program = self._bias_program
        lc = self._levi_civita_tables() if lc is None else lc
        mixed = []
        for (start, _), terms in zip(program.group_slices, program.terms, strict=True):
            ((reduction, _),) = terms
            z = bias.narrow(1, program.order[start], 1).unsqueeze(0)
            if program.signs[start] < 0:
                z = -z
            step = program.reductions[reduction]
            if step.uses_levi_civita:
                z = z * lc[step.num_free_slots]
            mixed.append(z)
        return mixed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        k = self.in_order
        lead = x.dim() - 1 - k
        if not (torch.compiler.is_compiling() or torch.jit.is_tracing()):
            # Eager only: a traced program keeps its batch axis symbolic.
            batch = math.prod(x.shape[:lead])
            if self.execution == "dense":
                per_sample = 2 * (self.in_channels * self.n**k + self.out_channels * self.n**self.out_order)
                needed = batch * per_sample * x.element_size() + self._dense_bytes()
            else:
                needed = batch * self._entries_per_sample * x.element_size()
            check_size(
                needed,
                lambda: f"the forward of {self.extra_repr().split(', diagrams')[0]} on a batch of {batch}",
            )
        if lead == 1:
            return self._run(x, with_bias=True)
        if lead == 0:
            return self._run(x.unsqueeze(0), with_bias=True).squeeze(0)
        out_shape = (self.out_channels,) + (self.n,) * self.out_order
        return self._run(x.flatten(0, lead - 1), with_bias=True).reshape(x.shape[:lead] + out_shape)

    def _run(self, x: torch.Tensor, with_bias: bool) -> torch.Tensor:
        """The layer on x of shape (B, c_in) + (n,)*k (checked by the caller): the plan, through
        :class:`~catlayer.nn.function.PlanFunction` (backward by the adjoint plan) when autograd
        needs a gradient and nothing is exporting."""
        if self.execution == "dense":
            # The matrix is gathered from the current weights on every call: never stale.
            bias = None
            if with_bias and self.bias is not None:
                bias = torch.matmul(self.bias, self._bias_basis).reshape(-1)
            return dense_forward(x, self.weight, self._patterns, self._gather, bias, (self.n,) * self.out_order)
        bias_terms = self._bias_mixed(self.bias) if with_bias and self.bias is not None else []
        spec = self._spec if bias_terms else self._spec_without_bias
        tables = self._tables()
        if _needs_gradient(x, self.weight, bias_terms):
            return PlanFunction.apply(spec, x, self.weight, *tables[:-1], *tables.levi_civita, *bias_terms)
        return plan_forward(spec, x, self.weight, tables, bias_terms)

    # -- dense twins and export ----------------------------------------------------------
    def basis_matrices(self) -> torch.Tensor:
        """The images of :attr:`diagrams` as a (D, n^l, n^k) tensor (rows: output multi-index in
        C order, columns: input multi-index), computed by the layer's own plan on the identity.
        Size-guarded: raises :class:`~catlayer.memory.AllocationTooLarge` when large."""
        n, k, l, d = self.n, self.in_order, self.out_order, len(self.diagrams)
        itemsize = self.weight.element_size()
        check_size(3 * d * n ** (k + l) * itemsize, f"the {d} dense {n**l}×{n**k} basis matrices of {self!r}")
        eye = torch.eye(n**k, device=self.weight.device, dtype=self.weight.dtype).reshape((n**k, 1) + (n,) * k)
        picks = torch.eye(d, device=self.weight.device, dtype=self.weight.dtype).unsqueeze(1)
        with torch.no_grad():
            reduced = run_reductions(self._program, eye, self._eps, self._levi_civita_tables())
            mixed = run_mixing(self._program, reduced, picks, self._order, self._signs)
            out = run_expansions(self._program, mixed, self._eps, eye=self._eye)
        return out.reshape(n**k, d, n**l).permute(1, 2, 0).contiguous()

    def bias_tensor(self) -> torch.Tensor:
        """The bias as a (c_out,) + (n,)*l tensor (zeros when the layer has no bias)."""
        shape = (self.out_channels,) + (self.n,) * self.out_order
        if self.bias is None:
            return self.weight.new_zeros(shape)
        out = run_expansions(self._bias_program, self._bias_mixed(self.bias), self._eps, eye=self._eye)
        return out.reshape(shape)

    def to_dense(self) -> nn.Linear:
        """A plain ``torch.nn.Linear`` equal to this layer on flattened tensors.

        It maps ``x.reshape(batch, c_in * n**k)`` to ``y.reshape(batch, c_out * n**l)`` (channel
        axis most significant, C order). Raises
        :class:`~catlayer.memory.AllocationTooLarge` when the matrix does not fit.

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
        n, k, l = self.n, self.in_order, self.out_order
        c_in, c_out = self.in_channels, self.out_channels
        itemsize = self.weight.element_size()
        rows, cols = c_out * n**l, c_in * n**k
        check_size(rows * cols * itemsize, f"the dense {rows}×{cols} matrix of {self!r}")
        linear = nn.Linear(cols, rows, bias=self.bias is not None, device=self.weight.device, dtype=self.weight.dtype)
        # Columns = the layer (without bias) applied to the standard basis, in chunks whose
        # input and output take at most as much memory as the matrix itself (~32 MiB at least).
        chunk = max(1, min(cols, (2**25 + rows * cols * itemsize) // max(1, 4 * (rows + cols) * itemsize)))
        with torch.no_grad():
            for start in range(0, cols, chunk):
                stop = min(cols, start + chunk)
                eye = self.weight.new_zeros(stop - start, cols)
                eye[:, start:stop].fill_diagonal_(1.0)
                y = self._run(eye.reshape((stop - start, c_in) + (n,) * k), with_bias=False)
                linear.weight[:, start:stop].copy_(y.reshape(stop - start, rows).t())
            if self.bias is not None:
                linear.bias.copy_(self.bias_tensor().reshape(-1))
        return linear

    def export(self, example_input: torch.Tensor | None = None, *, dynamic_batch: bool = True) -> nn.Module:
        """A plain ``torch.fx.GraphModule`` computing the same function, matrix-free, that needs
        no catlayer import to run or to unpickle: the ``torch.export`` graph of this layer (aten
        ops only, dynamic batch axis) on a bare ``torch.nn.Module`` root holding frozen copies
        of the parameters (:func:`catlayer.nn.export.plain_module`). For a
        ``torch.export.save``-able artifact use :func:`catlayer.nn.export_program`.

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

    # -- verification ----------------------------------------------------------------------
    def _catlayer_check_equivariance(self, **kwargs):
        from .verification import check_layer

        return check_layer(self, **kwargs)
