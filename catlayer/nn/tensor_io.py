"""Tensors in, tensors out: a view of a mixed-order module for tools that want plain tensors.

Network modules take and return dicts order → tensor. ``torch.onnx.export`` reads a trailing
dict in its argument tuple as keyword arguments, and the TorchScript-based exporter traces dict
outputs with their integer keys as tensors; :class:`TensorInterface` sidesteps both by taking
the feature tensors as positional arguments (orders increasing) and returning a tuple.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import torch
from torch import nn

from .core import FeatureType, type_str

__all__ = ["TensorInterface"]


class TensorInterface(nn.Module):
    """``module`` (dicts order → tensor in and out) as a module on positional tensors.

    The arguments are the tensors of each dict input in increasing order of tensor order (for a
    bilinear module: those of ``x``, then those of ``y``); the result is the tuple of output tensors
    in increasing order. The parameters stay the wrapped module's (``interface.module``).

    Args:
        module: a catlayer network module with ``in_type`` and ``out_type``, e.g.
            :class:`~catlayer.nn.EquivariantMLP`, :class:`~catlayer.nn.TypedLinear`,
            :class:`~catlayer.nn.TypedBilinear`, a nonlinearity or a pooling.

    Shape:
        - Input: for each order k of ``in_type``, ``(*batch, in_type[k]) + (n,) * k``.
        - Output: for each order k of ``out_type``, ``(*batch, out_type[k]) + (n,) * k``.

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

    def __init__(self, module: nn.Module) -> None:
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
        self.dict_inputs = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in parameters)
        prefixes = ["in"] if self.dict_inputs == 1 else [chr(ord("x") + i) for i in range(self.dict_inputs)]
        self.input_names = [f"{p}_order{k}" for p in prefixes for k in self.in_type]
        self.output_names = [f"out_order{k}" for k in self.out_type]

    def arguments(self, *features: Mapping[int, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The positional tensors for the dict input(s) ``features``."""
        if len(features) != self.dict_inputs:
            name = type(self.module).__name__
            raise TypeError(f"{name} takes {self.dict_inputs} feature dict(s), got {len(features)}")
        out = []
        for f in features:
            if not isinstance(f, Mapping) or set(f) != set(self.in_type):
                raise ValueError(f"expected a dict with the orders of {type_str(self.in_type)}, got {f!r:.80}")
            out += [f[k] for k in self.in_type]
        return tuple(out)

    def dynamic_shapes(self, batch: torch.export.Dim | None = None) -> tuple:
        """The ``dynamic_shapes`` of ``torch.export.export`` / ``torch.onnx.export(dynamo=True)``
        making axis 0 of every input one dynamic batch size."""
        batch = torch.export.Dim("batch") if batch is None else batch
        return (tuple({0: batch} for _ in self.input_names),)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The ``dynamic_axes`` of the TorchScript-based ``torch.onnx.export(dynamo=False)``
        making axis 0 of every input and output the batch axis."""
        return {name: {0: "batch"} for name in self.input_names + self.output_names}

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        per = len(self.in_type)
        if len(tensors) != per * self.dict_inputs:
            raise TypeError(
                f"TensorInterface of {type(self.module).__name__} takes {per * self.dict_inputs} tensors "
                f"({', '.join(self.input_names)}), got {len(tensors)}"
            )
        chunks = [tensors[i * per : (i + 1) * per] for i in range(self.dict_inputs)]
        dicts = [dict(zip(self.in_type, chunk, strict=True)) for chunk in chunks]
        out = self.module(*dicts)
        return tuple(out[k] for k in self.out_type)
