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
import sys
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy

from ..diagrams import Combination, Diagram
from ..diagrams.product import ProductCombination, ProductDiagram
from ..functors import EquivariantMap
from ..groups import Generator, Group, ProductGroup

__all__ = ["EquivarianceReport", "FunctorLawReport", "check_equivariance", "check_functor_laws"]

_INT64_SAFE = 2**62
DEFAULT_TOLERANCE = {
    np.dtype(np.float64): 1e-10,
    np.dtype(np.float32): 1e-4,
    np.dtype(np.complex128): 1e-10,
    np.dtype(np.complex64): 1e-4,
}


@dataclass(frozen=True)
class EquivarianceReport:
    """The outcome of :func:`check_equivariance`; truthy exactly when ``ok``.

    ``exact`` is True for a proof in exact arithmetic (on the group's generators, or the
    per-diagram certificate of a layer), False for a numeric check on random group elements
    (then ``tolerance`` is the bound on the relative residual and ``max_residual`` the largest
    one seen) or for a report with a numeric part. ``failure`` names the generator or sample,
    the largest residual entry and its multi-index (output indices ; input indices). ``parts``
    are the sub-reports of a layer (each says whether it is exact or numeric), ``method`` says
    how the verdict was reached and ``negative`` is the verdict printed when ``ok`` is False.

    >>> from catlayer import S
    >>> report = check_equivariance(S(3), np.arange(9).reshape(3, 3), 1, 1)
    >>> bool(report), report.exact
    (False, True)
    >>> print(report)
    3 x 3 int64 matrix under S(3): NOT equivariant (exact proof on the generators)
      checked: group generator transposition (0 1)
      failure: group generator transposition (0 1): largest entry of ρ_l(g)·M − M·ρ_k(g) is 4 at ...
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
    method: str | None = None
    negative: str = "NOT equivariant"

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        verdict = "equivariant" if self.ok else self.negative
        how = self.method or ("exact proof on the generators" if self.exact else "numeric, not a proof")
        lines = [f"{self.subject} under {self.group}: {verdict} ({how})"]
        if self.checked:
            joined = "; ".join(self.checked)
            if len(joined) <= 100:
                lines.append("  checked: " + joined)
            else:
                lines += ["  checked:"] + [f"    - {item}" for item in self.checked]
        if not self.exact and self.max_residual is not None:
            lines.append(f"  max relative residual {self.max_residual:.3g} (tolerance {self.tolerance:.3g})")
        if self.failure:
            lines.append(f"  failure: {self.failure}")
        for part in self.parts:
            lines += ["  " + line for line in str(part).splitlines()]
        return "\n".join(lines)


@dataclass(frozen=True)
class FunctorLawReport:
    """The outcome of :func:`check_functor_laws`; truthy exactly when ``ok``.

    >>> from catlayer import O, BrauerDiagram
    >>> cap, cup = BrauerDiagram([[0, 1]], dom=0, cod=2), BrauerDiagram([[0, 1]], dom=2, cod=0)
    >>> report = check_functor_laws(O(2), cap, cup)
    >>> bool(report), report.checked
    (True, ('composition: F(d >> e) == F(d) >> F(e)', 'tensor: F(d @ e) == F(d) @ F(e)'))
    """

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


def check_tolerance(tolerance) -> float | None:
    """``tolerance`` as a float, refusing bounds that would let every check pass (NaN, ±inf) or
    none (negative); None (the dtype's default) is passed through.

    >>> check_tolerance(1e-8), check_tolerance(None)
    (1e-08, None)
    >>> check_tolerance(float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: tolerance must be a finite number >= 0, got nan
    """
    if tolerance is None:
        return None
    if isinstance(tolerance, bool):
        raise TypeError(f"tolerance must be a number, got {tolerance!r}")
    try:
        value = float(tolerance)
    except (TypeError, ValueError):
        raise TypeError(f"tolerance must be a number, got {tolerance!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    return value


def check_samples(samples, what: str = "samples") -> int:
    """``samples`` as an int >= 1: a numeric check on no group element checks nothing.

    >>> check_samples(0)
    Traceback (most recent call last):
    ...
    ValueError: samples must be an int >= 1 (a check on no group element checks nothing), got 0
    """
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"{what} must be an int >= 1 (a check on no group element checks nothing), got {samples!r}")
    return int(samples)


def _check_finite(entries: np.ndarray) -> None:
    finite = np.isfinite(entries)
    if not finite.all():
        nan = int(np.isnan(entries).sum())
        raise ValueError(
            f"the matrix has {nan} NaN and {entries.size - nan - int(finite.sum())} infinite entries "
            f"(of {entries.size}): equivariance cannot be checked"
        )


def _numeric_check(
    group: Group, matrix: np.ndarray, k: int, l: int, subject: str, tolerance: float | None, rng, samples: int
) -> EquivarianceReport:
    n = group.n
    dtype = matrix.dtype if matrix.dtype in DEFAULT_TOLERANCE else np.dtype(np.float64)
    _check_finite(matrix)
    tol = DEFAULT_TOLERANCE[dtype] if tolerance is None else tolerance
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
    if isinstance(subject, (Diagram, Combination, ProductDiagram, ProductCombination)):
        return str(subject)
    if isinstance(subject, sympy.MatrixBase):
        return f"exact {subject.shape[0]} x {subject.shape[1]} sympy matrix"
    if isinstance(subject, np.ndarray):
        return f"{subject.shape[0]} x {subject.shape[1]} {subject.dtype} matrix"
    return type(subject).__name__


def _torch_module(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.nn.Module)


def _check_module(group: Group, module, k: int, l: int, tolerance, rng, samples: int, kwargs) -> EquivarianceReport:
    """The forward of an arbitrary torch module, numerically (it has no diagrams to certify)."""
    from ..nn.check import check_forward

    in_channels = kwargs.pop("in_channels", None)
    batch = check_samples(kwargs.pop("batch", 2), "batch")
    if kwargs:
        raise TypeError(f"unexpected keyword arguments {sorted(kwargs)} for a module")
    typed = isinstance(k, dict) and isinstance(l, dict)
    if not typed:
        for name, value in (("in_order k", k), ("out_order l", l)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer, tuple)):
                raise ValueError(
                    f"declare the module's {name} as an order (an int >= 0, or a tuple for a product) or both "
                    f"orders as feature types (dicts order -> channels), got {value!r}"
                )
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    forward = check_forward(
        module,
        group,
        k if typed or isinstance(k, tuple) else int(k),
        l if typed or isinstance(l, tuple) else int(l),
        in_channels=in_channels,
        num_elements=samples,
        seed=generator,
        batch=batch,
        tolerance=tolerance,
    )
    return EquivarianceReport(
        forward.ok,
        False,
        repr(group),
        f"forward of {type(module).__name__} module",
        tuple(f"random element {e} of {group!r}, batch of {batch} random inputs" for e in range(forward.num_elements)),
        None if forward.ok else forward.describe("the forward pass", group),
        forward.max_residual,
        forward.tolerance,
        method=f"numeric check of the forward in {forward.dtype}, not a proof (an arbitrary module has no diagrams)",
    )


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
    rational numpy array — Python ints / Fractions in an object array), a float or complex
    numpy array, a functor image (``G.functor(d)``), a Diagram or a Combination (k and l are
    inferred where possible), or as ``check_equivariance(G.functor(d))``.

    **Layers and modules.** An object with a ``_catlayer_check_equivariance`` method checks
    itself: ``check_equivariance(layer, prove=…, samples=…, batch=…, tolerance=…, rng=…)`` for
    an :class:`~catlayer.nn.EquivariantLinear` certifies its parameterisation exactly and checks
    its forward numerically (see :func:`catlayer.nn.verification.check_layer`, which documents
    ``prove``). Any other ``torch.nn.Module`` is checked numerically only (the report says so):
    ``check_equivariance(G, module, k, l, in_channels=…)``, or ``check_equivariance(module)``
    when the module declares ``group``, ``in_order`` and ``out_order`` attributes. A module that
    declares none of them but is built from catlayer parts (an ``nn.Sequential`` of layers and
    nonlinearities, a network) is checked part by part by
    :func:`catlayer.nn.network_check.check_network`.

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

    **Product groups** G × H (docs/conventions.md §10): ``check_equivariance(G * H, M, k, l)`` with
    order tuples k and l, or a product functor image alone. Exact input is proved on the union
    of the factors' generators, each acting on its own factor's axes (identity, or zero for Lie
    generators, on the others); float input is checked on random elements that visit every pair
    of components; a failure names the factor and the element (see :mod:`catlayer.verify.products`).

    Exact complex entries (Gaussian rationals such as ``1 + 2*sympy.I``) are proved part by part:
    a real group commutes with M iff it commutes with its real and imaginary parts.

    **Float input** (float or complex numpy arrays) is checked numerically on ``samples``
    (default 3, at least 1) random group elements: the relative residual
    ``max|ρ_l(g)M − Mρ_k(g)| / max(|ρ_l(g)M|, |Mρ_k(g)|)`` must be ≤ ``tolerance`` (a finite
    number ≥ 0; default 1e-10 in float64 / complex128, 1e-4 in float32 / complex64). The report
    then says it is numeric, not a proof (``report.exact is False``). A matrix with NaN or
    infinite entries is refused (ValueError): it would otherwise pass every comparison.

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
    >>> bool(check_equivariance(SO(2), np.array([[1, 2j], [-2j, 1]]), 1, 1, rng=0))   # complex: checked
    True
    >>> check_equivariance(SO(3), np.full((3, 3), np.nan), 1, 1)
    Traceback (most recent call last):
    ...
    ValueError: the matrix has 9 NaN and 0 infinite entries (of 9): equivariance cannot be checked
    """
    tolerance = check_tolerance(tolerance)
    if hasattr(subject, "_catlayer_check_equivariance"):
        if matrix is not None or k is not None or l is not None:
            raise TypeError("a layer checks itself: call check_equivariance(layer, **options)")
        return subject._catlayer_check_equivariance(tolerance=tolerance, rng=rng, **kwargs)
    samples = check_samples(kwargs.pop("samples", 3))
    if _torch_module(subject):
        if matrix is not None or k is not None or l is not None:
            raise TypeError("pass a module as check_equivariance(G, module, k, l) or check_equivariance(module)")
        missing = [a for a in ("group", "in_order", "out_order") if not hasattr(subject, a)]
        if len(missing) == 3 and any(hasattr(m, "group") for m in subject.modules()):
            # a network of catlayer parts: check it part by part
            from ..nn.network_check import check_network

            return check_network(subject, tolerance=tolerance, rng=rng, samples=samples, **kwargs)
        if missing:
            raise TypeError(
                f"{type(subject).__name__} does not declare {', '.join(missing)}: call "
                "check_equivariance(G, module, in_order, out_order)"
            )
        declared = (subject.group, subject, subject.in_order, subject.out_order)
        return _check_module(*declared, tolerance, rng, samples, kwargs)
    if isinstance(subject, (Group, ProductGroup)) and _torch_module(matrix):
        if k is None or l is None:
            raise TypeError("check_equivariance(G, module, k, l) needs the module's orders k and l")
        return _check_module(subject, matrix, k, l, tolerance, rng, samples, kwargs)
    if isinstance(subject, ProductGroup) or (
        isinstance(subject, EquivariantMap) and isinstance(subject.group, ProductGroup)
    ):
        return _check_product(subject, matrix, k, l, tolerance, rng, samples, kwargs)
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
        all(reports),
        True,
        repr(group),
        description,
        tuple(
            f"{name}: " + "; ".join(r.checked) for name, r in zip(("real part", "imaginary part"), reports, strict=True)
        ),
        failure,
        max(r.max_residual or 0.0 for r in reports) if failure else 0.0,
        None,
        parts=tuple(reports),
        method="exact proof on the generators, real and imaginary parts separately",
    )


def _check_product(subject, matrix, k, l, tolerance, rng, samples: int, kwargs) -> EquivarianceReport:
    """check_equivariance for a product group (catlayer.verify.products)."""
    from .products import check_product_equivariance

    if kwargs:
        raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}")
    if isinstance(subject, EquivariantMap):
        if matrix is not None:
            raise TypeError("pass either a functor image alone or a group and a matrix")
        group, matrix = None, subject
    else:
        group = subject
        if matrix is None:
            raise TypeError("check_equivariance(G, M, k, l) needs the matrix M")
        if _torch_module(matrix):
            raise TypeError(
                "check_equivariance(G, module, k, l) checks modules of single groups; for a product group, "
                "check the module itself (check_equivariance(layer)) or its dense matrix"
            )
    return check_product_equivariance(
        group, matrix, k, l, tolerance=tolerance, rng=rng, samples=samples, description=_describe(matrix)
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
) -> FunctorLawReport:
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


# prove_module: proofs of arbitrary torch modules (torch is imported inside the function only).
from .prove import Counterexample, ProofReport, prove_module  # noqa: E402

__all__ += ["Counterexample", "ProofReport", "prove_module"]
