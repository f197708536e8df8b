"""Networks under torch machinery: gradcheck, torch.compile(fullgraph=True), torch.export with a
dynamic batch, deepcopy / pickle / state_dict, CUDA (skipped without a device) and
DistributedDataParallel (two gloo processes on CPU) against single-process training."""

import copy
import os
import pathlib
import pickle
import socket
import subprocess
import sys

import pytest
import torch

from catlayer import SO, O, S, Sp
from catlayer.nn import EquivariantMLP, TypedBilinear, TypedLinear
from tests.torch_threads import one_torch_thread  # noqa: F401

HIDDEN = {0: 4, 1: 3, 2: 3}
CASES = [
    (S(4), {2: 1}, {0: 1, 2: 1}, {}),
    (O(3), {0: 2, 1: 2}, {2: 1}, {}),
    (SO(3), {1: 2}, {1: 1}, {}),
    (Sp(4), {1: 1, 2: 1}, {0: 1}, {}),
    (S(5), {1: 2, 2: 1}, {1: 1}, {"hidden": {0: 4, 1: 3, 2: 40}}),  # large enough for the plan path
]


def _ids(case):
    return repr(case[0])


def _model(case, dtype=torch.float64):
    group, in_type, out_type, extra = case
    torch.manual_seed(0)
    kwargs = {"depth": 1, "hidden": HIDDEN, "product_width": 2, **extra}
    return EquivariantMLP(group, in_type, out_type, dtype=dtype, **kwargs)


def _input(case, batch=3, dtype=torch.float64, **kw):
    group, in_type = case[0], case[1]
    return {k: torch.randn((batch, c) + (group.n,) * k, dtype=dtype, **kw) for k, c in in_type.items()}


def _close(a, b, tol=1e-12):
    assert list(a) == list(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=tol, atol=tol)


def test_both_execution_paths_are_covered():
    """The cost model picks dense for some parts of these networks and the plan for others, so the
    tests below run both."""
    executions = {m.execution for case in CASES for m in _model(case).modules() if isinstance(m, TypedLinear)}
    assert executions == {"dense", "plan"}


@pytest.mark.parametrize("case", CASES[:3] + CASES[4:], ids=_ids)
def test_gradcheck_inputs_and_parameters(case):
    """Fast mode: the Jacobian checked along random directions (a full numeric Jacobian over every
    parameter of a network takes minutes)."""
    model = _model(case)
    names = [name for name, _ in model.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in model.parameters()]
    x = _input(case, batch=2, requires_grad=True)
    orders = list(x)

    def f(*args):
        features = dict(zip(orders, args[: len(orders)], strict=True))
        out = torch.func.functional_call(model, dict(zip(names, args[len(orders) :], strict=True)), (features,))
        return tuple(out.values())

    assert torch.autograd.gradcheck(f, (*x.values(), *params), fast_mode=True)


@pytest.mark.parametrize("case", [CASES[1], CASES[4]], ids=_ids)
def test_torch_compile_fullgraph(case):
    """Dynamo traces each network as one graph (``fullgraph=True`` fails on any graph break); the
    eager backend keeps the test fast (code generation by inductor is torch's own business and
    is exercised on a layer in test_nn_torch.py)."""
    torch._dynamo.reset()
    model = _model(case, dtype=torch.float32)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = _input(case, batch=5, dtype=torch.float32)
    _close(compiled(x), model(x), tol=1e-5)
    out = compiled(x)
    sum(v.sum() for v in out.values()).backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[4]], ids=_ids)
def test_torch_export_dynamic_batch(case):
    model = _model(case).eval()
    batch = torch.export.Dim("batch")
    x = _input(case)
    program = torch.export.export(model, (x,), dynamic_shapes=({k: {0: batch} for k in x},))
    module = program.module()
    for size in (1, 4, 9):
        x = _input(case, batch=size)
        _close(module(x), {k: v.detach() for k, v in model(x).items()})


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_deepcopy_pickle_state_dict(case):
    model = _model(case)
    x = _input(case)
    for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        _close(other(x), model(x), tol=0)
        assert list(other.state_dict()) == list(model.state_dict())
    fresh = copy.deepcopy(model)
    fresh.reset_parameters()
    first = next(iter(case[2]))
    assert not torch.equal(fresh(x)[first], model(x)[first])
    fresh.load_state_dict(model.state_dict())
    _close(fresh(x), model(x), tol=0)
    # Weights and biases, plus the group identity every part with weights checks on load.
    assert all(
        name.split(".")[-1] == "_group" or ("._" not in name and not name.startswith("_"))
        for name in model.state_dict()
    )


def test_bilinear_pickles():
    layer = TypedBilinear(SO(3), {1: 2}, {1: 1, 2: 1}, diagrams="all")
    x = {1: torch.randn(2, 2, 3)}
    _close(pickle.loads(pickle.dumps(layer))(x, x), layer(x, x), tol=0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_cuda_matches_cpu(case):
    model = _model(case)
    x = _input(case)
    gpu = copy.deepcopy(model).to("cuda")
    assert all(t.device.type == "cuda" for t in [*gpu.parameters(), *gpu.buffers()])
    out = gpu({k: v.cuda() for k, v in x.items()})
    _close({k: v.cpu() for k, v in out.items()}, model(x), tol=1e-10)
    built = EquivariantMLP(case[0], case[1], case[2], depth=1, device="cuda")
    assert all(p.is_cuda for p in built.parameters())
    out = built({k: v.float().cuda() for k, v in x.items()})
    sum(v.sum() for v in out.values()).backward()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["o3", "sets"])
def test_ddp_matches_single_process(tmp_path, kind):
    """Two gloo processes, each on half of an 8-sample batch, end with the parameters of one
    process training on the whole batch (3 Adam steps, float64). "sets": point clouds of 2–9
    points under S() * O(3) with a mask, each process padded to its own largest cloud."""
    from tests.ddp_worker import model_and_data, train

    root = pathlib.Path(__file__).resolve().parent.parent
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), PYTHONPATH=str(root))
    out = tmp_path / "ddp.pt"
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.ddp_worker", kind, str(rank), str(out)],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        results = [w.communicate(timeout=240) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert all(w.returncode == 0 for w in workers), [r[1][-2000:] for r in results]
    distributed = torch.load(out)
    model, x, y, mask = model_and_data(kind)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train(model, x, y, mask)
    single = model.state_dict()
    assert list(distributed) == list(single)
    for name in single:
        torch.testing.assert_close(distributed[name], single[name], rtol=1e-10, atol=1e-12)
    assert any(not torch.equal(single[k], before[k]) for k in single)  # training moved them
