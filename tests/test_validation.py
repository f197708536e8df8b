"""Bad or extreme input to the symbolic core is refused before any work, with a named error and a
short message: orders, sizes, blocks, loop values, and hom counts checked against the memory
budget before enumeration."""

import math
from fractions import Fraction

import numpy as np
import pytest
import sympy

from catlayer import (
    BrauerCategory,
    BrauerDiagram,
    BrauerGroodCategory,
    BrauerGroodDiagram,
    Combination,
    PartitionCategory,
    PartitionDiagram,
    factorise,
)
from catlayer.backend import multiplication_table
from catlayer.diagrams import split
from catlayer.diagrams.categories import MAX_COUNT_VERTICES
from catlayer.diagrams.diagram import blocks_cross, boundary_position
from catlayer.diagrams.permutations import permutation_sign, signed_permutations
from catlayer.memory import AllocationTooLarge, set_memory_budget

n = sympy.Symbol("n")
CATEGORIES = [PartitionCategory(3), PartitionCategory(n), BrauerCategory(-n), BrauerGroodCategory(2)]
KINDS = [PartitionDiagram, BrauerDiagram, BrauerGroodDiagram]
#: "a few hundred characters" at most, whatever the input.
MESSAGE_LIMIT = 300


@pytest.fixture
def budget():
    """Set the memory budget for one test (so that results do not depend on the machine)."""
    yield set_memory_budget
    set_memory_budget(None)


def raises_short(error, call, match=None):
    with pytest.raises(error, match=match) as info:
        call()
    assert len(str(info.value)) <= MESSAGE_LIMIT, str(info.value)[:1000]
    return info.value


# -- orders ------------------------------------------------------------------------------------------
BAD_ORDERS = [-1, -(10**30), True, False, 1.0, 2.5, "2", None, sympy.Symbol("k"), sympy.Rational(1, 2)]


@pytest.mark.parametrize("bad", BAD_ORDERS, ids=repr)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_diagram_constructors_refuse_bad_orders(kind, bad):
    raises_short(ValueError, lambda: kind.identity(bad), r"k must be an int >= 0")
    raises_short(ValueError, lambda: kind.swap(bad, 1), r"a must be an int >= 0")
    raises_short(ValueError, lambda: kind.swap(1, bad), r"b must be an int >= 0")
    raises_short(ValueError, lambda: kind([], dom=bad, cod=0), r"dom .* must be an int >= 0")
    raises_short(ValueError, lambda: kind([], dom=0, cod=bad), r"cod .* must be an int >= 0")


@pytest.mark.parametrize("bad", BAD_ORDERS, ids=repr)
@pytest.mark.parametrize("category", CATEGORIES, ids=repr)
def test_category_functions_refuse_bad_orders(category, bad):
    for call in (category.count, category.hom, category.iter_hom, category.empty_reason):
        raises_short(ValueError, lambda call=call: call(bad, 2), r"k must be an int >= 0")
        raises_short(ValueError, lambda call=call: call(2, bad), r"l must be an int >= 0")
    raises_short(ValueError, lambda: category.identity(bad), r"k must be an int >= 0")


def test_listed_examples_of_negative_orders():
    """The reproductions of issue 12 item 5, each raising at the call (iter_hom is not iterated)."""
    for call in (
        lambda: PartitionDiagram.identity(-1),
        lambda: PartitionDiagram.swap(-1, 1),
        lambda: PartitionCategory(3).count(-1, 2),
        lambda: PartitionCategory(3).iter_hom(-1, 2),
    ):
        raises_short(ValueError, call, "must be an int >= 0")


def test_integer_like_orders_are_accepted():
    assert PartitionDiagram.identity(np.int64(2)) == PartitionDiagram.identity(2)
    assert BrauerDiagram.swap(sympy.Integer(1), np.int32(2)) == BrauerDiagram.swap(1, 2)
    assert PartitionCategory(3).count(np.int64(2), 2) == 15
    assert PartitionDiagram([[0, 1]], dom=np.int64(1), cod=sympy.Integer(1)).dom == 1
    assert type(PartitionDiagram.identity(np.int64(2)).dom) is int


def test_other_entry_points_refuse_bad_orders():
    raises_short(ValueError, lambda: Combination({}, -1, 0), "dom must be an int >= 0")
    raises_short(ValueError, lambda: Combination({}, 0, 1.5), "cod must be an int >= 0")
    raises_short(ValueError, lambda: Combination({}, 0, None), "give both dom and cod")
    raises_short(ValueError, lambda: multiplication_table(PartitionCategory(3), -1), "k must be an int >= 0")
    raises_short(ValueError, lambda: signed_permutations(-2), "n must be an int >= 0")


# -- sizes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda: PartitionDiagram([[0]], dom=10**9, cod=0),
        lambda: PartitionDiagram([[0]], dom=10**7, cod=0),
        lambda: BrauerDiagram([[0, 1]], dom=0, cod=10**12),
        lambda: PartitionDiagram([[0]], dom=10**5000, cod=10**5000),
        lambda: PartitionDiagram.identity(10**10),
        lambda: BrauerGroodDiagram.swap(10**9, 10**9),
        lambda: PartitionDiagram.permutation(range(10**10)),
        lambda: signed_permutations(30),
    ],
    ids=["dom 1e9", "dom 1e7", "cod 1e12", "dom 1e5000", "identity 1e10", "swap 1e9", "permutation 1e10", "30!"],
)
def test_huge_sizes_are_refused_before_anything_is_built(call):
    """AllocationTooLarge (from the memory budget) or a ValueError (vertices missing), with a
    short message: nothing of the requested size is allocated, not even in the message."""
    raises_short((AllocationTooLarge, ValueError), call)


def test_missing_vertices_message_names_the_first_few():
    error = raises_short(ValueError, lambda: PartitionDiagram([[0]], dom=10**7, cod=0))
    assert "vertices [1, 2, 3, 4, 5, 6, 7, 8, ... (9999999 in all)] are missing" in str(error)
    raises_short(ValueError, lambda: PartitionDiagram([[0, 3]], 2, 2), r"vertices \[1, 2\] are missing")


def test_diagram_size_follows_the_budget(budget):
    budget(10**6)
    raises_short(AllocationTooLarge, lambda: PartitionDiagram.identity(5000), "the identity on 5000 points")
    raises_short(AllocationTooLarge, lambda: PartitionDiagram([[0]], dom=5000, cod=0), r"a \(5000, 0\)-diagram")
    budget(10**9)
    assert PartitionDiagram.identity(5000).size == 10000


# -- user data in messages is capped ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "call", "match"),
    [
        (ValueError, lambda: PartitionDiagram([list(range(10**5))], 1, 1), "vertex 2 in block 0 is out of range"),
        (ValueError, lambda: PartitionDiagram([[0, 10**5000]], 1, 1), "vertex <an int of 16610 bits> in block 0"),
        (TypeError, lambda: PartitionDiagram([[0, "x" * 10**6]], 1, 1), "vertex 'xxx.* in block 0 is not an int"),
        (TypeError, lambda: PartitionDiagram([[0, [1] * 10**6]], 1, 1), r"vertex \[1, 1, 1, .* is not an int"),
        (ValueError, lambda: PartitionDiagram.permutation([0] * 10**5), r"\(0, 0, 0, 0, 0, 0, \.\.\.\) is not"),
        (TypeError, lambda: PartitionDiagram.permutation(["a" * 10**6]), "is not an int"),
        (TypeError, lambda: Combination({"k" * 10**6: 1}), "is not a diagram"),
        (TypeError, lambda: PartitionCategory("n" * 10**6), "must be an int or a sympy expression, got str"),
        (ValueError, lambda: PartitionCategory(sympy.Symbol("x" * 10**5) + sympy.I), "finite and real"),
        (ValueError, lambda: BrauerGroodCategory(-(10**5000)), "got <an int of 16610 bits>"),
        (ValueError, lambda: BrauerGroodCategory(2, det_eta=10**5000), "det_eta must be"),
        (ValueError, lambda: permutation_sign(list(range(1, 10**5))), "is not a permutation"),
    ],
)
def test_messages_never_echo_huge_inputs(error, call, match):
    raises_short(error, call, match)


# -- blocks ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("blocks", "match"),
    [
        (None, "blocks must be an iterable of blocks .* got None"),
        (5, "blocks must be an iterable of blocks .* got 5"),
        ("01", "blocks must be an iterable of blocks .* got '01'"),
        ([5], "block 0 is 5: each block must be an iterable of int vertices"),
        ([[0], None], "block 1 is None: each block must be an iterable"),
        ([[0], "1"], "block 1 is '1'"),
        ([[0, "1"]], "vertex '1' in block 0 is not an int"),
        ([[0, 1.0]], "vertex 1.0 in block 0 is not an int"),
        ([[0, True]], "vertex True in block 0 is not an int"),
        ([[0, None]], "vertex None in block 0 is not an int"),
    ],
)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_malformed_blocks_are_type_errors_naming_the_problem(kind, blocks, match):
    raises_short(TypeError, lambda: kind(blocks, dom=1, cod=1), match)


def test_other_malformed_arguments():
    raises_short(TypeError, lambda: PartitionDiagram.permutation(3), "a permutation is a sequence of ints, got 3")
    raises_short(TypeError, lambda: PartitionDiagram.permutation([0, 1.0]), "1.0 is not an int")
    raises_short(TypeError, lambda: factorise("d"), "expected a diagram, got str")
    raises_short(TypeError, lambda: split(None), "expected a diagram, got NoneType")
    raises_short(TypeError, lambda: split(PartitionDiagram.identity(1), free_singletons=1), "True, False or None")
    raises_short(TypeError, lambda: Combination({}, 0, 0, category="P"), "category must be a diagram category")
    raises_short(TypeError, lambda: Combination({PartitionDiagram.identity(1): [1]}), "is not a number")
    raises_short(TypeError, lambda: Combination({PartitionDiagram.identity(1): 0.5}), "is a float")
    raises_short(ValueError, lambda: Combination({PartitionDiagram.identity(1): sympy.nan}), "is not finite")
    raises_short(ValueError, lambda: Combination({PartitionDiagram.identity(1): sympy.zoo * n}), "is not finite")
    raises_short(TypeError, lambda: multiplication_table("P", 1), "expected a diagram category or a sequence")
    raises_short(ValueError, lambda: permutation_sign((0, 0)), r"\(0, 0\) is not a permutation of 0..1")
    assert Combination({PartitionDiagram.identity(1): "1/2"}).terms == {
        PartitionDiagram.identity(1): sympy.Rational(1, 2)
    }
    assert PartitionDiagram.identity(1) < PartitionDiagram.identity(2)
    with pytest.raises(TypeError):
        PartitionDiagram.identity(1) < "x"  # noqa: B015


# -- loop values ------------------------------------------------------------------------------------------
NOT_FINITE_OR_NOT_REAL = [
    sympy.nan,
    sympy.oo,
    -sympy.oo,
    sympy.zoo,
    sympy.I,
    2 + 3 * sympy.I,
    n + sympy.I,
    n * sympy.oo,
    sympy.Symbol("z", real=False),
]
EXACT_LOOP_VALUES = [3, -2, 0, sympy.Integer(5), sympy.Rational(1, 2), Fraction(3, 4), n, -n, n**2 + 1, 2 * n - 1]


@pytest.mark.parametrize("value", NOT_FINITE_OR_NOT_REAL, ids=str)
@pytest.mark.parametrize("kind", [PartitionCategory, BrauerCategory])
def test_loop_values_must_be_finite_and_real(kind, value):
    raises_short(ValueError, lambda: kind(value), "must be finite and real")


@pytest.mark.parametrize("value", NOT_FINITE_OR_NOT_REAL, ids=str)
def test_substitution_cannot_make_a_loop_value_infinite(value):
    raises_short(ValueError, lambda: PartitionCategory(n).subs(n, value), "must be finite and real")


@pytest.mark.parametrize("value", EXACT_LOOP_VALUES, ids=str)
@pytest.mark.parametrize("kind", [PartitionCategory, BrauerCategory])
def test_exact_loop_values_are_accepted(kind, value):
    category = kind(value)
    expected = sympy.Rational(value.numerator, value.denominator) if isinstance(value, Fraction) else value
    assert category.parameter == sympy.sympify(expected)
    if all(r.is_Integer for r in category.parameter.atoms(sympy.Rational)):  # 1/2 would read back as a float
        assert eval(repr(category), {kind.__name__: kind, "n": n}) == category


@pytest.mark.parametrize(
    "value", [1.5, 2.0, 1j, sympy.Float(2.0), n * 0.5, "n", None, [2], sympy.true, sympy.Matrix([1])]
)
def test_loop_values_of_the_wrong_type(value):
    raises_short(TypeError, lambda: PartitionCategory(value))


# -- hom counts before enumeration ---------------------------------------------------------------------------
def bytes_per_diagram(size):
    """The estimate the categories use (kept in step with catlayer.diagrams.categories)."""
    return 128 + 64 * size


@pytest.mark.parametrize(
    ("category", "k", "l", "count"),
    [
        (PartitionCategory(5), 7, 7, 190899322),  # Bell(14)
        (PartitionCategory(n), 9, 8, 82864869804),  # Bell(17)
        (BrauerCategory(3), 10, 10, 654729075),  # 19!!
        (BrauerCategory(-n), 2, 16, 34459425),  # 17!!
        (BrauerGroodCategory(3), 8, 9, math.comb(17, 3) * 135135),  # C(17,3)·13!!
        (BrauerGroodCategory(2), 9, 9, 34459425 + math.comb(18, 2) * 2027025),  # 17!! + C(18,2)·15!!
    ],
    ids=["P(5) 7,7", "P(n) 9,8", "B(3) 10,10", "B(-n) 2,16", "BG(3) 8,9", "BG(2) 9,9"],
)
def test_hom_checks_its_count_before_enumerating(budget, category, k, l, count):
    budget(2**34)
    assert category.count(k, l) == count
    error = raises_short(AllocationTooLarge, lambda: category.hom(k, l))
    assert str(count) in str(error) and f"hom({k}, {l})" in str(error)
    first = next(category.iter_hom(k, l))  # lazy: the first diagram without the rest
    assert (first.dom, first.cod) == (k, l)


def test_hom_limit_follows_the_budget(budget):
    P = PartitionCategory(n)
    budget(15 * bytes_per_diagram(4))
    assert len(P.hom(2, 2)) == 15
    budget(15 * bytes_per_diagram(4) - 1)
    raises_short(AllocationTooLarge, lambda: PartitionCategory(n).hom(2, 2), "15 diagrams")
    assert len(P.hom(2, 2)) == 15  # cached before the budget shrank


def test_default_budget_refuses_astronomic_hom_spaces():
    raises_short(AllocationTooLarge, lambda: PartitionCategory(5).hom(9, 9), "682076806159 diagrams")
    digits = str(sympy.factorial2(199))  # 199!! perfect matchings of 200 vertices
    about = f"about {digits[0]}.{digits[1:3]}e{len(digits) - 1} diagrams"
    raises_short(AllocationTooLarge, lambda: BrauerCategory(n).hom(100, 100), about)
    raises_short(AllocationTooLarge, lambda: BrauerGroodCategory(3).hom(10**6, 1), "not enumerated")
    raises_short(AllocationTooLarge, lambda: PartitionCategory(2).hom(10**100, 10**100), "not enumerated")


def test_empty_hom_spaces_stay_empty_at_any_size():
    assert BrauerCategory(n).hom(10**6, 1) == ()
    assert BrauerCategory(n).empty_reason(10**30, 0) is None
    assert BrauerGroodCategory(4).hom(10**6, 1) == ()
    assert "is odd" in BrauerGroodCategory(4).empty_reason(10**6, 1)


def test_counts_are_exact_and_bounded():
    for size in range(0, 120, 7):
        assert PartitionCategory(n).count(size, 0) == sympy.bell(size)
        assert PartitionCategory(n).count(0, size + 1) == sympy.bell(size + 1)
        expected = sympy.factorial2(size - 1) if size % 2 == 0 else 0
        assert BrauerCategory(n).count(size // 2, size - size // 2) == expected
    raises_short(ValueError, lambda: PartitionCategory(n).count(MAX_COUNT_VERTICES, 1), "at most 512 vertices")
    raises_short(ValueError, lambda: BrauerCategory(n).count(10**5000, 0), "at most 512 vertices")


def test_vertex_helpers_check_their_vertex():
    d = PartitionDiagram([[0, 1], [2, 3]], dom=2, cod=2)
    raises_short(ValueError, lambda: d.vertex_name(4), r"vertex 4 is out of range: the diagram has vertices 0..3")
    raises_short(ValueError, lambda: d.is_top(-1), "vertex -1 is out of range")
    raises_short(TypeError, lambda: d.is_top(1.0), "vertex 1.0 is not an int")
    raises_short(ValueError, lambda: boundary_position(5, cod=2, dom=3), "vertex 5 is out of range")
    raises_short(ValueError, lambda: boundary_position(0, cod=-2, dom=3), "cod must be an int >= 0")
    raises_short(TypeError, lambda: blocks_cross("03", (1, 2), cod=2, dom=2), "a block is an iterable of int vertices")
    raises_short(ValueError, lambda: blocks_cross((0, 3), (1, 10**6), cod=2, dom=2), "vertex 1000000 is out of range")
    assert boundary_position(4, cod=2, dom=3) == 2 and blocks_cross([0, 3], [1, 2], cod=2, dom=2)
