"""Image margins: `zero_padding2d` and `reflection_pad2d` as ONNX Pad, `cropping2d` as Slice, in any layout."""

from __future__ import annotations

from nnspec.compiler.ir import Node
from nnspec.layers._pad2d import margins
from nnspec.runtime.onnx_emit._builder import Builder, axis_in
from nnspec.runtime.onnx_emit._registry import emits

BIG = 2**62
"""A Slice end past any axis (for crops of zero at the end)."""


def _pad(b: Builder, node: Node, mode: str) -> None:
    layout = b.natural(node)
    (top, bottom), (left, right) = margins(node.spec.padding)
    begin, end = [0] * 4, [0] * 4
    for axis, (before, after) in ((1, (top, bottom)), (2, (left, right))):
        begin[axis_in(layout, 4, axis)], end[axis_in(layout, 4, axis)] = before, after
    pads = b.ints(f"{node.id}/pads", begin + end)
    b.write(node, b.add("Pad", [b.read(node, 0, layout), pads], name=node.id, mode=mode), layout)


@emits("zero_padding2d")
def emit_zero_padding(b: Builder, node: Node) -> None:
    _pad(b, node, "constant")


@emits("reflection_pad2d")
def emit_reflection_padding(b: Builder, node: Node) -> None:
    _pad(b, node, "reflect")


@emits("cropping2d")
def emit_cropping(b: Builder, node: Node) -> None:
    layout = b.natural(node)
    (top, bottom), (left, right) = margins(node.spec.cropping)
    axes = [axis_in(layout, 4, 1), axis_in(layout, 4, 2)]
    starts = b.ints(f"{node.id}/starts", [top, left])
    ends = b.ints(f"{node.id}/ends", [-bottom if bottom else BIG, -right if right else BIG])
    y = b.add("Slice", [b.read(node, 0, layout), starts, ends, b.ints(f"{node.id}/axes", axes)], name=node.id)
    b.write(node, y, layout)
