"""`dense`: MatMul on the last axis (`id`), bias Add (`id/bias`), activation; reads its input channels-last."""

from __future__ import annotations

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import LAST, Builder
from nnspec.runtime.onnx_emit._registry import emits
from nnspec.runtime.onnx_emit.activations import activation


@emits("dense")
def emit_dense(b: Builder, node: Node) -> None:
    spec = node.spec
    kernel = b.param(node, "kernel", lambda: b.weight(node, "kernel"))
    y = b.add("MatMul", [b.read(node, 0, LAST), kernel], name=node.id)
    if spec.use_bias:
        y = b.add("Add", [y, b.param(node, "bias", lambda: b.weight(node, "bias"))], name=f"{node.id}/bias")
    b.write(node, activation(b, node, y, spec.activation, LAST, name=f"{node.id}/{spec.activation}"), LAST)
