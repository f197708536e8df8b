"""Public testing helpers: hypothesis strategies for diagrams and combinations, and
``assert_equivariant`` and ``group_elements`` for torch modules (imported on first use, so torch is
optional).

>>> from hypothesis import given, settings
>>> from catlayer.testing import partition_diagrams
>>> @settings(max_examples=5)
... @given(partition_diagrams(dom=2, cod=1))
... def test(d):
...     assert (d.dom, d.cod) == (2, 1)
>>> test()
"""

from typing import TYPE_CHECKING

from . import strategies
from .strategies import *  # noqa: F403

if TYPE_CHECKING:  # imported on first use (they need torch), see __getattr__
    from .equivariance import assert_equivariant, group_elements

__all__ = ["assert_equivariant", "group_elements", "strategies", *strategies.__all__]
_TORCH_HELPERS = ("assert_equivariant", "group_elements")


def __getattr__(name: str) -> object:
    if name in _TORCH_HELPERS:
        from . import equivariance

        return getattr(equivariance, name)
    raise AttributeError(f"module 'catlayer.testing' has no attribute {name!r}")
