"""The one report type of :mod:`catlayer.verify`: :class:`EquivarianceReport`.

Every check returns one (a proof on the generators, a numeric check of a matrix, the functor
laws, the certificate of a catlayer module, the numeric forward check of a torch module, a
network part by part); :func:`~catlayer.verify.prove_module` returns a
:class:`~catlayer.verify.ProofReport`, whose verdict has a third value (undecided). Reports are
frozen dataclasses built with keywords only, truthy exactly when ``ok``.

>>> report = EquivarianceReport(ok=True, exact=True, group="S(3)", subject="F(d)", checked=("group generator (0 1)",))
>>> print(report)
F(d) under S(3): equivariant (exact proof on the generators)
  checked: group generator (0 1)
>>> EquivarianceReport(True, True)
Traceback (most recent call last):
...
TypeError: EquivarianceReport.__init__() takes 1 positional argument but 3 were given
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["EquivarianceReport", "ForwardCheck", "FunctorLawReport", "Mismatch"]


@dataclass(frozen=True, kw_only=True)
class Mismatch:
    """One output entry where f(ρ(g)x) and ρ(g)f(x) differ (a numeric forward check)."""

    element: int  # which group element (in the order they were tried)
    batch: int
    channel: int
    index: tuple[int, ...]
    transformed_input: float  # f(ρ(g) x) at this entry
    transformed_output: float  # ρ(g) f(x) at this entry
    element_name: str = ""  # the group element, e.g. "permutation [1, 0, 2]"
    order: Any = None  # the output order, for mixed-order (dict) outputs

    def __str__(self) -> str:
        where = f"order {self.order}, " if self.order is not None else ""
        return (
            f"g #{self.element} = {self.element_name}, batch {self.batch}, {where}channel {self.channel}, "
            f"index {self.index}: "
            f"f(ρ(g)x) = {self.transformed_input:.6g}, ρ(g)f(x) = {self.transformed_output:.6g} "
            f"(diff {abs(self.transformed_input - self.transformed_output):.3g})"
        )


@dataclass(frozen=True, kw_only=True)
class EquivarianceReport:
    """The outcome of a check; truthy exactly when ``ok``.

    * ``exact``: True for a proof in exact arithmetic (on the group's generators, the functor
      laws, or the per-diagram certificate of a layer), False for a numeric check on random group
      elements or for a report with a numeric part; then ``tolerance`` is the bound on the
      relative residual (:data:`catlayer.tolerance.DEFAULT_TOLERANCE` by default) and
      ``max_residual`` the largest one seen.
    * ``group``, ``subject``: what was checked, as text; ``checked``: what the verdict rests on
      (generators, samples, rules), one item each; ``method``: how the verdict was reached.
    * ``failure``: the first thing that failed (the generator or sample, the largest residual
      entry and its multi-index (output indices ; input indices)), None when ``ok``.
    * ``parts``: sub-reports (the blocks of a layer, the parts of a network, the real and
      imaginary parts of a complex matrix), each saying whether it is exact or numeric.
    * ``claim`` / ``negative``: the verdict printed when ``ok`` is True / False ("equivariant" /
      "NOT equivariant" unless the check is of something else, e.g. the functor laws).
    * The numeric forward check of a module adds ``num_elements`` (group elements tried),
      ``components`` (connected components they covered), ``sizes`` (the sizes of a factor of any
      size it ran at), ``dtype``, ``num_entries`` / ``num_bad`` (output entries compared / out of
      tolerance) and ``worst`` (the largest :class:`Mismatch` es).
    """

    ok: bool
    exact: bool
    group: str = ""
    subject: str = ""
    checked: tuple[str, ...] = ()
    failure: str | None = None
    max_residual: float | None = None
    tolerance: float | None = None
    parts: tuple[EquivarianceReport, ...] = ()
    method: str | None = None
    claim: str = "equivariant"
    negative: str = "NOT equivariant"
    # the numeric forward check of a module
    num_elements: int = 0
    components: int = 0
    sizes: tuple[Any, ...] = ()
    dtype: str | None = None
    num_entries: int = 0
    num_bad: int = 0
    worst: tuple[Mismatch, ...] = ()

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = self.claim if self.ok else self.negative
        how = self.method or ("exact proof on the generators" if self.exact else "numeric, not a proof")
        lines = [f"{self.subject} under {self.group}: {verdict} ({how})"]
        if self.checked:
            joined = "; ".join(self.checked)
            if len(joined) <= 100:
                lines.append("  checked: " + joined)
            else:
                lines += ["  checked:"] + [f"    - {item}" for item in self.checked]
        if not self.exact and self.max_residual is not None and self.tolerance is not None:
            lines.append(f"  max relative residual {self.max_residual:.3g} (tolerance {self.tolerance:.3g})")
        if self.failure:
            lines.append(f"  failure: {self.failure}")
        for part in self.parts:
            lines += ["  " + line for line in str(part).splitlines()]
        return "\n".join(lines)


#: The report of :func:`~catlayer.verify.check_functor_laws` (the one report type; the name is
#: kept for code written against earlier versions).
FunctorLawReport = EquivarianceReport
#: The report of :func:`~catlayer.verify.check_forward` and
#: :func:`~catlayer.testing.assert_equivariant` (the one report type, likewise).
ForwardCheck = EquivarianceReport
