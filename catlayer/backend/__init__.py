"""Numeric backend: matrix-free application of diagrams and whole layers to numpy arrays.

* :func:`apply` / :func:`apply_layer`: the numba path (``kernels``), executing the plans of
  :mod:`catlayer.plan` (lowered to integer tables by ``program``);
* :mod:`~catlayer.backend.reference`: a plain numpy executor of the same plans and dense
  matrices built straight from the entry formulas, for testing and benchmarks;
* :func:`multiplication_table`: structure constants of the partition and Brauer algebras;
* :mod:`catlayer.memory` (re-exported here): the memory budget every allocation is checked against.

>>> import numpy as np
>>> from catlayer import Sp, BrauerDiagram
>>> G = Sp(2)                                              # a cup contracts with ε
>>> cup = BrauerDiagram([[0, 1]], dom=2, cod=0)
>>> apply(G, cup, np.array([[[0.0, 1.0], [0.0, 0.0]]]))    # Σ ε[a, b] x[a, b] = x[0, 1] − x[1, 0]
array([1.])
"""

from ..memory import AllocationTooLarge, check_size, memory_budget, set_memory_budget
from .execute import CHUNK_BYTES, apply, apply_layer, check_group, layer_plan
from .reference import (
    apply_layer_reference,
    apply_reference,
    dense_layer_matrix,
    dense_matrix,
)
from .structure_constants import multiplication_table

__all__ = [
    "CHUNK_BYTES",
    "AllocationTooLarge",
    "apply",
    "apply_layer",
    "apply_layer_reference",
    "apply_reference",
    "check_group",
    "check_size",
    "dense_layer_matrix",
    "dense_matrix",
    "layer_plan",
    "memory_budget",
    "multiplication_table",
    "set_memory_budget",
]
