"""`depthwise_conv2d`: one 2-D filter per input channel, no channel mixing.

Lowers to `keras.layers.DepthwiseConv2D`, exports as ONNX Conv with `group` = channels.
"""

from __future__ import annotations

import math
from typing import Literal

from nnspec.layers._depthwise import depthwise_kwargs, depthwise_spatial, depthwise_weights
from nnspec.layers._registry import Example, KerasMapping, Shape, TensorType, card, elements
from nnspec.specs.base import Activation, LayerSpec, Padding, PositiveInt, Size2D, ntuple


def _shape(spec: DepthwiseConv2D, x: Shape) -> Shape:
    return (x[0], *depthwise_spatial(spec, x), x[-1] * spec.depth_multiplier)


def _params(spec: DepthwiseConv2D, x: TensorType) -> int:
    bias = x.shape[-1] * spec.depth_multiplier if spec.use_bias else 0
    return depthwise_weights(spec, x.shape[-1]) + bias


def _flops(spec: DepthwiseConv2D, out: TensorType, x: TensorType) -> int:
    return 2 * elements(out.shape) * math.prod(ntuple(spec.kernel_size, 2))


# Channel c of the input becomes output channels c*m ... c*m+m-1 (m = depth_multiplier): pruning an
# input channel prunes its group, so channels pass through (one to one when m = 1).
@card(
    infer_shape=_shape,
    count_params=_params,
    count_flops=_flops,
    onnx_ops=("Conv",),
    keras=KerasMapping("DepthwiseConv2D", depthwise_kwargs),
    channels="passthrough",
    examples=(
        Example({}),
        Example(
            {"kernel_size": [3, 5], "strides": 2, "padding": "same", "depth_multiplier": 2},
            inputs=((9, 11, 4),),
        ),
        Example(
            {"kernel_size": 3, "dilation_rate": 2, "use_bias": False, "activation": "relu6"},
            inputs=((10, 10, 6),),
        ),
    ),
)
class DepthwiseConv2D(LayerSpec):
    """Depthwise 2-D convolution: each input channel is convolved with its own filter(s).

    The spatial half of a depthwise-separable convolution (MobileNet, Xception, EfficientNet);
    follow it with a 1x1 `conv2d` to mix channels, or use `separable_conv2d` for both.

    Example:
        `{op: depthwise_conv2d, kernel_size: 3, strides: 2, padding: same}`
    """

    op: Literal["depthwise_conv2d"] = "depthwise_conv2d"
    kernel_size: Size2D = 3
    """Window size, one int or `[height, width]`. Defaults to `3`."""
    strides: Size2D = 1
    """Step of the window. Defaults to `1`."""
    padding: Padding = "valid"
    """`valid` (no padding, the output shrinks) or `same` (zero-pad so stride 1 keeps the size).
    Defaults to `valid`."""
    depth_multiplier: PositiveInt = 1
    """Filters per input channel: the output has `channels * depth_multiplier` channels.
    Defaults to `1`."""
    dilation_rate: Size2D = 1
    """Spacing between kernel taps (atrous convolution). Defaults to `1`."""
    use_bias: bool = True
    """Add a learned bias per output channel. Defaults to `true`."""
    activation: Activation | None = None
    """Activation applied to the output. Defaults to none."""
