"""Torch layers and networks built from diagram categories (requires torch).

``EquivariantLinear`` executes the layer plans of :mod:`catlayer.plan` with torch ops only, so
it trains on CPU or GPU and works under ``torch.compile``, ``torch.export`` and
``torch.func.vmap``. ``export()`` / ``to_dense()`` give plain torch modules for inference.

Networks work on mixed-order features (dicts order → tensor, typed by dicts order → channels):
``TypedLinear``, the bilinear ``TypedBilinear`` / ``EquivariantBilinear``, the nonlinearities
``PointwiseNonlinearity`` (S_n), ``GatedNonlinearity`` (any group), ``NormNonlinearity`` (groups
preserving the Euclidean norm), ``InvariantPooling``, and the complete ``EquivariantMLP``. ``TensorInterface`` shows any
of them as a module on positional tensors (for the ONNX exporters and ``torch.jit.trace``).
"""

from .bilinear import EquivariantBilinear, TypedBilinear, product_diagrams
from .export import export_program, plain_module
from .linear import EquivariantLinear
from .mlp import EquivariantMLP, default_hidden_type
from .nonlinear import (
    GatedNonlinearity,
    NormNonlinearity,
    PointwiseNonlinearity,
    acts_by_permutations,
    preserves_euclidean_norm,
)
from .pooling import InvariantPooling
from .tensor_io import TensorInterface
from .typed_linear import TypedLinear

__all__ = [
    "EquivariantBilinear",
    "EquivariantLinear",
    "EquivariantMLP",
    "GatedNonlinearity",
    "InvariantPooling",
    "NormNonlinearity",
    "PointwiseNonlinearity",
    "TensorInterface",
    "TypedBilinear",
    "TypedLinear",
    "acts_by_permutations",
    "default_hidden_type",
    "export_program",
    "plain_module",
    "preserves_euclidean_norm",
    "product_diagrams",
]
