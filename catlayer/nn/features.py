"""Mixed-order features: a *feature type* maps tensor order → number of channels, e.g.
``{0: 5, 1: 5}`` (five scalars and five vectors); a *feature* of that type is a dict mapping each
order k to a tensor of shape ``(*batch, channels) + (n,) * k``.

>>> feature_type({1: 2, 0: 5})
{0: 5, 1: 2}
>>> type_str({0: 5, 1: 2})
'{0: 5, 1: 2}'
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

__all__ = ["FeatureType", "feature_type", "flatten_batch", "type_str", "unflatten_batch"]

#: order → channels, orders increasing.
FeatureType = dict[int, int]


def _count(value, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def feature_type(mapping, what: str = "feature type") -> FeatureType:
    """Check and normalise a feature type: a non-empty mapping order (int ≥ 0) → channels (int ≥ 1),
    returned as a plain dict with increasing orders.

    >>> feature_type({2: 1})
    {2: 1}
    >>> feature_type({1: 0})
    Traceback (most recent call last):
    ...
    ValueError: feature type: channels of order 1 must be an int >= 1, got 0
    """
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{what} must be a mapping order -> channels such as {{0: 5, 1: 5}}, got {mapping!r}")
    if not mapping:
        raise ValueError(f"{what} is empty: give at least one order, e.g. {{0: 1}}")
    out = {}
    for order, channels in mapping.items():
        k = _count(order, f"{what}: an order", 0)
        out[k] = _count(channels, f"{what}: channels of order {k}", 1)
    return dict(sorted(out.items()))


def type_str(ftype: Mapping[int, int]) -> str:
    """A feature type as text (orders increasing)."""
    return "{" + ", ".join(f"{k}: {c}" for k, c in sorted(ftype.items())) + "}"


def _order_key(key):
    # The TorchScript-based ONNX exporter traces a dict input with its int keys turned into 0-d
    # integer tensors; read those back as the orders they were, anything else stays as given.
    if isinstance(key, torch.Tensor) and key.dim() == 0 and not key.dtype.is_floating_point and key.dtype != torch.bool:
        return int(key.item())
    return key


def flatten_batch(
    module, features, ftype: FeatureType, n: int
) -> tuple[dict[int, torch.Tensor], tuple[int, ...] | None]:
    """Check ``features`` against ``ftype`` and bring every tensor to exactly one batch axis.

    Returns the dict with shapes ``(B, channels) + (n,) * k`` and the original batch shape (None
    when there was exactly one batch axis, so that nothing needs restoring). Raises a
    ``TypeError``/``ValueError`` naming the order and the expected shape.
    """
    name = type(module).__name__
    if not isinstance(features, Mapping):
        raise TypeError(
            f"{name} expects a dict order -> tensor of type {type_str(ftype)}, got {type(features).__name__}"
        )
    features = {_order_key(k): v for k, v in features.items()}
    if set(features) != set(ftype):
        raise ValueError(
            f"{name} expects orders {sorted(ftype)} (type {type_str(ftype)}), got orders {sorted(features)}"
        )
    lead: int | None = None
    batch_shape: tuple[int, ...] = ()
    dtype = device = None
    for k, channels in ftype.items():
        x = features[k]
        expected = "(*batch, " + ", ".join([str(channels)] + [str(n)] * k) + ")"
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name}: order {k} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
        if x.dim() < 1 + k or x.shape[x.dim() - 1 - k] != channels or any(s != n for s in x.shape[x.dim() - k :]):
            raise ValueError(f"{name}: order {k} must have shape {expected}, got {tuple(x.shape)}")
        if not x.dtype.is_floating_point:
            raise TypeError(f"{name}: order {k} is {x.dtype}; convert the input to a floating-point dtype first")
        this_lead = x.dim() - 1 - k
        if lead is None:
            lead, batch_shape, dtype, device = this_lead, tuple(x.shape[:this_lead]), x.dtype, x.device
        elif this_lead != lead or tuple(x.shape[:this_lead]) != batch_shape:
            raise ValueError(
                f"{name}: every order needs the same batch shape; order {k} has {tuple(x.shape[:this_lead])}, "
                f"another has {batch_shape}"
            )
        elif x.dtype != dtype or x.device != device:
            raise ValueError(
                f"{name}: orders differ in dtype or device ({x.dtype} on {x.device} vs {dtype} on {device})"
            )
    if lead == 1:
        return dict(features), None
    if lead == 0:
        return {k: x.unsqueeze(0) for k, x in features.items()}, batch_shape
    return {k: x.flatten(0, lead - 1) for k, x in features.items()}, batch_shape


def unflatten_batch(features: dict[int, torch.Tensor], batch_shape: tuple[int, ...] | None) -> dict[int, torch.Tensor]:
    """Undo :func:`flatten_batch` on an output dict."""
    if batch_shape is None:
        return features
    if batch_shape == ():
        return {k: x.squeeze(0) for k, x in features.items()}
    return {k: x.unflatten(0, batch_shape) for k, x in features.items()}
