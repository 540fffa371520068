"""`upsampling2d` as ONNX Resize: `nearest` repeats pixels (asymmetric coordinates, floor), `bilinear` is
TensorFlow's `tf.image.resize` (half-pixel centers, no antialiasing when enlarging)."""

from __future__ import annotations

import numpy as np

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import Builder, axis_in
from nnspec.runtime.onnx_emit._registry import emits
from nnspec.specs.base import ntuple


@emits("upsampling2d")
def emit_upsampling(b: Builder, node: Node) -> None:
    layout = b.natural(node)
    scales = [1.0] * 4
    for axis, factor in zip((1, 2), ntuple(node.spec.size, 2)):
        scales[axis_in(layout, 4, axis)] = float(factor)
    if node.spec.interpolation == "nearest":
        mode = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        mode = dict(mode="linear", coordinate_transformation_mode="half_pixel")
    scales_name = b.const(f"{node.id}/scales", scales, np.float32)
    b.write(node, b.add("Resize", [b.read(node, 0, layout), "", scales_name], name=node.id, **mode), layout)
