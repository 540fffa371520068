"""`matmul`: a batched MatMul of the two channels-last inputs, each optionally transposed first
(`id/transpose_a`, `id/transpose_b`)."""

from __future__ import annotations

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import LAST, Builder
from nnspec.runtime.onnx_emit._registry import emits


@emits("matmul")
def emit_matmul(b: Builder, node: Node) -> None:
    xs = []
    for port, (flag, side) in enumerate(
        ((node.spec.transpose_a, "a"), (node.spec.transpose_b, "b"))
    ):
        x = b.read(node, port, LAST)
        xs.append(
            b.add("Transpose", [x], name=f"{node.id}/transpose_{side}", perm=[0, 2, 1])
            if flag
            else x
        )
    b.write(node, b.add("MatMul", xs, name=node.id), LAST)
