"""Exact proofs of equivariance and of the functor laws, with readable reports.

>>> from catlayer import S, PartitionDiagram
>>> from catlayer.verify import check_equivariance
>>> G = S(4)
>>> report = check_equivariance(G, G.functor(PartitionDiagram([[0, 3], [1], [2]], dom=2, cod=2)))
>>> bool(report), report.exact
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy

from .diagrams import Combination, Diagram
from .functors import EquivariantMap
from .groups import Generator, Group

__all__ = ["EquivarianceReport", "FunctorLawReport", "check_equivariance", "check_functor_laws"]

_INT64_SAFE = 2**62
DEFAULT_TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}


@dataclass(frozen=True)
class EquivarianceReport:
    """The outcome of :func:`check_equivariance`; truthy exactly when ``ok``.

    ``exact`` is True for a proof in exact arithmetic on the group's generators, False for a
    numeric check on random group elements (then ``tolerance`` is the bound on the relative
    residual and ``max_residual`` the largest one seen). ``failure`` names the generator or
    sample, the largest residual entry and its multi-index (output indices ; input indices).
    """

    ok: bool
    exact: bool
    group: str
    subject: str
    checked: tuple[str, ...]
    failure: str | None
    max_residual: float | None
    tolerance: float | None
    parts: tuple[EquivarianceReport, ...] = ()

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "equivariant" if self.ok else "NOT equivariant"
        how = "exact proof on the generators" if self.exact else "numeric, not a proof"
        lines = [f"{self.subject} under {self.group}: {verdict} ({how})"]
        if self.checked:
            lines.append("  checked: " + "; ".join(self.checked))
        if not self.exact and self.max_residual is not None:
            lines.append(f"  max relative residual {self.max_residual:.3g} (tolerance {self.tolerance:.3g})")
        if self.failure:
            lines.append(f"  failure: {self.failure}")
        for part in self.parts:
            lines += ["  " + line for line in str(part).splitlines()]
        return "\n".join(lines)


@dataclass(frozen=True)
class FunctorLawReport:
    """The outcome of :func:`check_functor_laws`; truthy exactly when ``ok``."""

    ok: bool
    group: str
    subject: str
    checked: tuple[str, ...]
    failure: str | None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "hold" if self.ok else "FAIL"
        lines = [f"functor laws of {self.group} on {self.subject}: {verdict} (exact)"]
        lines += [f"  checked: {c}" for c in self.checked]
        if self.failure:
            lines.append(f"  failure: {self.failure}")
        return "\n".join(lines)


# -- exact matrices --------------------------------------------------------------------------------
def _fraction(x) -> Fraction:
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


def _is_float(matrix) -> bool:
    if isinstance(matrix, np.ndarray):
        if matrix.dtype.kind in "fc":
            return True
        if matrix.dtype == object:
            return any(isinstance(x, (float, np.floating, sympy.Float)) for x in matrix.flat)
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


def _apply_on_axis(t: np.ndarray, nonzeros, axis: int, transpose: bool) -> np.ndarray:
    """(X ⊗ on axis) t for a sparse n × n matrix X given by its nonzeros; X^T when ``transpose``."""
    out = np.zeros_like(t)
    index_out = [slice(None)] * t.ndim
    index_in = [slice(None)] * t.ndim
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
                False, True, repr(group), subject, tuple(checked), failure, float(abs(value)), None
            )
    if not generators:
        checked.append(f"{group!r} is the trivial group: every matrix is equivariant")
    return EquivarianceReport(True, True, repr(group), subject, tuple(checked), None, 0.0, None)


def _numeric_check(
    group: Group, matrix: np.ndarray, k: int, l: int, subject: str, tolerance: float | None, rng, samples: int
) -> EquivarianceReport:
    n = group.n
    dtype = matrix.dtype if matrix.dtype in DEFAULT_TOLERANCE else np.dtype(np.float64)
    tol = DEFAULT_TOLERANCE[dtype] if tolerance is None else float(tolerance)
    t = matrix.astype(dtype).reshape((n,) * (l + k))
    rng = np.random.default_rng(rng)
    worst, failure, checked = 0.0, None, []
    for s in range(samples):
        g = group.random_element(rng, component=s)  # cycle through the connected components
        g = g.astype(dtype)
        left = _act_prefix(group, g, t, l, k)
        right = _act_suffix(group, g.T, t, l, k)
        residual = left - right
        scale = max(float(np.abs(left).max(initial=0)), float(np.abs(right).max(initial=0)), np.finfo(dtype).tiny)
        relative = float(np.abs(residual).max(initial=0)) / scale
        checked.append(f"random element {s} of {group!r}")
        if relative > worst:
            worst = relative
        if relative > tol and failure is None:
            _, index = _locate(residual, l)
            failure = (
                f"random element {s}: relative residual {relative:.3g} > {tol:.3g}; largest entry of "
                f"ρ_l(g)·M − M·ρ_k(g) is {float(residual[index]):.3g} at (output indices ; input indices) = "
                f"{_format_index(index, l)}"
            )
    return EquivarianceReport(failure is None, False, repr(group), subject, tuple(checked), failure, worst, tol)


def _act_prefix(group: Group, g: np.ndarray, t: np.ndarray, l: int, k: int) -> np.ndarray:
    """g applied to the first l axes of t."""
    moved = np.moveaxis(t, list(range(l)), list(range(k, k + l)))
    return np.moveaxis(group.act(g, moved, l), list(range(k, k + l)), list(range(l)))


def _act_suffix(group: Group, g: np.ndarray, t: np.ndarray, l: int, k: int) -> np.ndarray:
    """g applied to the last k axes of t."""
    return group.act(g, t, k)


def _describe(subject) -> str:
    if isinstance(subject, EquivariantMap):
        return repr(subject)
    if isinstance(subject, (Diagram, Combination)):
        return str(subject)
    if isinstance(subject, sympy.MatrixBase):
        return f"exact {subject.shape[0]} x {subject.shape[1]} sympy matrix"
    if isinstance(subject, np.ndarray):
        return f"{subject.shape[0]} x {subject.shape[1]} {subject.dtype} matrix"
    return type(subject).__name__


def check_equivariance(
    subject,
    matrix=None,
    k: int | None = None,
    l: int | None = None,
    *,
    tolerance: float | None = None,
    rng=None,
    **kwargs,
) -> EquivarianceReport:
    """Check that a matrix M: (R^n)^{⊗k} → (R^n)^{⊗l} satisfies ρ_l(g) M = M ρ_k(g) for all g ∈ G.

    Call as ``check_equivariance(G, M, k, l)`` with M an exact matrix (sympy, integer or
    rational numpy array — Python ints / Fractions in an object array), a functor image
    (``G.functor(d)``), a Diagram or a Combination (k and l are inferred where possible), or as
    ``check_equivariance(G.functor(d))``. An object with a ``_catlayer_check_equivariance``
    method (e.g. a torch layer) checks itself: ``subject._catlayer_check_equivariance(tolerance=…,
    rng=…, **kwargs)``.

    **Exact input** is *proved*: the identity is checked in exact integer arithmetic for each
    generator returned by ``G.generators()``, applying the sparse n × n generator to one tensor
    axis at a time (no Kronecker powers). This suffices:

    * S_n is generated by the transposition (0 1) and the n-cycle (0 1 … n−1); since ρ is a
      homomorphism, commuting with generators gives commuting with all products (and inverses:
      g M = M g implies M g⁻¹ = g⁻¹ M);
    * SO(n) and Sp(n) are connected, so generated by exp of their Lie algebras, and
      ρ(exp X) = exp(dρ(X)); hence M commutes with ρ(G) iff dρ_l(X) M = M dρ_k(X) for a basis X
      of the Lie algebra (differentiate at t = 0 for one direction, exponentiate for the other);
    * O(n) = SO(n) ⋊ {1, r} with r = diag(1, …, 1, −1): the Lie algebra plus the reflection.

    **Float input** (float numpy arrays) is checked numerically on ``samples`` (default 3)
    random group elements: the relative residual max|ρ_l(g)M − Mρ_k(g)| / max(|ρ_l(g)M|, |Mρ_k(g)|)
    must be ≤ ``tolerance`` (default 1e-10 in float64, 1e-4 in float32). The report then says
    it is numeric, not a proof (``report.exact is False``).

    >>> import numpy as np, sympy
    >>> from catlayer import SO, O, BrauerGroodDiagram
    >>> H = BrauerGroodDiagram([[0], [1]], dom=1, cod=1)          # n = 2: [[0, 1], [-1, 0]]
    >>> bool(check_equivariance(SO(2), SO(2).functor(H)))
    True
    >>> report = check_equivariance(O(2), sympy.Matrix([[0, 1], [-1, 0]]), 1, 1)
    >>> print(report.failure)
    group generator reflection of e_1 in O(2): largest entry of ρ_l(g)·M − M·ρ_k(g) is 2
    at (output indices ; input indices) = (0 ; 1)
    >>> check_equivariance(SO(3), np.eye(3), 1, 1, rng=0).exact
    False
    """
    if hasattr(subject, "_catlayer_check_equivariance"):
        return subject._catlayer_check_equivariance(tolerance=tolerance, rng=rng, **kwargs)
    samples = int(kwargs.pop("samples", 3))
    if kwargs:
        raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}")
    if isinstance(subject, EquivariantMap):
        if matrix is not None:
            raise TypeError("pass either a functor image alone or a group and a matrix")
        group, matrix = subject.group, subject
    elif isinstance(subject, Group):
        group = subject
        if matrix is None:
            raise TypeError("check_equivariance(G, M, k, l) needs the matrix M")
    else:
        raise TypeError(
            f"the subject must be a Group (with a matrix), a functor image, or have a "
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
            entries = entries.astype(np.float64)
        return _numeric_check(group, entries, k, l, description, tolerance, rng, samples)
    if entries.dtype != object and entries.dtype.kind in "iub":
        wide = entries.dtype.kind == "u" and entries.dtype.itemsize == 8
        a = entries.astype(object) if wide else entries.astype(np.int64)
        return _exact_check(group, a, 1, k, l, description)
    a, q = _scaled_integers(entries.astype(object))
    return _exact_check(group, a, q, k, l, description)


def check_functor_laws(group: Group, d: Diagram | Combination, e: Diagram | Combination) -> FunctorLawReport:
    """Exactly check F(d then e) = F(d) >> F(e) (composition in ``group.category``, with its
    δ^loops coefficients; only when d ends where e starts) and F(d ⊗ e) = F(d) @ F(e).

    >>> from catlayer import Sp, BrauerDiagram
    >>> cap, cup = BrauerDiagram([[0, 1]], dom=0, cod=2), BrauerDiagram([[0, 1]], dom=2, cod=0)
    >>> report = check_functor_laws(Sp(4), cap, cup)             # the loop is −n = −4
    >>> bool(report), report.checked
    (True, ('composition: F(d >> e) == F(d) >> F(e)', 'tensor: F(d @ e) == F(d) @ F(e)'))
    """
    category = group.category
    fd, fe = group.functor(d), group.functor(e)
    checked, failure = [], None
    if d.cod == e.dom:
        composite = category.compose(d, e)
        checked.append("composition: F(d >> e) == F(d) >> F(e)")
        if not group.functor(composite) == (fd >> fe):
            failure = f"composition: F(d >> e) != F(d) >> F(e), with d >> e = {composite}"
    product = category.tensor(d, e)
    checked.append("tensor: F(d @ e) == F(d) @ F(e)")
    if failure is None and not group.functor(product) == (fd @ fe):
        failure = f"tensor: F(d @ e) != F(d) @ F(e), with d @ e = {product}"
    return FunctorLawReport(failure is None, repr(group), f"d = {d}, e = {e}", tuple(checked), failure)
