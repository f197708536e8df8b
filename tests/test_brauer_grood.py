"""BG(n) products of two n-diagrams: the contraction formula against the literal ε·ε sum over
S_n (docs/conventions.md §3.4 rule 3 and the tensor rule), large n without n! work, and the det η sign of
SO(p, q) against dense matrices of the signed functor H^η (entry formulas of §3.5, written here
independently of catlayer)."""

import math
import pickle
from itertools import combinations, permutations

import numpy as np
import pytest
import sympy
from hypothesis import assume, given
from hypothesis import strategies as st

from catlayer import (
    BrauerCategory,
    BrauerDiagram,
    BrauerGroodCategory,
    BrauerGroodDiagram,
    Combination,
)
from catlayer.memory import AllocationTooLarge
from catlayer.testing import brauer_grood_diagrams, composable_pairs, morphisms


# -- the literal rules of docs/conventions.md §3.4 -------------------------------------------------------------
def inversion_sign(sigma):
    """sgn(σ) = (−1)^(number of inversions), counted directly."""
    return (-1) ** sum(a > b for a, b in combinations(sigma, 2))


def outer_pairs_and_loops(vertices, edges, outer):
    """Components of the graph (``vertices``, ``edges``; self-loops allowed): the pairs of outer
    vertices joined by a path, and the number of components without outer vertices."""
    neighbours = {v: [] for v in vertices}
    for u, v in edges:
        neighbours[u].append(v)
        neighbours[v].append(u)
    seen, pairs, loops = set(), [], 0
    for start in vertices:
        if start in seen:
            continue
        component, stack = set(), [start]
        while stack:
            x = stack.pop()
            if x not in component:
                component.add(x)
                stack.extend(neighbours[x])
        seen |= component
        ends = sorted(outer[x] for x in component if x in outer)
        if ends:
            assert len(ends) == 2
            pairs.append(ends)
        else:
            loops += 1
    return pairs, loops


def literal_compose(d1, d2, n, det_eta=1):
    """d1, then d2, both n-diagrams: Σ_σ det_eta · sgn(σ) n^{c_σ} E_{β_σ}, with an edge from the
    i-th free vertex of d1 to the σ(i)-th free vertex of d2 (rule 3, summed over all of S_n)."""
    k, l, m = d1.dom, d1.cod, d2.cod
    name1 = lambda v: ("m", v) if v < l else ("b", v - l)  # noqa: E731
    name2 = lambda v: ("t", v) if v < m else ("m", v - m)  # noqa: E731
    vertices = [("t", a) for a in range(m)] + [("m", j) for j in range(l)] + [("b", j) for j in range(k)]
    outer = {("t", a): a for a in range(m)} | {("b", j): m + j for j in range(k)}
    edges = [tuple(map(name1, b)) for b in d1.blocks if len(b) == 2]
    edges += [tuple(map(name2, b)) for b in d2.blocks if len(b) == 2]
    free1 = [name1(v) for v in d1.free_vertices]
    free2 = [name2(v) for v in d2.free_vertices]
    total = {}
    for sigma in permutations(range(n)):
        extra = [(free1[i], free2[sigma[i]]) for i in range(n)]
        pairs, loops = outer_pairs_and_loops(vertices, edges + extra, outer)
        d = BrauerDiagram(pairs, dom=k, cod=m)
        total[d] = total.get(d, 0) + det_eta * inversion_sign(sigma) * n**loops
    return {d: c for d, c in total.items() if c}


def literal_tensor(d1, d2, n, det_eta=1):
    """d1 ⊗ d2 for two n-diagrams: Σ_σ det_eta · sgn(σ) E_{side by side + (f1_i, f2_σ(i))}."""
    l1, l2, k1 = d1.cod, d2.cod, d1.dom
    top = l1 + l2
    left = [v if v < l1 else top + v - l1 for v in range(d1.size)]
    right = [l1 + v if v < l2 else top + k1 + v - l2 for v in range(d2.size)]
    pairs = [[left[u] for u in b] for b in d1.blocks if len(b) == 2]
    pairs += [[right[u] for u in b] for b in d2.blocks if len(b) == 2]
    f1 = [left[v] for v in d1.free_vertices]
    f2 = [right[v] for v in d2.free_vertices]
    total = {}
    for sigma in permutations(range(n)):
        d = BrauerDiagram(pairs + [[f1[i], f2[sigma[i]]] for i in range(n)], dom=d1.dom + d2.dom, cod=top)
        total[d] = total.get(d, 0) + det_eta * inversion_sign(sigma)
    return {d: c for d, c in total.items() if c}


@st.composite
def n_diagram_pairs(draw, max_n=5, max_points=4):
    """(n, f, g): two composable n-diagrams f: k → l, g: l → m."""
    n = draw(st.integers(1, max_n))
    l = draw(st.integers(0, max_points))
    sides = [k for k in range(max_points + 1) if k + l >= n and (k + l - n) % 2 == 0]
    assume(sides)
    k, m = draw(st.sampled_from(sides)), draw(st.sampled_from(sides))
    return n, draw(brauer_grood_diagrams(n, k, l)), draw(brauer_grood_diagrams(n, l, m))


@given(n_diagram_pairs(), st.sampled_from([1, -1]))
def test_epsilon_epsilon_composition_is_the_sum_over_permutations(case, det_eta):
    """Contracting the shared indices first (j! · a sum over S_{n−j}) gives exactly the same
    combination as the literal sum over S_n, term by term."""
    n, f, g = case
    assert BrauerGroodCategory(n, det_eta=det_eta).compose(f, g).terms == literal_compose(f, g, n, det_eta)


@given(st.integers(1, 4).flatmap(lambda n: st.tuples(st.just(n), *[brauer_grood_diagrams(n, max_size=5)] * 2)))
def test_epsilon_epsilon_tensor_is_the_sum_over_permutations(case):
    n, a, b = case
    for det_eta in (1, -1):
        assert BrauerGroodCategory(n, det_eta=det_eta).tensor(a, b).terms == literal_tensor(a, b, n, det_eta)


def test_literal_rules_reproduce_the_documented_examples():
    """The references above are not vacuous: H•H = −id for n = 2 (docs/conventions.md §3.4), and a full
    contraction of two n-diagrams is n! times the empty diagram."""
    H = BrauerGroodDiagram([[0], [1]], dom=1, cod=1)
    assert literal_compose(H, H, 2) == {BrauerDiagram([[0, 1]], 1, 1): -1}
    up, down = BrauerGroodDiagram([[0], [1], [2]], 0, 3), BrauerGroodDiagram([[0], [1], [2]], 3, 0)
    assert literal_compose(up, down, 3) == {BrauerDiagram([], 0, 0): 6}
    assert len(literal_tensor(H, H, 2)) == 2


# -- large n: no n! work ---------------------------------------------------------------------------------
def test_large_n_needs_no_permutation_table():
    """BG(64): building it, its small hom spaces and products of Brauer diagrams touch no S_64."""
    BG, B = BrauerGroodCategory(64), BrauerCategory(64)
    assert BG.hom(2, 2) == B.hom(2, 2) and BG.count(2, 2) == 3
    assert BG.count(33, 31) == math.prod(range(1, 64, 2)) + 1  # 63!! Brauer diagrams, one 64-diagram
    cup, cap = BrauerDiagram([[0, 1]], 2, 0), BrauerDiagram([[0, 1]], 0, 2)
    cross = BrauerDiagram.swap()
    assert BG.compose(cap, cup).terms == {BrauerDiagram([], 0, 0): 64}
    assert BG.compose(cross, cross).terms == {BrauerDiagram.identity(2): 1}
    assert BG.tensor(cup, cross).terms == B.tensor(cup, cross).terms


def test_large_n_products_of_n_diagrams_contract_without_the_sum():
    """ε_a ε_a = n! for n = 64: all 64 indices shared, one term, no 64! loop."""
    n = 64
    up = BrauerGroodDiagram([[v] for v in range(n)], dom=0, cod=n)
    down = BrauerGroodDiagram([[v] for v in range(n)], dom=n, cod=0)
    assert BrauerGroodCategory(n).compose(up, down).terms == {BrauerDiagram([], 0, 0): math.factorial(n)}
    assert BrauerGroodCategory(n, det_eta=-1).compose(up, down).terms == {BrauerDiagram([], 0, 0): -math.factorial(n)}
    # reversing the order of the free vertices of one factor is the sign of the reversal
    rotate = BrauerDiagram.permutation(list(range(n - 1, -1, -1)))
    reversed_up = BrauerGroodCategory(n).compose(up, rotate)
    ((flipped, sign),) = reversed_up.terms.items()
    assert flipped == up and sign == inversion_sign(range(n - 1, -1, -1))
    # one index left open on each side: Σ_c ε_{c b} ε_{a c} = (−1)^(n−1) (n−1)! δ_ab, a single term
    half = BrauerGroodDiagram([[v] for v in range(n)], dom=n - 1, cod=1)
    result = BrauerGroodCategory(n).compose(half.dagger(), half)
    assert result.terms == {BrauerDiagram([[0, 1]], 1, 1): (-1) ** (n - 1) * math.factorial(n - 1)}


def test_a_product_with_n_factorial_terms_is_refused():
    """Two 64-diagrams side by side: 64! distinct terms, refused at once by the memory budget."""
    up = BrauerGroodDiagram([[v] for v in range(64)], dom=0, cod=64)
    with pytest.raises(AllocationTooLarge, match="64 uncontracted indices") as info:
        BrauerGroodCategory(64).tensor(up, up)
    assert len(str(info.value)) < 300


def test_twelve_diagrams_with_six_open_indices():
    """n = 12, six indices contracted, six open on each side: 6! terms, each ±6!."""
    n = 12
    H = BrauerGroodDiagram([[v] for v in range(n)], dom=6, cod=6)
    result = BrauerGroodCategory(n).compose(H, H)
    assert len(result) == math.factorial(6)
    assert {abs(c) for c in result.terms.values()} == {math.factorial(6)}
    assert sum(result.terms.values()) == 0  # the signs of S_6 balance


# -- det η ------------------------------------------------------------------------------------------------
def test_det_eta_is_validated_and_part_of_the_value():
    for bad in (0, 2, -2, True, 1.0, "1", None, sympy.Rational(1, 2)):
        with pytest.raises(ValueError, match=r"det_eta must be \+1 or -1"):
            BrauerGroodCategory(3, det_eta=bad)
    plus, minus = BrauerGroodCategory(3), BrauerGroodCategory(3, det_eta=-1)
    assert BrauerGroodCategory(3, det_eta=sympy.Integer(-1)) == minus != plus
    assert BrauerGroodCategory(3, det_eta=1) == plus and hash(BrauerGroodCategory(3, 1)) == hash(plus)
    assert len({plus, minus, BrauerGroodCategory(3, -1)}) == 2
    assert repr(plus) == "BrauerGroodCategory(3)" and repr(minus) == "BrauerGroodCategory(3, det_eta=-1)"
    for category in (plus, minus):
        assert eval(repr(category)) == category
        assert pickle.loads(pickle.dumps(category)) == category
        assert category.subs(sympy.Symbol("n"), 5) == category
    H = BrauerGroodDiagram([[0], [1], [2]], 2, 1)
    c = minus.tensor(H, H)
    assert c.category == minus and eval(repr(c)) == c


@given(st.data())
def test_det_eta_signs_only_products_of_two_n_diagrams(data):
    n = data.draw(st.integers(1, 3))
    plus, minus = BrauerGroodCategory(n), BrauerGroodCategory(n, det_eta=-1)
    f, g = data.draw(composable_pairs(plus))
    both = bool(f.free_vertices) and bool(g.free_vertices)
    assert minus.compose(f, g).terms == {d: -c if both else c for d, c in plus.compose(f, g).terms.items()}
    a, b = data.draw(morphisms(plus, max_size=4)), data.draw(morphisms(plus, max_size=4))
    both = bool(a.free_vertices) and bool(b.free_vertices)
    assert minus.tensor(a, b).terms == {d: -c if both else c for d, c in plus.tensor(a, b).terms.items()}


# -- the signed functor of SO(p, q) (docs/conventions.md §3.5), dense and independent ----------------------------------
SIGNATURES = [(1, 1), (1, 2), (2, 1)]


def eta_dense(d, p, q):
    """E^η_β / H^η_α of docs/conventions.md §3.5 with η = diag(+1 ×p, −1 ×q): same-row pairs carry η, propagating
    pairs δ; an n-diagram also carries ε on its free vertices (vertex order) and η[x_f, x_f] for each
    bottom-row free vertex f. Rows are output multi-indices, columns input multi-indices."""
    size = p + q
    eta = [1] * p + [-1] * q
    entries = np.zeros((size,) * d.size, dtype=np.int64)
    free = d.free_vertices
    for x in np.ndindex(*entries.shape):
        value = 1
        for block in d.blocks:
            if len(block) == 2:
                u, v = block
                if x[u] != x[v]:
                    value = 0
                    break
                if (u < d.cod) == (v < d.cod):  # same row: η
                    value *= eta[x[u]]
        if value and free:
            value *= math.prod((b > a) - (b < a) for a, b in combinations([x[f] for f in free], 2))
            value *= math.prod(eta[x[f]] for f in free if f >= d.cod)
        entries[x] = value
    return entries.reshape(size**d.cod, size**d.dom)


def eta_dense_combination(c, p, q):
    total = np.zeros(((p + q) ** c.cod, (p + q) ** c.dom), dtype=np.int64)
    for d, coefficient in c.terms.items():
        total += int(coefficient) * eta_dense(d, p, q)
    return total


@pytest.mark.parametrize(("p", "q"), SIGNATURES, ids=lambda x: str(x))
@given(data=st.data())
def test_composition_and_tensor_match_the_signed_functor(p, q, data):
    """With det_eta = det η = (−1)^q: F(d2)·F(d1) = F(d1 then d2) and F(a ⊗ b) = kron(F(a), F(b)),
    coefficients included, F the dense H^η/E^η."""
    BG = BrauerGroodCategory(p + q, det_eta=(-1) ** q)
    f, g = data.draw(composable_pairs(BG, max_points=3))
    assert (eta_dense_combination(BG.compose(f, g), p, q) == eta_dense(g, p, q) @ eta_dense(f, p, q)).all()
    a, b = data.draw(morphisms(BG, max_size=4)), data.draw(morphisms(BG, max_size=4))
    assert (eta_dense_combination(BG.tensor(a, b), p, q) == np.kron(eta_dense(a, p, q), eta_dense(b, p, q))).all()


@pytest.mark.parametrize(("p", "q"), SIGNATURES, ids=lambda x: str(x))
def test_only_det_eta_matches_the_signed_functor(p, q):
    """The sign matters: composing an n-diagram with its flip agrees with H^η for det_eta = det η
    and disagrees (a nonzero matrix, negated) for the other sign."""
    n = p + q
    H = BrauerGroodDiagram([[v] for v in range(n)], dom=n - 1, cod=1)
    product = eta_dense(H.dagger(), p, q) @ eta_dense(H, p, q)
    assert product.any()
    for det_eta in (1, -1):
        composite = eta_dense_combination(BrauerGroodCategory(n, det_eta=det_eta).compose(H, H.dagger()), p, q)
        assert (composite == product).all() == (det_eta == (-1) ** q)


def test_eta_reference_reduces_to_the_compact_case():
    """η = identity (q = 0): the reference is the SO(n) matrix of docs/conventions.md §3.4 (H = [[0, 1], [−1, 0]])."""
    H = BrauerGroodDiagram([[0], [1]], 1, 1)
    assert eta_dense(H, 2, 0).tolist() == [[0, 1], [-1, 0]]
    assert eta_dense(H, 1, 1).tolist() == [[0, -1], [-1, 0]]
    assert (eta_dense(BrauerDiagram([[0, 1]], 0, 2), 1, 1) == np.array([[1], [0], [0], [-1]])).all()
    assert Combination(H, category=BrauerGroodCategory(2, det_eta=-1)).category.det_eta == -1
