"""Every layer kind exports and runs elsewhere with the numbers eager computes.

Paths: ``torch.export.export`` (dynamic batch); ``torch.onnx.export`` with the default
(dynamo-based) exporter and with the TorchScript-based one (``dynamo=False``), both run in
onnxruntime; ``torch.compile(fullgraph=True)``; ``layer.export()`` and ``layer.to_dense()``, each
also through ONNX. Every exported model has a dynamic batch axis and is run at batch sizes
other than the example's.

Metric: relative error = max |ours − eager| / max |eager| over all outputs of a model. Bounds:
1e-5 for ONNX in float32 (onnxruntime reorders sums), 1e-6 for the float32 torch.export module
(the same aten ops), 1e-12 for compile in float64.

Exports take seconds each on a small machine, so the layers of one group are bundled into one
module (forward: one input per layer, a tuple of outputs) and exported once; the dynamo ONNX
exporter translates that same ``ExportedProgram`` (one case also goes through
``torch.onnx.export(layer, (x,))`` directly, with the exporter's default optimisation).
"""

import io

import numpy as np
import pytest
import torch

from catlayer import SO, O, S, Sp
from catlayer.nn import EquivariantLinear

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

#: Every group family at a small n; every (k, l) with k, l ≤ 2 whose Hom space is non-zero.
GROUPS = [S(4), O(3), SO(3), SO(2), Sp(4)]
PAIRS = [(k, l) for k in range(3) for l in range(3)]
#: Order-3 cases: diagonals of three axes, 3-axis closed blocks, ε and Levi-Civita at order 3.
ORDER_3 = [(S(3), 3, 1), (S(2), 3, 3), (O(2), 1, 3), (SO(3), 3, 0), (Sp(2), 3, 3)]


def _layers(cases, dtype=torch.float32, execution="plan"):
    """One layer per (group, k, l) with a non-zero Hom space, with bias (random) and without.
    Plan execution unless told (most of these small layers would run dense)."""
    layers = []
    for seed, (group, k, l) in enumerate(cases):
        if not group.basis(k, l):
            continue
        for bias in (True, False):
            torch.manual_seed(seed)
            layer = EquivariantLinear(group, k, l, 2, 3, bias=bias, dtype=dtype, execution=execution)
            with torch.no_grad():
                if layer.bias is not None:
                    layer.bias.normal_()
            layers.append(layer.eval())
    return layers


BUNDLES = {repr(g): [(g, k, l) for k, l in PAIRS] for g in GROUPS} | {"order3": ORDER_3}
#: Dense execution: one bundle, a few layers per family (η forms and η-weighted ε included).
DENSE = [
    (S(4), 2, 2),
    (S(4), 0, 2),
    (O(3), 1, 1),
    (SO(3), 2, 1),
    (SO(3), 0, 3),
    (Sp(4), 2, 2),
    (S(2), 3, 3),
    (O(1, 3), 2, 2),
    (SO(2, 1), 2, 1),
]


def _bundle(name):
    if name == "dense":
        return Bundle(_layers(DENSE, execution="dense"))
    return Bundle(_layers(BUNDLES[name]))


class Bundle(torch.nn.Module):
    """Runs module i on input i; returns the tuple of outputs."""

    def __init__(self, modules):
        super().__init__()
        self.parts = torch.nn.ModuleList(modules)

    def forward(self, *xs):
        return tuple(part(x) for part, x in zip(self.parts, xs, strict=True))


def _inputs(layers, batch, dtype=torch.float32):
    generator = torch.Generator().manual_seed(batch)
    shapes = [(batch, layer.in_channels) + (layer.n,) * layer.in_order for layer in layers]
    return [torch.randn(shape, generator=generator, dtype=dtype) for shape in shapes]


def relative_error(actual, expected) -> float:
    actual = [np.asarray(a, dtype=np.float64) for a in actual]
    expected = [np.asarray(e.detach() if isinstance(e, torch.Tensor) else e, dtype=np.float64) for e in expected]
    assert [a.shape for a in actual] == [e.shape for e in expected]
    scale = max(float(np.abs(e).max()) for e in expected)
    return max(float(np.abs(a - e).max()) for a, e in zip(actual, expected, strict=True)) / scale


def _dynamic(example):
    batch = torch.export.Dim("batch")
    return {"xs": tuple({0: batch} for _ in example)}


def run_onnx(proto: bytes, xs) -> list[np.ndarray]:
    session = ort.InferenceSession(proto, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert len(names) == len(xs)
    return session.run(None, {name: x.numpy() for name, x in zip(names, xs, strict=True)})


def _torchscript_onnx(model, example) -> bytes:
    names = [f"x{i}" for i in range(len(example))]
    outputs = [f"y{i}" for i in range(len(example))]
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        tuple(example),
        buffer,
        dynamo=False,
        input_names=names,
        output_names=outputs,
        dynamic_axes={name: {0: "batch"} for name in names + outputs},
    )
    return buffer.getvalue()


def _dynamo_onnx(model, example) -> bytes:
    program = model
    if not isinstance(model, torch.export.ExportedProgram):
        program = torch.export.export(model, tuple(example), dynamic_shapes=_dynamic(example))
    return torch.onnx.export(program, dynamo=True, optimize=False, verbose=False).model_proto.SerializeToString()


@pytest.mark.parametrize("name", [*BUNDLES, "dense"])
def test_torch_export_and_dynamo_onnx(name):
    """torch.export with a dynamic batch (a functional graph), then the default ONNX exporter on
    that program."""
    bundle = _bundle(name)
    program = torch.export.export(bundle, tuple(_inputs(bundle.parts, 2)), dynamic_shapes=_dynamic(bundle.parts))
    # The graph is functional: no op mutates its input (the old forward added into diagonal views).
    targets = [node.target for node in program.graph.nodes if node.op == "call_function"]
    assert targets and not [t for t in targets if isinstance(t, torch._ops.OpOverload) and t._schema.is_mutable]
    module = program.module()
    for batch in (1, 5):
        xs = _inputs(bundle.parts, batch)
        with torch.no_grad():
            assert relative_error(module(*xs), bundle(*xs)) <= 1e-6
    xs = _inputs(bundle.parts, 5)
    with torch.no_grad():
        assert relative_error(run_onnx(_dynamo_onnx(program, None), xs), bundle(*xs)) <= 1e-5


@pytest.mark.parametrize("name", [*BUNDLES, "dense"])
def test_torchscript_onnx(name):
    bundle = _bundle(name)
    proto = _torchscript_onnx(bundle, _inputs(bundle.parts, 2))
    for batch in (1, 5):
        xs = _inputs(bundle.parts, batch)
        with torch.no_grad():
            assert relative_error(run_onnx(proto, xs), bundle(*xs)) <= 1e-5


@pytest.mark.parametrize("execution", ["plan", "dense"])
def test_onnx_export_of_a_layer_as_users_call_it(tmp_path, execution):
    """``torch.onnx.export(layer, (x,), path)`` as in the README: default exporter and options,
    parameters requiring grad (the module must still export its plain graph, not the adjoint
    plan's autograd Function)."""
    torch.manual_seed(0)
    layer = EquivariantLinear(S(5), 2, 2, in_channels=3, out_channels=4, execution=execution)
    assert layer.weight.requires_grad
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(6, 3, 5, 5)
    path = tmp_path / "layer.onnx"
    torch.onnx.export(layer, (x,), path, dynamic_shapes=({0: torch.export.Dim("batch")},))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 9):
        x = torch.randn(batch, 3, 5, 5)
        (y,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        with torch.no_grad():
            assert relative_error([y], [layer(x)]) <= 1e-5


#: A few layers for the slower paths (``layer.export()`` runs torch.export per layer, compile):
#: diagonals with bias, ε on both halves, Levi-Civita, order 0 out.
SAMPLE = [(S(4), 2, 2), (Sp(4), 2, 2), (SO(3), 2, 1), (S(3), 2, 0)]


@pytest.fixture(scope="module")
def sample():
    layers = [layer for layer in _layers(SAMPLE) if layer.bias is not None or layer.out_order == 1]
    layers += _layers([(Sp(4), 2, 2)], execution="dense")[:1]
    return layers, [layer.export() for layer in layers]


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_onnx_of_export_and_to_dense(dynamo, sample):
    """``layer.export()`` and ``layer.to_dense()`` (on flattened tensors) through ONNX."""
    layers, exported = sample
    exported = Bundle(exported)
    onnx = _dynamo_onnx if dynamo else _torchscript_onnx
    proto = onnx(exported, _inputs(layers, 2))
    xs = _inputs(layers, 5)
    with torch.no_grad():
        expected = Bundle(layers)(*xs)
        assert relative_error(exported(*xs), expected) <= 1e-6
    assert relative_error(run_onnx(proto, xs), expected) <= 1e-5
    dense = Bundle([layer.to_dense() for layer in layers])
    flat = [x.reshape(x.shape[0], -1) for x in xs]
    proto = onnx(dense, [x.reshape(2, -1) for x in _inputs(layers, 2)])
    assert relative_error(run_onnx(proto, flat), [y.reshape(5, -1) for y in expected]) <= 1e-5


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    layers = [layer.double() for layer in _layers(SAMPLE[:3])[::2] + _layers(DENSE[-2:], execution="dense")[::2]]
    bundle = Bundle(layers)
    compiled = torch.compile(bundle, fullgraph=True)
    xs = _inputs(layers, 3, torch.float64)
    with torch.no_grad():
        assert relative_error(compiled(*xs), bundle(*xs)) <= 1e-12
