"""Modules of ``S()`` (and of ``S() * O(3)``) with a mask export with a dynamic batch **and a
dynamic n**, and the exported programs run at another batch size and another n with the numbers
eager computes.

One bundle holds an ``EquivariantLinear(S(), 2, 2)`` (tensor and mask in), and through
:class:`TensorInterface` (``mask=True``) a ``TypedBilinear`` of ``S()``, an ``EquivariantMLP`` of
``S()`` and one of ``S() * O(3)``. All share one batch dimension and one size dimension n. Paths:
``torch.export`` (and its ``plain_module``), the dynamo ONNX exporter on that program, the
TorchScript ONNX exporter with ``dynamic_axes``; both ONNX models run in onnxruntime. The example
is exported at (batch 3, n 5) and run at (batch 4, n 7) with masks that are not prefixes and a
sample with no valid index.

Metric: relative error = max |ours − eager| / max |eager| over all outputs; bounds 1e-5 for ONNX
in float32, 1e-6 for the torch.export module.
"""

import io

import pytest
import torch
from test_nn_export import relative_error, run_onnx  # skips this module too without onnxruntime

from catlayer import O, S
from catlayer.nn import EquivariantLinear, EquivariantMLP, TensorInterface, TypedBilinear
from catlayer.nn.export import plain_module

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

SMALL = {"depth": 1, "product_width": 2}


class Bundle(torch.nn.Module):
    """A masked linear layer and three masked interfaces on one batch and one n; the mask comes
    once, last, and is passed to every part."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = EquivariantLinear(S(), 2, 2, 3, 4)
        modules = [
            TypedBilinear(S(), {1: 2, 2: 2}, {0: 1, 2: 2}),
            EquivariantMLP(S(), {2: 1}, {0: 1, 1: 1}, hidden={0: 4, 1: 2, 2: 2}, **SMALL),
            EquivariantMLP(S() * O(3), {(1, 1): 1}, {(0, 0): 1, (1, 1): 1}, hidden={(0, 0): 4, (1, 1): 2}, **SMALL),
        ]
        for module in [self.linear, *modules]:
            with torch.no_grad():
                for p in module.parameters():
                    p.add_(0.1 * torch.randn_like(p))  # non-zero biases
        self.parts = torch.nn.ModuleList(TensorInterface(m, mask=True) for m in modules)
        self.counts = [len(p.input_names) - 1 for p in self.parts]
        self.eval()

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mask = xs[-1]
        out = [self.linear(xs[0], mask)]
        start = 1
        for part, count in zip(self.parts, self.counts, strict=True):
            out += part(*xs[start : start + count], mask)
            start += count
        return tuple(out)

    def inputs(self, batch: int, n: int, seed: int) -> tuple[torch.Tensor, ...]:
        generator = torch.Generator().manual_seed(seed)
        xs = [torch.randn(batch, 3, n, n, generator=generator)]
        for part in self.parts:
            for _ in range(part.dict_inputs):
                for k, c in part.in_type.items():
                    shape = [n] * (k if isinstance(k, int) else k[0]) + ([] if isinstance(k, int) else [3] * k[1])
                    xs.append(torch.randn(batch, c, *shape, generator=generator))
        mask = torch.rand(batch, n, generator=generator) < 0.7
        mask[0] = False  # a sample with no valid index
        mask[1, 0] = True
        return (*xs, mask)

    def dynamic_shapes(self) -> tuple:
        batch, n = torch.export.Dim("batch", min=2), torch.export.Dim("n", min=2)
        specs = [{0: batch, 2: n, 3: n}]
        for part in self.parts:
            specs += list(part.dynamic_shapes(batch, n)[0][:-1])
        return (tuple([*specs, {0: batch, 1: n}]),)

    def names(self) -> tuple[list[str], list[str]]:
        inputs = ["linear_in"] + [f"m{j}_{x}" for j, p in enumerate(self.parts) for x in p.input_names[:-1]] + ["mask"]
        outputs = ["linear_out"] + [f"m{j}_{y}" for j, p in enumerate(self.parts) for y in p.output_names]
        return inputs, outputs


@pytest.fixture(scope="module")
def bundle():
    return Bundle()


@pytest.fixture(scope="module")
def program(bundle):
    return torch.export.export(bundle, bundle.inputs(3, 5, 0), dynamic_shapes=bundle.dynamic_shapes())


@pytest.fixture(scope="module")
def other(bundle):
    xs = bundle.inputs(4, 7, 1)
    return xs, [y.detach() for y in bundle(*xs)]


def test_outputs_vanish_off_the_mask_and_on_the_empty_sample(bundle, other):
    xs, expected = other
    mask = xs[-1]
    assert torch.all(expected[0][0] == 0) and torch.all(expected[0][:, :, ~mask[1]] == 0)


def test_torch_export_at_another_batch_and_n(program, other):
    xs, expected = other
    assert relative_error([y.detach() for y in program.module()(*xs)], expected) <= 1e-6
    assert relative_error([y.detach() for y in plain_module(program)(*xs)], expected) <= 1e-6


def test_onnx_dynamo_exporter_at_another_batch_and_n(bundle, program, other):
    inputs, outputs = bundle.names()
    onnx_program = torch.onnx.export(program, dynamo=True, optimize=False, input_names=inputs, output_names=outputs)
    xs, expected = other
    assert relative_error(run_onnx(onnx_program.model_proto.SerializeToString(), xs), expected) <= 1e-5


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_onnx_torchscript_exporter_at_another_batch_and_n(bundle, other):
    inputs, outputs = bundle.names()
    axes = {
        "linear_in": {0: "batch", 2: "n", 3: "n"},
        "linear_out": {0: "batch", 2: "n", 3: "n"},
        "mask": {0: "batch", 1: "n"},
    }
    for j, part in enumerate(bundle.parts):
        for name, spec in part.dynamic_axes().items():
            if name != "mask":
                axes[f"m{j}_{name}"] = spec
    buffer = io.BytesIO()
    example = bundle.inputs(3, 5, 0)
    torch.onnx.export(
        bundle, example, buffer, dynamo=False, input_names=inputs, output_names=outputs, dynamic_axes=axes
    )
    xs, expected = other
    assert relative_error(run_onnx(buffer.getvalue(), xs), expected) <= 1e-5
