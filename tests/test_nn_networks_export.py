"""Networks (mixed-order dict features) export with both ONNX exporters and ``torch.export``,
and the exported programs compute what eager computes.

Every network module kind (TypedLinear, TypedBilinear, the three nonlinearities, pooling,
EquivariantMLP for every group family) is seen through :class:`TensorInterface` (positional
tensors in, tuple out), bundled into one module, exported once per exporter with a dynamic batch
axis and run in onnxruntime at a batch size other than the example's. One case also goes the
dict route of the default exporter, ``torch.onnx.export(model, (features, {}), path)``.

Metric: relative error = max |ours − eager| / max |eager| over all outputs; bound 1e-5 in
float32 (onnxruntime and the exporters may reorder sums).
"""

import io

import pytest
import torch
from test_nn_export import relative_error, run_onnx  # skips this module too without onnxruntime

from catlayer import SO, O, S, Sp
from catlayer.nn import (
    EquivariantMLP,
    GatedNonlinearity,
    InvariantPooling,
    NormNonlinearity,
    PointwiseNonlinearity,
    TensorInterface,
    TypedBilinear,
    TypedLinear,
)

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

SMALL = {"depth": 1, "product_width": 2}


def _modules():
    """(module, dict inputs) for every network module kind; small widths keep exports quick."""
    torch.manual_seed(0)
    mlps = [
        EquivariantMLP(S(5), {2: 1}, {0: 1, 1: 1}, hidden={0: 4, 1: 2, 2: 2}, **SMALL),
        EquivariantMLP(O(3), {0: 2, 1: 2}, {2: 1}, hidden={0: 4, 1: 2, 2: 2}, **SMALL),
        EquivariantMLP(SO(3), {1: 2}, {0: 1, 1: 1}, hidden={0: 4, 1: 2}, **SMALL),
        EquivariantMLP(Sp(4), {1: 2}, {0: 1, 2: 1}, hidden={0: 4, 1: 2, 2: 2}, **SMALL),
        EquivariantMLP(O(1, 3), {1: 3}, {0: 1}, hidden={0: 4, 1: 2}, **SMALL),
        EquivariantMLP(SO(2, 1), {1: 2}, {0: 1, 1: 1}, hidden={0: 4, 1: 2}, **SMALL),
    ]
    parts = [
        TypedLinear(O(3), {0: 2, 1: 3}, {0: 4, 2: 1}),
        TypedBilinear(SO(3), {0: 2, 1: 2}, {0: 2, 1: 3}),
        GatedNonlinearity(O(3), {0: 2, 1: 2}),
        NormNonlinearity(SO(3), {0: 2, 1: 2}),
        PointwiseNonlinearity(S(4), {0: 2, 2: 3}, "relu"),
        InvariantPooling(S(4), {0: 1, 2: 2}),
    ]
    modules = [m.eval() for m in mlps + parts]
    for module in modules:
        with torch.no_grad():
            for p in module.parameters():
                p.add_(0.1 * torch.randn_like(p))  # non-zero biases
    return [TensorInterface(m) for m in modules]


class Bundle(torch.nn.Module):
    """Every interface on its own slice of the positional inputs; one flat tuple of outputs."""

    def __init__(self, interfaces):
        super().__init__()
        self.parts = torch.nn.ModuleList(interfaces)
        self.sizes = [len(i.input_names) for i in interfaces]
        self.input_names = [f"m{j}_{name}" for j, i in enumerate(interfaces) for name in i.input_names]
        self.output_names = [f"m{j}_{name}" for j, i in enumerate(interfaces) for name in i.output_names]

    def forward(self, *xs):
        out, start = [], 0
        for part, size in zip(self.parts, self.sizes, strict=True):
            out += part(*xs[start : start + size])
            start += size
        return tuple(out)


def _inputs(interfaces, batch):
    generator = torch.Generator().manual_seed(batch)
    xs = []
    for interface in interfaces:
        n = interface.module.group.n
        for _ in range(interface.dict_inputs):
            xs += [torch.randn((batch, c) + (n,) * k, generator=generator) for k, c in interface.in_type.items()]
    return tuple(xs)


@pytest.fixture(scope="module")
def bundle():
    return Bundle(_modules())


def test_every_module_kind_and_family_is_bundled(bundle):
    kinds = {type(part.module).__name__ for part in bundle.parts}
    assert kinds == {
        "EquivariantMLP",
        "TypedLinear",
        "TypedBilinear",
        "GatedNonlinearity",
        "NormNonlinearity",
        "PointwiseNonlinearity",
        "InvariantPooling",
    }
    families = {type(part.module.group).__name__ for part in bundle.parts if type(part.module) is EquivariantMLP}
    assert len(families) == 6


@pytest.fixture(scope="module")
def small_bundle(bundle):
    """The dynamo exporter spends ~10 ms per graph node under symbolic shapes, so it sees every
    module kind but the networks of three families only: S (diagonals), SO(2, 1) (η and the
    Levi-Civita contraction), Sp (J). The TorchScript test below covers all six."""
    keep = ("S", "IndefiniteSpecialOrthogonal", "Sp")
    return Bundle(
        [p for p in bundle.parts if type(p.module) is not EquivariantMLP or type(p.module.group).__name__ in keep]
    )


@pytest.fixture(scope="module")
def program(small_bundle):
    """``torch.export`` with a dynamic batch; the dynamo ONNX exporter translates this program."""
    xs = _inputs(small_bundle.parts, 2)
    batch = torch.export.Dim("batch")
    return torch.export.export(small_bundle, xs, dynamic_shapes=(tuple({0: batch} for _ in xs),))


def test_onnx_dynamo_exporter_dynamic_batch(small_bundle, program):
    assert len(small_bundle.parts) == 9
    onnx_program = torch.onnx.export(
        program,
        dynamo=True,
        optimize=False,
        input_names=small_bundle.input_names,
        output_names=small_bundle.output_names,
    )
    other = _inputs(small_bundle.parts, 5)
    actual = run_onnx(onnx_program.model_proto.SerializeToString(), other)
    assert relative_error(actual, small_bundle(*other)) <= 1e-5


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_onnx_torchscript_exporter_dynamic_batch(bundle):
    xs = _inputs(bundle.parts, 2)
    buffer = io.BytesIO()
    names = bundle.input_names + bundle.output_names
    torch.onnx.export(
        bundle,
        xs,
        buffer,
        dynamo=False,
        input_names=bundle.input_names,
        output_names=bundle.output_names,
        dynamic_axes={name: {0: "batch"} for name in names},
    )
    other = _inputs(bundle.parts, 5)
    actual = run_onnx(buffer.getvalue(), other)
    assert relative_error(actual, bundle(*other)) <= 1e-5


def test_torch_export_dynamic_batch(small_bundle, program):
    other = _inputs(small_bundle.parts, 5)
    actual = [t.detach().numpy() for t in program.module()(*other)]
    assert relative_error(actual, small_bundle(*other)) <= 1e-6


def test_dict_route_of_the_default_exporter():
    """A dict argument followed by ``{}`` (no keyword arguments) exports the network itself."""
    torch.manual_seed(1)
    model = EquivariantMLP(O(3), {0: 2, 1: 2}, {0: 1, 1: 1}, hidden={0: 4, 1: 2}, **SMALL).eval()
    x = {0: torch.randn(3, 2), 1: torch.randn(3, 2, 3)}
    program = torch.onnx.export(model, (x, {}), dynamo=True)
    session = ort.InferenceSession(program.model_proto.SerializeToString())
    names = [i.name for i in session.get_inputs()]
    assert len(names) == 2
    actual = session.run(None, dict(zip(names, (x[0].numpy(), x[1].numpy()), strict=True)))
    expected = model(x)
    assert relative_error(actual, [expected[0], expected[1]]) <= 1e-5


def test_the_torchscript_exporter_reads_traced_dict_keys():
    """The TorchScript exporter hands dict keys over as 0-d tensors; the network reads them back."""
    model = EquivariantMLP(S(4), {2: 1}, {0: 1}, hidden={0: 4, 2: 2}, **SMALL).eval()
    a = torch.randn(2, 1, 4, 4)
    assert torch.equal(model({torch.tensor(2): a})[0], model({2: a})[0])


def test_tensor_interface_names_arguments_and_errors():
    bilinear = TensorInterface(TypedBilinear(SO(3), {0: 2, 1: 2}, {0: 2, 1: 3}))
    assert bilinear.dict_inputs == 2
    assert bilinear.input_names == ["x_order0", "x_order1", "y_order0", "y_order1"]
    assert bilinear.output_names == ["out_order0", "out_order1"]
    x = {0: torch.randn(3, 2), 1: torch.randn(3, 2, 3)}
    y = {0: torch.randn(3, 2), 1: torch.randn(3, 2, 3)}
    out = bilinear(*bilinear.arguments(x, y))
    expected = bilinear.module(x, y)
    assert all(torch.equal(a, expected[k]) for a, k in zip(out, (0, 1), strict=True))
    with pytest.raises(TypeError, match="takes 4 tensors"):
        bilinear(x[0], x[1])
    with pytest.raises(TypeError, match="takes 2 feature dict"):
        bilinear.arguments(x)
    with pytest.raises(ValueError, match="orders of"):
        bilinear.arguments(x, {1: y[1]})
    with pytest.raises(TypeError, match="in_type and out_type"):
        TensorInterface(torch.nn.Linear(2, 2))
