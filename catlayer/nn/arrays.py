"""Torch's array operations for the symbolic core's matrix-free projection.

:mod:`catlayer.projection` imports no numeric library: it handles a torch tensor with the
tensor's own methods and with the operations below, registered by ``catlayer/__init__.py``
(:func:`catlayer.projection.register_array_type`) and loaded the first time a torch tensor is
projected. Everything stays on the tensor's device and differentiable.

>>> import numpy as np, torch
>>> x = torch.zeros(2, dtype=torch.float32)
>>> OPS.constant(np.array([1, 2]), x).dtype, OPS.accumulator(x)
(torch.int64, torch.float64)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["OPS", "TorchArrays", "owns"]


def owns(x: object) -> bool:
    """Whether x is a torch tensor."""
    return isinstance(x, torch.Tensor)


class TorchArrays:
    """The operations :func:`catlayer.projection.register_array_type` asks for."""

    @staticmethod
    def accumulator(x: torch.Tensor) -> torch.dtype:
        return torch.complex128 if x.is_complex() else torch.float64

    @staticmethod
    def constant(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(np.asarray(array), device=like.device)  # a copy: the tables are read-only

    @staticmethod
    def stack(columns: list[torch.Tensor], dim: int) -> torch.Tensor:
        return torch.stack(columns, dim=dim)

    @staticmethod
    def solve(a: np.ndarray, b: torch.Tensor) -> torch.Tensor:
        return torch.linalg.solve(torch.as_tensor(a, dtype=b.dtype, device=b.device), b)

    @staticmethod
    def as_float(x: torch.Tensor) -> torch.Tensor:
        return x if x.is_floating_point() or x.is_complex() else x.to(torch.float64)

    @staticmethod
    def all_finite(x: torch.Tensor) -> bool:
        return bool(torch.isfinite(x).all())

    @staticmethod
    def float64(x: Any, like: torch.Tensor | None = None) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            out = x.detach().to(torch.float64)
        else:
            out = torch.as_tensor(np.asarray(x, dtype=np.float64))
        return out if like is None else out.to(like.device)


#: The instance registered for torch tensors.
OPS = TorchArrays()
