"""Shared rules of the depthwise 2-D convolution cards (`depthwise_conv2d`, `separable_conv2d`).

Both slide one `kernel_size` filter per input channel (times `depth_multiplier`) over height and
width; `separable_conv2d` then mixes the channels with a 1x1 convolution.
"""

from __future__ import annotations

import math

from nnspec.layers._registry import Shape
from nnspec.layers._shapes import conv_out_len, require_known, require_rank
from nnspec.specs.base import ntuple


def depthwise_spatial(spec, x: Shape) -> tuple[int | None, int | None]:
    """Output (height, width) of the depthwise step. Raises `ShapeError`."""
    require_rank(x, 4, spec.op, "Reshape the input, or use conv1d/conv3d for other ranks")
    require_known(x[-1], "number of input channels")
    kernel, strides, dilation = (
        ntuple(v, 2) for v in (spec.kernel_size, spec.strides, spec.dilation_rate)
    )
    return tuple(
        conv_out_len(x[1 + i], kernel[i], strides[i], spec.padding, dilation[i]) for i in range(2)
    )


def depthwise_weights(spec, channels: int) -> int:
    """Weights of the depthwise kernel: one `kernel_size` filter per channel and multiplier."""
    return math.prod(ntuple(spec.kernel_size, 2)) * channels * spec.depth_multiplier


def depthwise_kwargs(spec) -> dict:
    """The Keras arguments both depthwise-based layers take."""
    return dict(
        kernel_size=spec.kernel_size,
        strides=spec.strides,
        padding=spec.padding,
        depth_multiplier=spec.depth_multiplier,
        dilation_rate=spec.dilation_rate,
        use_bias=spec.use_bias,
        activation=spec.activation,
    )
