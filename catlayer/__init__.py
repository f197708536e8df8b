"""catlayer: fast, trainable, provably equivariant layers from diagram categories.

>>> from catlayer import PartitionCategory
>>> len(PartitionCategory(5).hom(2, 2))
15

This file is the top of the package (docs/architecture.md §4): besides the public names it
plugs the numeric layers into the symbolic core's two extension points, lazily, so that the core
imports nothing above it and ``import catlayer`` loads neither numba nor torch:

* :meth:`EquivariantMap.apply <catlayer.functors.EquivariantMap.apply>` runs the numba kernels
  of :mod:`catlayer.backend` (loaded at the first call);
* :func:`catlayer.projection.project` and ``G.project`` / ``G.coefficients`` handle torch
  tensors with :mod:`catlayer.nn.arrays` (loaded the first time a tensor is projected).
"""

import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING

from .diagrams import (
    BrauerCategory,
    BrauerDiagram,
    BrauerGroodCategory,
    BrauerGroodDiagram,
    Combination,
    Diagram,
    DiagramCategory,
    Factorisation,
    PartitionCategory,
    PartitionDiagram,
    ProductCategory,
    ProductCombination,
    ProductDiagram,
    factorise,
)
from .functors import set_executor as _set_executor
from .groups import SO, O, ProductGroup, S, Sp
from .projection import register_array_type as _register_array_type

if _TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from .nn.arrays import TorchArrays


def _backend() -> "tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]":
    from . import backend

    return backend.apply, backend.apply_layer


def _is_tensor(x: object) -> bool:
    torch = _sys.modules.get("torch")  # a tensor exists only once torch is loaded
    return torch is not None and isinstance(x, torch.Tensor)


def _torch_arrays() -> "TorchArrays":
    from .nn.arrays import OPS

    return OPS


_set_executor(_backend)
_register_array_type("torch", _is_tensor, _torch_arrays)

__version__ = "0.1.0"

__all__ = [
    "SO",
    "BrauerCategory",
    "BrauerDiagram",
    "BrauerGroodCategory",
    "BrauerGroodDiagram",
    "Combination",
    "Diagram",
    "DiagramCategory",
    "Factorisation",
    "O",
    "PartitionCategory",
    "PartitionDiagram",
    "ProductCategory",
    "ProductCombination",
    "ProductDiagram",
    "ProductGroup",
    "S",
    "Sp",
    "factorise",
]
