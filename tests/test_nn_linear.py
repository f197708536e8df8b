"""EquivariantLinear: parameters, initialisation, forward against independent dense references
and the numba backend, dense export, errors.

Tolerances: forward vs references, relative to the largest output entry: 1e-12 in float64,
1e-5 in float32 (conftest.TOLERANCE).
"""

import math

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given
from hypothesis import strategies as st

from catlayer import SO, O, S, Sp
from catlayer.backend import apply_layer
from catlayer.backend.memory import AllocationTooLarge, set_memory_budget
from catlayer.nn import EquivariantLinear
from catlayer.verify import check_equivariance
from tests.conftest import TOLERANCE

TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}

#: (group, in_order, out_order): all groups, k ≠ l, 0-order in or out, SO n-diagrams, and the
#: indefinite O(p, q), SO(p, q) (η on caps and cups, η on the input indices of ε).
CASES = [
    (S(4), 2, 2),
    (S(3), 1, 3),
    (S(3), 3, 1),
    (S(4), 0, 2),
    (S(4), 2, 0),
    (S(2), 3, 2),
    (O(3), 2, 2),
    (O(3), 1, 3),
    (O(2), 0, 2),
    (O(3), 3, 1),
    (SO(3), 2, 1),
    (SO(3), 1, 2),
    (SO(2), 2, 2),
    (SO(3), 0, 3),
    (SO(3), 3, 0),
    (Sp(4), 2, 2),
    (Sp(2), 1, 3),
    (Sp(4), 3, 1),
    (Sp(4), 0, 2),
    (O(1, 3), 1, 1),
    (O(1, 3), 2, 2),
    (SO(1, 3), 2, 2),
    (SO(1, 3), 3, 1),
    (O(2, 2), 1, 3),
    (SO(2, 1), 2, 1),
    (SO(2, 1), 0, 3),
    (SO(1, 1), 3, 1),  # a bottom half with both an η pair and a free (Levi-Civita) axis
    (SO(1, 2), 4, 1),
]


def _ids(case):
    group, k, l = case
    return f"{group!r}-{k}to{l}"


def _random_layer(group, k, l, c_in=2, c_out=3, dtype=torch.float64, seed=0, bias=True, execution="plan", reduce="sum"):
    """A layer with random weights and bias; the plan by default (small layers would run dense,
    tested on these cases in tests/test_nn_backward.py); the functor images exactly by default
    (``reduce="mean"`` divides each diagram by the sizes it sums over: :func:`scales`)."""
    torch.manual_seed(seed)
    layer = EquivariantLinear(group, k, l, c_in, c_out, bias=bias, dtype=dtype, execution=execution, reduce=reduce)
    with torch.no_grad():
        if layer.bias is not None:
            layer.bias.normal_()
    return layer


def scales(layer) -> np.ndarray:
    """Per diagram, what the layer multiplies F(d) by: 1 with ``reduce="sum"``, 1 / n^c with
    ``reduce="mean"`` (c: the closed bottom blocks of d, the indices it sums over), read off the
    diagram itself (its blocks inside the bottom row), not the plan."""
    if layer.reduce == "sum":
        return np.ones(len(layer.diagrams))
    n, l = layer.group.n, layer.out_order
    out = []
    for d in layer.diagrams:
        closed = [b for b in d.blocks if b[0] >= l]
        if layer.group.free_singletons:
            closed = [b for b in closed if len(b) > 1]  # free vertices are ε's, not sums
        out.append(float(n) ** -len(closed))
    return np.array(out)


def _dense_reference(layer) -> tuple[np.ndarray, np.ndarray]:
    """(weight matrix (c_out n^l, c_in n^k), bias vector) from the groups' functor images."""
    group, n = layer.group, layer.n
    k, l = layer.in_order, layer.out_order
    images = np.stack([group.functor(d).to_numpy() for d in layer.diagrams]) * scales(layer)[:, None, None]
    w = layer.weight.detach().double().numpy()
    matrix = np.einsum("ocd,dij->oicj", w, images).reshape(layer.out_channels * n**l, layer.in_channels * n**k)
    bias = np.zeros(layer.out_channels * n**l)
    if layer.bias is not None:
        bias_images = np.stack([group.functor(d).to_numpy()[:, 0] for d in layer.bias_diagrams[l]])
        bias = np.einsum("od,di->oi", layer.bias.detach().double().numpy(), bias_images).reshape(-1)
    return matrix, bias


def _assert_close(actual, expected, rtol):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    err = float(np.abs(actual - expected).max(initial=0)) / scale
    assert err <= rtol, f"relative error {err:.3g} > {rtol:.3g}"


# -- forward == dense functor images == numba backend ----------------------------------------
@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_forward_matches_dense_functor_images(case, float_dtype, reduce):
    group, k, l = case
    layer = _random_layer(group, k, l, dtype=TORCH_DTYPE[float_dtype], reduce=reduce)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2) + (group.n,) * k)
    matrix, bias = _dense_reference(layer)
    expected = (x.reshape(5, -1) @ matrix.T + bias).reshape((5, 3) + (group.n,) * l)
    y = layer(torch.tensor(x, dtype=TORCH_DTYPE[float_dtype]))
    assert y.dtype == TORCH_DTYPE[float_dtype]
    _assert_close(y.detach().numpy(), expected, TOLERANCE[float_dtype])


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_forward_matches_numba_apply_layer(case, float_dtype):
    group, k, l = case
    layer = _random_layer(group, k, l, dtype=TORCH_DTYPE[float_dtype], bias=False)
    x = np.random.default_rng(2).standard_normal((4, 2) + (group.n,) * k).astype(float_dtype)
    expected = apply_layer(group, layer.diagrams, layer.weight.detach().numpy(), x)
    y = layer(torch.from_numpy(x)).detach().numpy()
    _assert_close(y, expected, TOLERANCE[float_dtype])


@pytest.mark.parametrize("case", CASES[::3], ids=_ids)
def test_to_dense_equals_layer_and_functor_images(case):
    group, k, l = case
    layer = _random_layer(group, k, l)
    dense = layer.to_dense()
    assert type(dense) is torch.nn.Linear
    matrix, bias = _dense_reference(layer)
    _assert_close(dense.weight.detach().numpy(), matrix, 1e-12)
    if layer.bias is None:
        assert dense.bias is None and not bias.any()
    else:
        _assert_close(dense.bias.detach().numpy(), bias, 1e-12)
    x = torch.randn((3, 2) + (group.n,) * k, dtype=torch.float64)
    _assert_close(dense(x.reshape(3, -1)).detach().reshape((3, 3) + (group.n,) * l), layer(x).detach(), 1e-12)


def test_basis_matrices_are_the_functor_images():
    group = Sp(4)
    layer = EquivariantLinear(group, 2, 2, 1, 1, dtype=torch.float64)
    images = layer.basis_matrices().numpy()
    for t, d in enumerate(layer.diagrams):
        np.testing.assert_array_equal(images[t], group.functor(d).to_numpy() * scales(layer)[t])


@given(
    st.sampled_from(CASES),
    st.lists(st.integers(1, 3), min_size=0, max_size=2),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_any_batch_axes_and_channels(case, batch, c_in, c_out):
    """Zero or more leading batch axes, each sample mapped independently."""
    group, k, l = case
    layer = EquivariantLinear(group, k, l, c_in, c_out, dtype=torch.float64)
    x = torch.randn((*batch, c_in) + (group.n,) * k, dtype=torch.float64)
    y = layer(x)
    assert y.shape == (*batch, c_out) + (group.n,) * l
    flat = layer(x.reshape((-1, c_in) + (group.n,) * k)).reshape(y.shape)
    _assert_close(y.detach(), flat.detach(), 1e-13)


def test_empty_batch():
    layer = EquivariantLinear(S(3), 2, 1, 2, 2)
    assert layer(torch.zeros(0, 2, 3, 3)).shape == (0, 2, 3)


# -- parameters, buffers, repr ------------------------------------------------------------------
def test_acceptance_interface():
    layer = EquivariantLinear(S(5), in_order=2, out_order=2, in_channels=3, out_channels=4)
    y = layer(torch.randn(8, 3, 5, 5))
    assert y.shape == (8, 4, 5, 5)
    assert layer.weight.shape == (4, 3, 15)
    assert layer.bias.shape == (4, 2)
    assert list(layer.state_dict()) == ["weight", "bias", "_group"]
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_lorentz_acceptance_interface():
    """The interface of the issue, verbatim, with the values it promises."""
    from catlayer import SO, O
    from catlayer.nn import EquivariantLinear
    from catlayer.verify import check_equivariance

    L = O(1, 3)
    assert L.n == 4 and L.signature == (1, 3)
    assert isinstance(L.metric, np.ndarray) and L.metric.dtype.kind == "i"
    np.testing.assert_array_equal(L.metric, np.diag([1, -1, -1, -1]))
    assert O(3) == O(3, 0)
    basis = L.basis(2, 2)
    assert len(basis) == 3 and L.dim(2, 2) == 3 and SO(1, 3).dim(2, 2) == 4
    rng = np.random.default_rng(0)
    g = L.random_element(np.random.default_rng(0))
    for d in basis:
        M = L.functor(d).to_numpy()
        assert M.shape == (16, 16)  # rows: output multi-index, columns: input multi-index
        x = rng.standard_normal((4, 4))
        # ρ_2(g)(M x) == M (ρ_2(g) x), with the action on tensors from L.act
        y = (M @ x.ravel()).reshape(4, 4)
        np.testing.assert_allclose(L.act(g, y, 2), (M @ L.act(g, x, 2).ravel()).reshape(4, 4), atol=1e-10)
        assert check_equivariance(L, L.functor(d).to_sympy(), 2, 2).exact
    bad = check_equivariance(L, sympy.Matrix(np.eye(16, dtype=int)[::-1].tolist()), 2, 2)
    assert not bad and "generator" in bad.failure and "(output indices ; input indices)" in bad.failure
    layer = EquivariantLinear(O(1, 3), in_order=1, out_order=1, in_channels=4, out_channels=8)
    assert layer(torch.randn(5, 4, 4)).shape == (5, 8, 4)
    report = check_equivariance(layer, rng=0)
    assert report and report.parts[0].exact


@pytest.mark.parametrize(
    "case",
    [(O(1, 3), 1, 1), (O(1, 3), 2, 2), (SO(1, 3), 2, 2), (SO(1, 3), 1, 3), (O(2, 2), 2, 2), (SO(2, 1), 2, 1)],
    ids=_ids,
)
def test_indefinite_layers_are_proved_and_match_the_dense_matrix(case):
    group, k, l = case
    layer = _random_layer(group, k, l)
    report = check_equivariance(layer, rng=1, samples=4)
    assert report and report.parts[0].exact and report.parts[0].ok and report.parts[1].ok
    matrix, bias = _dense_reference(layer)
    x = np.random.default_rng(3).standard_normal((3, 2) + (group.n,) * k)
    expected = (x.reshape(3, -1) @ matrix.T + bias).reshape((3, 3) + (group.n,) * l)
    _assert_close(layer(torch.tensor(x)).detach().numpy(), expected, 1e-12)
    _assert_close(layer.to_dense()(torch.tensor(x).reshape(3, -1)).detach().numpy(), expected.reshape(3, -1), 1e-12)


@pytest.mark.parametrize("signature", [(1, 1), (1, 2), (2, 1), (1, 3), (2, 2), (3, 1), (0, 3)], ids=str)
def test_every_small_indefinite_layer_matches_the_functor_images(signature):
    """O(p, q) and SO(p, q), every (k, l) with k + l ≤ 5 (≤ 6 for n ≤ 3): torch forward (with
    bias) and numba apply_layer against Σ w F(d) x from the groups' dense images."""
    for group in (O(*signature), SO(*signature)):
        n = group.n
        for size in range(7 if n <= 3 else 6):
            for k in range(size + 1):
                if not group.basis(k, size - k):
                    continue
                layer = _random_layer(group, k, size - k, c_in=2, c_out=2, seed=size)
                x = np.random.default_rng(k).standard_normal((2, 2) + (n,) * k)
                matrix, bias = _dense_reference(layer)
                expected = x.reshape(2, -1) @ matrix.T
                y = layer(torch.tensor(x)).detach().numpy().reshape(2, -1)
                _assert_close(y, expected + bias, 1e-12)
                w = layer.weight.detach().numpy()
                _assert_close(apply_layer(group, layer.diagrams, w, x).reshape(2, -1), expected, 1e-12)


def test_state_dict_holds_weight_and_bias_only_in_any_mode():
    layer = EquivariantLinear(Sp(4), 2, 2, 2, 2)  # ε and gathered index buffers
    assert len(list(layer.buffers())) > 0
    keys = list(layer.state_dict())
    layer.eval()
    assert list(layer.state_dict()) == keys == ["weight", "bias", "_group"]
    so = EquivariantLinear(SO(3), 2, 1, 2, 2)  # Levi-Civita buffer, no bias (odd order)
    assert list(so.state_dict()) == ["weight", "_group"]
    assert any(name.startswith("_lc_") for name, _ in so.named_buffers())


def test_bias_absent_when_no_invariant_tensor():
    layer = EquivariantLinear(O(3), 1, 3, 2, 2)
    assert layer.bias is None and layer.bias_diagrams == {}
    assert EquivariantLinear(S(3), 1, 1, 2, 2, bias=False).bias is None
    assert EquivariantLinear(SO(3), 0, 3, 2, 2).bias.shape == (2, 1)  # the Levi-Civita tensor


def test_bias_is_an_equivariant_tensor():
    layer = _random_layer(S(4), 1, 2)
    with torch.no_grad():
        layer.weight.zero_()
    out = layer(torch.randn(2, 2, 4, dtype=torch.float64)).detach().numpy()
    g = S(4).random_element(np.random.default_rng(0))
    np.testing.assert_allclose(S(4).act(g, out, 2), out, atol=1e-12)
    assert np.abs(out).max() > 0.1


def test_extra_repr_names_group_orders_channels_and_diagrams():
    text = repr(EquivariantLinear(O(3), 1, 3, 2, 5))
    for piece in ("O(3)", "in_order=1", "out_order=3", "in_channels=2", "out_channels=5", "diagrams=", "bias=False"):
        assert piece in text


def test_factory_kwargs_and_deterministic_init():
    torch.manual_seed(0)
    a = EquivariantLinear(S(3), 2, 2, 2, 2, dtype=torch.float64, device="cpu")
    torch.manual_seed(0)
    b = EquivariantLinear(S(3), 2, 2, 2, 2, dtype=torch.float64)
    assert a.weight.dtype == torch.float64 and a.weight.device.type == "cpu"
    assert torch.equal(a.weight, b.weight)
    assert all(buf.dtype in (torch.float64, torch.long) for name, buf in a.named_buffers() if name != "_group")
    meta = EquivariantLinear(S(3), 2, 2, 2, 2, device="meta")
    assert meta.weight.is_meta


# -- initialisation ------------------------------------------------------------------------------
def test_weight_std_closed_form():
    layer = EquivariantLinear(S(5), 2, 2, 3, 4)
    assert math.isclose(layer.weight_std(2, 2), 1 / math.sqrt(3 * 15))
    typed = EquivariantLinear(S(), 2, 0, 2, 1)
    assert math.isclose(typed.weight_std(2, 0), 1 / math.sqrt(2 * 2))


@pytest.mark.parametrize("group,k,l", [(S(), 2, 2), (S(), 1, 1), (O(3), 2, 2), (SO(3), 2, 1), (Sp(4), 1, 3)], ids=repr)
def test_activations_stay_order_one_at_every_n(group, k, l):
    """The one parameterisation: with means, unit inputs give outputs of second moment O(1)
    whatever n (for S(): n from 4 to 64), for iid noise and for constant inputs alike (a sum
    would grow like n^c)."""
    torch.manual_seed(0)
    layer = EquivariantLinear(group, k, l, 8, 64, dtype=torch.float64)
    sizes = [4, 16, 64] if group.n is None else [group.n]
    for n in sizes:
        noise = torch.randn((256, 8) + (n,) * k, dtype=torch.float64)
        constant = torch.ones((1, 8) + (n,) * k, dtype=torch.float64)
        for x, low in ((noise, 0.05), (constant, 0.0)):  # ε kills a constant: no lower bound there
            mask = torch.ones(x.shape[0], n, dtype=torch.bool) if k == 0 else None
            moment = float(layer(x, mask).detach().pow(2).mean())
            assert low <= moment < 4, (n, moment)


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape,dtype,match",
    [
        ((3, 5), torch.float32, r"must have shape \(\*batch, 3, 5, 5\), got \(3, 5\)"),
        ((2, 3, 5), torch.float32, r"must have shape \(\*batch, 3, 5, 5\)"),
        ((2, 2, 5, 5), torch.float32, r"must have shape \(\*batch, 3, 5, 5\)"),
        ((2, 3, 4, 4), torch.float32, r"the size of S\(5\)"),
        ((2, 3, 5, 4), torch.float32, r"the size of S\(5\)"),
        ((2, 3, 5, 5), torch.float64, "computes in torch.float32 but order 2 is torch.float64"),
        (
            (2, 3, 5, 5),
            torch.int64,
            r"is torch.int64; catlayer modules compute in floating point.*x.to\(torch.float32\)",
        ),
    ],
)
def test_input_errors_before_compute(shape, dtype, match):
    layer = EquivariantLinear(S(5), 2, 2, 3, 4)
    with pytest.raises((ValueError, TypeError), match=match):
        layer(torch.zeros(shape, dtype=dtype))


def test_constructor_errors():
    with pytest.raises(ValueError, match="odd"):
        EquivariantLinear(O(3), 2, 1, 1, 1)
    with pytest.raises(ValueError, match="in_channels"):
        EquivariantLinear(S(3), 1, 1, 0, 1)
    with pytest.raises(ValueError, match="an order must be an int >= 0"):
        EquivariantLinear(S(3), -1, 1, 1, 1)
    with pytest.raises(TypeError, match="catlayer group"):
        EquivariantLinear("S(3)", 1, 1, 1, 1)


def test_to_dense_is_size_guarded():
    layer = EquivariantLinear(S(16), 2, 2, 2, 2)
    set_memory_budget(10_000)
    try:
        with pytest.raises(AllocationTooLarge, match="dense"):
            layer.to_dense()
    finally:
        set_memory_budget(None)


@pytest.mark.parametrize(("group", "k", "l"), [(SO(3), 2, 1), (S(4), 2, 2), (Sp(4), 2, 2), (O(1, 3), 2, 2)], ids=repr)
def test_meta_device_construction_then_to_empty_and_load(group, k, l):
    # Regression: the constant tables are non-persistent buffers; to_empty left them as garbage.
    reference = EquivariantLinear(group, k, l, 2, 3).double()
    layer = EquivariantLinear(group, k, l, 2, 3, device="meta", dtype=torch.float64)
    layer = layer.to_empty(device="cpu")
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(4, 2, *(group.n,) * k, dtype=torch.float64)
    torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=1e-12)


def test_forward_is_size_guarded_before_allocating():
    layer = EquivariantLinear(S(64), 2, 2, 4, 4)
    x = torch.zeros(1, 4, 64, 64).expand(4096, 4, 64, 64)  # a view: nothing allocated yet
    set_memory_budget(2**26)
    try:
        with pytest.raises(AllocationTooLarge, match="on a batch of 4096"):
            layer(x)
        assert layer(x[:2]).shape == (2, 4, 64, 64)
    finally:
        set_memory_budget(None)


def test_group_class_instead_of_value_and_complex_layers():
    with pytest.raises(TypeError, match=r"call the class with its size, e.g. S\(\)"):
        EquivariantLinear(S, 2, 2, 1, 1)
    layer = EquivariantLinear(S(3), 1, 1, 1, 1, dtype=torch.complex64, reduce="sum")
    x = torch.randn(2, 1, 3, dtype=torch.complex64)
    y = layer(x)
    w = layer.weight.detach()[0, 0]  # 1 → 1 of S_3: w_0·identity + w_1·(sum, broadcast)
    terms = {d: w[t] for t, d in enumerate(layer.diagrams)}
    expected = sum(complex(c) * S(3).functor(d).to_numpy().astype(np.complex64) for d, c in terms.items())
    assert y.dtype == torch.complex64
    np.testing.assert_allclose(y.detach()[:, 0].numpy(), x[:, 0].numpy() @ expected.T, atol=1e-5)
    with pytest.raises(TypeError, match=r"computes in torch\.complex64 but order 1 is torch\.float32"):
        layer(torch.randn(2, 1, 3))
