"""`cropping2d`: remove rows and columns at the edges of each image.

Lowers to `keras.layers.Cropping2D`, exports as ONNX Slice.
"""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pad2d import Margins2D, margins
from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card
from nnspec.layers._shapes import require_rank
from nnspec.specs.base import LayerSpec


def _cropped(length: int | None, before: int, after: int, axis: str) -> int | None:
    if length is None:
        return None
    if before + after >= length:
        lines = "rows" if axis == "height" else "columns"
        raise ShapeError(
            f"crops {before} + {after} {lines} off a {axis} of {length}, leaving nothing. "
            f"Crop fewer than {length} {lines} in total"
        )
    return length - before - after


def _shape(spec: Cropping2D, x: Shape) -> Shape:
    require_rank(x, 4, spec.op, "Crop images of shape (height, width, channels)")
    (top, bottom), (left, right) = margins(spec.cropping)
    return (x[0], _cropped(x[1], top, bottom, "height"), _cropped(x[2], left, right, "width"), x[3])


@card(
    infer_shape=_shape,
    count_flops=lambda s, out, x: 0,
    output_dtype=None,
    input_dtype="any",
    keras=KerasMapping("Cropping2D", lambda s: dict(cropping=margins(s.cropping))),
    onnx_ops=("Slice",),
    channels="passthrough",
    examples=(
        Example({"cropping": 1}),
        Example({"cropping": [2, 0]}, inputs=((7, 6, 2),)),
        Example({"cropping": [[1, 0], [0, 2]]}, inputs=((4, 5, 1),), dtype="int32"),
    ),
)
class Cropping2D(LayerSpec):
    """Cut rows off the top and bottom and columns off the left and right of each image.

    Example:
        `{op: cropping2d, cropping: [[0, 1], [0, 1]]}` drops the last row and column, e.g. to
        match a skip connection in a U-Net.
    """

    op: Literal["cropping2d"] = "cropping2d"
    cropping: Margins2D = 0
    """Rows/columns to remove: one int for every edge, `[height, width]` (symmetric), or
    `[[top, bottom], [left, right]]`. Defaults to `0`."""
