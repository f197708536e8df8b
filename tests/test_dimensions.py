"""catlayer.dimensions: closed forms and dominant-weight walks held against the character integral
on the maximal torus (tests/integral_reference.py), the published table of small values, large-n
values checked by the walks (which are valid for every n), and the size guards."""

import math

import pytest
from integral_reference import integral_dimension

from catlayer import SO, O, S, Sp
from catlayer import dimensions as dims

FAMILIES = {
    "partition": dims.symmetric_dimension,
    "orthogonal": dims.orthogonal_dimension,
    "special_orthogonal": dims.special_orthogonal_dimension,
    "symplectic": dims.symplectic_dimension,
}
WALKS = {
    "orthogonal": dims._orthogonal_walk,
    "special_orthogonal": dims._special_orthogonal_walk,
    "symplectic": dims._symplectic_walk,
}


def grid(family):
    """Every N ≤ 8 and every n whose torus has rank ≤ 3 (the integral is slow beyond)."""
    ns = range(2, 7, 2) if family == "symplectic" else range(1, 8)
    return [(n, N) for n in ns for N in range(9)]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_dimension_equals_the_character_integral(family):
    for n, N in grid(family):
        expected = integral_dimension(family, n, N)
        assert FAMILIES[family](n, N) == expected, (family, n, N)
        if family in WALKS:  # the walk alone, also where a closed form answers
            assert WALKS[family](n, N) == expected, (family, n, N)


def test_known_table():
    table = {  # dim((R^n)^{⊗N})^G for N = 0..6 (docs/conventions.md)
        S(2): [1, 1, 2, 4, 8, 16, 32],
        S(3): [1, 1, 2, 5, 14, 41, 122],
        S(4): [1, 1, 2, 5, 15, 51, 187],
        O(1): [1, 0, 1, 0, 1, 0, 1],
        O(2): [1, 0, 1, 0, 3, 0, 10],
        O(3): [1, 0, 1, 0, 3, 0, 15],
        O(4): [1, 0, 1, 0, 3, 0, 15],
        SO(2): [1, 0, 2, 0, 6, 0, 20],
        SO(3): [1, 0, 1, 1, 3, 6, 15],
        SO(4): [1, 0, 1, 0, 4, 0, 25],
        Sp(2): [1, 0, 1, 0, 2, 0, 5],
        Sp(4): [1, 0, 1, 0, 3, 0, 14],
    }
    for G, values in table.items():
        assert [G.dim(N, 0) for N in range(7)] == values, G
        assert [G.dim(N // 2, N - N // 2) for N in range(7)] == values, G


def test_large_n_from_closed_forms_agree_with_the_walks_and_the_integral():
    # Above the thresholds the values do not depend on n: the integral at the smallest such n
    # and the walks (valid for every n, cost independent of n) confirm the closed forms.
    assert S(10**6).dim(2, 2) == S(70).dim(2, 2) == integral_dimension("partition", 4, 4) == 15
    assert O(200).dim(2, 2) == dims._orthogonal_walk(200, 4) == integral_dimension("orthogonal", 2, 4) == 3
    assert O(12).dim(3, 3) == dims._orthogonal_walk(12, 6) == integral_dimension("orthogonal", 3, 6) == 15
    assert Sp(12).dim(2, 2) == dims._symplectic_walk(12, 4) == integral_dimension("symplectic", 4, 4) == 3
    assert SO(64).dim(2, 2) == dims._special_orthogonal_walk(64, 4) == 3
    assert SO(64).dim(32, 32) == dims.orthogonal_dimension(64, 64) + 1 == math.prod(range(63, 0, -2)) + 1


@pytest.mark.parametrize("n", range(2, 15))
def test_special_orthogonal_closed_forms_at_the_regime_boundaries(n):
    walk = dims._special_orthogonal_walk
    for N in range(max(0, n - 3), n + 4):
        if N <= n + 2:  # a closed form answers
            assert dims.special_orthogonal_dimension(n, N) == walk(n, N), (n, N)
    assert dims.special_orthogonal_dimension(n, n) == dims.orthogonal_dimension(n, n) + 1
    assert dims.special_orthogonal_dimension(n, n + 2) - dims.orthogonal_dimension(n, n + 2) == math.comb(n + 1, 2)


def test_symmetric_closed_form_is_the_stirling_sum_for_every_n():
    for n in (1, 2, 3, 5, 9, 40):
        for N in range(12):
            stirling = sum(
                sum((-1) ** (t - j) * math.comb(t, j) * j**N for j in range(t + 1)) // math.factorial(t)
                for t in range(min(n, N) + 1)
            )
            assert dims.symmetric_dimension(n, N) == stirling


def test_pathological_sizes_are_refused_at_once():
    with pytest.raises(ValueError, match="MAX_POWER"):
        O(3).dim(10**6, 0)
    with pytest.raises(ValueError, match="MAX_POWER"):
        S(5).dim(200, 200)
    with pytest.raises(ValueError, match="WALK_BUDGET"):
        O(10).dim(50, 50)
    with pytest.raises(ValueError, match="WALK_BUDGET"):
        dims.special_orthogonal_dimension(64, 70)
    assert O(200).dim(100, 100) == math.prod(range(199, 0, -2))  # closed form: no walk needed


def test_bad_arguments():
    for function in FAMILIES.values():
        with pytest.raises(ValueError, match="n must be an int >= 1"):
            function(0, 2)
        with pytest.raises(ValueError, match="n must be an int >= 1"):
            function(True, 2)
        with pytest.raises(ValueError, match="tensor power"):
            function(2, -1)
        with pytest.raises(ValueError, match="tensor power"):
            function(2, 2.0)
    with pytest.raises(ValueError, match="even n"):
        dims.symplectic_dimension(3, 2)
    assert SO(3).dim(2, 3) == dims.special_orthogonal_dimension(3, 5) == 6
