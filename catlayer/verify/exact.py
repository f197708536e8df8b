"""Checks of matrices and functors, exact where the input is: no torch.

* :func:`check_matrix` — ρ_l(g)·M = M·ρ_k(g) for a single group: proved in exact integer
  arithmetic on the group's generators (``G.generators()``) for exact input (sympy, integer or
  rational arrays, functor images, diagrams and combinations, Gaussian rationals part by part),
  checked numerically on random group elements for float or complex input;
* :func:`check_functor_laws` — F(d >> e) = F(d) >> F(e) and F(d @ e) = F(d) @ F(e), exactly;
* :func:`relabelling_orbits` — the multi-indices at which two maps invariant under the
  relabellings of the index values need to be compared (the certificates of modules use them).

Product groups have their own module (:mod:`catlayer.verify.products`), which shares the helpers
below; :func:`catlayer.verify.check_equivariance` is the one entry point for all of them.

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


def _residual(t: np.ndarray, generator: Generator, l: int, k: int) -> np.ndarray:
    """ρ_l(g) M − M ρ_k(g) (group element) or dρ_l(X) M − M dρ_k(X) (Lie algebra element), with
    M given as the tensor t of shape (n,)*(l+k)."""
    nonzeros = generator.nonzeros()
    if generator.kind == "group":
        left, right = t, t
        for a in range(l):
            left = _apply_on_axis(left, nonzeros, a, transpose=False)
        for b in range(k):
            right = _apply_on_axis(right, nonzeros, l + b, transpose=True)
        return left - right
    total = np.zeros_like(t)
    for a in range(l):
        total = total + _apply_on_axis(t, nonzeros, a, transpose=False)
    for b in range(k):
        total = total - _apply_on_axis(t, nonzeros, l + b, transpose=True)
    return total


def _locate(residual: np.ndarray, l: int) -> tuple[int, tuple[int, ...]]:
    magnitudes = np.abs(residual)
    flat = (
        int(np.argmax(magnitudes))
        if magnitudes.dtype != object
        else max(range(residual.size), key=lambda i: abs(residual.flat[i]))
    )
    return flat, tuple(int(i) for i in np.unravel_index(flat, residual.shape))


def _format_index(index: tuple[int, ...], l: int) -> str:
    return "(" + ", ".join(map(str, index[:l])) + " ; " + ", ".join(map(str, index[l:])) + ")"


def _exact_check(group: Group, a: np.ndarray, q: int, k: int, l: int, subject: str) -> EquivarianceReport:
    n = group.n
    generators = group.generators()
    if a.dtype != object:
        bound = (
            int(np.abs(a).max(initial=0))
            * 2
            * n
            * max(k + l, 1)
            * max((abs(v) for g in generators for _, _, v in g.nonzeros()), default=1)
        )
        if bound >= _INT64_SAFE:
            a = a.astype(object)
    t = a.reshape((n,) * (l + k))
    checked = []
    for generator in generators:
        residual = _residual(t, generator, l, k)
        label = f"{generator.kind} generator {generator.name}"
        checked.append(label)
        if any(x != 0 for x in np.ravel(residual)):
            _, index = _locate(residual, l)
            value = Fraction(int(residual[index]), q)
            action = "ρ_l(g)·M − M·ρ_k(g)" if generator.kind == "group" else "dρ_l(X)·M − M·dρ_k(X)"
            failure = (
                f"{label}: largest entry of {action} is {value} at (output indices ; input indices) = "
                f"{_format_index(index, l)}"
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


def _numeric_check(
    group: Group, matrix: np.ndarray, k: int, l: int, subject: str, tolerance: float | None, rng: Any, samples: int
) -> EquivarianceReport:
    n = group.n
    dtype = matrix.dtype if matrix.dtype in DEFAULT_TOLERANCE else np.dtype(np.float64)
    _check_finite(matrix)
    tol = default_tolerance(dtype) if tolerance is None else tolerance
    t = matrix.astype(dtype).reshape((n,) * (l + k))
    real = np.finfo(dtype).dtype  # float32 / float64, also for complex matrices
    rng = np.random.default_rng(rng)
    worst, failure, checked = 0.0, None, []
    for s in range(samples):
        g = group.random_element(rng, component=s)  # cycle through the connected components
        g = g.astype(real)
        left = _act_prefix(group, g, t, l, k)
        right = _act_suffix(group, g.T, t, l, k)
        residual = left - right
        scale = max(float(np.abs(left).max(initial=0)), float(np.abs(right).max(initial=0)), np.finfo(dtype).tiny)
        magnitude = float(np.abs(residual).max(initial=0))
        relative = magnitude / scale if math.isfinite(magnitude) and math.isfinite(scale) else math.inf
        checked.append(f"random element {s} of {group!r}")
        worst = max(worst, relative)
        if relative > tol and failure is None:
            _, index = _locate(np.where(np.isfinite(residual), residual, np.inf), l)
            entry = residual[index].item()
            failure = (
                f"random element {s}: relative residual {relative:.3g} > {tol:.3g}; largest entry of "
                f"ρ_l(g)·M − M·ρ_k(g) is {entry:.3g} at (output indices ; input indices) = {_format_index(index, l)}"
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


def _act_prefix(group: Group, g: np.ndarray, t: np.ndarray, l: int, k: int) -> np.ndarray:
    """g applied to the first l axes of t."""
    moved = np.moveaxis(t, list(range(l)), list(range(k, k + l)))
    return np.moveaxis(group.act(g, moved, l), list(range(k, k + l)), list(range(l)))


def _act_suffix(group: Group, g: np.ndarray, t: np.ndarray, l: int, k: int) -> np.ndarray:
    """g applied to the last k axes of t."""
    return group.act(g, t, k)


def _describe(subject: object) -> str:
    if isinstance(subject, EquivariantMap):
        return repr(subject)
    if isinstance(subject, (Diagram, Combination, ProductDiagram, ProductCombination)):
        return str(subject)
    if isinstance(subject, sympy.MatrixBase):
        return f"exact {subject.shape[0]} x {subject.shape[1]} sympy matrix"
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
            return _exact_check(group, a, q, k, l, description)
        matrix = matrix.to_sympy()
    if isinstance(matrix, sympy.MatrixBase) and not _is_float(matrix):
        entries = np.array(matrix.tolist(), dtype=object).reshape(matrix.shape)
    else:
        entries = np.asarray(matrix)
        if entries.ndim != 2:
            raise ValueError(f"expected a matrix (2 axes), got shape {entries.shape}")
    rows, cols = entries.shape
    l = _infer_order(rows, n, l, "l")
    k = _infer_order(cols, n, k, "k")
    if _is_float(entries) if isinstance(entries, np.ndarray) else _is_float(matrix):
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
    reports = []
    for name, part in zip(("real part", "imaginary part"), parts, strict=True):
        a, q = _scaled_integers(part)
        reports.append(_exact_check(group, a, q, k, l, f"{name} of the {description}"))
    failure = next((f"{r.subject}: {r.failure}" for r in reports if not r), None)
    return EquivarianceReport(
        ok=all(reports),
        exact=True,
        group=repr(group),
        subject=description,
        checked=tuple(
            f"{name}: " + "; ".join(r.checked) for name, r in zip(("real part", "imaginary part"), reports, strict=True)
        ),
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
