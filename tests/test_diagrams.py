"""Diagram value types: validation, canonical form, printing, drawing and structural operations."""

import pickle
import re
from itertools import combinations

import numpy as np
import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

import catlayer
from catlayer import BrauerDiagram, BrauerGroodDiagram, Diagram, PartitionCategory, PartitionDiagram
from catlayer.testing import (
    brauer_diagrams,
    brauer_grood_diagrams,
    partition_diagrams,
    permutations,
)

n = sympy.Symbol("n")
P = PartitionCategory(n)
any_diagram = st.one_of(partition_diagrams(), brauer_diagrams(), brauer_grood_diagrams(2))
EXAMPLE = PartitionDiagram([[0, 5], [1], [2, 3, 7], [4, 6]], dom=5, cod=3)  # docs/conventions.md §8


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "blocks", "dom", "cod", "message"),
    [
        (PartitionDiagram, [[0, 1]], -1, 3, r"dom \(the number of bottom vertices\) must be an int >= 0, got -1"),
        (PartitionDiagram, [[0, 1]], True, 1, r"dom .* must be an int >= 0, got True"),
        (PartitionDiagram, [[0, 1]], 1.0, 1, r"dom .* must be an int >= 0, got 1.0"),
        (PartitionDiagram, [[0, 1]], 1, -2, r"cod \(the number of top vertices\) must be an int >= 0, got -2"),
        (PartitionDiagram, [[0, 1], []], 1, 1, r"block 1 is empty: every block needs at least one vertex"),
        (
            PartitionDiagram,
            [[0, 2]],
            1,
            1,
            r"vertex 2 in block 0 is out of range: a \(1, 1\)-diagram has vertices 0..1 ",
        ),
        (PartitionDiagram, [[-1, 0]], 1, 1, r"vertex -1 in block 0 is out of range"),
        (PartitionDiagram, [[0], [1, 0]], 1, 1, r"vertex 0 is repeated \(in blocks 0 and 1\)"),
        (PartitionDiagram, [[0, 0, 1]], 1, 1, r"vertex 0 is repeated in block 0"),
        (PartitionDiagram, [[0, 3]], 2, 2, r"vertices \[1, 2\] are missing: every vertex 0..3 must be in a block"),
        (
            BrauerDiagram,
            [[0, 1, 2], [3]],
            2,
            2,
            r"block \(0, 1, 2\) has 3 vertices: every block of a Brauer diagram is a pair",
        ),
        (BrauerDiagram, [[0], [1]], 1, 1, r"block \(0,\) has 1 vertices: every block of a Brauer diagram is a pair"),
        (
            BrauerGroodDiagram,
            [[0, 1, 2]],
            2,
            1,
            r"block \(0, 1, 2\) has 3 vertices: a Brauer–Grood diagram has only pairs",
        ),
    ],
)
def test_constructor_errors(kind, blocks, dom, cod, message):
    with pytest.raises(ValueError, match=message):
        kind(blocks, dom=dom, cod=cod)


def test_permutation_errors():
    with pytest.raises(ValueError, match=r"\(0, 0\) is not a permutation of 0..1"):
        PartitionDiagram.permutation([0, 0])
    with pytest.raises(ValueError, match="is not a permutation diagram"):
        PartitionDiagram([[0], [1]], 1, 1).permutation_of()


# -- canonical form, equality, hashing, immutability, pickling ---------------------------------
@given(any_diagram, st.randoms(use_true_random=False))
def test_canonical_form_ignores_input_order(d, rnd):
    shuffled = [list(b) for b in d.blocks]
    for b in shuffled:
        rnd.shuffle(b)
    rnd.shuffle(shuffled)
    again = type(d)(shuffled, dom=d.dom, cod=d.cod)
    assert again == d and hash(again) == hash(d) and again.blocks == d.blocks
    assert all(list(b) == sorted(b) for b in d.blocks)
    assert list(d.blocks) == sorted(d.blocks)
    # labels: vertex -> index of its block
    assert all(v in d.blocks[d.labels[v]] for v in range(d.size))


def test_equality_is_structural_across_kinds_and_shapes():
    assert BrauerDiagram([[0, 1]], 1, 1) == PartitionDiagram([[0, 1]], 1, 1)
    assert PartitionDiagram([[0, 1]], 2, 0) != PartitionDiagram([[0, 1]], 0, 2)
    assert PartitionDiagram([[0, 1]], 1, 1) != PartitionDiagram([[0], [1]], 1, 1)
    assert PartitionDiagram([[0, 1]], 1, 1) != "x"
    assert len({BrauerDiagram([[0, 1]], 1, 1), PartitionDiagram([[0, 1]], 1, 1)}) == 1


@given(any_diagram, any_diagram)
def test_total_order_is_consistent_with_equality(a, b):
    assert (a < b) + (b < a) + (a == b) == 1


@given(any_diagram)
def test_immutable(d):
    with pytest.raises(AttributeError, match="immutable"):
        d._blocks = ()
    with pytest.raises(AttributeError, match="immutable"):
        d.foo = 1
    with pytest.raises(AttributeError, match="immutable"):
        del d._dom
    with pytest.raises(AttributeError):
        d.blocks = ()


@given(any_diagram)
def test_pickle_round_trip(d):
    again = pickle.loads(pickle.dumps(d))
    assert again == d and type(again) is type(d) and hash(again) == hash(d) and again.labels == d.labels


@given(any_diagram)
def test_repr_evaluates_back(d):
    scope = {name: getattr(catlayer, name) for name in catlayer.__all__} | {"n": n}
    again = eval(repr(d), scope)
    assert again == d and type(again) is type(d)


def _parse_blackboard(text: str):
    body, shape = text.rsplit(" : ", 1)
    k, l = (int(x) for x in shape.split(" → "))
    blocks = []
    if body != "∅":
        for group in re.findall(r"\{([^}]*)\}", body):
            block = []
            for name in group.split(","):
                block.append(l + int(name[:-1]) - 1 if name.endswith("'") else int(name) - 1)
            blocks.append(block)
    return blocks, k, l


@given(any_diagram)
def test_str_is_blackboard_form(d):
    blocks, k, l = _parse_blackboard(str(d))
    assert PartitionDiagram(blocks, dom=k, cod=l) == d


def test_str_examples():
    assert str(EXAMPLE) == "{1,3'} {2} {3,1',5'} {2',4'} : 5 → 3"
    assert str(PartitionDiagram([], 0, 0)) == "∅ : 0 → 0"
    assert EXAMPLE.vertex_name(0) == "1" and EXAMPLE.vertex_name(3) == "1'"


# -- drawing -----------------------------------------------------------------------------------
@given(any_diagram)
def test_ascii_drawing_names_every_vertex_by_its_block(d):
    top, bottom, legend = d.draw_ascii().split("\n")
    top_letters = top.split(":", 1)[1].split()
    bottom_letters = bottom.split(":", 1)[1].split()
    assert len(top_letters) == d.cod and len(bottom_letters) == d.dom
    letters = top_letters + bottom_letters
    for u, v in combinations(range(d.size), 2):
        assert (letters[u] == letters[v]) == (d.labels[u] == d.labels[v])
    assert legend.startswith("blocks :") and legend.count("=") == len(d.blocks)


def test_ascii_example():
    assert EXAMPLE.draw_ascii() == ("top    : a b c\nbottom : c d a d c\nblocks : a={1,3'} b={2} c={3,1',5'} d={2',4'}")


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".svg", b"<svg")])
@pytest.mark.parametrize("d", [EXAMPLE, BrauerDiagram([[0, 3], [1, 2]], 2, 2), PartitionDiagram([], 0, 0)])
def test_draw_to_file(tmp_path, suffix, magic, d):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    path = tmp_path / f"diagram{suffix}"
    fig = d.draw(path)
    try:
        data = path.read_bytes()
        assert magic in data[:400]
        assert fig.axes[0].get_title() == str(d)
    finally:
        plt.close(fig)


def test_draw_into_a_subfigure_saves_the_whole_figure(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    root = plt.figure()
    try:
        left, _ = root.subfigures(1, 2)
        ax = left.subplots()
        path = tmp_path / "diagram.png"
        drawn = EXAMPLE.draw(path, ax=ax)  # a SubFigure has no savefig: the root figure is saved
        assert drawn is left and ax.get_title() == str(EXAMPLE)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        plt.close(root)


# -- block kinds, planarity, permutations -----------------------------------------------------------
@given(any_diagram)
def test_block_kinds_partition_the_blocks(d):
    top, bottom, prop = d.top_only_blocks(), d.bottom_only_blocks(), d.propagating_blocks()
    assert sorted(top + bottom + prop) == list(d.blocks)
    assert all(v < d.cod for b in top for v in b)
    assert all(v >= d.cod for b in bottom for v in b)
    assert all(min(b) < d.cod <= max(b) for b in prop)
    assert d.free_vertices == tuple(sorted(b[0] for b in d.blocks if len(b) == 1))


def _noncrossing_by_stack(d: Diagram) -> bool:
    """Independent planarity test: walk the boundary (top left→right, bottom right→left); a
    partition is non-crossing iff, whenever a block is revisited, every block opened after it
    has already been closed (a stack discipline)."""
    walk = list(range(d.cod)) + list(range(d.size - 1, d.cod - 1, -1))
    remaining = {i: len(b) for i, b in enumerate(d.blocks)}
    stack: list[int] = []
    for v in walk:
        b = d.labels[v]
        if stack and stack[-1] == b:
            pass
        elif b in stack:
            return False
        else:
            stack.append(b)
        remaining[b] -= 1
        if remaining[b] == 0:
            stack.pop()
    return True


@given(any_diagram)
def test_planarity_matches_stack_definition(d):
    assert d.is_planar() == _noncrossing_by_stack(d) == (d.crossings() == 0)


@pytest.mark.parametrize("size", range(7))
def test_planar_counts_are_catalan(size):
    catalan = [1, 1, 2, 5, 14, 42, 132, 429]
    for k in range(size + 1):
        hom = PartitionCategory(2).hom(k, size - k)
        assert sum(d.is_planar() for d in hom) == catalan[size]
        assert all(d.is_planar() == _noncrossing_by_stack(d) for d in hom)


@given(st.integers(0, 5).flatmap(lambda k: st.tuples(permutations(k), permutations(k))))
def test_permutation_diagrams_compose_like_permutations(pq):
    p, q = pq
    dp, dq = PartitionDiagram.permutation(p), PartitionDiagram.permutation(q)
    assert dp.is_permutation() and dp.permutation_of() == p
    composite = tuple(q[p[j]] for j in range(len(p)))  # j -> p[j] -> q[p[j]]
    assert (dp >> dq).terms == {PartitionDiagram.permutation(composite): 1}
    inverse = tuple(int(i) for i in np.argsort(p))
    assert dp.dagger() == PartitionDiagram.permutation(inverse)


@given(st.integers(0, 4).flatmap(permutations), st.integers(2, 3))
def test_permutation_diagram_moves_axes_as_stated(p, size):
    """docs/conventions.md §1.3: the matrix of the permutation diagram of p is v ↦ transpose(v, argsort(p))."""
    k = len(p)
    d = PartitionDiagram.permutation(p)
    v = np.arange(size**k).reshape((size,) * k)
    w = np.transpose(v, np.argsort(p)) if k else v
    for index in np.ndindex(*(size,) * k):
        # E[i; j] = Π_blocks [i_p[j] = j_j]: the only j for output i is j_a = i_{p[a]}
        source = tuple(index[p[a]] for a in range(k))
        assert w[index] == v[source]
    assert d.blocks == tuple(sorted((p[j], k + j) for j in range(k)))


def test_identity_and_swap():
    assert PartitionDiagram.identity(0) == PartitionDiagram([], 0, 0)
    assert PartitionDiagram.identity(3).permutation_of() == (0, 1, 2)
    assert BrauerDiagram.swap(2, 1).permutation_of() == (1, 2, 0)
    assert type(BrauerDiagram.swap()) is BrauerDiagram


# -- dagger and tensor ----------------------------------------------------------------------------
@given(any_diagram)
def test_dagger_is_an_involution_that_flips_rows(d):
    f = d.dagger()
    assert (f.dom, f.cod) == (d.cod, d.dom) and type(f) is type(d)
    assert f.dagger() == d
    assert len(f.top_only_blocks()) == len(d.bottom_only_blocks())


def _dagger(c):
    return catlayer.Combination({d.dagger(): x for d, x in c.terms.items()}, c.cod, c.dom)


@given(
    st.integers(0, 3).flatmap(
        lambda l: st.tuples(partition_diagrams(cod=l, max_size=5), partition_diagrams(dom=l, max_size=5))
    )
)
def test_dagger_reverses_composition(pair):
    d, e = pair
    assert _dagger(P.compose(d, e)) == P.compose(e.dagger(), d.dagger())


@given(any_diagram, any_diagram, any_diagram)
def test_tensor_is_associative_with_unit(a, b, c):
    assert (a @ b) @ c == a @ (b @ c)
    unit = PartitionDiagram([], 0, 0)
    assert a @ unit == a == unit @ a
    assert (a @ b).dagger() == a.dagger() @ b.dagger()
    identity = PartitionDiagram.identity
    assert identity(a.dom) @ identity(b.dom) == identity(a.dom + b.dom)


def test_tensor_numbering_and_kind():
    left, right = BrauerDiagram([[0, 1]], 1, 1), BrauerGroodDiagram([[0], [1]], 1, 1)
    assert left @ right == PartitionDiagram([[0, 2], [1], [3]], 2, 2)
    assert type(left @ right) is BrauerGroodDiagram
    assert type(left @ left) is BrauerDiagram
    assert type(left @ PartitionDiagram([[0, 1]], 1, 1)) is PartitionDiagram
    assert left.__matmul__(3) is NotImplemented and left.__rshift__(3) is NotImplemented
