"""Exact linear combinations: algebra, exactness, substitution, printing."""

import pickle

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

import catlayer
from catlayer import BrauerCategory, BrauerDiagram, Combination, PartitionCategory, PartitionDiagram
from catlayer.testing import coefficients, combinations, composable_pairs, partition_diagrams

n = sympy.Symbol("n")
P = PartitionCategory(n)
B = BrauerCategory(-n)
shape = st.sampled_from([(0, 0), (1, 1), (2, 1), (1, 2), (2, 2)])


def combos(category, count):
    """``count`` combinations of one drawn shape in ``category``."""
    return shape.flatmap(lambda kl: st.tuples(*[combinations(category, *kl, symbols=[n]) for _ in range(count)]))


@given(combos(P, 3), coefficients([n]), coefficients([n]))
def test_vector_space_axioms(abc, x, y):
    a, b, c = abc
    zero = Combination({}, a.dom, a.cod, P)
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)
    assert a + zero == a and a - a == zero and not (a - a).terms
    assert x * (a + b) == x * a + x * b
    assert (x + y) * a == x * a + y * a
    assert (x * y) * a == x * (y * a)
    assert 1 * a == a and 0 * a == zero
    assert -a == (-1) * a and a - b == a + (-1) * b
    assert sum([a, b]) == a + b


@given(combos(P, 1))
def test_zero_terms_are_dropped_and_coefficients_are_exact(single):
    (a,) = single
    assert all(c != 0 for c in a.terms.values())
    assert all(not sympy.sympify(c).atoms(sympy.Float) for c in a.terms.values())
    doubled = a + a
    assert set(doubled.terms) == set(a.terms)
    cancelled = Combination({d: c for d, c in a.terms.items()} | {}, a.dom, a.cod) * 0
    assert len(cancelled) == 0 and not cancelled


def test_symbolic_cancellation_and_coefficient():
    d = PartitionDiagram([[0, 1]], 1, 1)
    e = PartitionDiagram([[0], [1]], 1, 1)
    c = Combination({d: n * (n + 1), e: 2}, category=P)
    assert c.coefficient(d) == n**2 + n  # expanded
    assert c.coefficient(PartitionDiagram([[0, 1]], 0, 2)) == 0
    minus = Combination({d: -(n**2) - n}, category=P)
    assert (c + minus).terms == {e: 2}
    assert Combination({d: n, e: 0}).terms == {d: n}
    assert Combination({d: sympy.Rational(1, 3)}) * 3 == Combination(d)
    assert Combination(d) == d and Combination(d) != e and Combination(d) != "d"
    assert Combination(d) != Combination(PartitionDiagram([[0, 1]], 2, 0))


@pytest.mark.parametrize("bad", [0.5, sympy.Float(2.0), 2.0 * n, sympy.Float(1.0) + n])
def test_float_coefficients_are_rejected(bad):
    d = PartitionDiagram([[0, 1]], 1, 1)
    with pytest.raises(TypeError, match="float"):
        Combination({d: bad})
    with pytest.raises(TypeError, match="float"):
        Combination(d) * bad


def test_construction_errors():
    d = PartitionDiagram([[0, 1]], 1, 1)
    with pytest.raises(TypeError, match="terms must be a mapping"):
        Combination([d])
    with pytest.raises(TypeError, match="is not a diagram"):
        Combination({"x": 1})
    with pytest.raises(ValueError, match="same shape"):
        Combination({d: 1, PartitionDiagram([[0, 1]], 2, 0): 1})
    with pytest.raises(ValueError, match="an empty combination needs dom and cod"):
        Combination({})
    with pytest.raises(ValueError, match="shapes differ"):
        Combination(d) + PartitionDiagram([[0, 1]], 2, 0)
    with pytest.raises(TypeError, match="cannot combine"):
        Combination(d) + "x"
    with pytest.raises(AttributeError, match="immutable"):
        Combination(d)._terms = {}
    with pytest.raises(ValueError, match="empty combination"):
        Combination({}, 1, 1) >> d


@given(combos(P, 1), st.integers(-3, 5))
def test_subs_substitutes_coefficients_and_category(single, value):
    (a,) = single
    b = a.subs(n, value)
    assert b.category == PartitionCategory(value)
    expected = {d: sympy.sympify(c).subs(n, value) for d, c in a.terms.items()}
    assert b.terms == {d: c for d, c in expected.items() if c != 0}
    assert all(not sympy.sympify(c).free_symbols for c in b.terms.values())


def test_subs_example():
    cap, cup = BrauerDiagram([[0, 1]], 0, 2), BrauerDiagram([[0, 1]], 2, 0)
    assert B.compose(cap, cup).subs(n, 4).terms == {BrauerDiagram([], 0, 0): -4}


@given(combos(P, 1))
def test_repr_evaluates_back_and_pickle(single):
    (a,) = single
    scope = {name: getattr(catlayer, name) for name in catlayer.__all__} | {"n": n}
    again = eval(repr(a), scope)
    assert again == a and again.category == a.category
    assert pickle.loads(pickle.dumps(a)) == a
    assert hash(pickle.loads(pickle.dumps(a))) == hash(a)


def test_str_form():
    d = PartitionDiagram([[0, 1]], 1, 1)
    e = PartitionDiagram([[0], [1]], 1, 1)
    assert str(Combination({d: 1, e: -1})) == "-[{1} {1'}] + [{1,1'}] : 1 → 1"
    assert str(Combination({d: n + 1})) == "(n + 1)·[{1,1'}] : 1 → 1"
    assert repr(Combination({d: n / 2 + sympy.Rational(1, 2)})) == (
        "Combination({PartitionDiagram([[0, 1]], dom=1, cod=1): 'n/2 + 1/2'}, dom=1, cod=1)"
    )
    assert str(Combination({}, 2, 1)) == "0 : 2 → 1"


@given(composable_pairs(P, max_points=2), coefficients([n]), coefficients([n]), partition_diagrams(max_size=4))
def test_composition_and_tensor_are_bilinear(pair, x, y, h):
    f, g = pair
    other = P.identity(f.dom)
    left = x * Combination(f, category=P) + y * P.compose(other, f)
    composed = P.compose(left, g)
    assert composed == x * P.compose(f, g) + y * P.compose(P.compose(other, f), g)
    assert left >> g == composed and (left >> g).dom == f.dom
    tensored = P.tensor(left, h)
    assert tensored == x * P.tensor(f, h) + y * P.tensor(P.compose(other, f), h)
    assert left @ h == tensored and (h @ left).dom == h.dom + f.dom


def test_operators_need_diagrams_or_combinations():
    c = Combination(PartitionDiagram([[0, 1]], 1, 1), category=P)
    assert c.__rshift__(1) is NotImplemented and c.__matmul__(1) is NotImplemented
    assert c.__rrshift__(1) is NotImplemented and c.__rmatmul__(1) is NotImplemented
    assert c.__mul__(c) is NotImplemented
