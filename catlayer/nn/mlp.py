"""``EquivariantMLP``: a complete equivariant network between mixed-order feature types.

Architecture (all parts equivariant, see :meth:`EquivariantMLP.check_equivariance`)::

    h = embed(x)                                   TypedLinear  in_type → hidden
    repeat depth times:                            residual blocks
        a, u, v = mix(h)                           TypedLinear  hidden → activations ⊕ u ⊕ v
        h = h + β · (out(act(a)) + products(u, v))
    y = head(h)                                    TypedLinear  hidden → out_type

* ``act``: pointwise (any function) when the group acts by permutations (S_n), else gated (any
  group, compact or not); ``nonlinearity="norm"`` picks the norm nonlinearity where it exists.
* ``products``: :class:`~catlayer.nn.TypedBilinear` on the product diagrams between all hidden
  orders (matrix products of PPGN for graphs, dot/outer products and, for SO(3), cross products
  for point clouds), channel by channel between two linear projections u, v of h.
* ``hidden`` (default, :func:`default_hidden_type`): every order from 0 to the largest input or
  output order, 64 scalar channels and 4–16 channels of each higher order (fewer when n^k is
  large); products as wide as the narrowest tensor order, at most 16.
* Scale: every diagram is mean-normalised (sums over free indices become means) and initialised
  so that each layer maps unit-variance inputs to unit mean second moment; the two branch terms
  share that budget and β = 1/sqrt(depth), so activations stay O(1) at initialisation whatever n
  and the depth (measured for n ≤ 60 and depths 2–6; see tests/test_nn_mlp.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .bilinear import TypedBilinear, product_diagrams
from .checkable import Checkable
from .features import FeatureType, feature_type, flatten_batch, type_str, unflatten_batch
from .nonlinear import GatedNonlinearity, NormNonlinearity, PointwiseNonlinearity, acts_by_permutations
from .typed_linear import TypedLinear, check_group

__all__ = ["EquivariantMLP", "default_hidden_type"]


def default_hidden_type(group, in_type, out_type, width: int = 64, tensor_width: int = 16) -> FeatureType:
    """Orders 0..max(in and out orders): ``width`` scalar channels, and for order k ≥ 1 the power
    of two closest below 256 / n^k, clamped to [4, ``tensor_width``] (wide where tensors are
    small, narrow where they have many entries: the cost of a layer grows with channels × n^k).

    >>> from catlayer import O, S
    >>> default_hidden_type(O(3), {0: 5, 1: 5}, {2: 1})
    {0: 64, 1: 16, 2: 16}
    >>> default_hidden_type(S(12), {2: 1}, {0: 1})
    {0: 64, 1: 16, 2: 4}
    """
    top = max(max(feature_type(in_type)), max(feature_type(out_type)))
    n = int(group.n)
    out = {0: width}
    for k in range(1, top + 1):
        channels = 2 ** max(0, math.floor(math.log2(max(256 / n**k, 1))))
        out[k] = max(4, min(tensor_width, channels))
    return out


class _Block(nn.Module):
    """One residual block: h ↦ out(act(a)) + products(u, v) with (a, u, v) = mix(h)."""

    def __init__(self, group, hidden: FeatureType, nonlinearity: str, function, product_width: int, factory) -> None:
        super().__init__()
        if nonlinearity == "gated":
            self.act = GatedNonlinearity(group, hidden, function=function)
        elif nonlinearity == "norm":
            self.act = NormNonlinearity(group, hidden, function=function, **factory)
        else:
            self.act = PointwiseNonlinearity(group, hidden, function=function)
        act_in = self.act.in_type
        self.product_orders = tuple(
            k
            for k in hidden
            if product_width and any(product_diagrams(group, min(k, j), max(k, j), c) for j in hidden for c in hidden)
        )
        mix_type = dict(act_in)
        for k in self.product_orders:
            mix_type[k] = mix_type.get(k, 0) + 2 * product_width
        self.act_channels = act_in
        self.product_width = product_width
        self.mix = TypedLinear(group, hidden, dict(sorted(mix_type.items())), **factory)
        self.out = TypedLinear(group, hidden, hidden, **factory)
        self.products = (
            TypedBilinear(group, {k: product_width for k in self.product_orders}, hidden, "canonical", **factory)
            if self.product_orders
            else None
        )

    def forward(self, h: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        a = self.mix.run(h)
        act_in = {k: a[k][:, :c] for k, c in self.act_channels.items()}
        y = self.out.run(self.act(act_in))
        if self.products is not None:
            w = self.product_width
            u = {k: a[k][:, self.act_channels.get(k, 0) : self.act_channels.get(k, 0) + w] for k in self.product_orders}
            v = {k: a[k][:, self.act_channels.get(k, 0) + w :] for k in self.product_orders}
            p = self.products.run(u, v)
            y = {k: (y[k] + p[k]) if k in p else y[k] for k in y}
        return y


class EquivariantMLP(Checkable, nn.Module):
    """An equivariant network from features of type ``in_type`` to features of type ``out_type``.

    Arguments beyond the types (all optional): ``hidden`` (a feature type; default
    :func:`default_hidden_type`), ``depth`` (number of residual blocks, default 2),
    ``nonlinearity`` ("pointwise", "gated" or "norm"; default pointwise for S_n, gated otherwise),
    ``function`` (the scalar function, default "silu"), ``product_width`` (channels of the
    products u, v; default: the fewest hidden channels of an order ≥ 1, at most 16; 0 disables
    products), ``device``, ``dtype``.

    >>> import torch
    >>> from catlayer import O, S
    >>> model = EquivariantMLP(O(3), in_type={0: 5, 1: 5}, out_type={2: 1})
    >>> out = model({0: torch.randn(7, 5), 1: torch.randn(7, 5, 3)})
    >>> {k: tuple(v.shape) for k, v in out.items()}
    {2: (7, 1, 3, 3)}
    >>> net = EquivariantMLP(S(12), in_type={2: 1}, out_type={0: 1})
    >>> A = (torch.rand(4, 12, 12) < 0.3).float()
    >>> net({2: A[:, None]})[0].shape
    torch.Size([4, 1])
    """

    def __init__(
        self,
        group,
        in_type,
        out_type,
        hidden=None,
        depth: int = 2,
        nonlinearity: str | None = None,
        function="silu",
        product_width: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_group(group)
        self.group = group
        self.n = int(group.n)
        self.in_type: FeatureType = feature_type(in_type, "in_type")
        self.out_type: FeatureType = feature_type(out_type, "out_type")
        self.hidden: FeatureType = (
            default_hidden_type(group, self.in_type, self.out_type)
            if hidden is None
            else feature_type(hidden, "hidden")
        )
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise ValueError(f"depth must be an int >= 0, got {depth!r}")
        if product_width is None:
            product_width = min([16] + [c for k, c in self.hidden.items() if k > 0])
        if isinstance(product_width, bool) or not isinstance(product_width, int) or product_width < 0:
            raise ValueError(f"product_width must be an int >= 0, got {product_width!r}")
        if nonlinearity is None:
            nonlinearity = "pointwise" if acts_by_permutations(group) else "gated"
        if nonlinearity not in ("pointwise", "gated", "norm"):
            raise ValueError(f"nonlinearity must be 'pointwise', 'gated' or 'norm', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.depth = depth
        factory = {"device": device, "dtype": dtype}
        self.embed = TypedLinear(group, self.in_type, self.hidden, **factory)
        self.blocks = nn.ModuleList(
            _Block(group, self.hidden, nonlinearity, function, product_width, factory) for _ in range(depth)
        )
        self.head = TypedLinear(group, self.hidden, self.out_type, **factory)
        self.residual_scale = 1.0 / math.sqrt(max(depth, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every part; the two terms of each block share unit variance."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        with torch.no_grad():
            for block in self.blocks:
                if block.products is not None:
                    for p in [*block.out.parameters(), *block.products.parameters()]:
                        p.mul_(math.sqrt(0.5))

    def extra_repr(self) -> str:
        return (
            f"group={self.group!r}, in_type={type_str(self.in_type)}, out_type={type_str(self.out_type)}, "
            f"hidden={type_str(self.hidden)}, depth={self.depth}, nonlinearity={self.nonlinearity!r}"
        )

    def forward(self, features: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        flat, batch_shape = flatten_batch(self, features, self.in_type, self.n)
        h = self.embed.run(flat)
        for block in self.blocks:
            y = block(h)
            h = {k: h[k] + self.residual_scale * y[k] for k in h}
        return unflatten_batch(self.head.run(h), batch_shape)
