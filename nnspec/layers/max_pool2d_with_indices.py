"""`max_pool2d_with_indices`: 2D max pooling that also says where each maximum came from, for a decoder that
unpools by those positions (`max_unpool2d`, SegNet's decoder).

Two outputs: `output` (the pooled values, as `max_pool2d` gives them) and `indices` (int64, same shape): the
position of each maximum in its own example's input, flattened channels-last, `(y * width + x) * channels + c`
(TensorFlow's `max_pool_with_argmax` with `include_batch_in_index=False`; the batch is not counted in).
Lowers to nnspec's `MaxPooling2DWithIndices`; exports as ONNX MaxPool with its `Indices` output.
"""

from __future__ import annotations

import math
from typing import Literal

from nnspec.layers._pool import pool_out_len
from nnspec.layers._registry import Example, KerasMapping, Shape, TensorType, card, elements
from nnspec.layers._shapes import require_rank
from nnspec.specs.base import LayerSpec, Padding, Size2D, ntuple

OUTPUTS = ("output", "indices")


def _shape(spec: MaxPooling2DWithIndices, x: Shape) -> tuple[TensorType, TensorType]:
    require_rank(x, 4, spec.op, "Pool images of shape (height, width, channels)")
    pool = ntuple(spec.pool_size, 2)
    strides = pool if spec.strides is None else ntuple(spec.strides, 2)
    height, width = (pool_out_len(x[1 + i], pool[i], strides[i], spec.padding, axis)
                     for i, axis in enumerate(("height", "width")))
    out = (x[0], height, width, x[3])
    return TensorType(out, "float32"), TensorType(out, "int64")


def _flops(spec: MaxPooling2DWithIndices, out: TensorType, x: TensorType) -> int:
    """One comparison per window tap of every output element (as `max_pool2d`); recording the index is free."""
    return elements(out.shape) * math.prod(ntuple(spec.pool_size, 2))


def _kwargs(spec: MaxPooling2DWithIndices) -> dict:
    return dict(pool_size=spec.pool_size, strides=spec.strides, padding=spec.padding)


@card(
    infer_shape=_shape,
    count_flops=_flops,
    outputs=lambda s: OUTPUTS,
    keras=KerasMapping("nnspec.runtime.custom_layers.max_pooling_with_indices:MaxPooling2DWithIndices", _kwargs),
    onnx_ops=("MaxPool",),
    channels="passthrough",
    examples=(
        Example({}),
        Example({"pool_size": 3, "strides": 2, "padding": "same"}, inputs=((9, 11, 2),)),
        Example({"pool_size": [2, 3], "padding": "same"}, inputs=((5, 7, 4),)),
    ),
)
class MaxPooling2DWithIndices(LayerSpec):
    """Max pooling that also returns where each maximum was, for unpooling in a decoder (SegNet).

    Outputs `output` (the pooled values; a plain `from: pool` reads them) and `indices` (read as `pool:indices`):
    int64 of the same shape, each the position of its maximum in the example's input, counted channels-last
    without the batch: `(y * width + x) * channels + c`. Feed both to `max_unpool2d` to put the values back.

    Example:
        `{id: pool1, op: max_pool2d_with_indices, pool_size: 2}`, later
        `{op: max_unpool2d, from: [dec1, pool1:indices]}`
    """

    op: Literal["max_pool2d_with_indices"] = "max_pool2d_with_indices"
    pool_size: Size2D = 2
    """Window size, one int or `[height, width]`. Defaults to `2`."""
    strides: Size2D | None = None
    """Step of the window; `null` means the window size (no overlap, what `max_unpool2d` inverts). Defaults to
    `null`."""
    padding: Padding = "valid"
    """`valid` (drop edge positions that do not fill a window) or `same` (pad so the output is
    `ceil(input / strides)`; padding never wins the max). Defaults to `valid`."""
