"""`layer_norm`: layer normalization (lowers to `keras.layers.LayerNormalization`)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator

from nnspec.layers._registry import (
    Example,
    KerasMapping,
    Shape,
    ShapeError,
    TensorType,
    card,
    elements,
)
from nnspec.layers._shapes import norm_axis, require_known
from nnspec.specs.base import LayerSpec


def _axes(spec: LayerNormalization, x: Shape) -> list[int]:
    axes = [norm_axis(a, x) for a in ([spec.axis] if isinstance(spec.axis, int) else spec.axis)]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"axis {spec.axis} names the same axis twice. List each axis once")
    return axes


def _shape(spec: LayerNormalization, x: Shape) -> Shape:
    for a in _axes(spec, x):
        require_known(x[a], f"size of the normalized axis {a}")
    return x


def _params(spec: LayerNormalization, x: TensorType) -> int:
    size = math.prod(x.shape[a] for a in _axes(spec, x.shape))
    return size * (spec.center + spec.scale)


def _flops(spec: LayerNormalization, out: TensorType, x: TensorType) -> int:
    # Per element: sum for the mean, subtract it, square, sum for the variance, divide; gamma, beta.
    return elements(out.shape) * (5 + spec.center + spec.scale)


def _kwargs(spec: LayerNormalization) -> dict:
    return dict(axis=spec.axis, epsilon=spec.epsilon, center=spec.center, scale=spec.scale)


@card(infer_shape=_shape, count_params=_params, count_flops=_flops,
      keras=KerasMapping("LayerNormalization", _kwargs), onnx_ops=("Sqrt", "Reciprocal"),
      channels="opaque",
      examples=(Example({}, inputs=((5, 8),)),
                Example({"axis": [1, 2], "epsilon": 1e-6}, inputs=((4, 4, 3),)),
                Example({"center": False, "scale": False}, inputs=((6,),))))
class LayerNormalization(LayerSpec):
    """Normalize each example over its feature axes (Transformers' norm; batch-size independent).

    Example:
        `{op: layer_norm, epsilon: 1.0e-6}`
    """

    op: Literal["layer_norm"] = "layer_norm"
    axis: int | list[int] = -1
    """The axis or axes normalized over, each element with its own learned scale and offset
    (1 = first axis after the batch; -1 = last). Defaults to `-1`."""
    epsilon: Annotated[float, Field(gt=0.0)] = 1e-3
    """Added to the variance to avoid dividing by zero. Defaults to `0.001`."""
    center: bool = True
    """Learn an offset `beta`. Defaults to `true`."""
    scale: bool = True
    """Learn a scale `gamma`. Defaults to `true`."""

    @field_validator("axis")
    @classmethod
    def _axes_not_empty(cls, value):
        if isinstance(value, list) and not value:
            raise ValueError("axis needs at least one axis")
        return value
