"""Merges: `add`, `subtract`, `multiply` (a chain of binary ONNX ops, the last one named `id`) and
`concatenate` (Concat on the mapped axis), all in the layout most inputs already have."""

from __future__ import annotations

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import Builder, axis_in
from nnspec.runtime.onnx_emit._registry import emits

BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul"}


@emits(*BINARY)
def emit_elementwise(b: Builder, node: Node) -> None:
    layout = b.natural(node)
    xs = [b.read(node, p, layout) for p in range(b.inputs(node))]
    y = xs[0]
    for k, x in enumerate(xs[1:], start=1):
        y = b.add(BINARY[node.op], [y, x], name=node.id if k == len(xs) - 1 else f"{node.id}/{k}")
    b.write(node, y, layout)


@emits("concatenate")
def emit_concatenate(b: Builder, node: Node) -> None:
    layout = b.natural(node)
    xs = [b.read(node, p, layout) for p in range(b.inputs(node))]
    axis = axis_in(layout, len(node.out.shape), node.spec.axis)
    b.write(node, b.add("Concat", xs, name=node.id, axis=axis), layout)
