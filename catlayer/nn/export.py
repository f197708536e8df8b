"""Export a catlayer module to plain torch.

:func:`export_program` is ``torch.export`` with a dynamic batch axis. :func:`plain_module` turns
the exported graph (aten ops only) into a ``torch.fx.GraphModule`` whose root is a bare
``torch.nn.Module`` holding the parameters and tables: every class involved lives in torch, so
running or unpickling it needs no catlayer import.
"""

from __future__ import annotations

import copy
import operator

import torch
from torch.export.graph_signature import InputKind

__all__ = ["export_program", "plain_module"]


def export_program(
    layer: torch.nn.Module, example_input: torch.Tensor | None = None, *, dynamic_batch: bool = True
) -> torch.export.ExportedProgram:
    """``torch.export`` of ``layer`` (a frozen copy in eval mode) on an example input, with the
    batch axis (axis 0) dynamic unless ``dynamic_batch=False``. Save the result with
    ``torch.export.save``.

    ``example_input`` defaults to a batch of 2 zero tensors of the layer's input shape (read off
    its ``in_channels``, ``in_order`` and ``n``; a layer of ``S()`` has no fixed size, so it needs
    an example input).

    >>> from catlayer import O, S
    >>> from catlayer.nn import EquivariantLinear
    >>> layer = EquivariantLinear(S(3) * O(2), (1, 1), (1, 1), in_channels=2, out_channels=1)
    >>> tuple(export_program(layer).example_inputs[0][0].shape)   # one axis of each factor
    (2, 2, 3, 2)
    >>> export_program(EquivariantLinear(S(), 1, 1, in_channels=2, out_channels=1))
    Traceback (most recent call last):
    ...
    ValueError: pass example_input: in_channels=2, in_order=1 and n=None of EquivariantLinear do not fix \
its input shape (a layer of S() has no fixed n)
    """
    if example_input is None:
        example_input = _example_input(layer)
    if example_input.dim() < 2:
        raise ValueError(f"the example input needs a batch axis, got shape {tuple(example_input.shape)}")
    model = copy.deepcopy(layer).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    dynamic_shapes = ({0: torch.export.Dim("batch")},) if dynamic_batch else None
    return torch.export.export(model, (example_input,), dynamic_shapes=dynamic_shapes)


def _example_input(layer: torch.nn.Module) -> torch.Tensor:
    """A batch of 2 zero tensors of the shape (batch, in_channels) + input axes of a catlayer layer
    on plain tensors, in its parameters' dtype and device; a product group's layer has one order
    and one size per factor."""
    channels = getattr(layer, "in_channels", None)
    n, order = getattr(layer, "n", None), getattr(layer, "in_order", None)
    sizes, orders = (n, order) if isinstance(n, tuple) else ((n,), (order,))
    if (
        not isinstance(channels, int)
        or not isinstance(orders, tuple)
        or len(sizes) != len(orders)
        or not all(isinstance(v, int) for v in (*sizes, *orders))
    ):
        raise ValueError(
            f"pass example_input: in_channels={channels!r}, in_order={order!r} and n={n!r} of "
            f"{type(layer).__name__} do not fix its input shape (a layer of S() has no fixed n)"
        )
    shape = (2, channels, *(size for size, a in zip(sizes, orders, strict=True) for _ in range(a)))
    weight = next(layer.parameters())
    return torch.zeros(shape, dtype=weight.dtype, device=weight.device)


def _reads_size(node: torch.fx.Node) -> bool:
    """Whether an argument of ``node`` is a symbolic size (e.g. the batch size)."""
    found = []
    torch.fx.map_arg((node.args, node.kwargs), lambda old: found.append(isinstance(old.meta.get("val"), torch.SymInt)))
    return any(found)


def _as_method(target: object) -> str | None:
    """The ``torch.Tensor`` method of an aten op that takes sizes (reshape, expand, ...), if any."""
    if not isinstance(target, torch._ops.OpOverload):
        return None
    name = target.overloadpacket.__name__
    return name if target._overloadname == "default" and hasattr(torch.Tensor, name) else None


def _guard_shape(graph: torch.fx.Graph, placeholder: torch.fx.Node, node: torch.fx.Node) -> None:
    """Refuse inputs whose fixed sizes differ from the exported ones (``torch.export`` keeps these
    checks outside its graph, so a bare graph would compute numbers for any size): one
    ``torch._assert`` per static axis, and one on the number of axes. Dynamic axes (the batch, or
    the size of ``S()``) are not checked."""
    value = node.meta.get("val")
    if not isinstance(value, torch.Tensor):
        return
    rank = graph.call_method("dim", (placeholder,))
    ok = graph.call_function(operator.eq, (rank, value.dim()))
    graph.call_function(torch._assert, (ok, f"{node.name} must have {value.dim()} axes"))
    for axis, size in enumerate(value.shape):
        if isinstance(size, int):
            got = graph.call_method("size", (placeholder, axis))
            ok = graph.call_function(operator.eq, (got, size))
            graph.call_function(torch._assert, (ok, f"axis {axis} of {node.name} must have size {size}"))


def plain_module(program: torch.export.ExportedProgram) -> torch.fx.GraphModule:
    """The graph of ``program`` as a picklable ``torch.fx.GraphModule`` with one tensor input
    and one tensor output; parameters, buffers and constants become frozen attributes. Symbolic
    sizes become ``Tensor.size`` calls, so the module traces (``torch.jit.trace``, the
    TorchScript ONNX exporter) with a dynamic batch axis."""
    root = torch.nn.Module()
    graph = torch.fx.Graph()
    env: dict[torch.fx.Node, torch.fx.Node] = {}
    specs = {spec.arg.name: spec for spec in program.graph_signature.input_specs}
    for node in program.graph_module.graph.nodes:
        if node.op == "placeholder":
            spec = specs[node.name]
            if spec.kind == InputKind.USER_INPUT:
                env[node] = graph.placeholder(node.name)
                _guard_shape(graph, env[node], node)
                continue
            if spec.kind == InputKind.PARAMETER or (spec.kind == InputKind.BUFFER and spec.persistent):
                tensor = program.state_dict[spec.target]
            else:
                tensor = program.constants[spec.target]
            name = spec.target.replace(".", "_")
            if spec.kind == InputKind.PARAMETER:
                root.register_parameter(name, torch.nn.Parameter(tensor.detach().clone(), requires_grad=False))
            else:
                root.register_buffer(name, tensor.detach().clone())
            env[node] = graph.get_attr(name)
        elif node.op == "output":
            outputs = node.args[0]
            graph.output(env[outputs[0]] if len(outputs) == 1 else tuple(env[o] for o in outputs))
        elif node.op == "call_function" and node.target is torch.ops.aten.sym_size.int:
            # Method calls, so that tracing the module (the TorchScript ONNX exporter) records
            # sizes and the ops that use them, instead of baking the example's batch size in.
            env[node] = graph.call_method("size", (env[node.args[0]], node.args[1]))
        elif node.op == "call_function" and _reads_size(node) and (method := _as_method(node.target)):
            args, kwargs = torch.fx.map_arg((node.args, node.kwargs), lambda old: env[old])
            env[node] = graph.call_method(method, args, kwargs)
        else:
            env[node] = graph.node_copy(node, lambda old: env[old])
    module = torch.fx.GraphModule(root, graph)
    module.eval()
    return module
