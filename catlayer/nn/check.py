"""Numeric equivariance check of a torch module on random group elements.

The core of :func:`catlayer.testing.assert_equivariant` and of the forward part of
``catlayer.verify.check_equivariance(layer)``: it compares f(ρ_k(g) x) with ρ_l(g) f(x) in
float64 (by default) and, when they differ, names the output entries that do.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["ForwardCheck", "check_forward", "describe_element", "draw_elements"]

#: Default tolerance on the relative residual, by the dtype the check runs in.
DEFAULT_TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}


@dataclass(frozen=True)
class Mismatch:
    """One output entry where f(ρ(g)x) and ρ(g)f(x) differ."""

    element: int
    batch: int
    channel: int
    index: tuple[int, ...]
    transformed_input: float  # f(ρ(g) x) at this entry
    transformed_output: float  # ρ(g) f(x) at this entry
    element_name: str = ""  # the group element, e.g. "permutation [1, 0, 2]"
    order: int | None = None  # the output order, for mixed-order (dict) outputs

    def __str__(self) -> str:
        where = f"order {self.order}, " if self.order is not None else ""
        return (
            f"g #{self.element} = {self.element_name}, batch {self.batch}, {where}channel {self.channel}, "
            f"index {self.index}: "
            f"f(ρ(g)x) = {self.transformed_input:.6g}, ρ(g)f(x) = {self.transformed_output:.6g} "
            f"(diff {abs(self.transformed_input - self.transformed_output):.3g})"
        )


@dataclass(frozen=True)
class ForwardCheck:
    """The outcome of :func:`check_forward`; truthy iff every entry is within tolerance.

    ``max_residual`` is the largest relative residual max|f(ρ(g)x) − ρ(g)f(x)| / scale over the
    group elements, scale = max(|f(ρ(g)x)|, |ρ(g)f(x)|) for that element; an entry fails when its
    difference exceeds ``tolerance · scale``. ``worst`` lists the largest failing entries.
    """

    ok: bool
    max_residual: float
    tolerance: float
    num_elements: int
    num_entries: int
    num_bad: int
    worst: tuple[Mismatch, ...] = field(default=())
    dtype: str = "float64"

    def __bool__(self) -> bool:
        return self.ok

    def describe(self, what: str, group) -> str:
        head = (
            f"{what} checked numerically under {group!r} on {self.num_elements} random group element(s) "
            f"in {self.dtype}: max relative residual {self.max_residual:.3g} (tolerance {self.tolerance:.3g})"
        )
        if self.ok:
            return head
        lines = [f"{head}; {self.num_bad} of {self.num_entries} output entries differ. Largest:"]
        lines += [f"  {m}" for m in self.worst]
        return "\n".join(lines)


def draw_elements(group, num: int, seed: int | np.random.Generator | None) -> list[np.ndarray]:
    """``num`` random elements of ``group`` from a seeded numpy generator."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return [np.asarray(group.random_element(rng), dtype=np.float64) for _ in range(num)]


def describe_element(g: np.ndarray) -> str:
    """A group element in words: a permutation matrix as the permutation p with g e_i = e_{p(i)}
    (and its cycles), any other matrix by its rounded entries.

    >>> describe_element(np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]]))
    'permutation [1, 2, 0] (cycles (0 1 2))'
    >>> describe_element(np.diag([1.0, -1.0]))
    'matrix [[1, 0], [0, -1]] (det -1)'
    """
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
    for tensor in [*module.parameters(), *module.buffers()]:
        return tensor.device
    return torch.device("cpu")


def check_forward(
    module: torch.nn.Module,
    group,
    in_order,
    out_order,
    *,
    in_channels: int | None = None,
    elements: Iterable[np.ndarray] | None = None,
    num_elements: int = 3,
    seed: int | np.random.Generator | None = 0,
    batch: int = 2,
    dtype: torch.dtype = torch.float64,
    tolerance: float | None = None,
    max_report: int = 5,
) -> ForwardCheck:
    """Compare f(ρ_k(g) x) with ρ_l(g) f(x) for random x ~ N(0, 1) of shape
    (batch, in_channels) + (n,)*in_order and group elements g (``elements``, or
    ``num_elements`` drawn with ``group.random_element`` from ``seed``).

    ``in_order`` / ``out_order`` may also be feature types (dicts order → channels): the module
    then maps a dict of tensors to a dict, and ``g`` acts on every order.

    The module runs on a copy converted to ``dtype`` (float64 by default; the module itself is
    used when it already is) under ``torch.no_grad()``. A non-finite output entry (NaN, inf)
    always fails; ``tolerance`` must be a finite number >= 0 and there must be at least one
    group element and one input, so that a passing check has checked something.
    """
    typed = isinstance(in_order, Mapping)
    if typed:
        in_type = {int(k): int(c) for k, c in in_order.items()}
    else:
        if in_channels is None:
            in_channels = getattr(module, "in_channels", None)
            if in_channels is None:
                raise ValueError("pass in_channels=: the module has no in_channels attribute")
        in_type = {in_order: in_channels}
    from ..verify import check_samples, check_tolerance

    n = group.n
    tolerance = check_tolerance(tolerance)
    tolerance = DEFAULT_TOLERANCE.get(dtype, 1e-4) if tolerance is None else tolerance
    batch = check_samples(batch, "batch")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if elements is None:
        gs = draw_elements(group, check_samples(num_elements, "num_elements"), rng)
    else:
        gs = list(elements)
    if not gs:
        raise ValueError("no group elements to check with: a check on no group element checks nothing")
    probe = module
    if any(t.dtype != dtype for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()):
        probe = copy.deepcopy(module).to(dtype)
    device = _module_device(probe)

    def run(x: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        tensors = {k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in x.items()}
        with torch.no_grad():
            y = probe(tensors) if typed else {out_order: probe(tensors[in_order])}
        return {k: v.detach().to("cpu", torch.float64).numpy() for k, v in y.items()}

    candidates: list[tuple[float, Mismatch]] = []
    max_residual, num_bad, num_entries = 0.0, 0, 0
    for e, g in enumerate(gs):
        g = np.asarray(g, dtype=np.float64)
        name = describe_element(g)
        x = {k: rng.standard_normal((batch, c) + (n,) * k) for k, c in in_type.items()}
        lhs_all = run({k: np.asarray(group.act(g, v, k)) for k, v in x.items()})
        rhs_all = {k: np.asarray(group.act(g, v, k)) for k, v in run(x).items()}
        if typed and set(lhs_all) != set(out_order):
            raise ValueError(f"the module returned orders {sorted(lhs_all)}, not {sorted(out_order)}")
        scale = np.finfo(np.float64).tiny
        for k in lhs_all:
            for side in (lhs_all[k], rhs_all[k]):
                scale = max(scale, float(np.max(np.abs(np.where(np.isfinite(side), side, 0)), initial=0.0)))
        for k in lhs_all:
            lhs, rhs = lhs_all[k], rhs_all[k]
            if lhs.shape != rhs.shape:
                raise ValueError(f"f(ρ(g)x) has shape {lhs.shape} but ρ(g)f(x) has shape {rhs.shape}")
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
                    e,
                    int(idx[0]),
                    int(idx[1]),
                    tuple(int(i) for i in idx[2:]),
                    float(lhs[idx]),
                    float(rhs[idx]),
                    name,
                    k if typed else None,
                )
                candidates.append((float(residual[idx]) / scale, mismatch))
    candidates.sort(key=lambda item: -item[0])
    return ForwardCheck(
        ok=num_bad == 0,
        max_residual=max_residual,
        tolerance=tolerance,
        num_elements=len(gs),
        num_entries=num_entries,
        num_bad=num_bad,
        worst=tuple(m for _, m in candidates[:max_report]),
        dtype=str(dtype).replace("torch.", ""),
    )
