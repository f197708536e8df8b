"""Ragged batches (catlayer.nn.ragged): the layout, the conversions padded ↔ ragged, and the native
ragged execution of S() layers against the padded batch with masks and against each sample alone
(docs/conventions.md §11)."""

from __future__ import annotations

import itertools

import pytest
import torch

from catlayer import O, S
from catlayer.nn import EquivariantLinear, TypedLinear
from catlayer.nn.ragged import RaggedBatch, RaggedLinear, from_padded, ragged_forward, to_padded
from tests.torch_threads import one_torch_thread  # noqa: F401

SIZES = [3, 1, 0, 4, 2]  # a sample of one node and one of none
ORDERS = list(itertools.product(range(3), range(3)))


def _randomise(layer: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))


def _subset_mask(seed: int = 1) -> torch.Tensor:
    """A mask (5, 6) of arbitrary subsets: a full row, a single index, an empty row, gaps."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(5, 6, generator=generator) < 0.6
    mask[0] = True
    mask[1] = False
    mask[1, 4] = True
    mask[2] = False
    return mask


def _crop(x: torch.Tensor, b: int, n: int, order: int) -> torch.Tensor:
    return x[(slice(b, b + 1), slice(None)) + (slice(0, n),) * order]


# -- the layout ---------------------------------------------------------------------------------
def test_layout_tables():
    ragged = RaggedBatch([2, 0, 3])
    assert ragged.num_samples == len(ragged) == 3
    assert (ragged.num_nodes, ragged.num_pairs, ragged.max_size) == (5, 13, 3)
    assert ragged.batch.tolist() == [0, 0, 2, 2, 2]
    assert ragged.ptr.tolist() == [0, 2, 2, 5]
    assert ragged.pair_ptr.tolist() == [0, 4, 4, 13]
    rows, cols = ragged.pair_index.tolist()
    assert list(zip(rows, cols, strict=True)) == [(0, 0), (0, 1), (1, 0), (1, 1)] + [
        (i, j) for i in range(2, 5) for j in range(2, 5)
    ]
    assert ragged.pair_batch.tolist() == [0] * 4 + [2] * 9
    assert [ragged.num_rows(k) for k in range(3)] == [3, 5, 13]
    assert ragged.positions().tolist() == [0, 1, 0, 1, 2]
    assert ragged.sample_index(0).tolist() == [0, 1, 2]


def test_constructors_agree():
    ragged = RaggedBatch(torch.tensor(SIZES))
    assert RaggedBatch(SIZES) == ragged
    assert RaggedBatch.from_batch(ragged.batch, num_samples=5) == ragged
    assert RaggedBatch.from_batch(torch.tensor([0, 0, 0, 1, 3, 3, 3, 3, 4, 4], dtype=torch.int32)) == ragged
    mask = torch.tensor([[True, True, True, False], [False, True, False, False]])
    assert RaggedBatch.from_mask(mask) == RaggedBatch([3, 1])
    assert RaggedBatch.from_batch(torch.tensor([0, 0]), num_samples=3).sizes.tolist() == [2, 0, 0]
    assert "RaggedBatch(sizes=[3, 1, 0, 4, 2])" == repr(ragged)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: RaggedBatch([2, -1]), ValueError, "sizes must be >= 0"),
        (lambda: RaggedBatch([]), ValueError, "at least one sample"),
        (lambda: RaggedBatch([1.5]), TypeError, "must be ints"),
        (lambda: RaggedBatch([True]), TypeError, "must be ints"),
        (lambda: RaggedBatch(torch.tensor([1.0, 2.0])), TypeError, "integer tensor"),
        (lambda: RaggedBatch(torch.ones(2, 2, dtype=torch.long)), ValueError, "one-dimensional"),
        (lambda: RaggedBatch(3), TypeError, "sequence of ints"),
        (lambda: RaggedBatch.from_batch(torch.tensor([0, 1, 0])), ValueError, "must be sorted"),
        (lambda: RaggedBatch.from_batch(torch.tensor([-1, 0])), ValueError, ">= 0"),
        (lambda: RaggedBatch.from_batch(torch.tensor([0.0])), TypeError, "integer tensor"),
        (lambda: RaggedBatch.from_batch([0, 0]), TypeError, "torch.Tensor"),
        (lambda: RaggedBatch.from_batch(torch.tensor([0, 2]), num_samples=2), ValueError, "num_samples"),
        (lambda: RaggedBatch.from_batch(torch.tensor([], dtype=torch.long)), ValueError, "needs num_samples"),
        (lambda: RaggedBatch.from_mask(torch.ones(2, 3)), TypeError, "bool"),
        (lambda: RaggedBatch([1]).num_rows(3), ValueError, "0 \\(per sample\\), 1"),
    ],
)
def test_layout_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


# -- conversions --------------------------------------------------------------------------------
@pytest.mark.parametrize("order", [0, 1, 2])
def test_round_trip_from_ragged(order):
    ragged = RaggedBatch(SIZES)
    x = torch.randn(ragged.num_rows(order), 3, dtype=torch.float64)
    padded, mask = to_padded(x, ragged, order=order)
    assert padded.shape == (5, 3) + (4,) * order
    assert mask.tolist() == [[i < n for i in range(4)] for n in SIZES]
    back, again = from_padded(padded, mask)
    assert again == ragged and torch.equal(back, x)
    larger, mask6 = to_padded(x, ragged, order=order, size=6)
    assert larger.shape == (5, 3) + (6,) * order and torch.equal(from_padded(larger, mask6)[0], x)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_round_trip_from_padded_with_any_subset(order):
    mask = _subset_mask()
    x = torch.randn((5, 2) + (6,) * order, dtype=torch.float64)
    nodes, ragged = from_padded(x, mask)
    assert ragged.sizes.tolist() == mask.sum(1).tolist()
    assert nodes.shape == (ragged.num_rows(order), 2)
    padded, same = to_padded(nodes, ragged, order=order, mask=mask)
    assert torch.equal(same, mask)
    keep = torch.ones_like(x, dtype=torch.bool)
    for a in range(order):
        shape = [5, 1] + [1] * order
        shape[2 + a] = 6
        keep = keep & mask.reshape(shape)
    assert torch.equal(padded, torch.where(keep, x, torch.zeros((), dtype=x.dtype)))
    if order == 2:  # the pair (i, j) of a sample is its i-th and j-th valid index, row-major
        valid = mask[3].nonzero().flatten().tolist()
        start = int(ragged.pair_ptr[3])
        expected = [x[3, :, i, j] for i in valid for j in valid]
        assert torch.equal(nodes[start : start + len(expected)], torch.stack(expected))


def test_conversions_of_dicts_and_gradients():
    ragged = RaggedBatch([2, 3])
    features = {k: torch.randn(ragged.num_rows(k), 2, dtype=torch.float64, requires_grad=True) for k in range(3)}
    padded, mask = to_padded(features, ragged)
    assert {k: tuple(v.shape) for k, v in padded.items()} == {0: (2, 2), 1: (2, 2, 3), 2: (2, 2, 3, 3)}
    back, again = from_padded(padded, mask)
    assert again == ragged and all(torch.equal(back[k], features[k]) for k in range(3))
    sum(v.sum() for v in padded.values()).backward()
    assert all(torch.equal(features[k].grad, torch.ones_like(features[k])) for k in range(3))


def test_conversions_keep_any_dtype():
    ragged = RaggedBatch([2, 1])
    labels = torch.tensor([[3], [5], [7]])
    padded, mask = to_padded(labels, ragged, order=1)
    assert padded.dtype == torch.long and padded.tolist() == [[[3, 5]], [[7, 0]]]
    assert torch.equal(from_padded(padded, mask)[0], labels)


def test_to_padded_infers_the_order_when_it_can():
    ragged = RaggedBatch([2, 3])
    assert to_padded(torch.randn(13, 1), ragged)[0].shape == (2, 1, 3, 3)
    assert to_padded(torch.randn(5, 1), ragged)[0].shape == (2, 1, 3)
    with pytest.raises(ValueError, match="cannot tell the order"):
        to_padded(torch.randn(2, 1), RaggedBatch([1, 1]))  # B = Σ n = Σ n²
    with pytest.raises(ValueError, match="cannot tell the order"):
        to_padded(torch.randn(7, 1), ragged)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda r: to_padded(torch.randn(4, 1), r, order=1), ValueError, "must have shape \\(Σ n, C\\)"),
        (lambda r: to_padded(torch.randn(5), r, order=1), ValueError, "must have shape"),
        (lambda r: to_padded([1.0], r, order=1), TypeError, "torch.Tensor"),
        (lambda r: to_padded(torch.randn(5, 1), r, order=3), ValueError, "must be 0"),
        (lambda r: to_padded(torch.randn(5, 1), r, order=1, size=2), ValueError, "size must be an int >="),
        (lambda r: to_padded(torch.randn(5, 1), "r", order=1), TypeError, "RaggedBatch"),
        (lambda r: to_padded({1: torch.randn(5, 1)}, r, order=1), ValueError, "dict of features"),
        (
            lambda r: to_padded(torch.randn(5, 1), r, order=1, mask=torch.ones(2, 3, dtype=torch.bool)),
            ValueError,
            "disagree",
        ),
        (lambda r: from_padded(torch.randn(2, 1, 3), torch.ones(2, 4, dtype=torch.bool)), ValueError, "\\(B, N\\)"),
        (lambda r: from_padded(torch.randn(2, 1, 3, 4), torch.ones(2, 3, dtype=torch.bool)), ValueError, "shape"),
        (lambda r: from_padded(torch.randn(2, 1, 3), torch.ones(2, 3)), TypeError, "bool"),
        (lambda r: from_padded(torch.randn(2, 1, 3, 3, 3), torch.ones(2, 3, dtype=torch.bool)), ValueError, "or 2"),
    ],
)
def test_conversion_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(RaggedBatch([2, 3]))


# -- native execution ---------------------------------------------------------------------------
@pytest.mark.parametrize("reduce", ["mean", "sum"])
@pytest.mark.parametrize(("k", "l"), ORDERS)
def test_ragged_equals_padded_and_each_sample(k, l, reduce):
    layer = EquivariantLinear(S(), k, l, 2, 3, reduce=reduce, dtype=torch.float64)
    _randomise(layer, seed=10 * k + l)
    mask = _subset_mask()
    padded = torch.randn((5, 2) + (6,) * k, dtype=torch.float64)
    x, ragged = from_padded(padded, mask)
    y = ragged_forward(layer, x, ragged)
    assert y.shape == (ragged.num_rows(l), 3)
    expected = layer(padded, mask)
    got, _ = to_padded(y, ragged, order=l, mask=mask)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    # each sample alone, at its own n (the nodes are its valid indices in order)
    dense, _ = to_padded(x, ragged, order=k)
    out, _ = to_padded(y, ragged, order=l)
    for b, n in enumerate(ragged.sizes.tolist()):
        if n == 0:
            assert l != 0 or torch.equal(y[b], torch.zeros(3, dtype=torch.float64))
            continue
        alone = layer(_crop(dense, b, n, k), torch.ones(1, n, dtype=torch.bool))
        torch.testing.assert_close(_crop(out, b, n, l), alone, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("k", "l"), ORDERS)
def test_gradients_equal_the_padded_ones(k, l):
    layer = EquivariantLinear(S(), k, l, 2, 2, dtype=torch.float64)
    _randomise(layer, seed=3)
    ragged = RaggedBatch(SIZES)
    x = torch.randn(ragged.num_rows(k), 2, dtype=torch.float64, requires_grad=True)
    cotangent = torch.randn(ragged.num_rows(l), 2, dtype=torch.float64)
    (ragged_forward(layer, x, ragged) * cotangent).sum().backward()
    ragged_grads = [x.grad, *(p.grad.clone() for p in layer.parameters())]
    layer.zero_grad()
    padded, mask = to_padded(x.detach(), ragged, order=k)
    padded.requires_grad_(True)
    (layer(padded, mask) * to_padded(cotangent, ragged, order=l)[0]).sum().backward()
    padded_grads = [from_padded(padded.grad, mask)[0], *(p.grad for p in layer.parameters())]
    for got, expected in zip(ragged_grads, padded_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_typed_layer_of_every_order():
    layer = TypedLinear(S(), {0: 2, 1: 3, 2: 1}, {0: 1, 1: 2, 2: 3}, dtype=torch.float64)
    _randomise(layer, seed=5)
    ragged = RaggedBatch(SIZES)
    features = {
        k: torch.randn(ragged.num_rows(k), c, dtype=torch.float64, requires_grad=True) for k, c in layer.in_type.items()
    }
    out = ragged_forward(layer, features, ragged)
    padded, mask = to_padded({k: v.detach() for k, v in features.items()}, ragged)
    padded = {k: v.requires_grad_(True) for k, v in padded.items()}
    expected = layer(padded, mask)
    for l in layer.out_type:
        torch.testing.assert_close(to_padded(out[l], ragged, order=l)[0], expected[l], rtol=0, atol=1e-12)
    cotangents = {l: torch.randn_like(v) for l, v in out.items()}
    sum((out[l] * cotangents[l]).sum() for l in out).backward()
    ragged_weights = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    sum((expected[l] * to_padded(cotangents[l], ragged, order=l)[0]).sum() for l in expected).backward()
    for got, want in zip(ragged_weights, [p.grad for p in layer.parameters()], strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for k in features:
        torch.testing.assert_close(features[k].grad, from_padded(padded[k].grad, mask)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize(("k", "l"), [(1, 1), (2, 2), (2, 1), (1, 2), (2, 0)])
def test_relabelling_one_sample_commutes(k, l):
    layer = EquivariantLinear(S(), k, l, 2, 2, dtype=torch.float64)
    _randomise(layer, seed=7)
    ragged = RaggedBatch(SIZES)
    sigma = torch.tensor([2, 0, 3, 1])  # sample 3 (nodes 4 … 7): node 4 + i becomes node 4 + sigma[i]
    nodes = torch.arange(ragged.num_nodes)
    nodes[4:8] = 4 + sigma
    rows, cols = ragged.pair_index
    index = {(int(i), int(j)): p for p, (i, j) in enumerate(zip(rows, cols, strict=True))}
    pairs = torch.tensor([index[(int(nodes[i]), int(nodes[j]))] for i, j in zip(rows, cols, strict=True)])
    act = {0: torch.arange(5), 1: nodes, 2: pairs}  # (g x)[act[row]] = x[row]

    def relabel(x, order):
        out = torch.empty_like(x)
        out[act[order]] = x
        return out

    x = torch.randn(ragged.num_rows(k), 2, dtype=torch.float64)
    torch.testing.assert_close(
        ragged_forward(layer, relabel(x, k), ragged), relabel(ragged_forward(layer, x, ragged), l), rtol=0, atol=1e-12
    )


def test_empty_samples_give_zeros_and_sizes_of_one():
    layer = EquivariantLinear(S(), 2, 0, 1, 2, dtype=torch.float64)
    _randomise(layer)
    ragged = RaggedBatch([0, 1, 0])
    y = ragged_forward(layer, torch.randn(1, 1, dtype=torch.float64), ragged)
    assert torch.equal(y[0], torch.zeros(2, dtype=torch.float64)) and torch.equal(y[2], y[0])
    assert bool(y[1].abs().sum() > 0)
    nodes = ragged_forward(EquivariantLinear(S(), 0, 1, 1, 2), torch.randn(3, 1), ragged)
    assert nodes.shape == (1, 2)


def test_fixed_size_group_and_no_bias():
    layer = EquivariantLinear(S(5), 2, 2, 2, 2, bias=False, execution="plan", dtype=torch.float64)
    _randomise(layer)
    mask = _subset_mask()[:, :5]
    padded = torch.randn(5, 2, 5, 5, dtype=torch.float64)
    x, ragged = from_padded(padded, mask)
    got, _ = to_padded(ragged_forward(layer, x, ragged), ragged, order=2, mask=mask)
    torch.testing.assert_close(got, layer(padded, mask), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="at most 5 nodes"):
        ragged_forward(layer, torch.randn(36, 2, dtype=torch.float64), RaggedBatch([6]))


def test_ragged_linear_module_shares_the_parameters():
    layer = EquivariantLinear(S(), 1, 1, 2, 2)
    module = RaggedLinear(layer)
    assert [p is q for p, q in zip(module.parameters(), layer.parameters(), strict=True)] == [True, True]
    ragged = RaggedBatch([2, 3])
    x = torch.randn(5, 2)
    assert torch.equal(module(x, ragged), ragged_forward(layer, x, ragged))
    assert torch.equal(ragged_forward(module, x, ragged), module(x, ragged))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda r: ragged_forward(EquivariantLinear(O(3), 1, 1, 2, 2, execution="plan"), torch.randn(5, 2), r),
            ValueError,
            "S\\(\\)",
        ),
        (
            lambda r: ragged_forward(EquivariantLinear(S() * O(3), (1, 0), (1, 0), 1, 1), torch.randn(5, 1), r),
            ValueError,
            "S\\(\\)",
        ),
        (lambda r: ragged_forward(EquivariantLinear(S(), 3, 1, 1, 1), torch.randn(5, 1), r), ValueError, "orders <="),
        (lambda r: ragged_forward(torch.nn.Linear(2, 2), torch.randn(5, 2), r), TypeError, "EquivariantLinear"),
        (lambda r: ragged_forward(EquivariantLinear(S(), 1, 1, 2, 2), torch.randn(5, 3), r), ValueError, "\\(5, 2\\)"),
        (lambda r: ragged_forward(EquivariantLinear(S(), 1, 1, 2, 2), torch.randn(13, 2), r), ValueError, "shape"),
        (
            lambda r: ragged_forward(EquivariantLinear(S(), 1, 1, 2, 2), torch.randn(5, 2, dtype=torch.float64), r),
            TypeError,
            "computes in torch.float32",
        ),
        (lambda r: ragged_forward(EquivariantLinear(S(), 1, 1, 2, 2), {1: torch.randn(5, 2)}, r), TypeError, "Tensor"),
        (lambda r: ragged_forward(TypedLinear(S(), {1: 2}, {1: 2}), torch.randn(5, 2), r), TypeError, "dict"),
        (lambda r: ragged_forward(TypedLinear(S(), {1: 2}, {1: 2}), {2: torch.randn(13, 2)}, r), ValueError, "orders"),
        (lambda r: ragged_forward(EquivariantLinear(S(), 1, 1, 2, 2), torch.randn(5, 2), [2, 3]), TypeError, "Ragged"),
    ],
)
def test_execution_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(RaggedBatch([2, 3]))


def test_a_batch_of_empty_samples():
    ragged = RaggedBatch([0, 0])
    for k, l in ORDERS:
        layer = EquivariantLinear(S(), k, l, 2, 3)
        x = torch.randn(ragged.num_rows(k), 2, requires_grad=True)
        y = ragged_forward(layer, x, ragged)
        assert y.shape == (ragged.num_rows(l), 3) and not bool(y.abs().sum())
        y.sum().backward()
        assert layer.weight.grad is not None and not bool(layer.weight.grad.abs().sum())


def test_second_derivatives():
    layer = EquivariantLinear(S(), 2, 2, 2, 2, dtype=torch.float64)
    _randomise(layer)
    ragged = RaggedBatch([2, 1, 3])
    x = torch.randn(ragged.num_pairs, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: ragged_forward(layer, t, ragged), (x,))
    assert torch.autograd.gradgradcheck(lambda t: ragged_forward(layer, t, ragged) ** 2, (x,))


def test_float32_agrees_with_the_padded_batch():
    layer = EquivariantLinear(S(), 2, 2, 8, 8)
    ragged = RaggedBatch([5, 9, 1, 7])
    x = torch.randn(ragged.num_pairs, 8)
    padded, mask = to_padded(x, ragged, order=2)
    with torch.no_grad():
        got, _ = to_padded(ragged_forward(layer, x, ragged), ragged, order=2)
        expected = layer(padded, mask)
    assert float((got - expected).abs().max() / expected.abs().max()) < 1e-5


def test_pelican_lite_2_to_2_aggregator_with_one_set_of_coefficients():
    """pelican-lite's 15 aggregations 2 → 2 (sums) on a ragged batch of many sizes, mixed by one
    set of coefficients, equal the ragged ``S()`` layer with reduce="sum" whose weights are read
    once off pelican-lite's own operators at n = 4 (where the 15 diagrams are independent)."""
    primitives = pytest.importorskip("pelican.primitives")
    torch.manual_seed(0)

    def edge_index(sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows, batch, start = [], [], 0
        for b, n in enumerate(sizes):
            rows += [(start + i, start + j) for i in range(n) for j in range(n)]  # row-major pairs
            batch += [b] * n
            start += n
        return torch.tensor(rows, dtype=torch.long).T.contiguous(), torch.tensor(batch, dtype=torch.long)

    def aggregate(edges: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        index, batch = edge_index(sizes)
        return primitives.aggregate_2to2(edges, index, batch, reduce="sum")  # (E, C, 15)

    # pelican-lite's operators at n = 4 as 16 × 16 matrices, then their coordinates in the basis
    ops = aggregate(torch.eye(16, dtype=torch.float64), [4])  # (16 pairs out, 16 pairs in, 15 ops)
    coordinates = torch.stack(
        [EquivariantLinear.from_dense(S(4), ops[:, :, o], 2, 2, reduce="sum").weight[0, 0] for o in range(15)]
    )  # (15 ops, 15 diagrams)
    assert torch.linalg.matrix_rank(coordinates) == 15  # the 15 aggregations are the 15 diagrams
    c_in, c_out = 3, 2
    mixing = torch.randn(c_out, c_in, 15, dtype=torch.float64)
    layer = EquivariantLinear(S(), 2, 2, c_in, c_out, bias=False, reduce="sum").double()
    with torch.no_grad():
        layer.weight.copy_(torch.einsum("dco,op->dcp", mixing, coordinates))
    sizes = [1, 2, 3, 7, 4, 1, 11, 5, 2]
    ragged = RaggedBatch(sizes)
    edges = torch.randn(ragged.num_pairs, c_in, dtype=torch.float64)
    expected = torch.einsum("eco,dco->ed", aggregate(edges, sizes), mixing)
    got = ragged_forward(layer, edges, ragged)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    padded, mask = to_padded(edges, ragged, order=2)
    back, again = from_padded(layer(padded, mask), mask)
    assert again == ragged
    torch.testing.assert_close(back, expected, rtol=1e-10, atol=1e-10)
