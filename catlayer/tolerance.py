"""The one tolerance table of catlayer, and the validators of numeric-check arguments.

Every float comparison of the library reads its default bound here: the numeric checks of
matrices (:func:`catlayer.verify.check_equivariance`), the numeric forward checks of modules
(:func:`catlayer.verify.check_forward`, :func:`catlayer.testing.assert_equivariant`), the
counterexample search of :func:`catlayer.verify.prove_module` and the residual test of
:meth:`Group.coefficients <catlayer.groups.Group.coefficients>`. The table is keyed by the
*name* of a dtype, so that numpy dtypes, torch dtypes and strings all find the same row
(:func:`~catlayer.tolerance.dtype_name`); a bound is on a *relative* residual (the largest difference over the
largest entry of either side).

Plain Python, like :mod:`catlayer.memory`: it sits below every other layer (the symbolic core
included), so nothing above has to import a numeric layer to read a tolerance.

>>> default_tolerance("float64"), default_tolerance("complex64")
(1e-10, 0.0001)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

__all__ = ["DEFAULT_TOLERANCE", "ToleranceTable", "check_samples", "check_tolerance", "default_tolerance", "dtype_name"]


class ToleranceTable(Mapping[object, float]):
    """A read-only table dtype → bound that finds a row by any spelling of the dtype (a numpy
    dtype or scalar type, a torch dtype, a string; see :func:`~catlayer.tolerance.dtype_name`); it iterates over the
    names.

    >>> import numpy as np
    >>> DEFAULT_TOLERANCE["float32"] == DEFAULT_TOLERANCE[np.float32] == DEFAULT_TOLERANCE[np.dtype("float32")]
    True
    >>> "int64" in DEFAULT_TOLERANCE
    False
    """

    def __init__(self, rows: Mapping[str, float]) -> None:
        self._rows = dict(rows)

    def __getitem__(self, dtype: object) -> float:
        return self._rows[dtype_name(dtype)]

    def __contains__(self, dtype: object) -> bool:
        return dtype_name(dtype) in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"ToleranceTable({self._rows!r})"


#: The default bound on a relative residual, by dtype: about 10^6 units in the last place
#: (float64 rounding after a few hundred operations stays far below it), looser for the short
#: float types, whose sums over a few thousand entries already lose that much.
DEFAULT_TOLERANCE = ToleranceTable(
    {
        "float64": 1e-10,
        "complex128": 1e-10,
        "float32": 1e-4,
        "complex64": 1e-4,
        "float16": 1e-2,
        "bfloat16": 5e-2,
    }
)


def dtype_name(dtype: object) -> str:
    """The name of a numpy dtype, a torch dtype, a Python type or a string: ``"float64"`` for
    ``np.float64``, ``np.dtype("float64")``, ``torch.float64``, ``float`` and ``"float64"`` alike.

    >>> import numpy as np
    >>> dtype_name(np.float32), dtype_name(np.dtype("complex128")), dtype_name(float), dtype_name("torch.float16")
    ('float32', 'complex128', 'float64', 'float16')
    """
    if dtype is float:
        return "float64"
    if dtype is complex:
        return "complex128"
    name = getattr(dtype, "name", None)  # numpy dtypes
    if not isinstance(name, str):
        name = getattr(dtype, "__name__", None)  # numpy scalar types (np.float64)
    if not isinstance(name, str) or name == "dtype":
        name = str(dtype)  # torch dtypes print as "torch.float64"
    return name.rsplit(".", 1)[-1]


def default_tolerance(dtype: object, fallback: str = "float32") -> float:
    """The default bound for a check run in ``dtype`` (any spelling, see :func:`~catlayer.tolerance.dtype_name`);
    a dtype the table does not list (an integer type, say) gets the ``fallback`` row.

    >>> default_tolerance("int64"), default_tolerance("int64", fallback="float64")
    (0.0001, 1e-10)
    """
    return DEFAULT_TOLERANCE.get(dtype, DEFAULT_TOLERANCE[fallback])


def check_tolerance(tolerance: object) -> float | None:
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
        value = float(tolerance)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"tolerance must be a number, got {tolerance!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    return value


def check_samples(samples: object, what: str = "samples") -> int:
    """``samples`` as an int >= 1: a numeric check on no group element checks nothing.

    >>> check_samples(0)
    Traceback (most recent call last):
    ...
    ValueError: samples must be an int >= 1 (a check on no group element checks nothing), got 0
    """
    integral = isinstance(samples, int) or type(samples).__name__.startswith(("int", "uint"))
    if isinstance(samples, bool) or not integral or int(samples) < 1:  # type: ignore[call-overload]
        raise ValueError(f"{what} must be an int >= 1 (a check on no group element checks nothing), got {samples!r}")
    return int(samples)  # type: ignore[call-overload]
