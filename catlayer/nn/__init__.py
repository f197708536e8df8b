"""Torch layers built from diagram categories (requires torch).

``EquivariantLinear`` executes the layer plans of :mod:`catlayer.plan` with torch ops only, so
it trains on CPU or GPU and works under ``torch.compile``, ``torch.export`` and
``torch.func.vmap``. ``export()`` / ``to_dense()`` give plain torch modules for inference.
"""

from .export import export_program, plain_module
from .linear import EquivariantLinear

__all__ = ["EquivariantLinear", "export_program", "plain_module"]
