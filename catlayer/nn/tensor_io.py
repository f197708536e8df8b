"""Tensors in, tensors out: a view of a mixed-order module for tools that want plain tensors.

Network modules take and return dicts order → tensor. ``torch.onnx.export`` reads a trailing
dict in its argument tuple as keyword arguments, and the TorchScript-based exporter traces dict
outputs with their integer keys as tensors; :class:`TensorInterface` sidesteps both by taking
the feature tensors (and optionally the mask) as positional arguments and returning a tuple.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..groups.product import group_factors
from .core import FeatureType, order_axes, type_str

__all__ = ["TensorInterface"]


def _name(order: Any) -> str:
    return "x".join(map(str, order)) if isinstance(order, tuple) else str(order)


class TensorInterface(nn.Module):
    """``module`` (dicts order → tensor in and out) as a module on positional tensors.

    Args:
        module: a catlayer network module with ``in_type`` and ``out_type``, e.g.
            :class:`~catlayer.nn.EquivariantMLP`, :class:`~catlayer.nn.TypedLinear`,
            :class:`~catlayer.nn.TypedBilinear`, a nonlinearity or a pooling.
        mask: take a mask as the last argument (bool, ``(batch, N)``; for a group with several
            factors that permute indices, one mask per such factor), passed on to the module.

    The arguments are the tensors of each dict input in increasing order of tensor order (for a
    bilinear module: those of ``x``, then those of ``y``), then the mask(s); the result is the
    tuple of output tensors in increasing order. The parameters stay the wrapped module's
    (``interface.module``).

    Shape:
        - Input: for each order k of ``in_type``, ``(batch, in_type[k]) + axes(k)``; the mask
          ``(batch, N)``.
        - Output: for each order k of ``out_type``, ``(batch, out_type[k]) + axes(k)``.

    >>> import torch
    >>> from catlayer import O
    >>> from catlayer.nn import EquivariantMLP
    >>> model = EquivariantMLP(O(3), in_type={0: 5, 1: 5}, out_type={2: 1})
    >>> interface = TensorInterface(model)
    >>> interface.input_names, interface.output_names
    (['in_order0', 'in_order1'], ['out_order2'])
    >>> x = {0: torch.randn(4, 5), 1: torch.randn(4, 5, 3)}
    >>> (out,) = interface(*interface.arguments(x))
    >>> torch.equal(out, model(x)[2])
    True
    """

    def __init__(self, module: nn.Module, mask: bool = False) -> None:
        super().__init__()
        in_type, out_type = getattr(module, "in_type", None), getattr(module, "out_type", None)
        if not isinstance(in_type, Mapping) or not isinstance(out_type, Mapping):
            raise TypeError(
                f"TensorInterface wraps a module on dict features with in_type and out_type "
                f"(e.g. EquivariantMLP); {type(module).__name__} has none"
            )
        self.module = module
        self.in_type: FeatureType = dict(in_type)
        self.out_type: FeatureType = dict(out_type)
        parameters = inspect.signature(module.forward).parameters.values()
        self.dict_inputs = sum(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in parameters)
        factors = group_factors(module.group) if hasattr(module, "group") else ()
        self.masked = tuple(f for f, g in enumerate(factors) if g.acts_by_permutations) if mask else ()
        if mask and not self.masked:
            raise ValueError(f"{getattr(module, 'group', None)!r} has no factor that takes a mask")
        self.num_factors = len(factors)
        prefixes = ["in"] if self.dict_inputs == 1 else [chr(ord("x") + i) for i in range(self.dict_inputs)]
        self.input_names = [f"{p}_order{_name(k)}" for p in prefixes for k in self.in_type]
        self.input_names += ["mask" if len(self.masked) == 1 else f"mask{f}" for f in self.masked]
        self.output_names = [f"out_order{_name(k)}" for k in self.out_type]
        # The factors whose size is read at run time (``S()``): their axes are dynamic in exports.
        self.variable = tuple(f for f, g in enumerate(factors) if g.n is None)

    def arguments(self, *features: Mapping[Any, torch.Tensor], mask: Any = None) -> tuple[torch.Tensor, ...]:
        """The positional tensors for the dict input(s) ``features`` (and ``mask``)."""
        if len(features) != self.dict_inputs:
            name = type(self.module).__name__
            raise TypeError(f"{name} takes {self.dict_inputs} feature dict(s), got {len(features)}")
        out = []
        for f in features:
            if not isinstance(f, Mapping) or set(f) != set(self.in_type):
                raise ValueError(f"expected a dict with the orders of {type_str(self.in_type)}, got {f!r:.80}")
            out += [f[k] for k in self.in_type]
        if self.masked:
            masks = (mask,) if isinstance(mask, torch.Tensor) else tuple(mask or ())
            if len(masks) != len(self.masked):
                raise TypeError(f"pass mask= with {len(self.masked)} mask(s) (the interface takes masks)")
            out += list(masks)
        return tuple(out)

    def dynamic_shapes(self, batch: Any = None, size: Any = None) -> tuple[Any, ...]:
        """The ``dynamic_shapes`` of ``torch.export.export`` / ``torch.onnx.export(dynamo=True)``:
        axis 0 of every input one dynamic batch size, and every axis of a factor of any size (or
        that takes a mask) one dynamic size per factor.

        The dimensions have a minimum of 2: ``torch.export`` specialises an axis of size 1 in the
        example (a size-1 axis broadcasts), which would otherwise fix the batch at 1 without a word
        (and onnxruntime then refuses other batch sizes); with the minimum, an example with one
        sample (or one index) is refused by the exporter instead. Give at least 2 of each."""
        batch = torch.export.Dim("batch", min=2) if batch is None else batch
        sizes = {}
        for f in self.variable:
            name = f"n{f}" if self.num_factors > 1 else "n"
            sizes[f] = size if size is not None else torch.export.Dim(name, min=2)
        specs = []
        for _ in range(self.dict_inputs):
            for k in self.in_type:
                spec = {0: batch}
                for a, f in enumerate(order_axes(k)):
                    if f in sizes:
                        spec[2 + a] = sizes[f]
                specs.append(spec)
        for f in self.masked:
            specs.append({0: batch, 1: sizes[f]} if f in sizes else {0: batch})
        return (tuple(specs),)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The ``dynamic_axes`` of the TorchScript-based ``torch.onnx.export(dynamo=False)``: axis 0
        of every input and output the batch axis, every axis of a factor of any size (or with a
        mask) its size."""
        out: dict[str, dict[int, str]] = {}
        names = iter(self.input_names)
        for _ in range(self.dict_inputs):
            for k in self.in_type:
                axes = {0: "batch"}
                for a, f in enumerate(order_axes(k)):
                    if f in self.variable:
                        axes[2 + a] = f"n{f}" if self.num_factors > 1 else "n"
                out[next(names)] = axes
        for f in self.masked:
            axes = {0: "batch"}
            if f in self.variable:
                axes[1] = f"n{f}" if self.num_factors > 1 else "n"
            out[next(names)] = axes
        for name, k in zip(self.output_names, self.out_type, strict=True):
            axes = {0: "batch"}
            for a, f in enumerate(order_axes(k)):
                if f in self.variable:
                    axes[2 + a] = f"n{f}" if self.num_factors > 1 else "n"
            out[name] = axes
        return out

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The module on positional tensors (see the class docstring)."""
        per = len(self.in_type)
        expected = per * self.dict_inputs + len(self.masked)
        if len(tensors) != expected:
            raise TypeError(
                f"TensorInterface of {type(self.module).__name__} takes {expected} tensors "
                f"({', '.join(self.input_names)}), got {len(tensors)}"
            )
        chunks = [tensors[i * per : (i + 1) * per] for i in range(self.dict_inputs)]
        dicts = [dict(zip(self.in_type, chunk, strict=True)) for chunk in chunks]
        if self.masked:
            given = tensors[per * self.dict_inputs :]
            if len(self.masked) == 1 and self.num_factors == 1:
                mask: Any = given[0]
            else:
                masks: list[Any] = [None] * self.num_factors
                for f, m in zip(self.masked, given, strict=True):
                    masks[f] = m
                mask = given[0] if len(self.masked) == 1 else tuple(masks)
            out = self.module(*dicts, mask)
        else:
            out = self.module(*dicts)
        return tuple(out[k] for k in self.out_type)
