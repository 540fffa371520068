"""`zero_padding2d`: add rows and columns of zeros around each image.

Lowers to `keras.layers.ZeroPadding2D`, exports as ONNX Pad.
"""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pad2d import Margins2D, margins
from nnspec.layers._registry import Example, KerasMapping, Shape, card
from nnspec.layers._shapes import require_rank
from nnspec.specs.base import LayerSpec


def _shape(spec: ZeroPadding2D, x: Shape) -> Shape:
    require_rank(x, 4, spec.op, "Pad images of shape (height, width, channels)")
    (top, bottom), (left, right) = margins(spec.padding)
    height = None if x[1] is None else x[1] + top + bottom
    width = None if x[2] is None else x[2] + left + right
    return (x[0], height, width, x[3])


@card(
    infer_shape=_shape,
    count_flops=lambda s, out, x: 0,
    output_dtype=None,
    input_dtype="any",
    keras=KerasMapping("ZeroPadding2D", lambda s: dict(padding=margins(s.padding))),
    onnx_ops=("Pad",),
    channels="passthrough",
    examples=(
        Example({}),
        Example({"padding": [2, 0]}, inputs=((5, 6, 2),)),
        Example({"padding": [[1, 2], [0, 3]]}, inputs=((4, 4, 1),), dtype="int32"),
    ),
)
class ZeroPadding2D(LayerSpec):
    """Pad height and width with zeros, e.g. before a `valid` conv or to align two branches.

    Example:
        `{op: zero_padding2d, padding: [[0, 1], [0, 1]]}` adds one row at the bottom and one
        column at the right.
    """

    op: Literal["zero_padding2d"] = "zero_padding2d"
    padding: Margins2D = 1
    """Zeros to add: one int for every edge, `[height, width]` (symmetric), or
    `[[top, bottom], [left, right]]`. Defaults to `1`."""
