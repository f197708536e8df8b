"""Equivariant bilinear layers: every diagram's contraction of x and y against the dense image of
the diagram written from the entry formulas (tests.test_functors.reference) applied to x ⊗ y; the
classic products (PPGN matrix product, dot and outer products, the SO(3) cross product); product
and canonical diagram selection; state_dict determinism; equivariance.

Tolerance: 1e-12 relative in float64.
"""

from itertools import permutations

import numpy as np
import pytest
import torch

from catlayer import SO, O, S, Sp
from catlayer.nn import EquivariantBilinear, TypedBilinear
from catlayer.nn.bilinear import canonical_products, is_product_diagram, product_diagrams
from catlayer.verify import check_equivariance
from tests.test_functors import reference
from tests.torch_threads import one_torch_thread  # noqa: F401

GROUPS = [S(3), S(2), O(3), SO(3), SO(2), Sp(2), Sp(4)]


def _reference(layer, x, y):
    """out[c] = Σ_{(a,b,c), d, i} W[o, i, d] · scale_d · (M_d (x_i ⊗ y_i)) with M_d from the entry
    formulas; x ⊗ y formed explicitly (the layer never forms it)."""
    group, n = layer.group, layer.group.n
    out = {}
    for (a, b, c), diagrams in layer.blocks.items():
        batch, channels = x[a].shape[:2]
        xy = (x[a].reshape(batch, channels, -1, 1) * y[b].reshape(batch, channels, 1, -1)).reshape(batch, channels, -1)
        plan = layer._plans[(a, b, c)]
        scales = [float(n) ** -plan.reductions[plan.reduction_of[t]].summed(0) for t in range(len(plan))]
        weight = layer.weight(a, b, c).detach()
        for t, d in enumerate(diagrams):
            image = torch.tensor(reference(group, d), dtype=torch.float64)  # (n^c, n^(a+b))
            term = torch.einsum("oi,bim->bom", weight[:, :, t], (xy @ image.T) * scales[t])
            out[c] = out.get(c, 0) + term.reshape((batch, weight.shape[0]) + (n,) * c)
    return out


@pytest.mark.parametrize("group", GROUPS, ids=repr)
@pytest.mark.parametrize("diagrams", ["all", "products"])
def test_bilinear_matches_entry_formulas(group, diagrams):
    torch.manual_seed(0)
    in_type = {0: 2, 1: 2, 2: 2} if group.n <= 3 else {1: 2, 2: 2}
    layer = TypedBilinear(group, in_type, {0: 2, 1: 1, 2: 2}, diagrams=diagrams, dtype=torch.float64)
    x = {k: torch.randn((3, 2) + (group.n,) * k, dtype=torch.float64) for k in in_type}
    y = {k: torch.randn((3, 2) + (group.n,) * k, dtype=torch.float64) for k in in_type}
    got, want = layer(x, y), _reference(layer, x, y)
    assert sorted(got) == sorted(want)
    for c in got:
        torch.testing.assert_close(got[c], want[c], rtol=1e-12, atol=1e-12)


def test_ppgn_matrix_product_and_pointwise_product():
    n = 5
    layer = EquivariantBilinear(S(n), 2, 2, 2, 1, 1, diagrams="canonical", dtype=torch.float64)
    x, y = torch.randn(4, 1, n, n, dtype=torch.float64), torch.randn(4, 1, n, n, dtype=torch.float64)
    assert len(layer.diagrams) == 2  # x_ij y_ij, then Σ_k x_ik y_jk
    with torch.no_grad():
        layer.weight_2_2_2.copy_(torch.tensor([[[1.0, 0.0]]]))
    torch.testing.assert_close(layer(x, y), x * y)
    with torch.no_grad():
        layer.weight_2_2_2.copy_(torch.tensor([[[0.0, 1.0]]]))
    torch.testing.assert_close(layer(x, y), x @ y.transpose(-1, -2) / n)  # sums are means


def test_orthogonal_dot_and_outer_products_and_cross_product():
    x, y = torch.randn(6, 1, 3, dtype=torch.float64), torch.randn(6, 1, 3, dtype=torch.float64)
    dot = EquivariantBilinear(O(3), 1, 1, 0, 1, 1, dtype=torch.float64)
    torch.nn.init.ones_(dot.weight_1_1_0)
    torch.testing.assert_close(dot(x, y), (x * y).sum(-1) / 3)
    outer = EquivariantBilinear(O(3), 1, 1, 2, 1, 1, diagrams="canonical", dtype=torch.float64)
    torch.nn.init.ones_(outer.weight_1_1_2)
    torch.testing.assert_close(outer(x, y), x[..., :, None] * y[..., None, :])
    cross = EquivariantBilinear(SO(3), 1, 1, 1, 1, 1, dtype=torch.float64)
    assert len(cross.diagrams) == 1 and cross.diagrams[0].free_vertices == (0, 1, 2)
    torch.nn.init.ones_(cross.weight_1_1_1)
    torch.testing.assert_close(cross(x, y), torch.linalg.cross(x, y))
    with pytest.raises(ValueError, match="would always be zero"):
        EquivariantBilinear(O(3), 1, 1, 1, 1, 1)  # odd total order: nothing for O(3)


def _orbit(d, a, b, c):
    """The blocks of d under every permutation of the output axes, of x's axes and of y's axes."""
    keys = set()
    for pt in permutations(range(c)):
        for px in permutations(range(c, c + a)):
            for py in permutations(range(c + a, c + a + b)):
                m = dict(zip(range(a + b + c), pt + px + py, strict=True))
                keys.add(tuple(sorted(tuple(sorted(m[v] for v in block)) for block in d.blocks)))
    return keys


def _row(v, a, c):
    return 0 if v < c else (1 if v < c + a else 2)


@pytest.mark.parametrize("group", [S(4), O(3), SO(3), Sp(4)], ids=repr)
def test_product_and_canonical_selection(group):
    for a, b, c in [(1, 1, 2), (2, 2, 2), (1, 2, 1), (2, 2, 0)]:
        products = product_diagrams(group, a, b, c)
        assert set(products) <= set(group.basis(a + b, c))
        for d in products:
            assert all(len({_row(v, a, c) for v in block}) == len(block) for block in d.blocks)
        canonical = canonical_products(group, a, b, c)
        assert set(canonical) <= set(products)
        covered = set().union(*(_orbit(d, a, b, c) for d in canonical)) if canonical else set()
        assert all(tuple(sorted(d.blocks)) in covered for d in products)
    assert not is_product_diagram(group.basis(0, 2)[0], 0, 0)  # a cap alone has a two-vertex row


def test_state_dict_round_trip_is_exact_and_deterministic():
    torch.manual_seed(0)
    a = TypedBilinear(S(4), {1: 3, 2: 3}, {0: 2, 2: 2}, diagrams="all")
    torch.manual_seed(1)
    b = TypedBilinear(S(4), {1: 3, 2: 3}, {0: 2, 2: 2}, diagrams="all")
    x = {1: torch.randn(2, 3, 4), 2: torch.randn(2, 3, 4, 4)}
    assert not torch.equal(a(x, x)[2], b(x, x)[2])
    b.load_state_dict(a.state_dict())
    for c in (0, 2):
        assert torch.equal(a(x, x)[c], b(x, x)[c])
    assert sorted(a.state_dict()) == sorted([*(name for name, _ in a.named_parameters()), "_group"])


@pytest.mark.parametrize("group", [S(3), O(2), SO(3), Sp(2)], ids=repr)
def test_check_equivariance_of_bilinear_layers(group):
    layer = TypedBilinear(group, {1: 2, 2: 2}, {0: 1, 1: 1, 2: 1}, diagrams="products")
    report = check_equivariance(layer, rng=0, samples=2)
    assert report and not report.exact
    assert report.parts[-1].subject.startswith("forward of TypedBilinear")


def test_bilinear_errors():
    with pytest.raises(ValueError, match="same number of"):
        TypedBilinear(S(3), {1: 2, 2: 3}, {2: 1})
    with pytest.raises(ValueError, match="'all', 'products' or 'canonical'"):
        TypedBilinear(S(3), {1: 2}, {2: 1}, diagrams="some")
    layer = EquivariantBilinear(S(3), 1, 2, 1, 2, 2)
    with pytest.raises(ValueError, match="same batch shape"):
        layer(torch.randn(2, 2, 3), torch.randn(3, 2, 3, 3))
    assert np.isfinite(layer(torch.randn(2, 2, 3), torch.randn(2, 2, 3, 3)).detach().numpy()).all()


def test_execution_policy():
    """Products run their plan under "auto" and "plan"; "dense" is refused by name (no size at
    which an n^c × n^a × n^b tensor beats the contractions)."""
    for execution in ("auto", "plan"):
        assert TypedBilinear(O(3), {1: 2}, {0: 1}, execution=execution).execution == "plan"
    with pytest.raises(ValueError, match="no dense execution"):
        TypedBilinear(O(3), {1: 2}, {0: 1}, execution="dense")
    with pytest.raises(ValueError, match="execution must be"):
        TypedBilinear(O(3), {1: 2}, {0: 1}, execution="fast")
