"""The one module core every catlayer torch module is built on.

:class:`EquivariantModule` opens every constructor the same way (the group, the feature types,
``reduce`` and ``execution`` checked before any work) and checks every input in one place
(:meth:`EquivariantModule.check_inputs`): the orders and channels of each feature, the sizes of
its axes (fixed by the group, or read at run time for ``S()``), one batch shape, a floating dtype
equal to the parameters', one device, and the masks. It refuses a forward whose tensors would
not fit the memory budget before allocating any of them (:meth:`EquivariantModule._check_memory`,
on each module's bound of the entries per sample), and identifies the group in ``state_dict``
(weights of another family are refused by name).

**Feature types.** A type maps an order to a number of channels. For a single group an order is
an int k and a tensor of that order has shape ``(*batch, channels) + (n,) * k``; for a product
G × H an order is a tuple (a, b) and the shape is ``(*batch, channels) + (n,) * a + (m,) * b``
(docs/conventions.md §10).

**Sizes and masks** (docs/conventions.md §11). A factor of the group that acts by permutations
(S(n), or ``S()`` for every n) may carry a mask: a bool tensor ``(*batch, N)`` saying which of
the N indices of each sample are valid. A module's output on the valid indices of a sample
equals the module applied to that sample alone (at its own size), it is 0 at every multi-index
that touches a padded index, and the inputs there are ignored. ``S()`` takes any N; its size is
read off the inputs (or the mask, for order-0 inputs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..diagrams.validation import short_repr
from ..groups import Group, ProductGroup
from ..groups.product import group_factors
from ..memory import check_size

__all__ = [
    "Call",
    "EquivariantModule",
    "FeatureType",
    "Order",
    "check_group",
    "feature_type",
    "mask_product",
    "masked",
    "order_axes",
    "output_mask",
    "type_str",
]

#: An order: an int (a single group) or a tuple of ints (one per factor of a product).
Order = Any
#: order → channels, orders increasing.
FeatureType = dict[Any, int]

_EXECUTIONS = ("auto", "plan", "dense")
_REDUCE = ("mean", "sum")


def check_group(group: object) -> tuple[Group | ProductGroup, tuple[Group, ...]]:
    """The group and its factors, or a TypeError naming the problem.

    >>> from catlayer import S, O
    >>> check_group(S() * O(3))[1]
    (S(), O(3))
    >>> check_group(O)
    Traceback (most recent call last):
    ...
    TypeError: group must be a catlayer group value: call the class with its size, e.g. O(3)
    """
    if isinstance(group, type) and issubclass(group, Group):
        example = "S()" if group.__name__ == "S" else f"{group.__name__}(3)"
        raise TypeError(f"group must be a catlayer group value: call the class with its size, e.g. {example}")
    if not isinstance(group, (Group, ProductGroup)):
        raise TypeError(
            f"group must be a catlayer group such as S(5), S(), O(3) or S() * O(3), got {short_repr(group)}"
        )
    return group, group_factors(group)


def _count(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an int >= {minimum}, got {short_repr(value)}")
    return int(value)


def check_order(order: object, num_factors: int, what: str) -> Order:
    """An order for a group with ``num_factors`` factors: an int ≥ 0 for one, a tuple of ints ≥ 0
    for a product."""
    if num_factors == 1:
        if isinstance(order, tuple) and len(order) == 1:
            raise ValueError(f"{what}: orders of a single group are ints, got {short_repr(order)}")
        return _count(order, what, 0)
    if not isinstance(order, (tuple, list)) or len(order) != num_factors:
        raise ValueError(
            f"{what}: an order of a product of {num_factors} groups is a tuple of {num_factors} ints "
            f"(one per factor), got {short_repr(order)}"
        )
    return tuple(_count(o, what, 0) for o in order)


def feature_type(mapping: object, factors: int | Sequence[Group] = 1, what: str = "feature type") -> FeatureType:
    """Check and normalise a feature type: a non-empty mapping order → channels (int ≥ 1),
    returned as a plain dict with increasing orders. ``factors``: the group's factors (or how
    many), which decides whether orders are ints or tuples.

    >>> feature_type({1: 2, 0: 5})
    {0: 5, 1: 2}
    >>> feature_type({(1, 1): 2, (0, 0): 1}, 2)
    {(0, 0): 1, (1, 1): 2}
    >>> feature_type({1: 0})
    Traceback (most recent call last):
    ...
    ValueError: feature type: channels of order 1 must be an int >= 1, got 0
    """
    count = factors if isinstance(factors, int) else len(factors)
    if not isinstance(mapping, Mapping):
        example = "{0: 5, 1: 5}" if count == 1 else "{(1, 1): 4}"
        raise TypeError(f"{what} must be a mapping order -> channels such as {example}, got {short_repr(mapping)}")
    if not mapping:
        raise ValueError(f"{what} is empty: give at least one order")
    out = {}
    for order, channels in mapping.items():
        k = check_order(order, count, f"{what}: an order")
        out[k] = _count(channels, f"{what}: channels of order {k}", 1)
    return dict(sorted(out.items()))


def type_str(ftype: Mapping[Any, int]) -> str:
    """A feature type as text (orders increasing)."""
    return "{" + ", ".join(f"{k}: {c}" for k, c in sorted(ftype.items())) + "}"


def order_axes(order: Order) -> tuple[int, ...]:
    """The factor of each tensor axis of a feature of this order (the first factor's axes first).

    >>> order_axes(2), order_axes((1, 2))
    ((0, 0), (0, 1, 1))
    """
    if isinstance(order, tuple):
        return tuple(f for f, count in enumerate(order) for _ in range(count))
    return (0,) * order


def _order_key(key: object) -> object:
    # The TorchScript-based ONNX exporter traces a dict input with its int keys turned into 0-d
    # integer tensors; read those back as the orders they were, anything else stays as given.
    if isinstance(key, torch.Tensor) and key.dim() == 0 and not key.dtype.is_floating_point and key.dtype != torch.bool:
        return int(key.item())
    return key


@dataclass
class Call:
    """A checked call: the features with exactly one batch axis, the original batch shape (None
    when there was exactly one axis), the size of every factor (an int, or a symbolic size
    under a tracer), and the mask of every factor as a float 0/1 tensor (B, N) or None."""

    features: dict[Any, torch.Tensor]
    batch_shape: tuple[int, ...] | None
    sizes: tuple[Any, ...]
    masks: tuple[torch.Tensor | None, ...]

    @property
    def masked(self) -> bool:
        return any(m is not None for m in self.masks)

    def restore(self, out: dict[Any, torch.Tensor]) -> dict[Any, torch.Tensor]:
        """Undo the batch flattening on an output dict."""
        if self.batch_shape is None:
            return out
        if self.batch_shape == ():
            return {k: x.squeeze(0) for k, x in out.items()}
        return {k: x.reshape(self.batch_shape + x.shape[1:]) for k, x in out.items()}


class EquivariantModule(nn.Module):
    """What every catlayer module shares: the constructor opening, the input checks, masks and
    the group's identity in ``state_dict``. Subclasses call ``self._open(...)`` first in their
    ``__init__``; it checks and sets the attributes below.

    Args (of ``_open``):
        group: a catlayer group (``S(5)``, ``S()``, ``O(3)``, ``S() * O(3)``, …).
        in_type: the input feature type, a dict order → channels.
        out_type: the output feature type (default: ``in_type``).
        reduce: ``"mean"`` (sums over indices are means) or ``"sum"``.
        execution: ``"auto"``, ``"plan"`` or ``"dense"``.

    Attributes: ``group``, ``factors`` (the group's factors), ``in_type``, ``out_type``,
    ``reduce``, ``execution``.

    Shape:
        - Input: a dict order k → ``(*batch, in_type[k]) + axes(k)``, checked by
          :meth:`check_inputs`, and optionally a bool mask ``(*batch, N)`` per factor that
          permutes indices.
        - Output: a dict order l → ``(*batch, out_type[l]) + axes(l)``.

    >>> import torch
    >>> from catlayer import S
    >>> from catlayer.nn import PointwiseNonlinearity
    >>> act = PointwiseNonlinearity(S(), {0: 1, 1: 2}, "relu")
    >>> isinstance(act, EquivariantModule), act.factors
    (True, (S(),))
    >>> call = act.check_inputs({0: torch.ones(3, 1), 1: torch.ones(3, 2, 5)})
    >>> call.sizes, call.batch_shape
    ((5,), None)
    """

    group: Any
    factors: tuple[Group, ...]
    in_type: FeatureType
    out_type: FeatureType

    def _open(
        self,
        group: object,
        in_type: object,
        out_type: object | None = None,
        *,
        reduce: str = "mean",
        execution: str = "auto",
    ) -> None:
        self.group, self.factors = check_group(group)
        if reduce not in _REDUCE:
            raise ValueError(f"reduce must be 'mean' or 'sum', got {short_repr(reduce)}")
        if execution not in _EXECUTIONS:
            raise ValueError(f"execution must be 'auto', 'plan' or 'dense', got {short_repr(execution)}")
        self.reduce = reduce
        self.execution = execution
        self.in_type = feature_type(in_type, self.factors, "in_type")
        self.out_type = feature_type(out_type if out_type is not None else in_type, self.factors, "out_type")

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def n(self) -> Any:
        """The group's size: an int for a single group (None for ``S()``), a tuple for a product."""
        return self.group.n

    @property
    def fixed_sizes(self) -> tuple[int | None, ...]:
        """Each factor's size, None where it is read at run time (``S()``)."""
        return tuple(g.n for g in self.factors)

    @property
    def maskable(self) -> tuple[bool, ...]:
        """Whether each factor may carry a mask (it acts by permuting indices)."""
        return tuple(bool(g.acts_by_permutations) for g in self.factors)

    def _shape_text(self, order: Order, channels: int) -> str:
        names = []
        for f in order_axes(order):
            size = self.factors[f].n
            names.append(str(size) if size is not None else ("N" if len(self.factors) == 1 else f"N{f}"))
        return "(*batch, " + ", ".join([str(channels), *names]) + ")"

    # -- input checks ---------------------------------------------------------------------------
    def _parameter_like(self) -> torch.Tensor | None:
        """A tensor with the dtype and device inputs must have (None: any floating dtype)."""
        like = getattr(self, "_like", None)
        return like() if like is not None else next(self.parameters(), None)

    def check_inputs(self, features: object, mask: object = None, ftype: FeatureType | None = None) -> Call:
        """Check ``features`` (a dict order → tensor) against ``ftype`` (default ``in_type``) and
        ``mask``; bring every tensor to one batch axis. Raises a TypeError / ValueError naming
        the order, the expected shape and what was given."""
        ftype = self.in_type if ftype is None else ftype
        name = type(self).__name__
        if not isinstance(features, Mapping):
            raise TypeError(
                f"{name} expects a dict order -> tensor of type {type_str(ftype)}, got {type(features).__name__}"
            )
        features = {_order_key(k): v for k, v in features.items()}
        if set(features) != set(ftype):
            missing = sorted(set(ftype) - set(features), key=str)
            extra = sorted(set(features) - set(ftype), key=str)
            detail = (f"; missing {missing}" if missing else "") + (f"; unexpected {extra}" if extra else "")
            raise ValueError(f"{name} expects the orders {sorted(ftype)} (type {type_str(ftype)}){detail}")
        like = self._parameter_like()
        lead: int | None = None
        batch_shape: tuple[int, ...] = ()
        dtype = device = None
        sizes: list[Any] = list(self.fixed_sizes)
        seen: list[str | None] = [None] * len(self.factors)
        for k, channels in ftype.items():
            x = features[k]
            axes = order_axes(k)
            if not isinstance(x, torch.Tensor):
                expected = self._shape_text(k, channels)
                raise TypeError(f"{name}: order {k} must be a torch.Tensor of shape {expected}, got {type(x).__name__}")
            if x.dim() < 1 + len(axes):
                expected = self._shape_text(k, channels)
                raise ValueError(
                    f"{name}: order {k} must have shape {expected}, got {tuple(x.shape)} (too few axes for order {k})"
                )
            if x.shape[x.dim() - 1 - len(axes)] != channels:
                expected = self._shape_text(k, channels)
                got = x.shape[x.dim() - 1 - len(axes)]
                raise ValueError(
                    f"{name}: order {k} must have shape {expected}, got {tuple(x.shape)} ({got} channels where the "
                    f"type has {channels}, or the wrong number of axes)"
                )
            self._check_dtype(x, like, f"order {k}")
            this_lead = x.dim() - 1 - len(axes)
            for a, f in enumerate(axes):
                size = x.shape[this_lead + 1 + a]
                if self.factors[f].n is not None:
                    if size != self.factors[f].n:
                        expected = self._shape_text(k, channels)
                        raise ValueError(
                            f"{name}: order {k} must have shape {expected} (the size of {self.factors[f]!r}), "
                            f"got {tuple(x.shape)}"
                        )
                elif seen[f] is None:
                    sizes[f], seen[f] = size, f"order {k}"
                elif size != sizes[f]:
                    raise ValueError(
                        f"{name}: every axis of {self.factors[f]!r} needs one size N per call; {seen[f]} has "
                        f"{sizes[f]}, order {k} has {size} (shape {tuple(x.shape)})"
                    )
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
        assert lead is not None
        masks = self._check_masks(mask, batch_shape, sizes, seen, device)
        for f, size in enumerate(sizes):
            if size is None:
                raise ValueError(
                    f"{name}: no input has an axis of {self.factors[f]!r}, so its size is unknown: pass a mask "
                    f"(*batch, N) saying which of the N indices are valid"
                )
        if lead == 1:
            flat, shape = dict(features), None
        elif lead == 0:
            flat, shape = {k: x.unsqueeze(0) for k, x in features.items()}, batch_shape
        else:
            flat, shape = {k: x.flatten(0, lead - 1) for k, x in features.items()}, batch_shape
        return Call(flat, shape, tuple(sizes), masks)

    def _check_dtype(self, x: torch.Tensor, like: torch.Tensor | None, what: str) -> None:
        name = type(self).__name__
        if not (x.dtype.is_floating_point or x.dtype.is_complex):
            raise TypeError(
                f"{name}: {what} is {x.dtype}; catlayer modules compute in floating point: convert it first "
                f"(e.g. x.to({like.dtype if like is not None else torch.get_default_dtype()})): an integer or bool "
                f"dtype is refused"
            )
        if like is not None:
            if x.dtype != like.dtype:
                raise TypeError(
                    f"{name} computes in {like.dtype} but {what} is {x.dtype} (the dtypes differ); convert the input "
                    f"(x.to({like.dtype})) or the module (module.to({x.dtype}))"
                )
            if x.device != like.device:
                raise ValueError(f"{name} is on {like.device} but {what} is on {x.device}")

    def _check_masks(
        self, mask: object, batch_shape: tuple[int, ...], sizes: list[Any], seen: list[str | None], device: Any
    ) -> tuple[torch.Tensor | None, ...]:
        """One float 0/1 mask (B, N) per factor, or None; fills in sizes read off masks."""
        name = type(self).__name__
        count = len(self.factors)
        if mask is None:
            return (None,) * count
        maskable = [f for f in range(count) if self.maskable[f]]
        if isinstance(mask, torch.Tensor):
            if len(maskable) != 1:
                raise ValueError(
                    f"{name}: {self.group!r} has {len(maskable)} factors that take masks; pass a tuple with one "
                    f"mask (or None) per factor"
                )
            masks: list[Any] = [None] * count
            masks[maskable[0]] = mask
        elif isinstance(mask, (tuple, list)) and len(mask) == count:
            masks = list(mask)
        else:
            raise TypeError(
                f"{name}: mask must be a bool tensor (*batch, N) or a tuple of {count} such tensors or None (one per "
                f"factor), got {short_repr(mask)}"
            )
        out: list[torch.Tensor | None] = []
        for f, m in enumerate(masks):
            if m is None:
                out.append(None)
                continue
            group = self.factors[f]
            if not self.maskable[f]:
                raise ValueError(
                    f"{name}: {group!r} does not act by permuting indices, so a subset of its indices is not "
                    f"a smaller {type(group).__name__}: masks belong to factors such as S() or S(n)"
                )
            if not isinstance(m, torch.Tensor):
                raise TypeError(f"{name}: a mask must be a torch.Tensor, got {type(m).__name__}")
            if m.dtype != torch.bool:
                raise TypeError(f"{name}: a mask must be a bool tensor (True = valid index), got dtype {m.dtype}")
            if tuple(m.shape[:-1]) != batch_shape or m.dim() != len(batch_shape) + 1:
                raise ValueError(
                    f"{name}: the mask of {group!r} must have shape (*batch, N) = {(*batch_shape, 'N')}, "
                    f"got {tuple(m.shape)}"
                )
            if m.device != device:
                raise ValueError(f"{name}: the mask is on {m.device}, the features on {device}")
            size = m.shape[-1]
            if group.n is not None and size != group.n:
                raise ValueError(f"{name}: the mask of {group!r} must have {group.n} entries per sample, got {size}")
            if sizes[f] is None:
                sizes[f], seen[f] = size, "the mask"
            elif size != sizes[f]:
                raise ValueError(
                    f"{name}: the mask has N = {size} entries per sample, but {seen[f]} has size {sizes[f]}"
                )
            flat = m.reshape(-1, size) if len(batch_shape) != 1 else m
            out.append(flat)
        return tuple(out)

    # -- memory ---------------------------------------------------------------------------------
    def _entries_per_sample(self, sizes: tuple[int, ...]) -> int:
        """An upper bound on the entries one sample keeps in flight in the forward at these sizes.
        The default suits entrywise modules (the nonlinearities): the inputs and a masked copy of
        them, and three tensors per output (the function's values, a gate, their product)."""
        inputs = sum(c * entries(k, sizes) for k, c in self.in_type.items())
        outputs = sum(c * entries(l, sizes) for l, c in self.out_type.items())
        return 2 * inputs + 3 * outputs

    def _check_memory(self, call: Call, like: torch.Tensor | None = None) -> None:
        """Refuse a forward whose tensors would not fit the memory budget
        (:class:`~catlayer.memory.AllocationTooLarge`, naming the module, the batch and the
        sizes) before anything is allocated. Every module's forward calls it on its checked call;
        under a tracer (export, compile) sizes may be symbolic and nothing is checked."""
        if not _eager():
            return
        x = like if like is not None else next(iter(call.features.values()))
        batch = x.shape[0]
        if not isinstance(batch, int) or not all(isinstance(s, int) for s in call.sizes):
            return
        sizes = tuple(call.sizes)
        cache: dict[tuple[int, ...], int] = self.__dict__.setdefault("_memory_cache", {})
        if sizes not in cache:
            cache[sizes] = self._entries_per_sample(sizes)
        check_size(
            batch * cache[sizes] * x.element_size(),
            lambda: f"the forward of {type(self).__name__}({self.group!r}, ...) on a batch of {batch} at sizes {sizes}",
        )

    # -- verification ---------------------------------------------------------------------------
    def _catlayer_check_equivariance(self, **kwargs: Any) -> Any:
        """The hook of ``catlayer.verify.check_equivariance(module)``: certificates of the linear
        and bilinear parts, rules of the others, numeric check of the forward."""
        from ..verify.modules import check_network

        return check_network(self, **kwargs)

    # -- identity in state_dict -----------------------------------------------------------------
    def _identity(self) -> str:
        """What a state_dict must match: the family of each factor (S(n) and S() are one family:
        their weights mean the same diagrams) and the reduction."""
        return "*".join(_family(g) for g in self.factors) + "|" + self.reduce

    def _register_identity(self) -> None:
        """The group's identity as a persistent uint8 buffer ``_group`` (a tensor, so that every
        tracer and exporter takes the module as it is), checked by :meth:`_load_from_state_dict`."""
        like = next(self.parameters(), None)
        device = like.device if like is not None and like.device.type != "meta" else None
        data = torch.tensor(list(self._identity().encode()), dtype=torch.uint8, device=device)
        self.register_buffer("_group", data, persistent=True)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        super()._apply(fn, recurse)
        if "_group" in self._buffers:
            self._register_identity()  # rebuilt: ``to_empty`` leaves garbage in buffers
        return self

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        key = prefix + "_group"
        if "_group" in self._buffers and key in state_dict:
            theirs = bytes(state_dict[key].to("cpu", torch.uint8).tolist()).decode(errors="replace")
            mine = self._identity()
            if theirs != mine:
                group, reduce = theirs.rsplit("|", 1) if "|" in theirs else (theirs, "?")
                mine_group, mine_reduce = mine.rsplit("|", 1)
                where = f"{type(self).__name__} ({prefix or 'the module'})"
                if group != mine_group:
                    raise ValueError(
                        f"{where}: the state_dict was saved for the group family {group}, this module is for "
                        f"{self.group!r} ({mine_group}): the weights are coefficients of another family's diagrams"
                    )
                raise ValueError(
                    f"{where}: the state_dict was saved with reduce={reduce!r}, this module has "
                    f"reduce={mine_reduce!r}: the same weights would compute another function"
                )
            state_dict[key] = self._buffers["_group"]
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


def _eager() -> bool:
    """Whether the forward runs eagerly (not traced or compiled: sizes are plain ints)."""
    return not (torch.jit.is_tracing() or torch.compiler.is_compiling())


def _family(group: Group) -> str:
    """S(n) for every n is one family (weights of S(12) load into S() and back); other groups
    must match exactly (their size and signature change what the weights mean)."""
    return "S" if group.acts_by_permutations and type(group).__name__ == "S" else repr(group)


def masked(x: torch.Tensor, masks: Sequence[torch.Tensor | None], axes: tuple[int, ...]) -> torch.Tensor:
    """x (B, c) + axes with every entry whose multi-index touches a padded index set to 0
    (``torch.where``: whatever the padded entries hold, finite or not, is ignored)."""
    keep = mask_product(masks, axes, x.dim())
    if keep is None:
        return x
    return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))


def mask_product(masks: Sequence[torch.Tensor | None], axes: tuple[int, ...], dim: int) -> torch.Tensor | None:
    """The bool tensor (B, 1) + (N or 1, …) that is True where every masked axis is valid."""
    keep = None
    for a, f in enumerate(axes):
        m = masks[f]
        if m is None:
            continue
        shape = [m.shape[0]] + [1] * (dim - 1)
        shape[2 + a] = m.shape[1]
        term = m.reshape(shape)
        keep = term if keep is None else keep & term
    return keep


def output_mask(masks: Sequence[torch.Tensor | None], axes: tuple[int, ...], dim: int) -> torch.Tensor | None:
    """Where an output with these axes may be non-zero: every masked axis valid, and every masked
    factor without an axis here non-empty (a sample with no valid index gives zeros)."""
    keep = mask_product(masks, axes, dim)
    for f, m in enumerate(masks):
        if m is None or f in axes:
            continue
        nonempty = m.any(1).reshape([m.shape[0]] + [1] * (dim - 1))
        keep = nonempty if keep is None else keep & nonempty
    return keep


def counts(
    masks: Sequence[torch.Tensor | None], sizes: Sequence[Any], dtype: torch.dtype, like: torch.Tensor
) -> list[Any]:
    """Per factor, the number of valid indices of each sample as (B, 1, 1) in ``dtype`` (masked
    factors), or the size as a number."""
    out: list[Any] = []
    for m, size in zip(masks, sizes, strict=True):
        if m is None:
            out.append(size)
        else:
            out.append(m.sum(1, dtype=dtype).reshape(-1, 1, 1))
    del like
    return out


def entries(order: Order, sizes: Sequence[int]) -> int:
    """n^k (or Π over a product's factors) for fixed sizes."""
    return math.prod(sizes[f] for f in order_axes(order))
