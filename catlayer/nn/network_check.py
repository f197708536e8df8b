"""``check_equivariance(network)``: every linear and bilinear part proved exactly, every
nonlinearity justified by its rule, the composition justified, and the forward pass checked
numerically.

Each linear block k → l of a :class:`~catlayer.nn.TypedLinear` (and each bias, and each block of
an :class:`~catlayer.nn.InvariantPooling`) is the map of an :class:`~catlayer.nn.EquivariantLinear`
with the same diagrams and weights, and each bilinear block (a, b) → c is, on x ⊗ y, the map of an
``EquivariantLinear`` from order a + b to order c (zero weight on the diagrams not used); each
such layer is checked with the layer-level :func:`catlayer.verify.check_equivariance` (an exact
proof of its diagram images on the group's generators plus a numeric check of its forward).
A bilinear map B(x, y) = M(x ⊗ y) is equivariant when M is, since ρ_{a+b}(g)(x ⊗ y) =
ρ_a(g)x ⊗ ρ_b(g)y. Submodules without a rule make the report fail: nothing is vouched for blindly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from .bilinear import TypedBilinear
from .check import check_forward
from .features import type_str
from .linear import EquivariantLinear
from .pooling import InvariantPooling
from .programs import diagram_scales
from .typed_linear import TypedLinear

__all__ = ["check_network", "linear_parts"]


def _report(*args, **kwargs):
    from ..verify import EquivarianceReport

    return EquivarianceReport(*args, **kwargs)


def _proxy(group, k: int, l: int, weight: torch.Tensor, diagrams, bias=None) -> EquivariantLinear:
    """An EquivariantLinear k → l (float64) whose weight on ``group.basis(k, l)`` is ``weight``
    placed at the positions of ``diagrams`` and exactly zero elsewhere: the layer-level check then
    certifies the whole parameterisation and checks this combination numerically."""
    c_out, c_in = weight.shape[0], weight.shape[1]
    # The plan: the network's parts run plans (catlayer.nn.programs), never a dense matrix.
    layer = EquivariantLinear(group, k, l, c_in, c_out, bias=bias is not None, dtype=torch.float64, execution="plan")
    position = {d: i for i, d in enumerate(layer.diagrams)}
    with torch.no_grad():
        layer.weight.zero_()
        for t, d in enumerate(diagrams):
            layer.weight[:, :, position[d]] = weight[:, :, t].to(torch.float64)
        if bias is not None:
            layer.bias.copy_(bias.to(torch.float64))
    return layer


def linear_parts(module: nn.Module) -> list[tuple[str, EquivariantLinear]]:
    """(description, equivalent EquivariantLinear) for every linear or bilinear part of a catlayer
    layer (weights scaled as the layer applies them)."""
    group, n = module.group, module.n
    parts = []
    if isinstance(module, TypedLinear):
        for (k, l), diagrams in module.blocks.items():
            scales = torch.tensor(diagram_scales(module._plans[f"{k}_{l}"], n), dtype=torch.float64)
            weight = module.weight(k, l).detach().to(torch.float64) * scales
            parts.append((f"linear block {k} → {l}", _proxy(group, k, l, weight, diagrams)))
        for l, diagrams in module.bias_diagrams.items():
            zero = torch.zeros(module.out_type[l], 1, len(diagrams), dtype=torch.float64)
            parts.append((f"bias of order {l}", _proxy(group, 0, l, zero, diagrams, module.bias(l).detach())))
    elif isinstance(module, TypedBilinear):
        for (a, b, c), diagrams in module.blocks.items():
            scales = torch.tensor(diagram_scales(module._plans[(a, b, c)], n), dtype=torch.float64)
            weight = module.weight(a, b, c).detach().to(torch.float64) * scales
            parts.append((f"bilinear block {a} × {b} → {c}, on x ⊗ y", _proxy(group, a + b, c, weight, diagrams)))
    elif isinstance(module, InvariantPooling):
        for k, diagrams in module.diagrams.items():
            scales = torch.tensor(diagram_scales(module._plans[k], n), dtype=torch.float64)
            picks = getattr(module, f"_picks_{k}").detach().to(torch.float64) * scales
            parts.append((f"pooling of order {k}", _proxy(group, k, 0, picks, diagrams)))
    return parts


class _Paired(nn.Module):
    """A bilinear layer as a one-input module: the first half of every order's channels is x, the
    second half y (g acts on both alike, so this is equivariant iff the bilinear map is)."""

    def __init__(self, bilinear: TypedBilinear) -> None:
        super().__init__()
        self.bilinear = bilinear
        self.group = bilinear.group
        self.in_type = {k: 2 * c for k, c in bilinear.in_type.items()}
        self.out_type = {c: bilinear.out_type[c] for c in sorted({key[2] for key in bilinear.blocks})}

    def forward(self, features):
        half = self.bilinear.channels
        x = {k: v[:, :half] for k, v in features.items()}
        y = {k: v[:, half:] for k, v in features.items()}
        return self.bilinear.run(x, y)


def _structure_rule(module: nn.Module) -> str | None:
    from .mlp import EquivariantMLP, _Block

    if isinstance(module, EquivariantMLP):
        return (
            "embed, residual blocks and head are composed; a residual adds two equivariant maps with a fixed "
            "scalar: sums and compositions of equivariant maps are equivariant"
        )
    if isinstance(module, _Block):
        return (
            "one linear layer's output is split by channels (ρ acts on each channel alike) into the "
            "nonlinearity's input and the two product factors; the nonlinearity's linear image and the "
            "products are added"
        )
    if isinstance(module, (nn.ModuleList, nn.ModuleDict, nn.Sequential)) or type(module) is nn.Module:
        return "a container: its parts are checked one by one"
    return None


def _types(module: nn.Module):
    if isinstance(module, TypedBilinear):
        return _Paired(module)
    if hasattr(module, "in_type") and hasattr(module, "out_type"):
        return module
    if isinstance(module, nn.Sequential) and len(module) and hasattr(module[0], "in_type"):
        module.in_type, module.out_type = module[0].in_type, module[-1].out_type
        return module
    raise ValueError(
        f"cannot tell the input and output types of {type(module).__name__}: give it in_type and out_type "
        f"attributes (feature types) or use catlayer modules"
    )


def check_network(
    module: nn.Module,
    *,
    tolerance: float | None = None,
    rng=None,
    samples: int = 3,
    batch: int = 2,
    prove: bool = True,
):
    """Check a catlayer network (any module built from catlayer.nn parts): returns an
    :class:`~catlayer.verify.EquivarianceReport` whose parts are, in module order, the layer-level
    report of every linear and bilinear block (exact proof of the diagram images + numeric
    forward), one report per nonlinearity and container stating its rule, and finally the numeric
    check of the whole forward (``samples`` random group elements, float64). Truthy when all hold.

    >>> from catlayer import S
    >>> from catlayer.nn import EquivariantMLP
    >>> from catlayer.verify import check_equivariance
    >>> report = check_equivariance(EquivariantMLP(S(3), {2: 1}, {0: 1}, depth=1), rng=0)
    >>> bool(report), report.exact
    (True, False)
    >>> print(str(report).splitlines()[0])
    EquivariantMLP S(3) {2: 1} → {0: 1} under S(3): equivariant (numeric, not a proof)
    """
    group = getattr(module, "group", None)
    if group is None:
        group = next((m.group for m in module.modules() if hasattr(m, "group")), None)
    if group is None:
        raise ValueError(f"{type(module).__name__} has no catlayer part: nothing says which group to check")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    probe = _types(module)
    from ..verify import check_equivariance

    parts = []
    proved = rules = 0
    for name, sub in module.named_modules():
        label = name or type(module).__name__
        if isinstance(sub, (TypedLinear, TypedBilinear, InvariantPooling)):
            reports = [
                (
                    what,
                    check_equivariance(
                        layer, tolerance=tolerance, rng=generator, samples=samples, batch=batch, prove=prove
                    ),
                )
                for what, layer in linear_parts(sub)
            ]
            parts.append(_summary(group, f"{label}: {type(sub).__name__}", reports))
            proved += len(reports)
        elif isinstance(sub, EquivariantLinear):
            report = check_equivariance(sub, tolerance=tolerance, rng=generator, samples=samples, prove=prove)
            parts.append(dataclasses.replace(report, subject=f"{label}: {report.subject}"))
            proved += 1
        elif hasattr(sub, "equivariance_rule"):
            holds, why = sub.equivariance_rule()
            parts.append(
                _report(
                    holds,
                    True,
                    repr(group),
                    f"{label}: {type(sub).__name__}",
                    (why,),
                    None if holds else why,
                    None,
                    None,
                )
            )
            rules += 1
        elif (why := _structure_rule(sub)) is not None:
            if sub is module or not isinstance(sub, (nn.ModuleList, nn.ModuleDict)):
                parts.append(
                    _report(True, True, repr(group), f"{label}: {type(sub).__name__}", (why,), None, None, None)
                )
                rules += 1
        elif not list(sub.children()) and not list(sub.parameters(recurse=False)) and _is_identity_like(sub):
            continue
        else:
            why = f"no equivariance rule for {type(sub).__name__}: check it separately"
            parts.append(_report(False, False, repr(group), f"{label}: {type(sub).__name__}", (), why, None, None))
    forward = check_forward(
        probe,
        group,
        probe.in_type,
        probe.out_type,
        num_elements=samples,
        seed=generator,
        batch=batch,
        tolerance=tolerance,
    )
    subject = f"{type(module).__name__} {group!r} {type_str(probe.in_type)} → {type_str(probe.out_type)}"
    parts.append(
        _report(
            forward.ok,
            False,
            repr(group),
            f"forward of {subject}",
            (f"{forward.num_elements} random elements of {group!r}, {batch} random inputs each, in {forward.dtype}",),
            None if forward.ok else forward.describe("the forward pass", group),
            forward.max_residual,
            forward.tolerance,
        )
    )
    ok = all(p.ok for p in parts)
    failure = next((f"{p.subject}: {p.failure}" for p in parts if not p.ok), None)
    checked = (
        f"{proved} linear/bilinear parts: exact proof of their diagram images"
        + ("" if prove else " skipped (prove=False)")
        + " and numeric check of their forward",
        f"{rules} nonlinearities and compositions: equivariant by the rule stated",
        f"forward of the whole network: numeric check on {forward.num_elements} random group elements",
    )
    return _report(
        ok, False, repr(group), subject, checked, failure, forward.max_residual, forward.tolerance, parts=tuple(parts)
    )


def _summary(group, subject: str, reports: list) -> object:
    """One report for a layer's parts: a line per part, the first failure in full."""
    lines, failure, worst = [], None, 0.0
    for what, report in reports:
        residual = report.max_residual if report.max_residual is not None else float("nan")
        verdict = "diagram images proved exactly, forward checked" if report else "FAILED"
        lines.append(f"{what}: {verdict} (max relative residual {residual:.3g})")
        worst = max(worst, residual) if residual == residual else worst
        if not report and failure is None:
            failure = f"{what}: {report.failure}"
    tolerance = reports[0][1].tolerance if reports else None
    ok = all(report.ok for _, report in reports)
    return _report(ok, False, repr(group), subject, tuple(lines), failure, worst, tolerance)


def _is_identity_like(module: nn.Module) -> bool:
    return isinstance(module, nn.Identity)
