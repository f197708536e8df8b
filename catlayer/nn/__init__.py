"""Torch layers and networks built from diagram categories (requires torch)."""

from .linear import EquivariantLinear, TypedLinear

__all__ = ["EquivariantLinear", "TypedLinear"]
