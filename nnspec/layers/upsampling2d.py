"""`upsampling2d`: repeat or interpolate rows and columns to enlarge each image.

Lowers to `keras.layers.UpSampling2D`.
"""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, TensorType, card, elements
from nnspec.layers._shapes import require_rank
from nnspec.specs.base import LayerSpec, Size2D, ntuple


def _shape(spec: UpSampling2D, x: Shape) -> Shape:
    require_rank(x, 4, spec.op, "Upsample images of shape (height, width, channels)")
    rows, cols = ntuple(spec.size, 2)
    height = None if x[1] is None else x[1] * rows
    width = None if x[2] is None else x[2] * cols
    return (x[0], height, width, x[3])


def _flops(spec: UpSampling2D, out: TensorType, x: TensorType) -> int:
    # Nearest only copies; bilinear is a weighted sum of 4 neighbours per output element.
    return 0 if spec.interpolation == "nearest" else 8 * elements(out.shape)


def _kwargs(spec: UpSampling2D) -> dict:
    return dict(size=spec.size, interpolation=spec.interpolation)


@card(
    infer_shape=_shape,
    count_flops=_flops,
    channels="passthrough",
    keras=KerasMapping("UpSampling2D", _kwargs),
    examples=(
        Example({}),
        Example({"size": [2, 3]}, inputs=((4, 5, 2),)),
        Example({"size": 3, "interpolation": "bilinear"}, inputs=((4, 4, 3),)),
    ),
)
class UpSampling2D(LayerSpec):
    """Enlarge height and width by integer factors, e.g. in a decoder or feature pyramid.

    Example:
        `{op: upsampling2d, size: 2, interpolation: bilinear}`
    """

    op: Literal["upsampling2d"] = "upsampling2d"
    size: Size2D = 2
    """Upsampling factor, one int or `[height, width]`. Defaults to `2`."""
    interpolation: Literal["nearest", "bilinear"] = "nearest"
    """`nearest` (repeat each pixel) or `bilinear` (interpolate between neighbours).
    Defaults to `nearest`."""
