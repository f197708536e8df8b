"""``catlayer.verify.check_equivariance(layer)`` for torch layers: an exact proof of the
parameterisation plus a numeric check of the forward pass, reported separately."""

from __future__ import annotations

import numpy as np

from ..memory import check_size
from .check import check_forward

__all__ = ["check_layer"]


def _prove_diagrams(layer, prove: bool):
    from ..verify import EquivarianceReport, check_equivariance

    group, k, l, n = layer.group, layer.in_order, layer.out_order, layer.n
    subject = (
        f"parameterisation of {layer!r} ({len(layer.diagrams)} weight diagrams, "
        f"{len(layer.bias_diagrams)} bias diagrams)"
    )
    if not prove:
        return EquivarianceReport(
            False, True, repr(group), subject, (), "not proved: called with prove=False", None, None
        )
    # Each image is checked as an exact dense n^l × n^k integer matrix.
    check_size(4 * 8 * n ** (k + l), f"the exact {n**l}×{n**k} matrices proving {layer!r}")
    checked, failure = [], None
    for role, diagrams, dom in (("weight", layer.diagrams, k), ("bias", layer.bias_diagrams, 0)):
        for t, d in enumerate(diagrams):
            report = check_equivariance(group, group.functor(d), dom, l)
            checked.append(f"{role} diagram {t} {d}: {'proved' if report else 'FAILED'}")
            if not report and failure is None:
                failure = f"{role} diagram {t} {d}: {report.failure}"
    generators = ", ".join(f"{g.kind} generator {g.name}" for g in group.generators())
    checked.append(f"each image exactly, on the generators of {group!r}: {generators or 'none (trivial group)'}")
    return EquivarianceReport(
        failure is None, True, repr(group), subject, tuple(checked), failure, 0.0 if failure is None else None, None
    )


def check_layer(
    layer, *, tolerance: float | None = None, rng=None, samples: int = 3, batch: int = 2, prove: bool = True
):
    """Prove every weight and bias diagram's image equivariant in exact arithmetic (on the
    group's generators, :func:`catlayer.verify.check_equivariance`), then check the actual
    forward numerically in float64 on ``samples`` random group elements drawn from ``rng``.

    Returns an :class:`~catlayer.verify.EquivarianceReport` whose ``parts`` are the exact proof
    (``exact=True``) and the numeric forward check (``exact=False``); it is truthy when both
    pass. The combined report has ``exact=False``: the forward pass is checked, not proved.
    """
    from ..verify import EquivarianceReport

    group = layer.group
    proof = _prove_diagrams(layer, prove)
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    forward = check_forward(
        layer,
        group,
        layer.in_order,
        layer.out_order,
        num_elements=samples,
        seed=generator,
        batch=batch,
        tolerance=tolerance,
    )
    numeric = EquivarianceReport(
        forward.ok,
        False,
        repr(group),
        f"forward of {layer!r}",
        tuple(f"random element {e} of {group!r}, batch of {batch} random inputs" for e in range(forward.num_elements)),
        None if forward.ok else forward.describe("the forward pass", group),
        forward.max_residual,
        forward.tolerance,
    )
    return EquivarianceReport(
        proof.ok and numeric.ok,
        False,
        repr(group),
        repr(layer),
        (
            f"parameterisation: exact proof for {len(layer.diagrams) + len(layer.bias_diagrams)} diagram images"
            if prove
            else "parameterisation: not proved (prove=False)",
            f"forward: numeric check on {forward.num_elements} random group elements in float64",
        ),
        proof.failure or numeric.failure,
        forward.max_residual,
        forward.tolerance,
        parts=(proof, numeric),
    )
