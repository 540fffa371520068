"""`batch_norm` at inference: `x * scale + shift` (Mul `id`, Add `id/shift`) in whatever layout its input has.

`scale = gamma / sqrt(moving_variance + epsilon)` and `shift = beta - moving_mean * scale`, computed in float64
once here; this is the form Keras's TensorFlow backend runs (`tf.nn.batch_normalization`), and onnxruntime
fuses the pair into a preceding Conv.
"""

from __future__ import annotations

import numpy as np

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import Builder, axis_in
from nnspec.runtime.onnx_emit._registry import emits


@emits("batch_norm")
def emit_batch_norm(b: Builder, node: Node) -> None:
    spec = node.spec
    layout = b.natural(node)
    rank = len(node.out.shape)
    mean = b.weight(node, "moving_mean").astype(np.float64)
    scale = 1.0 / np.sqrt(b.weight(node, "moving_variance").astype(np.float64) + spec.epsilon)
    if spec.scale:
        scale = scale * b.weight(node, "gamma")
    shift = -mean * scale + (b.weight(node, "beta") if spec.center else 0.0)
    # Broadcast along the normalized axis: shape (C, 1, ..., 1) up to the last axis. The layout may differ
    # between weight-sharing twins, so the key names it.
    shape = (-1,) + (1,) * (rank - 1 - axis_in(layout, rank, spec.axis))
    y = b.add("Mul", [b.read(node, 0, layout), b.param(node, f"scale_{layout}", lambda: scale.reshape(shape))],
              name=node.id)
    shift_name = b.param(node, f"shift_{layout}", lambda: shift.reshape(shape))
    b.write(node, b.add("Add", [y, shift_name], name=f"{node.id}/shift"), layout)
