"""EquivariantLinear under torch machinery: autograd, torch.compile, torch.export (dynamic
batch), plain export without catlayer, vmap, deepcopy, pickle, CUDA."""

import copy
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch

from catlayer import SO, O, S, Sp
from catlayer.nn import EquivariantLinear, export_program
from tests.test_nn_linear import _random_layer

SMALL = [(S(3), 2, 2), (Sp(4), 2, 2), (SO(3), 2, 1), (O(2), 1, 3), (S(3), 0, 2), (SO(3), 3, 0)]
SMALL += [(SO(2, 1), 2, 1), (O(1, 2), 0, 2)]  # η on the input indices of ε; the cap and bias ↦ η


def _ids(case):
    group, k, l = case
    return f"{group!r}-{k}to{l}"


def _input(group, k, batch=3, channels=2, dtype=torch.float64, **kw):
    return torch.randn((batch, channels) + (group.n,) * k, dtype=dtype, **kw)


@pytest.mark.parametrize("case", SMALL, ids=_ids)
def test_gradcheck_input_weight_bias(case):
    group, k, l = case
    layer = _random_layer(group, k, l)
    names = [name for name, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]
    x = _input(group, k, batch=2, requires_grad=True)

    def f(x, *ps):
        return torch.func.functional_call(layer, dict(zip(names, ps, strict=True)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params))


def test_backward_gives_gradients_to_all_parameters():
    layer = EquivariantLinear(Sp(4), 2, 2, 2, 3)
    layer(_input(Sp(4), 2, dtype=torch.float32)).square().sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert layer.bias.grad is not None and layer.bias.grad.abs().sum() > 0


def test_torch_compile_fullgraph():
    """One small case (compiling is slow on 2 cores): symplectic ε on both halves, plus bias."""
    torch._dynamo.reset()
    layer = _random_layer(Sp(4), 2, 2, dtype=torch.float32)
    compiled = torch.compile(layer, fullgraph=True)
    for batch in (3, 5):
        x = _input(Sp(4), 2, batch=batch, dtype=torch.float32)
        torch.testing.assert_close(compiled(x), layer(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", SMALL, ids=_ids)
def test_torch_export_dynamic_batch(case):
    group, k, l = case
    layer = _random_layer(group, k, l)
    program = export_program(layer)
    module = program.module()
    for batch in (1, 4, 9):
        x = _input(group, k, batch=batch)
        torch.testing.assert_close(module(x), layer(x).detach(), rtol=1e-12, atol=1e-12)


def test_exported_program_saves_and_loads(tmp_path):
    layer = _random_layer(SO(3), 1, 2)
    path = tmp_path / "layer.pt2"
    torch.export.save(export_program(layer), path)
    loaded = torch.export.load(path).module()
    x = _input(SO(3), 1, batch=6)
    torch.testing.assert_close(loaded(x), layer(x).detach(), rtol=1e-12, atol=1e-12)


def test_export_runs_and_unpickles_without_catlayer(tmp_path):
    layer = _random_layer(Sp(4), 2, 2)
    exported = layer.export()
    x = _input(Sp(4), 2, batch=5)
    torch.testing.assert_close(exported(x), layer(x).detach(), rtol=1e-12, atol=1e-12)
    (tmp_path / "module.pkl").write_bytes(pickle.dumps(exported))
    torch.save({"x": x, "y": layer(x).detach()}, tmp_path / "data.pt")
    script = textwrap.dedent(
        f"""
        import pickle, sys, torch
        sys.modules["catlayer"] = None          # any catlayer import now fails
        module = pickle.loads(open({str(tmp_path / "module.pkl")!r}, "rb").read())
        data = torch.load({str(tmp_path / "data.pt")!r})
        torch.testing.assert_close(module(data["x"]), data["y"], rtol=1e-12, atol=1e-12)
        assert module(torch.zeros(11, 2, 4, 4, dtype=torch.float64)).shape == (11, 3, 4, 4)
        loaded = [name for name in sys.modules if name.startswith("catlayer") and sys.modules[name] is not None]
        assert not loaded, loaded
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("case", SMALL, ids=_ids)
def test_vmap(case):
    group, k, l = case
    layer = _random_layer(group, k, l)
    x = torch.randn((4, 3, 2) + (group.n,) * k, dtype=torch.float64)
    expected = layer(x).detach()
    torch.testing.assert_close(torch.func.vmap(layer)(x).detach(), expected)  # over an extra axis
    torch.testing.assert_close(torch.func.vmap(torch.func.vmap(layer))(x).detach(), expected)  # per sample


def test_vmap_over_parameters_ensemble():
    layer = _random_layer(S(3), 2, 2)
    params = {name: torch.stack([p.detach(), 2 * p.detach()]) for name, p in layer.named_parameters()}
    x = _input(S(3), 2)
    out = torch.func.vmap(lambda ps: torch.func.functional_call(layer, ps, (x,)))(params)
    torch.testing.assert_close(out[1], 2 * out[0])
    torch.testing.assert_close(out[0], layer(x).detach())


@pytest.mark.parametrize("case", SMALL, ids=_ids)
def test_deepcopy_and_pickle(case):
    group, k, l = case
    layer = _random_layer(group, k, l)
    x = _input(group, k)
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        torch.testing.assert_close(other(x), layer(x), rtol=0, atol=0)
        assert other.weight is not layer.weight
        assert list(other.state_dict()) == list(layer.state_dict())


def test_state_dict_round_trip():
    a, b = _random_layer(Sp(4), 2, 2, seed=0), _random_layer(Sp(4), 2, 2, seed=1)
    b.load_state_dict(a.state_dict())
    x = _input(Sp(4), 2)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_dtype_conversion_moves_tables():
    layer = EquivariantLinear(SO(3), 2, 1, 2, 2).double()
    assert all(t.dtype in (torch.float64, torch.long) for name, t in layer.named_buffers() if name != "_group")
    layer(_input(SO(3), 2))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", SMALL, ids=_ids)
def test_cuda_matches_cpu(case):
    group, k, l = case
    layer = _random_layer(group, k, l)
    x = _input(group, k)
    gpu = copy.deepcopy(layer).to("cuda")
    assert all(t.device.type == "cuda" for t in [*gpu.parameters(), *gpu.buffers()])
    torch.testing.assert_close(gpu(x.cuda()).cpu(), layer(x), rtol=1e-10, atol=1e-10)
    built = EquivariantLinear(group, k, l, 2, 3, device="cuda", dtype=torch.float64)
    assert built.weight.is_cuda and built(x.cuda()).is_cuda
    with pytest.raises(ValueError, match="cuda"):
        built(x)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_compile_and_backward():
    layer = EquivariantLinear(S(8), 2, 2, 4, 4, device="cuda")
    x = torch.randn(16, 4, 8, 8, device="cuda", requires_grad=True)
    compiled = torch.compile(layer, fullgraph=True)
    torch.testing.assert_close(compiled(x), layer(x), rtol=1e-4, atol=1e-4)
    compiled(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None
