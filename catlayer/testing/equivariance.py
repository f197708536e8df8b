"""``assert_equivariant``: test that a torch module commutes with a group action.

>>> import torch
>>> from catlayer import O
>>> from catlayer.nn import EquivariantLinear
>>> from catlayer.testing import assert_equivariant
>>> layer = EquivariantLinear(O(3), 2, 2, in_channels=2, out_channels=2)
>>> assert_equivariant(layer, O(3), 2, 2, seed=0).ok
True

Catlayer modules carry their group and feature types, so networks on mixed-order (dict)
features need nothing else:

>>> from catlayer.nn import EquivariantMLP
>>> net = EquivariantMLP(O(3), {0: 2, 1: 2}, {2: 1}, depth=1)
>>> assert_equivariant(net).ok
True

A module that is not equivariant fails, naming the output entries that differ (one line
per entry: the group element — a permutation by its images, a matrix by its entries — batch,
channel, multi-index and both values):

>>> try:
...     assert_equivariant(torch.nn.Linear(3, 3), O(3), 1, 1, in_channels=1)
... except AssertionError as error:
...     lines = str(error).splitlines()
>>> lines[0].split(":")[0]
'Linear(in_features=3, out_features=3, bias=True) is not equivariant'
>>> lines[1].startswith("  g #") and " = matrix [[" in lines[1] and "channel 0, index (" in lines[1]
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..groups import Group, ProductGroup
from ..groups.product import Order
from ..tolerance import DEFAULT_TOLERANCE
from ..verify.forward import check_forward
from ..verify.report import EquivarianceReport, ForwardCheck, Mismatch

if TYPE_CHECKING:  # hypothesis is imported by group_elements when it runs
    import hypothesis.strategies

__all__ = ["DEFAULT_TOLERANCE", "ForwardCheck", "Mismatch", "assert_equivariant", "group_elements"]

#: What a module's input or output is: an order (a tuple of orders for a product group), or a
#: feature type (a dict order → channels).
Features = Order | Mapping[Order, int]


def _attribute(module: torch.nn.Module, *names: str) -> object:
    """The first of the attributes ``names`` that the module has and that is not None."""
    for name in names:
        value = getattr(module, name, None)
        if value is not None:
            return value
    return None


def assert_equivariant(
    module: torch.nn.Module,
    group: Group | ProductGroup | None = None,
    in_order: Features | None = None,
    out_order: Features | None = None,
    *,
    in_channels: int | None = None,
    elements: Iterable[np.ndarray | Sequence[np.ndarray]] | None = None,
    num_elements: int = 3,
    seed: int | np.random.Generator | None = 0,
    batch: int = 2,
    dtype: torch.dtype = torch.float64,
    tolerance: float | None = None,
) -> EquivarianceReport:
    """Assert module(ρ(g) x) = ρ(g) module(x) for random inputs x and group elements g.

    ``module`` maps (batch, in_channels) + (n,)*in_order to (batch, channels) + (n,)*out_order,
    or, when ``in_order`` / ``out_order`` are feature types (dicts order → channels), a dict of
    such tensors to a dict. The group, the orders or types and ``in_channels`` default to the
    module's attributes ``group``, ``in_type``/``out_type`` or ``in_order``/``out_order`` and
    ``in_channels`` (catlayer modules have them). The group elements are ``elements`` (e.g.
    drawn by hypothesis with :func:`~catlayer.testing.group_elements`), or ``num_elements`` drawn with
    ``group.random_element`` from ``seed``; the inputs are drawn from ``seed`` too. The check runs
    on a copy of the module in ``dtype`` (float64 by default); an entry fails when it differs by
    more than ``tolerance`` (default from :data:`catlayer.tolerance.DEFAULT_TOLERANCE`: 1e-10 in
    float64, 1e-4 in float32) times the largest entry of either side. On failure the
    AssertionError names the group element (a permutation by its images, a matrix by its
    entries), and the order, batch, channel and multi-index of the worst entries with both
    values.

    Returns the :class:`~catlayer.verify.EquivarianceReport` of
    :func:`~catlayer.verify.check_forward` (truthy) on success.

    >>> from catlayer import S
    >>> from catlayer.nn import EquivariantLinear
    >>> assert_equivariant(EquivariantLinear(S(4), 2, 1, in_channels=2, out_channels=3)).ok
    True
    >>> assert_equivariant(EquivariantLinear(S(), 0, 2, in_channels=2, out_channels=1)).ok   # any n
    True
    """
    the_group = getattr(module, "group", None) if group is None else group
    if the_group is None:
        raise ValueError("pass the group: the module has no group attribute")
    # A module on plain tensors (EquivariantLinear) has in_order/out_order besides its type;
    # modules on dicts have types only. Orders may be 0, so test for None, not truth.
    inputs = _attribute(module, "in_order", "in_type") if in_order is None else in_order
    outputs = _attribute(module, "out_order", "out_type") if out_order is None else out_order
    if inputs is None or outputs is None:
        raise ValueError("pass in_order and out_order (orders or feature types): the module does not say")
    result = check_forward(
        module,
        the_group,
        inputs,
        outputs,
        in_channels=in_channels,
        elements=elements,
        num_elements=num_elements,
        seed=seed,
        batch=batch,
        dtype=dtype,
        tolerance=tolerance,
    )
    if not result:
        raise AssertionError(f"{module!r} is not equivariant: {result.failure}")
    return result


def group_elements(
    group: Group | ProductGroup,
) -> hypothesis.strategies.SearchStrategy[np.ndarray | tuple[np.ndarray, ...]]:
    """A hypothesis strategy of random elements of ``group`` (float64 n × n arrays), drawn by
    ``group.random_element`` from a seed that hypothesis chooses (and shrinks).

    >>> from hypothesis import given
    >>> from catlayer import Sp
    >>> @given(group_elements(Sp(4)))
    ... def test(g):
    ...     assert Sp(4).is_element(g, tolerance=1e-8)
    >>> test()
    """
    from hypothesis import strategies as st

    return st.integers(min_value=0, max_value=2**32 - 1).map(
        lambda seed: group.random_element(np.random.default_rng(seed))
    )
