"""Numeric forward checks: a torch module on random group elements.

The core of :func:`catlayer.testing.assert_equivariant` and of the forward part of
``catlayer.verify.check_equivariance(module)``: it compares f(ρ(g) x) with ρ(g) f(x) in float64
(by default) and, when they differ, names the output entries that do.

* **Every component.** The elements always include one of each connected component of the group
  (``num_components``; for a product, every combination of the factors' components), so a map
  that is equivariant under SO(3) only fails an O(3) check whatever the seed.
* **Per output order.** Each output order is compared at its own scale (the largest entry of
  either side for that order): an order of size 1e9 cannot hide an O(1) error in another.
* **Sizes and masks.** A group with a factor of any size (``S()``) is checked at several sizes,
  each with padded samples (a mask with random valid indices, the padding filled with noise):
  the group then acts on the whole padded index set and on the mask alike; and new noise in the
  padding must leave the outputs on the valid indices as they were.

Torch is imported by the functions that run a module, never at import time.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..groups import ProductGroup
from ..groups.product import group_factors
from ..tolerance import check_samples, check_tolerance, default_tolerance, dtype_name
from .report import EquivarianceReport, Mismatch

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_SIZES", "check_forward", "describe_element", "draw_elements", "order_axes"]

#: The sizes at which a factor of any size (``S()``) is checked (each padded by 2).
DEFAULT_SIZES = (1, 3, 6)


def order_axes(order: Any) -> tuple[int, ...]:
    """The factor of each tensor axis of a feature of this order (an int for a single group, a
    tuple of ints for a product; the first factor's axes first), as in :mod:`catlayer.nn`.

    >>> order_axes(2), order_axes((1, 2))
    ((0, 0), (0, 1, 1))
    """
    if isinstance(order, tuple):
        return tuple(f for f, count in enumerate(order) for _ in range(count))
    return (0,) * int(order)


def draw_elements(group: Any, num: int, seed: int | np.random.Generator | None) -> list[Any]:
    """``num`` random elements of ``group`` from a seeded numpy generator, the first
    ``group.num_components`` of them one per connected component (so at least that many)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    components = max(1, int(getattr(group, "num_components", 1)))
    out = []
    for i in range(max(num, components)):
        component = i if i < components else None
        g = group.random_element(rng, component) if components > 1 else group.random_element(rng)
        out.append(
            tuple(np.asarray(m, dtype=np.float64) for m in g)
            if isinstance(g, tuple)
            else np.asarray(g, dtype=np.float64)
        )
    return out


def describe_element(g: Any) -> str:
    """A group element in words: a permutation matrix as the permutation p with g e_i = e_{p(i)}
    (and its cycles), any other matrix by its rounded entries; a product element factor by factor.

    >>> describe_element(np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]]))
    'permutation [1, 2, 0] (cycles (0 1 2))'
    >>> describe_element(np.diag([1.0, -1.0]))
    'matrix [[1, 0], [0, -1]] (det -1)'
    """
    if isinstance(g, tuple):
        return " × ".join(f"({describe_element(m)})" for m in g)
    g = np.asarray(g, dtype=np.float64)
    n = g.shape[0]
    rounded = np.round(g)
    if np.abs(g - rounded).max(initial=0) < 1e-9 and set(np.unique(rounded)) <= {0.0, 1.0}:
        if (rounded.sum(axis=0) == 1).all() and (rounded.sum(axis=1) == 1).all():
            p = [int(np.argmax(rounded[:, i])) for i in range(n)]
            seen, cycles = set(), []
            for start in range(n):
                if start in seen or p[start] == start:
                    continue
                cycle, i = [], start
                while i not in seen:
                    seen.add(i)
                    cycle.append(i)
                    i = p[i]
                cycles.append("(" + " ".join(map(str, cycle)) + ")")
            return f"permutation {p} (cycles {''.join(cycles) or 'none: the identity'})"

    def number(v: float) -> str:
        return f"{v:.4g}".replace("-0", "0") if abs(v) < 5e-5 else f"{v:.4g}"

    def row(r: np.ndarray) -> str:
        entries = [number(float(v)) for v in r[:6]]
        return "[" + ", ".join(entries + (["…"] if n > 6 else [])) + "]"

    rows = [row(g[i]) for i in range(min(n, 6))] + (["…"] if n > 6 else [])
    text = "[" + ", ".join(rows) + "]"
    det = np.linalg.det(g)
    return f"matrix {text} (det {det:.3g})"


def _module_device(module: torch.nn.Module) -> torch.device:
    import torch

    for tensor in [*module.parameters(), *module.buffers()]:
        return tensor.device
    return torch.device("cpu")


def _act(factors: tuple[Any, ...], g: Any, x: np.ndarray, order: Any) -> np.ndarray:
    """ρ(g) on the trailing axes of x (a feature of this order), factor by factor."""
    elements = g if isinstance(g, tuple) else (g,)
    axes = order_axes(order)
    start = x.ndim - len(axes)
    for f, (group, m) in enumerate(zip(factors, elements, strict=True)):
        mine = [start + a for a, ff in enumerate(axes) if ff == f]
        if not mine:
            continue
        rest = [a for a in range(x.ndim) if a not in mine]
        moved = np.transpose(x, rest + mine)
        acted = np.asarray(group.act(m, moved, len(mine)) if group.n is not None else _permute(m, moved, len(mine)))
        x = np.transpose(acted, np.argsort(rest + mine))
    return x


def _permute(m: np.ndarray, x: np.ndarray, count: int) -> np.ndarray:
    for axis in range(x.ndim - count, x.ndim):
        x = np.moveaxis(np.tensordot(m, x, axes=([1], [axis])), 0, axis)
    return x


def check_forward(
    module: torch.nn.Module,
    group: Any,
    in_order: Any,
    out_order: Any,
    *,
    in_channels: int | None = None,
    elements: Iterable[Any] | None = None,
    num_elements: int = 3,
    seed: int | np.random.Generator | None = 0,
    batch: int = 2,
    dtype: torch.dtype | None = None,
    tolerance: float | None = None,
    max_report: int = 5,
    sizes: Sequence[int] | None = None,
    subject: str = "the forward pass",
) -> EquivarianceReport:
    """Compare f(ρ(g) x) with ρ(g) f(x) for random x ~ N(0, 1) of shape
    (batch, in_channels) + axes(in_order) and group elements g (``elements``, or ``num_elements``
    drawn with ``group.random_element`` from ``seed``, always one per connected component).

    ``in_order`` / ``out_order`` may also be feature types (dicts order → channels): the module
    then maps a dict of tensors to a dict, and ``g`` acts on every order. For a group with a
    factor of any size (``S()``) the check runs at every size of ``sizes`` (default
    :data:`~catlayer.verify.forward.DEFAULT_SIZES`), each with two padded indices and a random mask passed to the module
    (whose ``forward`` takes ``(features, mask)``).

    The module runs on a copy converted to ``dtype`` (float64 by default; the module itself is used
    when it already is) under ``torch.no_grad()``. A non-finite output entry (NaN, inf) always
    fails; ``tolerance`` must be a finite number >= 0 and there must be at least one group element
    and one input, so that a passing check has checked something.

    Returns an :class:`~catlayer.verify.EquivarianceReport` (``exact`` False) whose ``failure``
    names the worst entries (:class:`~catlayer.verify.report.Mismatch`), ``subject`` saying what
    ran (the start of its text).
    """
    import torch

    dtype = torch.float64 if dtype is None else dtype
    typed = isinstance(in_order, Mapping)
    if typed:
        in_type = dict(in_order)
    else:
        if in_channels is None:
            in_channels = getattr(module, "in_channels", None)
            if in_channels is None:
                raise ValueError("pass in_channels=: the module has no in_channels attribute")
        in_type = {in_order: in_channels}
    factors = group_factors(group)
    tolerance = check_tolerance(tolerance)
    tolerance = default_tolerance(dtype) if tolerance is None else tolerance
    batch = check_samples(batch, "batch")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    variable = [f for f, g in enumerate(factors) if g.n is None]
    size_list: list[tuple[int, ...] | None] = [None]
    if variable:
        size_list = [tuple(s if g.n is None else g.n for g in factors) for s in (sizes or DEFAULT_SIZES)]
    probe = module
    if any(t.dtype != dtype for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()):
        probe = copy.deepcopy(module).to(dtype)
    device = _module_device(probe)

    def run(x: dict[Any, np.ndarray], mask: Any) -> dict[Any, np.ndarray]:
        tensors = {k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in x.items()}
        with torch.no_grad():
            args: tuple[Any, ...] = (tensors,) if typed else (tensors[in_order],)
            if mask is not None:
                args += (mask,)
            y = probe(*args) if typed else {out_order: probe(*args)}
        return {k: v.detach().to("cpu", torch.float64).numpy() for k, v in y.items()}

    candidates: list[tuple[float, Mismatch]] = []
    max_residual, num_bad, num_entries, count = 0.0, 0, 0, 0
    components = max(1, int(getattr(group, "num_components", 1)))
    for at in size_list:
        padded = None if at is None else tuple(n + 2 if f in variable else n for f, n in enumerate(at))
        if elements is None:
            concrete = group if padded is None else _at(group, factors, padded)
            gs = draw_elements(concrete, check_samples(num_elements, "num_elements"), rng)
        else:
            gs = list(elements)
        if not gs:
            raise ValueError("no group elements to check with: a check on no group element checks nothing")
        for g in gs:
            e = count
            count += 1
            name = describe_element(g)
            shape_sizes = [g_.n for g_ in factors] if padded is None else list(padded)
            x = {
                k: rng.standard_normal((batch, c, *tuple(shape_sizes[f] for f in order_axes(k))))
                for k, c in in_type.items()
            }
            mask = None
            masks_np = None
            if padded is not None and at is not None:
                masks_np = []
                for f in variable:
                    m = np.zeros((batch, padded[f]), dtype=bool)
                    for b in range(batch):
                        m[b, rng.choice(padded[f], size=at[f], replace=False)] = True
                    masks_np.append(m)
                mask = _masks(masks_np, variable, len(factors), device)
            lhs_all = run(
                {k: _act(factors, g, v, k) for k, v in x.items()},
                _moved(mask, masks_np, g, variable, len(factors), device),
            )
            plain = run(x, mask)
            rhs_all = {k: _act(factors, g, v, k) for k, v in plain.items()}
            if masks_np is not None:
                # The padded entries must not matter: new noise there leaves the valid outputs as they were.
                renoised = run({k: _renoise(v, k, masks_np, variable, rng) for k, v in x.items()}, mask)
                for k in plain:
                    valid = _axes_mask(k, masks_np, variable, plain[k].shape)
                    with np.errstate(invalid="ignore"):
                        leak = np.abs(np.where(valid, renoised[k] - plain[k], 0))
                    leak = np.where(np.isfinite(leak), leak, np.inf)
                    scale = float(np.max(np.abs(np.where(valid, plain[k], 0)), initial=0))
                    scale = max(np.finfo(np.float64).tiny, scale)
                    bad = leak > tolerance * scale
                    num_entries += leak.size
                    if bad.any():
                        num_bad += int(bad.sum())
                        idx = np.unravel_index(int(np.argmax(leak)), leak.shape)
                        mismatch = Mismatch(
                            element=count - 1,
                            batch=int(idx[0]),
                            channel=int(idx[1]),
                            index=tuple(int(i) for i in idx[2:]),
                            transformed_input=float(renoised[k][idx]),
                            transformed_output=float(plain[k][idx]),
                            element_name=(
                                f"other values in the padding (at sizes {at}): the output depends on padded entries"
                            ),
                            order=k if typed else None,
                        )
                        candidates.append((float(leak[idx]) / scale, mismatch))
            if typed and set(lhs_all) != set(out_order):
                raise ValueError(f"the module returned orders {sorted(lhs_all)}, not {sorted(out_order)}")
            for k in lhs_all:
                lhs, rhs = lhs_all[k], rhs_all[k]
                if lhs.shape != rhs.shape:
                    raise ValueError(f"f(ρ(g)x) has shape {lhs.shape} but ρ(g)f(x) has shape {rhs.shape}")
                scale = np.finfo(np.float64).tiny
                for side in (lhs, rhs):
                    scale = max(scale, float(np.max(np.abs(np.where(np.isfinite(side), side, 0)), initial=0.0)))
                with np.errstate(invalid="ignore"):
                    residual = np.abs(lhs - rhs)
                residual = np.where(np.isfinite(residual), residual, np.inf)
                bad = residual > tolerance * scale
                num_entries += residual.size
                num_bad += int(bad.sum())
                if residual.size:
                    max_residual = max(max_residual, float(residual.max()) / scale)
                flat_bad = np.flatnonzero(bad)
                for flat in flat_bad[np.argsort(-residual.ravel()[flat_bad], kind="stable")][:max_report]:
                    idx = np.unravel_index(flat, residual.shape)
                    mismatch = Mismatch(
                        element=e,
                        batch=int(idx[0]),
                        channel=int(idx[1]),
                        index=tuple(int(i) for i in idx[2:]),
                        transformed_input=float(lhs[idx]),
                        transformed_output=float(rhs[idx]),
                        element_name=name + (f" at sizes {at}" if at is not None else ""),
                        order=k if typed else None,
                    )
                    candidates.append((float(residual[idx]) / scale, mismatch))
    candidates.sort(key=lambda item: -item[0])
    worst = tuple(m for _, m in candidates[:max_report])
    checked_sizes = tuple(s for s in size_list if s is not None)
    where = f" at sizes {', '.join(map(str, checked_sizes))} (padded, masked)" if checked_sizes else ""
    precision = dtype_name(dtype)
    head = (
        f"{subject} checked numerically under {group!r} on {count} random group element(s) covering "
        f"{components} component(s){where} in {precision}: max relative residual {max_residual:.3g} "
        f"(tolerance {tolerance:.3g}, per output order)"
    )
    failure = None
    if num_bad:
        failure = "\n".join(
            [f"{head}; {num_bad} of {num_entries} output entries differ. Largest:", *(f"  {m}" for m in worst)]
        )
    return EquivarianceReport(
        ok=num_bad == 0,
        exact=False,
        group=repr(group),
        subject=subject,
        checked=(head.split(": max relative")[0],),
        failure=failure,
        max_residual=max_residual,
        tolerance=tolerance,
        method=f"numeric check on random group elements in {precision}, not a proof",
        num_elements=count,
        components=components,
        sizes=checked_sizes,
        dtype=precision,
        num_entries=num_entries,
        num_bad=num_bad,
        worst=worst,
    )


def _axes_mask(order: Any, masks: list[np.ndarray], variable: list[int], shape: tuple[int, ...]) -> np.ndarray:
    """Where a feature of this order (shape (B, C) + axes) has every masked axis valid."""
    keep = np.ones(shape, dtype=bool)
    axes = order_axes(order)
    start = len(shape) - len(axes)
    for a, f in enumerate(axes):
        if f in variable:
            m = masks[variable.index(f)]
            view = [m.shape[0]] + [1] * (len(shape) - 1)
            view[start + a] = m.shape[1]
            keep = keep & m.reshape(view)
    return keep


def _renoise(
    x: np.ndarray, order: Any, masks: list[np.ndarray], variable: list[int], rng: np.random.Generator
) -> np.ndarray:
    """x with new noise (of another scale) in every entry that touches a padded index."""
    keep = _axes_mask(order, masks, variable, x.shape)
    return np.where(keep, x, 7.0 * rng.standard_normal(x.shape))


def _at(group: Any, factors: tuple[Any, ...], sizes: tuple[int, ...]) -> Any:
    fixed = [g if g.n is not None else g.at(n) for g, n in zip(factors, sizes, strict=True)]
    if len(fixed) == 1:
        return fixed[0]
    return ProductGroup(*fixed)


def _masks(masks: list[np.ndarray], variable: list[int], count: int, device: torch.device) -> Any:
    import torch

    tensors = [torch.as_tensor(m, device=device) for m in masks]
    if count == 1 or (len(variable) == 1 and True):
        if len(variable) == 1:
            return tensors[0]
    out: list[Any] = [None] * count
    for f, t in zip(variable, tensors, strict=True):
        out[f] = t
    return tuple(out)


def _moved(
    mask: Any, masks: list[np.ndarray] | None, g: Any, variable: list[int], count: int, device: torch.device
) -> Any:
    """The masks under g: a permutation of the indices moves the mask with them."""
    if mask is None or masks is None:
        return None
    elements = g if isinstance(g, tuple) else (g,)
    moved = []
    for f, m in zip(variable, masks, strict=True):
        p = np.asarray(elements[f])
        moved.append((m.astype(np.float64) @ p.T) > 0.5)
    return _masks(moved, variable, count, device)
