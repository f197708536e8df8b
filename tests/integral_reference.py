"""dim((R^n)^{⊗N})^G as the character integral ∫_G χ(g)^N dg on the maximal torus, exactly and
independently of diagrams and of catlayer.dimensions (its walks and closed forms are held
against this in tests/test_dimensions.py). Slow beyond rank 3 or N ≈ 10: tests only.

* S_n: the average of fix(g)^N over cycle types;
* SO(n), Sp(n): the Weyl integration formula, the constant term of χ^N · Π_{α ∈ Φ} (1 − e^α)
  divided by |W|;
* O(n): the average over the two components (the det −1 component of O(2m) integrates like
  Sp(2m − 2), that of O(2m + 1) is −1 times SO(2m + 1) for odd N).
"""

import math
from collections.abc import Iterator
from fractions import Fraction
from functools import cache
from itertools import combinations


def _laurent_mul(p: dict, q: dict) -> dict:
    out: dict = {}
    for e1, c1 in p.items():
        for e2, c2 in q.items():
            e = tuple(a + b for a, b in zip(e1, e2, strict=True))
            out[e] = out.get(e, 0) + c1 * c2
    return {e: c for e, c in out.items() if c}


def _laurent_pow(p: dict, power: int, rank: int) -> dict:
    result = {(0,) * rank: 1}
    for _ in range(power):
        result = _laurent_mul(result, p)
    return result


def _unit(rank: int, i: int, value: int = 1) -> tuple[int, ...]:
    return tuple(value if j == i else 0 for j in range(rank))


def _torus_character(rank: int, with_zero_weight: bool) -> dict:
    chi: dict = {}
    if with_zero_weight:
        chi[(0,) * rank] = 1
    for i in range(rank):
        chi[_unit(rank, i, 1)] = 1
        chi[_unit(rank, i, -1)] = 1
    return chi


def _roots(kind: str, rank: int) -> list[tuple[int, ...]]:
    roots = []
    for i, j in combinations(range(rank), 2):
        for si in (1, -1):
            for sj in (1, -1):
                roots.append(tuple(si if t == i else sj if t == j else 0 for t in range(rank)))
    for i in range(rank):
        if kind == "B":
            roots += [_unit(rank, i, 1), _unit(rank, i, -1)]
        elif kind == "C":
            roots += [_unit(rank, i, 2), _unit(rank, i, -2)]
    return roots


def _weyl_order(kind: str, rank: int) -> int:
    if kind == "D":
        return 2 ** max(rank - 1, 0) * math.factorial(rank)
    return 2**rank * math.factorial(rank)


@cache
def _weyl_density(kind: str, rank: int) -> dict:
    density = {(0,) * rank: 1}
    for root in _roots(kind, rank):
        density = _laurent_mul(density, {(0,) * rank: 1, root: -1})
    return density


@cache
def _connected_dimension(kind: str, rank: int, power: int) -> int:
    """∫_G χ^N over a connected compact group of type B/C/D and the given rank, by the Weyl
    integration formula: (1/|W|) · CT[χ^N · Π_{α ∈ Φ} (1 − e^α)]."""
    chi = _torus_character(rank, with_zero_weight=kind == "B")
    chi_power = _laurent_pow(chi, power, rank)
    total = sum(c * chi_power.get(tuple(-x for x in e), 0) for e, c in _weyl_density(kind, rank).items())
    quotient, remainder = divmod(total, _weyl_order(kind, rank))
    if remainder:
        raise ArithmeticError(f"Weyl integration gave {total}/{_weyl_order(kind, rank)}, not an integer")
    return quotient


def _integer_partitions(n: int, largest: int | None = None) -> Iterator[tuple[int, ...]]:
    largest = n if largest is None else largest
    if n == 0:
        yield ()
        return
    for part in range(min(n, largest), 0, -1):
        for rest in _integer_partitions(n - part, part):
            yield (part, *rest)


@cache
def _symmetric_dimension(n: int, power: int) -> int:
    total = Fraction(0)
    for shape in _integer_partitions(n):
        z = 1
        for part in set(shape):
            multiplicity = shape.count(part)
            z *= part**multiplicity * math.factorial(multiplicity)
        total += Fraction(shape.count(1) ** power, z)
    if total.denominator != 1:
        raise ArithmeticError(f"character average {total} is not an integer")
    return int(total)


def integral_dimension(family: str, n: int, power: int) -> int:
    """dim((R^n)^{⊗N})^G for the group of ``family`` ("partition" = S_n, "orthogonal",
    "special_orthogonal", "symplectic"), N = ``power``, computed as ∫_G χ(g)^N dg exactly,
    independently of any diagram.

    >>> [integral_dimension("partition", 3, N) for N in range(7)]
    [1, 1, 2, 5, 14, 41, 122]
    >>> [integral_dimension("special_orthogonal", 3, N) for N in range(7)]
    [1, 0, 1, 1, 3, 6, 15]
    >>> [integral_dimension("orthogonal", 2, N) for N in range(7)]
    [1, 0, 1, 0, 3, 0, 10]
    """
    if isinstance(power, bool) or not isinstance(power, int) or power < 0:
        raise ValueError(f"the tensor power must be an int >= 0, got {power!r}")
    if family == "partition":
        return _symmetric_dimension(n, power)
    if family == "symplectic":
        return _connected_dimension("C", n // 2, power)
    if family == "special_orthogonal":
        return _connected_dimension("B" if n % 2 else "D", n // 2, power)
    if family == "orthogonal":
        identity_part = integral_dimension("special_orthogonal", n, power)
        if n % 2:  # O(2m+1) = SO(2m+1) × {±I}; −I acts by (−1)^N
            other_part = (-1) ** power * identity_part
        else:  # eigenvalues 1, −1, z_j^{±1} (j < m): the Sp(2m−2) integral
            other_part = _connected_dimension("C", n // 2 - 1, power)
        total = identity_part + other_part
        if total % 2:
            raise ArithmeticError(f"O({n}) average ({identity_part} + {other_part})/2 is not an integer")
        return total // 2
    raise ValueError(f"unknown family {family!r}")
