"""``check_equivariance(module)`` for catlayer's torch modules: every linear and bilinear part
certified exactly (:func:`catlayer.nn.verification.certify_module`), every nonlinearity justified
by its rule, every composition by its structure, and the forward pass checked numerically
(:func:`catlayer.nn.check.check_forward`: every component of the group, each output order at its
own scale, several sizes with padding for ``S()``).

Submodules without a rule make the report fail: nothing is vouched for blindly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from .bilinear import TypedBilinear
from .check import check_forward
from .core import type_str
from .linear import EquivariantLinear, TypedLinear
from .verification import certify_module

__all__ = ["check_network"]


def _report(**kwargs: Any) -> Any:
    from ..verify import EquivarianceReport

    return EquivarianceReport(**kwargs)


class _Paired(nn.Module):
    """A bilinear layer as a one-input module: the first half of every order's channels is x, the
    second half y (g acts on both alike, so this is equivariant iff the bilinear map is)."""

    def __init__(self, bilinear: TypedBilinear) -> None:
        super().__init__()
        self.bilinear = bilinear
        self.group = bilinear.group
        self.in_type = {k: 2 * c for k, c in bilinear.in_type.items()}
        self.out_type = dict(bilinear.out_type)

    def forward(self, features: dict[Any, Any], mask: Any = None) -> dict[Any, Any]:
        half = self.bilinear.channels
        x = {k: v[:, :half] for k, v in features.items()}
        y = {k: v[:, half:] for k, v in features.items()}
        return self.bilinear(x, y, mask)


def _structure_rule(module: nn.Module) -> str | None:
    from .mlp import EquivariantMLP, _Block

    if isinstance(module, EquivariantMLP):
        return (
            "embedding, residual blocks and head are composed; a residual adds two equivariant maps with a fixed "
            "scalar; the size inputs and scales are invariant (the number of valid indices): sums, products with "
            "invariants and compositions of equivariant maps are equivariant"
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


def _types(module: nn.Module) -> Any:
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
    rng: Any = None,
    samples: int = 3,
    batch: int = 2,
    prove: Any = "auto",
) -> Any:
    """Check a catlayer module or network: returns an :class:`~catlayer.verify.EquivarianceReport`
    whose parts are, in module order, the exact certificate of every linear and bilinear part, one
    report per nonlinearity and composition stating its rule, and finally the numeric check of the
    whole forward (``samples`` random group elements, at least one per component, float64). Truthy
    when all hold; ``exact`` is False (the forward is checked numerically).

    >>> from catlayer import S
    >>> from catlayer.nn import EquivariantMLP
    >>> from catlayer.verify import check_equivariance
    >>> report = check_equivariance(EquivariantMLP(S(3), {2: 1}, {0: 1}, depth=1), rng=0)
    >>> bool(report), report.exact
    (True, False)
    >>> print(str(report).splitlines()[0])  # doctest: +ELLIPSIS
    EquivariantMLP S(3) {2: 1} → {0: 1} under S(3): equivariant (exact certificate of the parameterisation + ...)
    """
    from ..verify import check_samples, check_tolerance

    tolerance = check_tolerance(tolerance)
    samples = check_samples(samples)
    batch = check_samples(batch, "batch")
    group = getattr(module, "group", None)
    if group is None:
        group = next((m.group for m in module.modules() if hasattr(m, "group")), None)
    if group is None:
        raise ValueError(f"{type(module).__name__} has no catlayer part: nothing says which group to check")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    probe = _types(module)
    parts = []
    proved = rules = 0
    for name, sub in module.named_modules():
        label = name or type(module).__name__
        if isinstance(sub, (TypedLinear, TypedBilinear)):
            report = certify_module(sub, prove, generator)
            if report is not None:
                parts.append(_relabel(report, f"{label}: {report.subject}"))
                proved += 1
        elif hasattr(sub, "equivariance_rule"):
            holds, why = sub.equivariance_rule()
            parts.append(
                _report(
                    ok=holds,
                    exact=True,
                    group=repr(group),
                    subject=f"{label}: {type(sub).__name__}",
                    checked=(why,),
                    failure=None if holds else why,
                    max_residual=None,
                    tolerance=None,
                )
            )
            rules += 1
        elif (why := _structure_rule(sub)) is not None:
            if sub is module or not isinstance(sub, (nn.ModuleList, nn.ModuleDict)):
                parts.append(
                    _report(
                        ok=True,
                        exact=True,
                        group=repr(group),
                        subject=f"{label}: {type(sub).__name__}",
                        checked=(why,),
                        failure=None,
                        max_residual=None,
                        tolerance=None,
                    )
                )
                rules += 1
        elif isinstance(sub, nn.Identity) or isinstance(sub, _Paired):
            continue
        else:
            why = f"no equivariance rule for {type(sub).__name__}: check it separately"
            parts.append(
                _report(
                    ok=False,
                    exact=False,
                    group=repr(group),
                    subject=f"{label}: {type(sub).__name__}",
                    checked=(),
                    failure=why,
                    max_residual=None,
                    tolerance=None,
                )
            )
    if isinstance(module, EquivariantLinear):  # plain tensors in and out
        orders: tuple[Any, Any] = (module.in_order, module.out_order)
    else:
        orders = (probe.in_type, probe.out_type)
    forward = check_forward(
        probe,
        group,
        *orders,
        num_elements=samples,
        seed=generator,
        batch=batch,
        tolerance=tolerance,
    )
    if isinstance(module, EquivariantLinear):
        subject = repr(module)
    else:
        subject = f"{type(module).__name__} {group!r} {type_str(probe.in_type)} → {type_str(probe.out_type)}"
    numeric = _report(
        ok=forward.ok,
        exact=False,
        group=repr(group),
        subject=f"forward of {subject}",
        checked=(forward.describe("the forward pass", group).split(": max")[0],),
        failure=None if forward.ok else forward.describe("the forward pass", group),
        max_residual=forward.max_residual,
        tolerance=forward.tolerance,
        method=f"numeric check on random group elements in {forward.dtype}, not a proof",
    )
    parts.append(numeric)
    ok = all(p.ok for p in parts)
    failure = next((f"{p.subject}: {p.failure}" for p in parts if not p.ok), None)
    lines = []
    if prove is False:
        lines.append("parameterisation: not certified (prove=False)")
    elif proved:
        lines.append(
            "parameterisation: exact certificate per block"
            + (f" of each of the {proved} linear and bilinear parts" if proved > 1 or rules else "")
        )
    if rules:
        lines.append(f"{rules} nonlinearities and compositions: equivariant by the rule stated")
    lines.append(f"forward: numeric check on {forward.num_elements} random group elements in {forward.dtype}")
    checked = tuple(lines)
    certified = all(p.ok for p in parts if p.exact)
    return _report(
        ok=ok,
        exact=False,
        group=repr(group),
        subject=subject,
        checked=checked,
        failure=failure,
        max_residual=forward.max_residual,
        tolerance=forward.tolerance,
        parts=tuple(parts),
        method=(
            "exact certificate of the parameterisation + numeric check of the forward"
            if prove is not False
            else "numeric check of the forward only; parameterisation not certified (prove=False)"
        ),
        negative="NOT certified" if forward.ok and not certified else "NOT equivariant",
    )


def _relabel(report: Any, subject: str) -> Any:
    import dataclasses

    return dataclasses.replace(report, subject=subject)
