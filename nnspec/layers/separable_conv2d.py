"""`separable_conv2d`: depthwise 2-D convolution followed by a 1x1 pointwise convolution.

Lowers to `keras.layers.SeparableConv2D`, exports as two ONNX Conv nodes (grouped, then 1x1).
"""

from __future__ import annotations

from typing import Literal

from nnspec.layers._depthwise import depthwise_kwargs, depthwise_spatial, depthwise_weights
from nnspec.layers._registry import Example, KerasMapping, Shape, TensorType, card, elements
from nnspec.specs.base import Activation, LayerSpec, Padding, PositiveInt, Size2D


def _shape(spec: SeparableConv2D, x: Shape) -> Shape:
    return (x[0], *depthwise_spatial(spec, x), spec.filters)


def _params(spec: SeparableConv2D, x: TensorType) -> int:
    pointwise = x.shape[-1] * spec.depth_multiplier * spec.filters
    bias = spec.filters if spec.use_bias else 0
    return depthwise_weights(spec, x.shape[-1]) + pointwise + bias


def _flops(spec: SeparableConv2D, out: TensorType, x: TensorType) -> int:
    positions = elements(out.shape[:-1])
    depthwise = 2 * positions * depthwise_weights(spec, x.shape[-1])
    pointwise = 2 * positions * x.shape[-1] * spec.depth_multiplier * spec.filters
    return depthwise + pointwise


def _kwargs(spec: SeparableConv2D) -> dict:
    return dict(filters=spec.filters, **depthwise_kwargs(spec))


@card(
    infer_shape=_shape,
    count_params=_params,
    count_flops=_flops,
    onnx_ops=("Conv",),
    keras=KerasMapping("SeparableConv2D", _kwargs),
    channels="produce",
    examples=(
        Example({"filters": 8}),
        Example(
            {
                "filters": 4,
                "kernel_size": [3, 5],
                "strides": 2,
                "padding": "same",
                "depth_multiplier": 2,
            },
            inputs=((9, 11, 3),),
        ),
        Example(
            {"filters": 6, "dilation_rate": 2, "use_bias": False, "activation": "relu"},
            inputs=((10, 10, 4),),
        ),
    ),
)
class SeparableConv2D(LayerSpec):
    """Depthwise-separable 2-D convolution: a per-channel spatial filter, then a 1x1 channel mix.

    Far fewer weights and FLOPs than a `conv2d` of the same size (Xception, MobileNet).

    Example:
        `{op: separable_conv2d, filters: 64, kernel_size: 3, padding: same, activation: relu}`
    """

    op: Literal["separable_conv2d"] = "separable_conv2d"
    filters: PositiveInt
    """Number of output channels (of the pointwise step)."""
    kernel_size: Size2D = 3
    """Window size of the depthwise step, one int or `[height, width]`. Defaults to `3`."""
    strides: Size2D = 1
    """Step of the window. Defaults to `1`."""
    padding: Padding = "valid"
    """`valid` (no padding, the output shrinks) or `same` (zero-pad so stride 1 keeps the size).
    Defaults to `valid`."""
    depth_multiplier: PositiveInt = 1
    """Depthwise filters per input channel, i.e. the pointwise step reads
    `channels * depth_multiplier` channels. Defaults to `1`."""
    dilation_rate: Size2D = 1
    """Spacing between kernel taps (atrous convolution). Defaults to `1`."""
    use_bias: bool = True
    """Add a learned bias per output channel. Defaults to `true`."""
    activation: Activation | None = None
    """Activation applied to the output. Defaults to none."""
