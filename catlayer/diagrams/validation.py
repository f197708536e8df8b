"""Argument checks shared by the symbolic core: cheap, run before any work, and with short
messages (user data is echoed only in a shortened form, never in full)."""

from __future__ import annotations

import operator
import reprlib
from fractions import Fraction

import sympy

from ..memory import check_size

__all__ = ["BYTES_PER_VERTEX", "check_diagram_size", "check_loop_value", "check_order", "short_repr"]

#: Upper estimate of the bytes a diagram holds (and its constructor allocates) per vertex: the
#: canonical blocks, the label tuple and the validation dictionary (tracemalloc measured about
#: 64 bytes per vertex for enumerated diagrams, and about twice that while validating).
BYTES_PER_VERTEX = 256

#: Diagrams whose estimate stays below this many bytes are not checked against the budget
#: (reading the available memory costs more than building such a diagram).
_UNCHECKED_BYTES = 1 << 20

_repr = reprlib.Repr()
_repr.maxstring = 40
_repr.maxother = 40
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 6
_repr.maxlevel = 3
_LIMIT = 80


def short_repr(value: object) -> str:
    """A repr of ``value`` of at most about 80 characters, whatever its size (long containers,
    strings and huge ints are abbreviated without being printed in full).

    >>> short_repr(list(range(10**6)))
    '[0, 1, 2, 3, 4, 5, ...]'
    >>> short_repr(10**5000)
    '<an int of 16610 bits>'
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an int of {value.bit_length()} bits>"
    try:
        text = _repr.repr(value)
    except Exception:  # a broken __repr__ must not hide the real problem
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= _LIMIT else text[: _LIMIT - 3] + "..."


def check_order(value: object, name: str) -> int:
    """An object of a diagram category (a number of points: k, l, dom, cod): an int ≥ 0, not a
    bool. Objects with ``__index__`` (numpy or sympy integers) are accepted and returned as int.

    >>> check_order(3, "k")
    3
    >>> check_order(-1, "k")
    Traceback (most recent call last):
    ...
    ValueError: k must be an int >= 0, got -1
    """
    index = None
    if not isinstance(value, bool) and hasattr(value, "__index__"):
        try:
            index = operator.index(value)
        except TypeError:
            pass
        if index is not None and index >= 0:
            return index
    raise ValueError(f"{name} must be an int >= 0, got {short_repr(value)}")


def check_diagram_size(size: int, what: str) -> None:
    """Raise :class:`~catlayer.memory.AllocationTooLarge` before building something with
    ``size`` vertices that would not fit in the memory budget.

    >>> check_diagram_size(10**12, "the identity on 5·10^11 points")
    Traceback (most recent call last):
    ...
    catlayer.memory.AllocationTooLarge: the identity on 5·10^11 points needs ...
    """
    num_bytes = BYTES_PER_VERTEX * size
    if num_bytes >= _UNCHECKED_BYTES:
        check_size(num_bytes, what)


def check_loop_value(value: object, name: str) -> sympy.Expr:
    """A loop value (category parameter): an int, a rational or an exact, finite sympy
    expression free of the imaginary unit, returned as a sympy expression. Floats are refused
    (the categories are exact), and so are NaN, ±∞, complex infinity and non-real values.

    >>> n = sympy.Symbol("n")
    >>> check_loop_value(-n, "delta"), check_loop_value(Fraction(1, 2), "delta")
    (-n, 1/2)
    >>> check_loop_value(sympy.oo, "delta")
    Traceback (most recent call last):
    ...
    ValueError: delta must be finite and real (a loop value), got oo
    """
    if isinstance(value, (bool, float, complex)):
        raise TypeError(f"{name} must be an int or a sympy expression, got {short_repr(value)}")
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if not isinstance(value, sympy.Basic):
        raise TypeError(f"{name} must be an int or a sympy expression, got {type(value).__name__}")
    if not isinstance(value, sympy.Expr):
        raise TypeError(f"{name} must be a sympy expression (a number or symbols), got {short_repr(value)}")
    if isinstance(value, sympy.Float) or value.atoms(sympy.Float):
        raise TypeError(f"{name} must be exact, got the float {short_repr(value)}")
    infinite = (sympy.nan, sympy.oo, -sympy.oo, sympy.zoo)
    if value.has(*infinite) or value.has(sympy.I) or value.is_real is False or value.is_finite is False:
        raise ValueError(f"{name} must be finite and real (a loop value), got {short_repr(value)}")
    return value
