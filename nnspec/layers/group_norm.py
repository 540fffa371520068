"""`group_norm`: group normalization (lowers to `keras.layers.GroupNormalization`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

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
from nnspec.specs.base import LayerSpec, PositiveInt


def _shape(spec: GroupNormalization, x: Shape) -> Shape:
    channels = require_known(x[norm_axis(spec.axis, x)], "number of channels")
    if channels % spec.groups:
        raise ShapeError(f"needs channels ({channels}) divisible by groups ({spec.groups}). Set "
                         f"groups to a divisor of {channels} ({channels} gives instance "
                         "normalization)")
    return x


def _params(spec: GroupNormalization, x: TensorType) -> int:
    return x.shape[norm_axis(spec.axis, x.shape)] * (spec.center + spec.scale)


def _flops(spec: GroupNormalization, out: TensorType, x: TensorType) -> int:
    # Per element: sum for the mean, subtract it, square, sum for the variance, divide; gamma, beta.
    return elements(out.shape) * (5 + spec.center + spec.scale)


def _kwargs(spec: GroupNormalization) -> dict:
    return dict(groups=spec.groups, axis=spec.axis, epsilon=spec.epsilon, center=spec.center,
                scale=spec.scale)


@card(infer_shape=_shape, count_params=_params, count_flops=_flops,
      keras=KerasMapping("GroupNormalization", _kwargs),
      onnx_ops=("Reshape", "Sqrt", "Reciprocal"), channels="opaque",
      examples=(Example({"groups": 4}, inputs=((8, 8, 8),)),
                Example({"groups": 2, "axis": 1, "epsilon": 1e-5, "center": False},
                        inputs=((6, 5),)),
                Example({"groups": 3, "scale": False}, inputs=((7, 3),))))
class GroupNormalization(LayerSpec):
    """Normalize each example over groups of channels (Wu & He 2018; batch-size independent).

    Example:
        `{op: group_norm, groups: 8}`
    """

    op: Literal["group_norm"] = "group_norm"
    groups: PositiveInt = 32
    """Number of channel groups; must divide the channels. Statistics are per example and group,
    over the group's channels and every other feature axis: `1` group normalizes over all features,
    one group per channel is instance normalization. Defaults to `32`."""
    axis: int = -1
    """The channel axis (1 = first axis after the batch; -1 = last). Defaults to `-1`."""
    epsilon: Annotated[float, Field(gt=0.0)] = 1e-3
    """Added to the variance to avoid dividing by zero. Defaults to `0.001`."""
    center: bool = True
    """Learn an offset `beta` per channel. Defaults to `true`."""
    scale: bool = True
    """Learn a scale `gamma` per channel. Defaults to `true`."""
