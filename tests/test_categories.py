"""The categories P(n), B(δ), BG(n): counts, hom order, category and monoidal axioms, and the
BG(n) rules against their matrix meaning (dense matrices from docs/conventions.md §3.2, §3.4, written here
independently of catlayer)."""

import math
from itertools import combinations, permutations

import numpy as np
import pytest
import sympy
from dense_reference import dense, dense_combination
from hypothesis import given
from hypothesis import strategies as st

from catlayer import (
    BrauerCategory,
    BrauerDiagram,
    BrauerGroodCategory,
    BrauerGroodDiagram,
    Combination,
    PartitionCategory,
    PartitionDiagram,
)
from catlayer.diagrams.categories import natural_category
from catlayer.testing import composable_pairs, composable_triples, morphisms, objects

n = sympy.Symbol("n")
CATEGORIES = [
    PartitionCategory(n),
    PartitionCategory(2),
    BrauerCategory(n),
    BrauerCategory(-n),
    BrauerGroodCategory(1),
    BrauerGroodCategory(2),
    BrauerGroodCategory(3),
    BrauerGroodCategory(4),
]
ids = [repr(c) for c in CATEGORIES]

# OEIS A000110 (Bell) and A001147 ((2m−1)!!), indexed by N = k + l.
BELL = [1, 1, 2, 5, 15, 52, 203, 877, 4140]
DOUBLE_FACTORIAL = {0: 1, 2: 1, 4: 3, 6: 15, 8: 105}


# -- counts and hom order --------------------------------------------------------------------------
@pytest.mark.parametrize("size", range(9))
def test_counts_match_known_sequences_and_enumeration(size):
    for k in range(size + 1):
        l = size - k
        assert PartitionCategory(n).count(k, l) == BELL[size] == len(PartitionCategory(n).hom(k, l))
        brauer = DOUBLE_FACTORIAL.get(size, 0)
        assert BrauerCategory(n).count(k, l) == brauer == len(BrauerCategory(n).hom(k, l))


@pytest.mark.parametrize("bg", [1, 2, 3, 4])
@pytest.mark.parametrize("size", range(8))
def test_brauer_grood_counts(bg, size):
    free = math.comb(size, bg) * DOUBLE_FACTORIAL[size - bg] if size >= bg and (size - bg) % 2 == 0 else 0
    for k in range(size + 1):
        category = BrauerGroodCategory(bg)
        hom = category.hom(k, size - k)
        assert category.count(k, size - k) == DOUBLE_FACTORIAL.get(size, 0) + free == len(hom)
        assert sum(len(d.free_vertices) == bg for d in hom) == free
        assert (category.empty_reason(k, size - k) is None) == bool(hom)


def _all_set_partitions(size):
    """Every set partition of range(size), by brute force over label functions."""
    seen = set()
    for labels in np.ndindex(*(size,) * size):
        groups = {}
        for v, label in enumerate(labels):
            groups.setdefault(label, []).append(v)
        seen.add(tuple(sorted(tuple(g) for g in groups.values())))
    return seen


@pytest.mark.parametrize("category", CATEGORIES, ids=ids)
@pytest.mark.parametrize(("k", "l"), [(0, 0), (1, 0), (0, 2), (1, 1), (2, 1), (2, 2), (1, 4), (3, 2)])
def test_hom_is_canonical_complete_and_duplicate_free(category, k, l):
    hom = category.hom(k, l)
    assert hom is category.hom(k, l)  # cached
    assert hom == tuple(category.iter_hom(k, l))
    assert len(set(hom)) == len(hom)
    for d in hom:
        assert (d.dom, d.cod) == (k, l) and category.contains(d)
        assert type(d)(d.blocks, dom=k, cod=l) == d  # canonical blocks survive validation
    everything = {PartitionDiagram(b, k, l) for b in _all_set_partitions(k + l)}
    assert set(hom) == {d for d in everything if category.contains(d)}
    if isinstance(category, BrauerGroodCategory):
        brauer = [d for d in hom if not d.free_vertices]
        assert list(hom[: len(brauer)]) == brauer == list(BrauerCategory(n).hom(k, l))
        assert all(type(d) is BrauerGroodDiagram for d in hom[len(brauer) :])
    elif isinstance(category, BrauerCategory):
        assert list(hom) == sorted(hom, key=lambda d: d.blocks)
        assert all(type(d) is BrauerDiagram for d in hom)
    else:  # restricted growth strings in lexicographic order
        assert list(hom) == sorted(hom, key=lambda d: d.labels)
        assert all(type(d) is PartitionDiagram for d in hom)


def test_empty_reasons_and_object_errors():
    assert BrauerCategory(n).empty_reason(1, 2) == "k + l = 3 is odd: no Brauer diagrams"
    assert BrauerCategory(n).hom(1, 2) == ()
    assert BrauerCategory(n).empty_reason(1, 1) is None
    assert PartitionCategory(n).empty_reason(3, 0) is None
    assert BrauerGroodCategory(3).empty_reason(1, 0) == (
        "k + l = 1 is odd and 1 − n = -2 is not an even number ≥ 0: no Brauer diagrams and no n-diagrams"
    )
    assert BrauerGroodCategory(3).empty_reason(2, 1) is None
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="must be an int >= 0"):
            PartitionCategory(n).hom(bad, 1)


def test_parameter_validation_and_equality():
    with pytest.raises(TypeError, match="must be an int or a sympy expression"):
        PartitionCategory(2.0)
    with pytest.raises(TypeError, match="exact"):
        BrauerCategory(sympy.Float(1.5) * n)
    with pytest.raises(TypeError, match="must be an int or a sympy expression"):
        PartitionCategory("n")
    with pytest.raises(ValueError, match="BrauerGroodCategory needs a positive int n"):
        BrauerGroodCategory(0)
    with pytest.raises(ValueError, match="positive int n"):
        BrauerGroodCategory(n)
    assert BrauerGroodCategory(sympy.Integer(2)) == BrauerGroodCategory(2)
    assert PartitionCategory(n).subs(n, 3) == PartitionCategory(3) != BrauerCategory(3)
    assert BrauerCategory(-n).parameter == BrauerCategory(-n).delta == -n
    assert {PartitionCategory(n), PartitionCategory(n)} == {PartitionCategory(n)}


def test_compose_errors():
    P, B, BG = PartitionCategory(n), BrauerCategory(n), BrauerGroodCategory(2)
    d = PartitionDiagram([[0, 1, 2]], 2, 1)
    with pytest.raises(ValueError, match=r"cannot compose: f ends at 1 points but g starts at 2"):
        P.compose(d, d)
    with pytest.raises(ValueError, match=r"is not a morphism of BrauerCategory.*only blocks of size 2"):
        B.compose(d, d.dagger())
    with pytest.raises(ValueError, match=r"it has 1 free vertices; BG\(2\) allows 0 or 2"):
        BG.compose(BrauerGroodDiagram([[0], [1, 2]], 2, 1), BrauerDiagram([[0, 1]], 1, 1))
    with pytest.raises(ValueError, match="blocks must be pairs or free vertices"):
        BG.tensor(d, d)
    with pytest.raises(TypeError, match="f must be a diagram or a Combination"):
        P.compose("d", d)


def test_natural_category_of_bare_diagrams():
    cup, cap = BrauerDiagram([[0, 1]], 2, 0), BrauerDiagram([[0, 1]], 0, 2)
    free2 = BrauerGroodDiagram([[0], [1]], 1, 1)
    assert natural_category(cap, cup) == BrauerCategory(n)
    assert natural_category(free2, BrauerDiagram([[0, 1]], 1, 1)) == BrauerGroodCategory(2)
    assert natural_category(PartitionDiagram([[0, 1]], 1, 1), cup) == PartitionCategory(n)
    with pytest.raises(ValueError, match="belong to no common BG"):
        natural_category(free2, BrauerGroodDiagram([[0], [1], [2]], 2, 1))
    assert (cap >> cup).terms == {BrauerDiagram([], 0, 0): n}
    assert (free2 >> free2).terms == {BrauerDiagram([[0, 1]], 1, 1): -1}


# -- category and monoidal axioms ------------------------------------------------------------------
#: Largest number of matrix entries (n^(k+l)) for which assert_law builds dense matrices; beyond
#: it, the two sides are compared as multilinear forms on random integer product vectors (a dense
#: 4^12 matrix takes seconds per diagram, which made the soak run of BG(4) never finish).
DENSE_ENTRIES = 4**8


def levi_civita(indices):
    """ε_{a_1..a_n} = Π_{i<j} sign(a_j − a_i) (docs/conventions.md §3.4, the same formula as dense_reference)."""
    return math.prod((b > a) - (b < a) for a, b in combinations(indices, 2))


def product_form(c, size, vectors):
    """Σ_x M[x] Π_v vectors[v][x_v] for M the matrix of the combination ``c`` at n = ``size``
    (E_β and H_α of docs/conventions.md §3.2/§3.4): each pair contributes the dot product of its two
    vectors, the free vertices of an n-diagram the Levi-Civita contraction of theirs. Exact."""
    total = 0
    for d, coefficient in c.terms.items():
        value = 1
        for block in d.blocks:
            if len(block) == 2:
                u, v = block
                value *= sum(a * b for a, b in zip(vectors[u], vectors[v], strict=True))
        free = d.free_vertices
        if free:
            value *= sum(
                levi_civita(x) * math.prod(vectors[f][i] for f, i in zip(free, x, strict=True))
                for x in permutations(range(size))  # ε vanishes on repeated indices
            )
        total += int(coefficient) * value
    return total


def assert_law(category, left, right, factors, seed=0):
    """``left == right`` exactly, except in BG(n) when three or more factors are n-diagrams:
    there the ε·ε rules hold only modulo the kernel of Ψ (the n-diagrams are linearly dependent
    in BG(n)), so the law is checked on the matrices of Ψ at n = category.n, and the formal
    combinations may differ (e.g. H ⊗ (H ⊗ H) ≠ (H ⊗ H) ⊗ H as diagrams in BG(1)). Large
    matrices are compared on random product vectors from ``seed`` (equal forms on every product
    vector means equal matrices; a difference survives a random integer sample with high
    probability, and four samples are taken)."""
    assert (left.dom, left.cod) == (right.dom, right.cod)
    if isinstance(category, BrauerGroodCategory):
        size = category.n
        vertices = left.dom + left.cod
        if size**vertices <= DENSE_ENTRIES:
            assert (dense_combination(left, size) == dense_combination(right, size)).all()
        else:
            rng = np.random.default_rng(seed)
            for _ in range(4):
                vectors = rng.integers(-3, 4, size=(vertices, size)).tolist()
                assert product_form(left, size, vectors) == product_form(right, size, vectors)
        if sum(bool(d.free_vertices) for d in factors) >= 3:
            return
    assert left == right


@pytest.mark.parametrize("category", CATEGORIES, ids=ids)
@given(data=st.data())
def test_associativity_with_coefficients(category, data):
    f, g, h = data.draw(composable_triples(category))
    left = category.compose(category.compose(f, g), h)
    right = category.compose(f, category.compose(g, h))
    assert_law(category, left, right, (f, g, h))
    assert (left.dom, left.cod) == (f.dom, h.cod)


def test_brauer_grood_laws_hold_only_modulo_the_kernel():
    """Three n-diagrams: formal results differ, matrices agree (see assert_law)."""
    BG = BrauerGroodCategory(1)
    H = BrauerGroodDiagram([[0]], 0, 1)
    left, right = BG.tensor(BG.tensor(H, H), H), BG.tensor(H, BG.tensor(H, H))
    assert left.terms == {BrauerGroodDiagram([[0, 1], [2]], 0, 3): 1}
    assert right.terms == {BrauerGroodDiagram([[0], [1, 2]], 0, 3): 1}
    assert (dense_combination(left, 1) == dense_combination(right, 1)).all()


@pytest.mark.parametrize("category", CATEGORIES, ids=ids)
@given(data=st.data())
def test_identities(category, data):
    d = data.draw(morphisms(category))
    assert category.compose(category.identity(d.dom), d).terms == {d: 1}
    assert category.compose(d, category.identity(d.cod)).terms == {d: 1}
    unit = category.identity(0)
    assert category.tensor(unit, d).terms == {d: 1} == category.tensor(d, unit).terms


@pytest.mark.parametrize("category", CATEGORIES, ids=ids)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_tensor_associativity(category, data, seed):
    a, b, c = (data.draw(morphisms(category, max_size=4)) for _ in range(3))
    ab_c = category.tensor(category.tensor(a, b), c)
    a_bc = category.tensor(a, category.tensor(b, c))
    assert_law(category, ab_c, a_bc, (a, b, c), seed)


def test_product_form_is_the_dense_form():
    """product_form against the dense matrices it replaces, on every BG(2) diagram 2 → 2 and a
    combination of BG(3) n-diagrams; it also tells apart two matrices that differ."""
    rng = np.random.default_rng(1)
    for size, (k, l) in [(2, (2, 2)), (3, (2, 1)), (3, (3, 2))]:
        for d in BrauerGroodCategory(size).hom(k, l):
            vectors = rng.integers(-3, 4, size=(k + l, size))
            top = vectors[0]
            for v in vectors[1:l]:
                top = np.kron(top, v)
            bottom = np.ones(1, dtype=np.int64)
            for v in vectors[l:]:
                bottom = np.kron(bottom, v)
            one = Combination(d, category=BrauerGroodCategory(size))
            assert product_form(one, size, vectors.tolist()) == int(top @ dense(d, size) @ bottom)
    H = BrauerGroodDiagram([[0], [1]], 1, 1)
    BG = BrauerGroodCategory(2)
    vectors = [[1, 2], [3, -1]]
    assert product_form(BG.compose(H, H), 2, vectors) != product_form(Combination(H, category=BG), 2, vectors)


@pytest.mark.parametrize("category", CATEGORIES, ids=ids)
@given(data=st.data())
def test_interchange_law(category, data):
    """(d1 ⊗ d2) then (e1 ⊗ e2) = (d1 then e1) ⊗ (d2 then e2)."""
    d1, e1 = data.draw(composable_pairs(category, max_points=2))
    d2, e2 = data.draw(composable_pairs(category, max_points=2))
    left = category.compose(category.tensor(d1, d2), category.tensor(e1, e2))
    right = category.tensor(category.compose(d1, e1), category.compose(d2, e2))
    assert_law(category, left, right, (d1, e1, d2, e2))


@pytest.mark.parametrize("category", CATEGORIES, ids=ids)
@given(data=st.data())
def test_swap_is_natural(category, data):
    """(d1 ⊗ d2) then swap(l1, l2) = swap(k1, k2) then (d2 ⊗ d1)."""
    d1 = data.draw(morphisms(category, max_size=4))
    d2 = data.draw(morphisms(category, max_size=4))
    swap = category.diagram_kind.swap
    left = category.compose(category.tensor(d1, d2), swap(d1.cod, d2.cod))
    right = category.compose(swap(d1.dom, d2.dom), category.tensor(d2, d1))
    assert left == right
    # and the swap is its own inverse
    assert category.compose(swap(d1.dom, d2.dom), swap(d2.dom, d1.dom)).terms == {category.identity(d1.dom + d2.dom): 1}


@given(composable_pairs(PartitionCategory(n)))
def test_loops_count_middle_only_components(pair):
    """Independent reading of docs/conventions.md §2.1 via a graph search over labelled vertices."""
    f, g = pair
    k, l, m = f.dom, f.cod, g.cod

    # vertices: ("t", a) top of g, ("m", j) middle, ("b", j) bottom of f
    def name_f(v):
        return ("m", v) if v < l else ("b", v - l)

    def name_g(v):
        return ("t", v) if v < m else ("m", v - m)

    edges = {}
    for block in f.blocks:
        for v in block:
            edges.setdefault(name_f(v), set()).update(name_f(u) for u in block)
    for block in g.blocks:
        for v in block:
            edges.setdefault(name_g(v), set()).update(name_g(u) for u in block)
    seen, components = set(), []
    for start in edges:
        if start in seen:
            continue
        stack, component = [start], set()
        while stack:
            x = stack.pop()
            if x not in component:
                component.add(x)
                stack.extend(edges[x] - component)
        seen |= component
        components.append(component)
    loops = sum(all(x[0] == "m" for x in c) for c in components)
    blocks = []
    for c in components:
        outer = [x[1] if x[0] == "t" else m + x[1] for x in c if x[0] != "m"]
        if outer:
            blocks.append(outer)
    expected = PartitionDiagram(blocks, dom=k, cod=m)
    assert PartitionCategory(n).compose(f, g).terms == {expected: n**loops}


# -- matrix meaning ------------------------------------------------------------------------------------
def test_dense_examples_from_the_conventions():
    assert dense(BrauerGroodDiagram([[0], [1]], 1, 1), 2).tolist() == [[0, 1], [-1, 0]]
    cross = dense(BrauerGroodDiagram([[0], [1], [2]], 2, 1), 3)
    a, b = np.array([1, 2, 3]), np.array([-1, 5, 2])
    assert (cross @ np.kron(a, b)).tolist() == np.cross(a, b).tolist()


@pytest.mark.parametrize("size", [1, 2, 3])
@given(data=st.data())
def test_brauer_grood_compose_and_tensor_match_matrices(size, data):
    BG = BrauerGroodCategory(size)
    f, g = data.draw(composable_pairs(BG))
    assert (dense_combination(BG.compose(f, g), size) == dense(g, size) @ dense(f, size)).all()
    a = data.draw(morphisms(BG, max_size=4))
    b = data.draw(morphisms(BG, max_size=4))
    assert (dense_combination(BG.tensor(a, b), size) == np.kron(dense(a, size), dense(b, size))).all()


@given(data=st.data())
def test_brauer_grood_four_compose_matches_matrices(data):
    BG = BrauerGroodCategory(4)
    k, l, m = data.draw(objects(BG, 3, max_points=3))
    f = data.draw(morphisms(BG, k, l))
    g = data.draw(morphisms(BG, l, m))
    assert (dense_combination(BG.compose(f, g), 4) == dense(g, 4) @ dense(f, 4)).all()


def test_brauer_grood_sign_example():
    """docs/conventions.md §3.4: n=2, (crossing)•({0},{1}) = −H_{{0},{1}}."""
    BG = BrauerGroodCategory(2)
    H = BrauerGroodDiagram([[0], [1]], 0, 2)
    crossing = BrauerDiagram.swap()
    assert BG.compose(H, crossing).terms == {H: -1}
    path_between_free = BrauerGroodDiagram([[0], [1]], 2, 0)
    assert BG.compose(BrauerDiagram([[0, 1]], 0, 2), path_between_free).terms == {}


@pytest.mark.parametrize("size", [2, 3])
@given(composable_pairs(PartitionCategory(n), max_points=3))
def test_partition_compose_is_the_matrix_product(size, pair):
    f, g = pair
    c = PartitionCategory(n).compose(f, g)
    assert (dense_combination(c, size) == dense(g, size) @ dense(f, size)).all()
    t = PartitionCategory(n).tensor(f, g)
    assert (dense_combination(t, size) == np.kron(dense(f, size), dense(g, size))).all()


def test_parameters_substitute_consistently():
    cap, cup = BrauerDiagram([[0, 1]], 0, 2), BrauerDiagram([[0, 1]], 2, 0)
    assert BrauerCategory(-n).compose(cap, cup).terms == {BrauerDiagram([], 0, 0): -n}
    assert BrauerCategory(-3).compose(cap, cup).terms == {BrauerDiagram([], 0, 0): -3}
    assert PartitionCategory(n).compose(cap, cup) != PartitionCategory(3).compose(cap, cup)
    assert Combination(cap, category=PartitionCategory(n)).subs(n, 3).category == PartitionCategory(3)
