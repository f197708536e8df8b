"""``EquivariantMLP``: a complete equivariant network between mixed-order feature types.

Architecture (all parts equivariant; ``check_equivariance(model)`` checks them one by one)::

    h = embed(x) + embed_products(x, x)            TypedLinear and TypedBilinear  in_type → hidden
    repeat depth times:                            residual blocks
        a, u, v = mix(h)                           TypedLinear  hidden → activations ⊕ u ⊕ v
        h = h + β · (out(act(a)) + products(u, v))
    y = head(h) · (n / n̄)^α                        TypedLinear  hidden → out_type

* ``act``: per order, the function entrywise where every group acting on the order permutes
  indices (S_n; pair features (2, 0) under S_N × O(3)) and on invariant channels, a gate (an
  invariant channel through a sigmoid) elsewhere; ``nonlinearity="gated"`` gates every
  non-invariant order, ``"norm"`` uses the norm nonlinearity (groups of orthogonal matrices),
  ``"pointwise"`` insists on entrywise functions (groups acting by permutations).
* ``products``: :class:`~catlayer.nn.TypedBilinear` on the canonical product diagrams between
  all hidden orders (matrix products of PPGN for graphs, dot/outer products and, for SO(3),
  cross products for point clouds), channel by channel between two linear projections u, v of
  h. The embedding takes products of the input with itself for the hidden orders no linear map
  reaches: that is how invariants (Gram entries, Minkowski products) arise from vectors.
* ``hidden`` (default, :func:`default_hidden_type`): every order up to the largest input or
  output order (per factor, for a product) that the input reaches by a linear map or a product,
  64 invariant channels and 4–16 channels of each other order (fewer when it has many entries).
* Sizes: every diagram is mean-normalised, so activations stay O(1) at every n, and a network
  cannot count by itself. For groups with a factor of any size (``S()``) the network is given
  the size of each sample (``size_input``: log(n / n̄) as invariant input channels, n the number
  of valid indices, n̄ = ``reference_size``) and scales each output channel by (n / n̄)^α with a
  learned α (``size_scaling``, initially 0, as PELICAN does), which makes extensive targets
  (counts, totals) exactly representable.
* Scale at initialisation: each layer maps unit-variance inputs to unit mean second moment; the
  two branch terms share that budget and β = 1/sqrt(depth), so activations stay O(1) whatever n
  and the depth (tests/test_nn_mlp.py).
"""

from __future__ import annotations

import math
from typing import Any, Protocol, TypedDict, cast

import torch
from torch import nn

from ..diagrams.validation import short_repr
from ..groups.product import group_factors
from .bilinear import TypedBilinear, canonical_products
from .core import Call, EquivariantModule, entries, feature_type, order_axes, output_mask, type_str
from .linear import TypedLinear, _zero_order
from .nonlinear import GatedNonlinearity, NormNonlinearity, PointwiseNonlinearity

__all__ = ["EquivariantMLP", "default_hidden_type"]

#: The size a factor of any size (``S()``) is assumed to have when choosing default widths.
_NOMINAL_SIZE = 8


class _Factory(TypedDict):
    """The keyword arguments every part of the network gets."""

    device: torch.device | str | None
    dtype: torch.dtype | None
    reduce: str


class _LinearOptions(_Factory):
    """The keyword arguments of the linear parts."""

    execution: str


class _Runs(Protocol):
    """A catlayer module on dicts that runs a checked call (the nonlinearities, the typed linear
    layers): :class:`EquivariantModule` leaves ``run`` to its subclasses."""

    def run(self, call: Call) -> dict[Any, torch.Tensor]: ...


def _orders_upto(top: tuple[int, ...]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for t in top:
        out = [(*o, i) for o in out for i in range(t + 1)]
    return out


def _as_tuple(order: Any) -> tuple[int, ...]:
    return order if isinstance(order, tuple) else (order,)


def _from_tuple(order: tuple[int, ...], single: bool) -> Any:
    return order[0] if single else order


def _sum(a: Any, b: Any) -> Any:
    return tuple(x + y for x, y in zip(a, b, strict=True)) if isinstance(a, tuple) else a + b


def default_hidden_type(
    group: Any, in_type: Any, out_type: Any, width: int = 64, tensor_width: int = 16
) -> dict[Any, int]:
    """Every order up to the largest input or output order (componentwise for a product) that the
    input reaches by a linear map or by a product of two input features; ``width`` invariant
    channels, and for another order the power of two closest below 256 / (its entries) (n^k; a
    factor of any size counts as n = 8), clamped to [4, ``tensor_width``].

    >>> from catlayer import O, S
    >>> default_hidden_type(O(3), {0: 5, 1: 5}, {2: 1})
    {0: 64, 1: 16, 2: 16}
    >>> default_hidden_type(O(3), {2: 1}, {0: 1})             # O(3): no map between parities
    {0: 64, 2: 16}
    >>> default_hidden_type(S() * O(3), {(1, 1): 1}, {(0, 0): 1})   # invariants from dot products
    {(0, 0): 64, (0, 1): 16, (1, 0): 16, (1, 1): 8}
    """
    factors = group_factors(group)
    single = len(factors) == 1
    ins = feature_type(in_type, factors, "in_type")
    outs = feature_type(out_type, factors, "out_type")
    top = tuple(max(_as_tuple(k)[f] for k in [*ins, *outs]) for f in range(len(factors)))
    zero = _zero_order(len(factors))
    out: dict[Any, int] = {}
    for t in _orders_upto(top):
        order = _from_tuple(t, single)
        reached = any(group.basis(k, order) for k in ins) or any(
            canonical_products(group, a, b, order) for i, a in enumerate(ins) for b in list(ins)[i:]
        )
        if not reached and order != zero:
            continue
        if order == zero:
            out[order] = width
            continue
        entries = math.prod(
            (g.n if g.n is not None else _NOMINAL_SIZE) for g in (factors[f] for f in order_axes(order))
        )
        channels = 2 ** max(0, math.floor(math.log2(max(256 / entries, 1))))
        out[order] = max(4, min(tensor_width, channels))
    return dict(sorted(out.items()))


def _activation(group: Any, hidden: dict[Any, int], nonlinearity: str, function: Any) -> EquivariantModule:
    """The block's nonlinearity (see the module docstring): with "auto", entrywise where every
    order is invariant or acted on by permutations only, gated where none is, both otherwise."""
    factors = group_factors(group)
    permuted = [all(factors[f].acts_by_permutations for f in order_axes(k)) for k in hidden]
    if nonlinearity == "norm":
        return NormNonlinearity(group, hidden, function=function)
    if nonlinearity == "pointwise" or (nonlinearity == "auto" and all(permuted)):
        return PointwiseNonlinearity(group, hidden, function=function)
    return GatedNonlinearity(group, hidden, function=function, pointwise=nonlinearity == "auto")


class _Block(nn.Module):
    """One residual block: h ↦ out(act(a)) + products(u, v) with (a, u, v) = mix(h)."""

    def __init__(
        self,
        group: Any,
        hidden: dict[Any, int],
        nonlinearity: str,
        function: Any,
        product_width: int,
        factory: _LinearOptions,
    ) -> None:
        super().__init__()
        act = _activation(group, hidden, nonlinearity, function)
        # Any module may be put here by hand (see forward); the network builds a nonlinearity.
        self.act: nn.Module = act
        act_in = act.in_type
        orders = list(hidden)
        self.product_orders = tuple(
            k
            for k in orders
            if product_width and any(canonical_products(group, min(k, j), max(k, j), c) for j in orders for c in orders)
        )
        mix_type = dict(act_in)
        for k in self.product_orders:
            mix_type[k] = mix_type.get(k, 0) + 2 * product_width
        self.act_channels = act_in
        self.product_width = product_width
        self.mix = TypedLinear(group, hidden, dict(sorted(mix_type.items())), **factory)
        self.out = TypedLinear(group, hidden, hidden, **factory)
        self.products: TypedBilinear | None = None
        if self.product_orders:
            width = {k: product_width for k in self.product_orders}
            reachable = {c: hidden[c] for c in hidden if _reachable(group, self.product_orders, c)}
            if reachable:
                bilinear: _Factory = {
                    "device": factory["device"],
                    "dtype": factory["dtype"],
                    "reduce": factory["reduce"],
                }
                self.products = TypedBilinear(group, width, reachable, "canonical", **bilinear)

    def forward(self, h: dict[Any, torch.Tensor], call: Call) -> dict[Any, torch.Tensor]:
        a = self.mix.run(_with(call, h))
        act_in = {k: a[k][:, :c] for k, c in self.act_channels.items()}
        if isinstance(self.act, EquivariantModule):
            activated = cast(_Runs, self.act).run(_with(call, act_in))
        else:  # a module put here by hand: its own forward
            activated = self.act(act_in)
        y = self.out.run(_with(call, activated))
        if self.products is not None:
            w = self.product_width
            start = {k: self.act_channels.get(k, 0) for k in self.product_orders}
            u = {k: a[k][:, start[k] : start[k] + w] for k in self.product_orders}
            v = {k: a[k][:, start[k] + w :] for k in self.product_orders}
            p = self.products.run(_with(call, u), v)
            y = {k: (y[k] + p[k]) if k in p else y[k] for k in y}
        return y


def _reachable(group: Any, orders: tuple[Any, ...], c: Any) -> bool:
    return any(canonical_products(group, a, b, c) for i, a in enumerate(orders) for b in orders[i:])


def _with(call: Call, features: dict[Any, torch.Tensor]) -> Call:
    """The same call (sizes, masks) on other features (with one batch axis)."""
    return Call(features, None, call.sizes, call.masks)


class EquivariantMLP(EquivariantModule):
    """An equivariant network from features of type ``in_type`` to features of type ``out_type``.

    Args:
        group: a catlayer group: ``S()`` (graphs and sets of any size), ``O(3)``, ``S() * O(3)``
            (point clouds), ``S() * O(1, 3)`` (particle sets), …
        in_type, out_type: feature types (dicts order → channels).
        hidden: the hidden feature type (default :func:`default_hidden_type`).
        depth: the number of residual blocks (default 2).
        nonlinearity: "auto" (default: entrywise where the groups permute indices, gated
            elsewhere), "gated", "norm" or "pointwise".
        function: the scalar function (default "silu").
        product_width: channels of the products u, v (default: the fewest hidden channels of a
            non-invariant order, at most 16; 0 disables products).
        size_input, size_scaling: give the network the size of each sample (see the module
            docstring); default: True when a factor has no fixed size (``S()``).
        reference_size: n̄ of the size input and scaling (default 16).
        reduce: "mean" (default) or "sum", for every part.
        execution: "auto", "plan" or "dense", for every linear part.
        device, dtype: of the parameters.

    Shape:
        - Input: a dict order k → ``(*batch, in_type[k]) + axes(k)``; ``mask`` (optional): bool
          ``(*batch, N)`` saying which indices of the permuted factor are valid (a tuple for
          several such factors).
        - Output: a dict order l → ``(*batch, out_type[l]) + axes(l)``.

    >>> import torch
    >>> from catlayer import O, S
    >>> model = EquivariantMLP(O(3), in_type={0: 5, 1: 5}, out_type={2: 1})
    >>> out = model({0: torch.randn(7, 5), 1: torch.randn(7, 5, 3)})
    >>> {k: tuple(v.shape) for k, v in out.items()}
    {2: (7, 1, 3, 3)}
    >>> net = EquivariantMLP(S(), in_type={2: 1}, out_type={0: 1})        # graphs of any size
    >>> A, mask = torch.rand(4, 12, 12), torch.arange(12) < torch.tensor([[12], [7], [9], [3]])
    >>> net({2: A[:, None]}, mask)[0].shape
    torch.Size([4, 1])
    """

    def __init__(
        self,
        group: Any,
        in_type: Any,
        out_type: Any,
        hidden: Any = None,
        depth: int = 2,
        nonlinearity: str = "auto",
        function: Any = "silu",
        product_width: int | None = None,
        *,
        size_input: bool | None = None,
        size_scaling: bool | None = None,
        reference_size: float = 16.0,
        reduce: str = "mean",
        execution: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self._open(group, in_type, out_type, reduce=reduce, execution=execution)
        group = self.group
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise ValueError(f"depth must be an int >= 0, got {short_repr(depth)}")
        if nonlinearity not in ("auto", "pointwise", "gated", "norm"):
            raise ValueError(
                f"nonlinearity must be 'auto', 'pointwise', 'gated' or 'norm', got {short_repr(nonlinearity)}"
            )
        any_size = any(g.n is None for g in self.factors)
        self.size_input = any_size if size_input is None else bool(size_input)
        self.size_scaling = any_size if size_scaling is None else bool(size_scaling)
        if not (isinstance(reference_size, (int, float)) and reference_size > 0 and math.isfinite(reference_size)):
            raise ValueError(f"reference_size must be a positive number, got {short_repr(reference_size)}")
        self.reference_size = float(reference_size)
        self._sized = tuple(f for f, g in enumerate(self.factors) if g.acts_by_permutations)
        zero = _zero_order(len(self.factors))
        embed_type = dict(self.in_type)
        if self.size_input and self._sized:
            embed_type[zero] = embed_type.get(zero, 0) + len(self._sized)
        self._embed_type = feature_type(embed_type, self.factors, "in_type")
        self.hidden = (
            default_hidden_type(group, self._embed_type, self.out_type)
            if hidden is None
            else feature_type(hidden, self.factors, "hidden")
        )
        if product_width is None:
            product_width = min([16] + [c for k, c in self.hidden.items() if k != zero])
        if isinstance(product_width, bool) or not isinstance(product_width, int) or product_width < 0:
            raise ValueError(f"product_width must be an int >= 0, got {short_repr(product_width)}")
        self.nonlinearity, self.depth, self.function = nonlinearity, depth, function
        factory: _Factory = {"device": device, "dtype": dtype, "reduce": reduce}
        linear: _LinearOptions = {**factory, "execution": execution}
        reached = {l: c for l, c in self.hidden.items() if any(group.basis(k, l) for k in self._embed_type)}
        self.embed = TypedLinear(group, self._embed_type, reached, **linear) if reached else None
        # Products of the data with itself where no linear map from the data reaches (e.g.
        # invariants of vectors: Gram entries, Minkowski products p_i·p_j): a quadratic term
        # elsewhere would only add growth at initialisation. The size channels are left out on
        # purpose: a constant log n reaches every invariant order linearly but carries no
        # information about the data, so it must not stand in for the products.
        from_data = {l for l in self.hidden if any(group.basis(k, l) for k in self.in_type)}
        products = {
            l: c for l, c in self.hidden.items() if l not in from_data and _reachable(group, tuple(self.in_type), l)
        }
        self.embed_products = None
        self.embed_square = None
        if product_width and products:
            # Products of two linear projections of the data with itself (channel by channel).
            width = max(self.in_type.values())
            self._embed_width = width
            self.embed_square = TypedLinear(
                group, self.in_type, {k: 2 * width for k in self.in_type}, bias=False, **linear
            )
            self.embed_products = TypedBilinear(
                group, {k: width for k in self.in_type}, products, "canonical", **factory
            )
        missing = [
            l
            for l in self.hidden
            if l not in reached and (self.embed_products is None or l not in self.embed_products.out_type)
        ]
        if missing:
            raise ValueError(
                f"the hidden orders {missing} of {type_str(self.hidden)} are reached neither by a linear map nor by a "
                f"product of the input {type_str(self.in_type)} under {group!r}: leave them out of hidden"
            )
        self.blocks = nn.ModuleList(
            _Block(group, self.hidden, nonlinearity, function, product_width, {**linear}) for _ in range(depth)
        )
        self.head = TypedLinear(group, self.hidden, self.out_type, **linear)
        if self.size_scaling and self._sized:
            self.size_exponent = nn.Parameter(
                torch.zeros(len(self._sized), sum(self.out_type.values()), device=device, dtype=dtype)
            )
        else:
            self.register_parameter("size_exponent", None)
        self.residual_scale = 1.0 / math.sqrt(max(depth, 1))
        if self.size_exponent is not None:
            self._register_identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every part; the terms of the embedding and of each block share unit
        variance; size exponents start at 0."""
        for module in self.modules():
            reset = getattr(module, "reset_parameters", None)
            if module is not self and reset is not None:
                reset()
        with torch.no_grad():
            if self.embed is not None and self.embed_products is not None:
                for p in [*self.embed.parameters(), *self.embed_products.parameters()]:
                    p.mul_(math.sqrt(0.5))
            for block in self.blocks:
                if isinstance(block, _Block) and block.products is not None:
                    for p in [*block.out.parameters(), *block.products.parameters()]:
                        p.mul_(math.sqrt(0.5))
            if self.size_exponent is not None:
                self.size_exponent.zero_()

    def extra_repr(self) -> str:
        text = (
            f"group={self.group!r}, in_type={type_str(self.in_type)}, out_type={type_str(self.out_type)}, "
            f"hidden={type_str(self.hidden)}, depth={self.depth}, nonlinearity={self.nonlinearity!r}"
        )
        if self.size_input or self.size_scaling:
            text += f", size_input={self.size_input}, size_scaling={self.size_scaling}"
        return text

    def _log_sizes(self, call: Call, like: torch.Tensor) -> torch.Tensor:
        """log(n / n̄) per sample and sized factor: (B, F), n the number of valid indices."""
        columns = []
        batch = like.shape[0]
        for f in self._sized:
            m = call.masks[f]
            if m is not None:
                count = m.sum(1, dtype=like.dtype).clamp(min=1)
            else:
                count = like.new_ones(call.sizes[f]).sum().expand(batch)
            columns.append(torch.log(count / self.reference_size))
        return torch.stack(columns, dim=1)

    def forward(self, features: dict[Any, torch.Tensor], mask: Any = None) -> dict[Any, torch.Tensor]:
        """The network on a dict order → tensor (``mask`` optional, see the class docstring)."""
        call = self.check_inputs(features, mask)
        return call.restore(self.run(call))

    def _entries_per_sample(self, sizes: tuple[int, ...]) -> int:
        """An upper bound on the entries one sample keeps in flight: the input, the hidden features
        (h, a block's two branches and the new h), the largest part's output and the network's
        output held at once, plus the largest part's own forward."""
        parts = [m for m in self.modules() if m is not self and isinstance(m, EquivariantModule)]

        def total(ftype: dict[Any, int]) -> int:
            return sum(c * entries(k, sizes) for k, c in ftype.items())

        held = total(self._embed_type) + 4 * total(self.hidden) + total(self.out_type)
        held += max((total(m.out_type) for m in parts), default=0)
        return held + max((m._entries_per_sample(sizes) for m in parts), default=0)

    def run(self, call: Call) -> dict[Any, torch.Tensor]:
        """The network on a checked call."""
        # The whole network's budget up front, so that no part computes before a later one is refused.
        self._check_memory(call)
        features = dict(call.features)
        like = next(iter(features.values()))
        zero = _zero_order(len(self.factors))
        logs = None
        if (self.size_input or self.size_scaling) and self._sized:
            logs = self._log_sizes(call, like)
        if self.size_input and self._sized:
            assert logs is not None
            features[zero] = torch.cat([features[zero], logs], dim=1) if zero in features else logs
        embedded = _with(call, features)
        h: dict[Any, torch.Tensor] = {}
        if self.embed is not None:
            h = self.embed.run(embedded)
        if self.embed_products is not None and self.embed_square is not None:
            w = self._embed_width
            pre = self.embed_square.run(call)
            u = {k: t[:, :w] for k, t in pre.items()}
            v = {k: t[:, w:] for k, t in pre.items()}
            p = self.embed_products.run(_with(call, u), v)
            # Every hidden order is reached by the embedding or by the products (checked in __init__).
            h = {k: h[k] + p[k] if k in h and k in p else h[k] if k in h else p[k] for k in self.hidden}
        for block in self.blocks:
            y = block(h, call)
            h = {k: h[k] + self.residual_scale * y[k] for k in h}
        out = self.head.run(_with(call, h))
        if self.size_exponent is not None:
            assert logs is not None
            # (n / n̄)^α per output channel: exp(Σ_f α_f · log(n_f / n̄)).
            scale = torch.exp(logs @ self.size_exponent)
            start = 0
            for l, c in self.out_type.items():
                factor = scale[:, start : start + c]
                out[l] = out[l] * factor.reshape(factor.shape + (1,) * len(order_axes(l)))
                if call.masked:
                    keep = output_mask(call.masks, order_axes(l), out[l].dim())
                    if keep is not None:
                        out[l] = out[l] * keep
                start += c
        return out
