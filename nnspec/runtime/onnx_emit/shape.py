"""Ops that move elements without computing: `flatten`, `reshape`, `permute` (all on the channels-last tensor,
so element order is Keras's), and `dropout` (the identity at inference: no ONNX node at all)."""

from __future__ import annotations

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import LAST, Builder
from nnspec.runtime.onnx_emit._registry import emits


@emits("flatten")
def emit_flatten(b: Builder, node: Node) -> None:
    x = b.read(node, 0, LAST)
    b.write(node, b.add("Reshape", [x, b.ints(f"{node.id}/shape", [0, -1])], name=node.id), LAST)


@emits("reshape")
def emit_reshape(b: Builder, node: Node) -> None:
    shape = b.ints(f"{node.id}/shape", [0, *node.spec.target_shape])
    b.write(node, b.add("Reshape", [b.read(node, 0, LAST), shape], name=node.id), LAST)


@emits("permute")
def emit_permute(b: Builder, node: Node) -> None:
    b.write(node, b.add("Transpose", [b.read(node, 0, LAST)], name=node.id, perm=[0, *node.spec.dims]), LAST)


@emits("dropout")
def emit_dropout(b: Builder, node: Node) -> None:
    b.alias(node)
