"""`prelu`: leaky ReLU with a learned slope per element (lowers to `keras.layers.PReLU`).

Keras computes it as `relu(x) - alpha * relu(-x)`, so the ONNX graph has Relu and Mul rather than PRelu.
"""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, TensorType, card
from nnspec.specs.base import LayerSpec, PositiveInt


def _shape(spec: PReLU, x: Shape) -> Shape:
    for axis in spec.shared_axes or []:
        if axis >= len(x):
            raise ShapeError(f"shared axis {axis} does not exist in a rank-{len(x)} input")
    return x


def _params(spec: PReLU, x: TensorType) -> int:
    shared = set(spec.shared_axes or [])
    n = 1
    for axis, d in enumerate(x.shape[1:], start=1):
        n *= 1 if axis in shared else d
    return n


@card(infer_shape=_shape, count_params=_params, channels="passthrough", onnx_ops=("Relu", "Mul"),
      keras=KerasMapping("PReLU", lambda s: dict(shared_axes=list(s.shared_axes) if s.shared_axes else None)),
      examples=(Example({}, inputs=((6,),)), Example({"shared_axes": [1, 2]}, inputs=((4, 4, 3),))))
class PReLU(LayerSpec):
    """`x` where positive, `alpha * x` elsewhere, with `alpha` learned (He et al. 2015).

    Example:
        `{op: prelu, shared_axes: [1, 2]}` learns one slope per channel of an image.
    """

    op: Literal["prelu"] = "prelu"
    shared_axes: list[PositiveInt] | None = None
    """Axes (1 = first axis after the batch) along which one slope is shared. Defaults to none: a slope per
    element."""
