"""Public testing helpers: hypothesis strategies for diagrams and combinations, and
``assert_equivariant`` for torch modules (imported on first use, so torch is optional)."""

from . import strategies
from .strategies import *  # noqa: F403

__all__ = ["assert_equivariant", "strategies", *strategies.__all__]  # noqa: F405


def __getattr__(name):
    if name == "assert_equivariant":
        from .equivariance import assert_equivariant

        return assert_equivariant
    raise AttributeError(f"module 'catlayer.testing' has no attribute {name!r}")
