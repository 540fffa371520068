"""`instance_norm`: instance normalization (lowers to nnspec's `InstanceNormalization`, Keras's
`GroupNormalization` with `groups=-1`: one group per channel)."""

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
from nnspec.layers._shapes import require_known
from nnspec.specs.base import LayerSpec


def _shape(spec: InstanceNormalization, x: Shape) -> Shape:
    if len(x) < 3:
        raise ShapeError(f"expects an input with at least one spatial axis, e.g. (batch, height, width, "
                         f"channels), got rank {len(x)}. Use layer_norm or batch_norm on feature vectors")
    require_known(x[-1], "number of channels")
    return x


def _params(spec: InstanceNormalization, x: TensorType) -> int:
    return x.shape[-1] * (spec.center + spec.scale)


def _flops(spec: InstanceNormalization, out: TensorType, x: TensorType) -> int:
    # Per element: sum for the mean, subtract it, square, sum for the variance, divide; gamma, beta.
    return elements(out.shape) * (5 + spec.center + spec.scale)


def _kwargs(spec: InstanceNormalization) -> dict:
    return {"epsilon": spec.epsilon, "center": spec.center, "scale": spec.scale}


@card(infer_shape=_shape, count_params=_params, count_flops=_flops,
      keras=KerasMapping("nnspec.runtime.custom_layers.instance_normalization:InstanceNormalization",
                         _kwargs),
      onnx_ops=("Reshape", "Sqrt", "Reciprocal"), channels="passthrough",
      examples=(Example({}, inputs=((8, 8, 4),)),
                Example({"epsilon": 1e-3, "center": False, "scale": False}, inputs=((6, 5, 3),)),
                Example({"scale": False}, inputs=((7, 3),)),
                Example({"center": False}, inputs=((4, 5, 6, 2),))))
class InstanceNormalization(LayerSpec):
    """Normalize each example's channels separately over their spatial axes (Ulyanov, Vedaldi & Lempitsky
    2016), as in style transfer and CycleGAN; the channel axis is the last one.

    Example:
        `{op: instance_norm, center: false, scale: false}` is PyTorch's `InstanceNorm2d()` (no affine).
    """

    op: Literal["instance_norm"] = "instance_norm"
    epsilon: Annotated[float, Field(gt=0.0)] = 1e-5
    """Added to the variance to avoid dividing by zero. Defaults to `1e-05` (PyTorch's)."""
    center: bool = True
    """Learn an offset `beta` per channel. Defaults to `true`."""
    scale: bool = True
    """Learn a scale `gamma` per channel. Defaults to `true`."""
