"""`batch_norm`: batch normalization (lowers to `keras.layers.BatchNormalization`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from nnspec.layers._registry import (
    Example,
    KerasMapping,
    Shape,
    TensorType,
    card,
    elements,
)
from nnspec.layers._shapes import norm_axis, require_known
from nnspec.specs.base import LayerSpec


def _shape(spec: BatchNormalization, x: Shape) -> Shape:
    require_known(x[norm_axis(spec.axis, x)], f"size of the normalized axis {spec.axis}")
    return x


def _channels(spec: BatchNormalization, x: TensorType) -> int:
    return x.shape[norm_axis(spec.axis, x.shape)]


def _params(spec: BatchNormalization, x: TensorType) -> int:
    return _channels(spec, x) * (2 + spec.center + spec.scale)


def _trainable(spec: BatchNormalization, x: TensorType) -> int:
    # The moving mean and variance are weights, but not trainable ones.
    return _channels(spec, x) * (spec.center + spec.scale)


def _flops(spec: BatchNormalization, out: TensorType, x: TensorType) -> int:
    return 2 * elements(out.shape)  # at inference, one multiply and one add per element


def _kwargs(spec: BatchNormalization) -> dict:
    return dict(axis=spec.axis, momentum=spec.momentum, epsilon=spec.epsilon, center=spec.center,
                scale=spec.scale, synchronized=spec.synchronized)


@card(infer_shape=_shape, count_params=_params, count_trainable=_trainable, count_flops=_flops,
      keras=KerasMapping("BatchNormalization", _kwargs), onnx_ops=("Mul", "Add"),
      channels="passthrough",
      examples=(Example({}),
                Example({"momentum": 0.9, "epsilon": 1e-5, "center": False}, inputs=((5, 4),)),
                Example({"axis": 1, "scale": False}, inputs=((3, 6, 6),)),
                Example({"synchronized": True}, inputs=((4, 4, 2),))))
class BatchNormalization(LayerSpec):
    """Normalize each channel with batch statistics in training and moving averages at inference.

    Example:
        `{op: batch_norm}` after a conv, before its activation.
    """

    op: Literal["batch_norm"] = "batch_norm"
    axis: int = -1
    """The channel axis (1 = first axis after the batch; -1 = last, for NHWC). Defaults to `-1`."""
    momentum: Annotated[float, Field(ge=0.0, le=1.0)] = 0.99
    """Weight of the old value in the moving mean and variance updates. Defaults to `0.99`."""
    epsilon: Annotated[float, Field(gt=0.0)] = 1e-3
    """Added to the variance to avoid dividing by zero. Defaults to `0.001`."""
    center: bool = True
    """Learn an offset `beta` per channel. Defaults to `true`."""
    scale: bool = True
    """Learn a scale `gamma` per channel (may be off when the next layer scales anyway, e.g. a
    conv, even after a ReLU). Defaults to `true`."""
    synchronized: bool = False
    """Under data-parallel training (`train.distribute`), compute the batch statistics over the whole global
    batch, across replicas, rather than per replica: training then matches one device. Defaults to `false`."""
