"""`reflection_pad2d`: pad each image by mirroring it at its edges.

Lowers to nnspec's `ReflectionPadding2D` (Keras has none), exports as ONNX Pad with `mode="reflect"`.
"""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pad2d import Margins2D, margins
from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card
from nnspec.layers._shapes import require_rank
from nnspec.specs.base import LayerSpec


def _shape(spec: ReflectionPadding2D, x: Shape) -> Shape:
    require_rank(x, 4, spec.op, "Pad images of shape (height, width, channels)")
    out = list(x)
    for axis, name, pads in ((1, "height", margins(spec.padding)[0]), (2, "width", margins(spec.padding)[1])):
        if x[axis] is None:
            continue
        if max(pads) >= x[axis]:
            raise ShapeError(f"needs each {name} pad ({pads[0]}, {pads[1]}) smaller than the {name} "
                             f"({x[axis]}): reflection mirrors the image without repeating its edge. Use "
                             f"a pad of at most {x[axis] - 1}, or zero_padding2d")
        out[axis] = x[axis] + sum(pads)
    return tuple(out)


@card(
    infer_shape=_shape,
    count_flops=lambda s, out, x: 0,
    output_dtype=None,
    keras=KerasMapping("nnspec.runtime.custom_layers.reflection_padding2d:ReflectionPadding2D",
                       lambda s: {"padding": margins(s.padding)}),
    onnx_ops=("Pad",),
    channels="passthrough",
    examples=(
        Example({}),
        Example({"padding": 3}, inputs=((5, 6, 2),)),
        Example({"padding": [2, 0]}, inputs=((5, 6, 2),)),
        Example({"padding": [[1, 2], [0, 3]]}, inputs=((4, 4, 1),)),
    ),
)
class ReflectionPadding2D(LayerSpec):
    """Pad height and width by mirroring each image at its edges (the edge itself is not repeated), as
    before the convolutions of CycleGAN's generator; avoids the dark border zero padding adds.

    Example:
        `{op: reflection_pad2d, padding: 3}` before a 7x7 `valid` conv keeps the size.
    """

    op: Literal["reflection_pad2d"] = "reflection_pad2d"
    padding: Margins2D = 1
    """Rows and columns to add: one int for every edge, `[height, width]` (symmetric), or
    `[[top, bottom], [left, right]]`. Each pad must be smaller than the axis it pads. Defaults to `1`."""
