"""Checks of matrices and functors, exact where the input is: no torch.

* :func:`check_matrix` — ρ_l(g)·M = M·ρ_k(g) for a single group: proved in exact integer
  arithmetic on the group's generators (``G.generators()``) for exact input (sympy, integer or
  rational arrays, functor images, diagrams and combinations, Gaussian rationals part by part),
  checked numerically on random group elements for float or complex input;
* :func:`check_functor_laws` — F(d >> e) = F(d) >> F(e) and F(d @ e) = F(d) @ F(e), exactly;
* :func:`relabelling_orbits` — the multi-indices at which two maps invariant under the
  relabellings of the index values need to be compared (the certificates of modules use them).

Product groups have their own entry (:mod:`catlayer.verify.products`); the proofs, samples and
reports below serve both, a single group being the one-factor case of a product.
:func:`catlayer.verify.check_equivariance` is the one entry point for all of them.

>>> from catlayer import S, PartitionDiagram
>>> G = S(4)
>>> report = check_matrix(G, G.functor(PartitionDiagram([[0, 3], [1], [2]], dom=2, cod=2)))
>>> bool(report), report.exact
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, cast

import numpy as np
import sympy

from ..diagrams import Combination, Diagram
from ..diagrams.product import ProductCombination, ProductDiagram
from ..functors import EquivariantMap
from ..groups import Generator, Group, ProductGroup
from ..groups.product import FactorGenerator
from ..tolerance import DEFAULT_TOLERANCE, check_samples, check_tolerance, default_tolerance
from .report import EquivarianceReport

__all__ = ["check_functor_laws", "check_matrix", "relabelling_orbits"]

_INT64_SAFE = 2**62


# -- exact matrices --------------------------------------------------------------------------------
def _fraction(x: object) -> Fraction:
    if isinstance(x, (bool, np.bool_)):
        return Fraction(int(x))
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, Fraction):
        return x
    if isinstance(x, sympy.Basic) and x.is_Rational:
        return Fraction(int(x.p), int(x.q))
    raise TypeError(f"entry {x!r} ({type(x).__name__}) is not an exact rational number")


def _scaled_integers(entries: np.ndarray) -> tuple[np.ndarray, int]:
    """An object array of exact rationals as (integer array, common denominator)."""
    fractions = [_fraction(x) for x in entries.flat]
    q = math.lcm(1, *(f.denominator for f in fractions))
    a = np.array([f.numerator * (q // f.denominator) for f in fractions], dtype=object).reshape(entries.shape)
    return a, q


def _is_float(matrix: object) -> bool:
    if isinstance(matrix, np.ndarray):
        if matrix.dtype.kind in "fc":
            return True
        if matrix.dtype == object:
            return any(isinstance(x, (float, complex, np.inexact, sympy.Float)) for x in matrix.flat)
        return False
    if isinstance(matrix, sympy.MatrixBase):
        return any(isinstance(x, sympy.Float) for x in matrix)
    return False


def _infer_order(size: int, n: int, given: int | None, what: str) -> int:
    if given is not None:
        if n**given != size:
            raise ValueError(f"{what} = {given} does not match a matrix dimension of {size} (n = {n})")
        return given
    if n == 1:
        raise ValueError(f"for n = 1 the matrix shape does not determine {what}: pass it")
    order, power = 0, 1
    while power < size:
        power *= n
        order += 1
    if power != size:
        raise ValueError(f"a matrix dimension of {size} is not a power of n = {n}")
    return order


def _apply_on_axis(t: np.ndarray, nonzeros: Sequence[tuple[int, int, Any]], axis: int, transpose: bool) -> np.ndarray:
    """(X ⊗ on axis) t for a sparse n × n matrix X given by its nonzeros; X^T when ``transpose``."""
    out = np.zeros_like(t)
    index_out: list[int | slice] = [slice(None)] * t.ndim
    index_in: list[int | slice] = [slice(None)] * t.ndim
    for row, col, value in nonzeros:
        if transpose:
            row, col = col, row
        index_out[axis], index_in[axis] = row, col
        out[tuple(index_out)] += value * t[tuple(index_in)]
    return out


# -- one check for single and product groups -------------------------------------------------------
# A single group is the one-factor case of a product: its orders k and l are read as (k,) and (l,),
# its size as (n,), its random elements as 1-tuples. A map is then a tensor with every factor's
# output axes, then every factor's input axes, and a generator acts on its own factor's axes (a
# single group's on all of them), so the proofs, samples and reports below serve both.
def _sizes(group: Group | ProductGroup) -> tuple[int, ...]:
    """Each factor's size (a single group's own)."""
    return group.require_sizes("a check") if isinstance(group, ProductGroup) else (group.n,)


def _shape(group: Group | ProductGroup, orders: tuple[int, ...]) -> tuple[int, ...]:
    """The tensor axes of one side (outputs or inputs) of a map with these orders."""
    return tuple(n for n, a in zip(_sizes(group), orders, strict=True) for _ in range(a))


def _factor_axes(k: tuple[int, ...], l: tuple[int, ...], f: int) -> tuple[range, range]:
    """Factor f's output axes and input axes in a tensor with all outputs, then all inputs."""
    out_start = sum(l[:f])
    in_start = sum(l) + sum(k[:f])
    return range(out_start, out_start + l[f]), range(in_start, in_start + k[f])


def _residual(
    t: np.ndarray, generator: Generator | FactorGenerator, k: tuple[int, ...], l: tuple[int, ...]
) -> np.ndarray:
    """ρ_l(g)·M − M·ρ_k(g) (group element) or dρ_l(X)·M − M·dρ_k(X) (Lie algebra element) on the
    generator's factor's axes, with M given as the tensor t."""
    nonzeros = generator.nonzeros()
    outputs, inputs = _factor_axes(k, l, generator.factor if isinstance(generator, FactorGenerator) else 0)
    if generator.kind == "group":
        left, right = t, t
        for a in outputs:
            left = _apply_on_axis(left, nonzeros, a, transpose=False)
        for b in inputs:
            right = _apply_on_axis(right, nonzeros, b, transpose=True)
        return left - right
    total = np.zeros_like(t)
    for a in outputs:
        total = total + _apply_on_axis(t, nonzeros, a, transpose=False)
    for b in inputs:
        total = total - _apply_on_axis(t, nonzeros, b, transpose=True)
    return total


def _locate(residual: np.ndarray) -> tuple[int, ...]:
    """The multi-index of the largest entry of a residual (the first one, on ties)."""
    magnitudes = np.abs(residual)
    flat = (
        int(np.argmax(magnitudes))
        if magnitudes.dtype != object
        else max(range(residual.size), key=lambda i: abs(residual.flat[i]))
    )
    return tuple(int(i) for i in np.unravel_index(flat, residual.shape))


def _format_index(index: tuple[int, ...], l: int) -> str:
    return "(" + ", ".join(map(str, index[:l])) + " ; " + ", ".join(map(str, index[l:])) + ")"


def _exact_check(
    group: Group | ProductGroup, a: np.ndarray, q: int, k: tuple[int, ...], l: tuple[int, ...], subject: str
) -> EquivarianceReport:
    """Prove M = a / q (a an integer array) equivariant on the group's generators, or report the
    first generator it does not commute with."""
    generators: Sequence[Generator | FactorGenerator] = group.generators()
    if a.dtype != object:
        largest = max((abs(v) for g in generators for _, _, v in g.nonzeros()), default=1)
        bound = int(np.abs(a).max(initial=0)) * 2 * max(_sizes(group)) * max(sum(k) + sum(l), 1) * largest
        if bound >= _INT64_SAFE:
            a = a.astype(object)
    t = a.reshape(_shape(group, l) + _shape(group, k))
    checked = []
    for generator in generators:
        residual = _residual(t, generator, k, l)
        label = f"{generator.kind} generator {generator.name}"
        checked.append(label)
        if any(x != 0 for x in np.ravel(residual)):
            index = _locate(residual)
            value = Fraction(int(residual[index]), q)
            action = "ρ_l(g)·M − M·ρ_k(g)" if generator.kind == "group" else "dρ_l(X)·M − M·dρ_k(X)"
            failure = (
                f"{label}: largest entry of {action} is {value} at (output indices ; input indices) = "
                f"{_format_index(index, sum(l))}"
            )
            return EquivarianceReport(
                ok=False,
                exact=True,
                group=repr(group),
                subject=subject,
                checked=tuple(checked),
                failure=failure,
                max_residual=float(abs(value)),
            )
    if not generators:
        checked.append(f"{group!r} is the trivial group: every matrix is equivariant")
    return EquivarianceReport(
        ok=True, exact=True, group=repr(group), subject=subject, checked=tuple(checked), max_residual=0.0
    )


def _check_finite(entries: np.ndarray) -> None:
    finite = np.isfinite(entries)
    if not finite.all():
        nan = int(np.isnan(entries).sum())
        raise ValueError(
            f"the matrix has {nan} NaN and {entries.size - nan - int(finite.sum())} infinite entries "
            f"(of {entries.size}): equivariance cannot be checked"
        )


def _element(group: Group | ProductGroup, rng: np.random.Generator, component: int) -> tuple[np.ndarray, ...]:
    """A random element as one matrix per factor."""
    if isinstance(group, ProductGroup):
        return group.random_element(rng, component=component)
    return (group.random_element(rng, component=component),)


def _act(group: Group | ProductGroup, g: tuple[np.ndarray, ...], x: np.ndarray, orders: tuple[int, ...]) -> np.ndarray:
    """ρ(g) (one matrix per factor) applied to the last Σ orders axes of x."""
    if isinstance(group, ProductGroup):
        return group.act(g, x, orders)
    return group.act(g[0], x, orders[0])


def _components(group: Group | ProductGroup, s: int) -> str:
    """Which component of each factor of a product sample s was drawn from (mixed radix, first
    factor slowest), as " (…)"; nothing for a single group, whose reports never said it."""
    if not isinstance(group, ProductGroup):
        return ""
    s %= group.num_components
    parts = []
    for g in reversed(group.factors):
        parts.append(f"component {s % g.num_components} of {g!r}")
        s //= g.num_components
    return " (" + ", ".join(reversed(parts)) + ")"


def _numeric_check(
    group: Group | ProductGroup,
    matrix: np.ndarray,
    k: tuple[int, ...],
    l: tuple[int, ...],
    subject: str,
    tolerance: float | None,
    rng: Any,
    samples: int,
) -> EquivarianceReport:
    """Check a float matrix on ``samples`` random elements (s-th from component s), relative to the
    larger of ρ_l(g)·M and M·ρ_k(g)."""
    dtype = matrix.dtype if matrix.dtype in DEFAULT_TOLERANCE else np.dtype(np.float64)
    _check_finite(matrix)
    tol = default_tolerance(dtype) if tolerance is None else tolerance
    out_axes = sum(l)
    t = matrix.astype(dtype).reshape(_shape(group, l) + _shape(group, k))
    real = np.finfo(dtype).dtype  # float32 / float64, also for complex matrices
    rng = np.random.default_rng(rng)
    # ρ_l(g)·M: act on the output axes (moved last); M·ρ_k(g): act with gᵀ on the input axes.
    outputs, last = list(range(out_axes)), list(range(t.ndim - out_axes, t.ndim))
    worst, failure, checked = 0.0, None, []
    for s in range(samples):
        g = tuple(m.astype(real) for m in _element(group, rng, s))
        left = np.moveaxis(_act(group, g, np.moveaxis(t, outputs, last), l), last, outputs)
        right = _act(group, tuple(m.T for m in g), t, k)
        residual = left - right
        scale = max(float(np.abs(left).max(initial=0)), float(np.abs(right).max(initial=0)), np.finfo(dtype).tiny)
        magnitude = float(np.abs(residual).max(initial=0))
        relative = magnitude / scale if math.isfinite(magnitude) and math.isfinite(scale) else math.inf
        components = _components(group, s)
        checked.append(f"random element {s} of {group!r}{components}")
        worst = max(worst, relative)
        if relative > tol and failure is None:
            index = _locate(np.where(np.isfinite(residual), residual, np.inf))
            entry = residual[index].item()
            failure = (
                f"random element {s}{components}: relative residual {relative:.3g} > {tol:.3g}; largest entry "
                f"of ρ_l(g)·M − M·ρ_k(g) is {entry:.3g} at (output indices ; input indices) = "
                f"{_format_index(index, out_axes)}"
            )
    return EquivarianceReport(
        ok=failure is None,
        exact=False,
        group=repr(group),
        subject=subject,
        checked=tuple(checked),
        failure=failure,
        max_residual=worst,
        tolerance=tol,
    )


def _describe(subject: object) -> str:
    if isinstance(subject, EquivariantMap):
        return repr(subject)
    if isinstance(subject, (Diagram, Combination, ProductDiagram, ProductCombination)):
        return str(subject)
    if isinstance(subject, sympy.MatrixBase):
        # A sympy Float is a float: such a matrix is checked numerically, so do not call it exact.
        floats = any(isinstance(x, sympy.Float) for x in subject.atoms(sympy.Number))
        shape = f"{subject.shape[0]} x {subject.shape[1]}"
        return f"{shape} sympy matrix with float entries" if floats else f"exact {shape} sympy matrix"
    if isinstance(subject, np.ndarray):
        return f"{subject.shape[0]} x {subject.shape[1]} {subject.dtype} matrix"
    return type(subject).__name__


def _gaussian_parts(entries: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(real part, imaginary part) of an exact object array with a non-real entry, else None."""
    if not any(isinstance(x, sympy.Basic) and x.is_extended_real is not True for x in entries.flat):
        return None
    parts = [sympy.sympify(x).as_real_imag() for x in entries.flat]
    real = np.array([p[0] for p in parts], dtype=object).reshape(entries.shape)
    imaginary = np.array([p[1] for p in parts], dtype=object).reshape(entries.shape)
    return real, imaginary


def _as_inexact(entries: np.ndarray) -> np.ndarray:
    """An object array of floats (Python, numpy or sympy; possibly complex) as float64 or complex128."""
    values = [complex(x) for x in entries.flat]
    if any(v.imag != 0 for v in values):
        return np.array(values, dtype=np.complex128).reshape(entries.shape)
    return np.array([v.real for v in values], dtype=np.float64).reshape(entries.shape)


def check_matrix(
    subject: Group | EquivariantMap,
    matrix: Any = None,
    k: int | None = None,
    l: int | None = None,
    *,
    tolerance: float | None = None,
    rng: Any = None,
    samples: int = 3,
    **kwargs: Any,
) -> EquivarianceReport:
    """:func:`~catlayer.verify.check_equivariance` for a single group: ``check_matrix(G, M, k, l)``
    with M exact (sympy, integer or rational array, a Diagram, a Combination or a functor image:
    proved on the generators) or float / complex (checked numerically on ``samples`` random
    elements), or ``check_matrix(G.functor(d))``. See :func:`~catlayer.verify.check_equivariance`.

    >>> from catlayer import S, PartitionDiagram
    >>> bool(check_matrix(S(3), PartitionDiagram([[0, 1]], dom=1, cod=1)))
    True
    """
    if kwargs:
        raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}")
    tolerance = check_tolerance(tolerance)
    samples = check_samples(samples)
    if isinstance(subject, EquivariantMap):
        if matrix is not None:
            raise TypeError("pass either a functor image alone or a group and a matrix")
        group, matrix = cast(Group, subject.group), subject
    elif isinstance(subject, Group):
        group = subject
        if matrix is None:
            raise TypeError("check_equivariance(G, M, k, l) needs the matrix M")
    else:
        raise TypeError(
            f"the subject must be a Group (with a matrix), a functor image, a torch module, or have a "
            f"_catlayer_check_equivariance method; got {type(subject).__name__}"
        )
    description = _describe(matrix)
    if isinstance(matrix, (Diagram, Combination)):
        matrix = group.functor(matrix)
    n = group.n
    if isinstance(matrix, EquivariantMap):
        if matrix.group != group:
            raise ValueError(f"the map belongs to {matrix.group!r}, not {group!r}")
        if (k is not None and k != matrix.dom) or (l is not None and l != matrix.cod):
            raise ValueError(f"the map is {matrix.dom} → {matrix.cod}, not {k} → {l}")
        k, l = matrix.dom, matrix.cod
        if matrix.is_rational():
            a, q = matrix.to_exact()
            return _exact_check(group, a, q, (k,), (l,), description)
        matrix = matrix.to_sympy()
    entries = _entries(matrix)
    rows, cols = entries.shape
    l = _infer_order(rows, n, l, "l")
    k = _infer_order(cols, n, k, "k")
    return _check_entries(group, entries, (k,), (l,), description, tolerance, rng, samples)


def _entries(matrix: Any) -> np.ndarray:
    """A matrix as a 2-axis array: an object array of its entries when it is an exact sympy matrix."""
    if isinstance(matrix, sympy.MatrixBase) and not _is_float(matrix):
        return np.array(matrix.tolist(), dtype=object).reshape(matrix.shape)
    entries = np.asarray(matrix)
    if entries.ndim != 2:
        raise ValueError(f"expected a matrix (2 axes), got shape {entries.shape}")
    return entries


def _check_entries(
    group: Group | ProductGroup,
    entries: np.ndarray,
    k: tuple[int, ...],
    l: tuple[int, ...],
    description: str,
    tolerance: float | None,
    rng: Any,
    samples: int,
) -> EquivarianceReport:
    """Check a matrix of the right shape: float entries numerically on ``samples`` random elements;
    integer and rational ones exactly; Gaussian rationals exactly, the real and imaginary parts apart."""
    if _is_float(entries):
        if entries.dtype == object:
            entries = _as_inexact(entries)
        return _numeric_check(group, entries, k, l, description, tolerance, rng, samples)
    if entries.dtype != object and entries.dtype.kind in "iub":
        wide = entries.dtype.kind == "u" and entries.dtype.itemsize == 8
        a = entries.astype(object) if wide else entries.astype(np.int64)
        return _exact_check(group, a, 1, k, l, description)
    if entries.dtype != object:
        raise TypeError(f"cannot check a matrix of dtype {entries.dtype}: use numbers (int, float, complex)")
    parts = _gaussian_parts(entries)
    if parts is None:
        a, q = _scaled_integers(entries)
        return _exact_check(group, a, q, k, l, description)
    names = ("real part", "imaginary part")
    reports = []
    for name, part in zip(names, parts, strict=True):
        a, q = _scaled_integers(part)
        reports.append(_exact_check(group, a, q, k, l, f"{name} of the {description}"))
    failure = next((f"{r.subject}: {r.failure}" for r in reports if not r), None)
    return EquivarianceReport(
        ok=all(reports),
        exact=True,
        group=repr(group),
        subject=description,
        checked=tuple(f"{name}: " + "; ".join(r.checked) for name, r in zip(names, reports, strict=True)),
        failure=failure,
        max_residual=max(r.max_residual or 0.0 for r in reports) if failure else 0.0,
        parts=tuple(reports),
        method="exact proof on the generators, real and imaginary parts separately",
    )


def relabelling_orbits(group: Group, size: int, uses_levi_civita: bool = False) -> tuple[np.ndarray, str]:
    """One multi-index (row) of length ``size`` per orbit of the relabellings of the index values
    that fix the group's tables (pair form, Levi-Civita symbol and its weights), and a description
    of those relabellings. ``uses_levi_civita``: whether the maps involve the Levi-Civita symbol.
    Both F(d) (:meth:`~catlayer.groups.Group.evaluate`) and a layer's plan are invariant under
    these relabellings, so they agree everywhere once they agree at these multi-indices.

    >>> from catlayer import O, S, Sp
    >>> points, how = relabelling_orbits(S(30), 3)
    >>> points.tolist()
    [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [0, 1, 2]]
    >>> how
    "the permutations of the index values (they fix the group's tables), 5 orbits"
    >>> len(relabelling_orbits(Sp(4), 2)[0]), len(relabelling_orbits(O(1, 3), 2)[0])
    (8, 5)
    """
    return group.relabelling_orbits(size, uses_levi_civita)


def check_functor_laws(
    group: Group | ProductGroup,
    d: Diagram | Combination | ProductDiagram | ProductCombination,
    e: Diagram | Combination | ProductDiagram | ProductCombination,
) -> EquivarianceReport:
    """Exactly check F(d then e) = F(d) >> F(e) (composition in ``group.category``, with its
    δ^loops coefficients; only when d ends where e starts) and F(d ⊗ e) = F(d) @ F(e). For a
    product group, d and e are product diagrams (or combinations), composed and tensored
    componentwise in the product category; ``@`` on the images keeps each factor's axes together.

    >>> from catlayer import Sp, BrauerDiagram
    >>> cap, cup = BrauerDiagram([[0, 1]], dom=0, cod=2), BrauerDiagram([[0, 1]], dom=2, cod=0)
    >>> report = check_functor_laws(Sp(4), cap, cup)             # the loop is −n = −4
    >>> bool(report), report.checked
    (True, ('composition: F(d >> e) == F(d) >> F(e)', 'tensor: F(d @ e) == F(d) @ F(e)'))
    >>> from catlayer import S, ProductDiagram
    >>> P = S(3) * Sp(4)
    >>> bool(check_functor_laws(P, P.basis((1, 0), (1, 2))[0], P.basis((1, 2), (0, 0))[-1]))
    True
    """
    # one code path for single and product groups: their categories and functors take their own diagrams
    category: Any = group.category
    functor: Any = group.functor
    fd, fe = functor(d), functor(e)
    checked, failure = [], None
    if d.cod == e.dom:
        composite = category.compose(d, e)
        checked.append("composition: F(d >> e) == F(d) >> F(e)")
        if not functor(composite) == (fd >> fe):
            failure = f"composition: F(d >> e) != F(d) >> F(e), with d >> e = {composite}"
    product = category.tensor(d, e)
    checked.append("tensor: F(d @ e) == F(d) @ F(e)")
    if failure is None and not functor(product) == (fd @ fe):
        failure = f"tensor: F(d @ e) != F(d) @ F(e), with d @ e = {product}"
    return EquivarianceReport(
        ok=failure is None,
        exact=True,
        group=repr(group),
        subject=f"d = {d}, e = {e}",
        checked=tuple(checked),
        failure=failure,
        method="exact: the images compared entry by entry",
        claim="the functor laws hold",
        negative="the functor laws FAIL",
    )
