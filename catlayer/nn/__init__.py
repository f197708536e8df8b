"""Torch layers and networks built from diagram categories (requires torch).

Every module is built on one core (:mod:`catlayer.nn.core`): one constructor opening, one
parameterisation (sums over indices are means, so activations stay O(1) at every n), one
execution policy (``execution="auto" | "plan" | "dense"``), masks for sets of any size (``S()``)
and products of groups (``S() * O(3)``). ``TypedLinear`` is the linear core (features of several
orders in and out, as dicts order → tensor) and ``EquivariantLinear`` its single-block form on
plain tensors; the bilinear ``TypedBilinear`` / ``EquivariantBilinear``, the nonlinearities
``PointwiseNonlinearity`` (groups acting by permutations), ``GatedNonlinearity`` (any group),
``NormNonlinearity`` (groups of orthogonal matrices), ``InvariantPooling`` and the complete
``EquivariantMLP`` share it. Plans run with torch ops only, so modules train on CPU or GPU and
work under ``torch.compile``, ``torch.export``, both ONNX exporters and ``torch.func``;
``TensorInterface`` shows a dict-based module as positional tensors for exporters. Sets of
different sizes come padded with a mask, or ragged (PyTorch Geometric's layout: ``RaggedBatch``,
``to_padded`` / ``from_padded``; linear layers of orders ≤ 2 run natively on them).
"""

from .bilinear import EquivariantBilinear, TypedBilinear, canonical_products, product_diagrams
from .core import EquivariantModule, feature_type
from .export import export_program, plain_module
from .linear import EquivariantLinear, TypedLinear
from .mlp import EquivariantMLP, default_hidden_type
from .nonlinear import (
    GatedNonlinearity,
    NormNonlinearity,
    PointwiseNonlinearity,
    acts_by_permutations,
    preserves_euclidean_norm,
)
from .pooling import InvariantPooling
from .ragged import RaggedBatch, RaggedLinear, from_padded, ragged_forward, to_padded
from .tensor_io import TensorInterface

__all__ = [
    "EquivariantBilinear",
    "EquivariantLinear",
    "EquivariantMLP",
    "EquivariantModule",
    "GatedNonlinearity",
    "InvariantPooling",
    "NormNonlinearity",
    "PointwiseNonlinearity",
    "RaggedBatch",
    "RaggedLinear",
    "TensorInterface",
    "TypedBilinear",
    "TypedLinear",
    "acts_by_permutations",
    "canonical_products",
    "default_hidden_type",
    "export_program",
    "feature_type",
    "from_padded",
    "plain_module",
    "preserves_euclidean_norm",
    "product_diagrams",
    "ragged_forward",
    "to_padded",
]
