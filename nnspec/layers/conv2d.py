"""`conv2d`: 2-D convolution over NHWC input (lowers to `keras.layers.Conv2D`, exports as ONNX Conv)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from nnspec.layers._conv import check_conv_args, conv_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import Activation, LayerSpec, Padding, PositiveInt, Size2D


@card(**conv_rules("Conv2D"), examples=(
    Example({"filters": 8}),
    Example({"filters": 4, "kernel_size": [3, 5], "strides": 2, "padding": "valid"}, inputs=((9, 11, 2),)),
    Example({"filters": 6, "kernel_size": 3, "dilation_rate": 2, "groups": 3, "use_bias": False,
             "activation": "relu"}, inputs=((10, 10, 6),)),
))
class Conv2D(LayerSpec):
    """2-D convolution: `filters` kernels of `kernel_size` slide over height and width.

    Example:
        `{op: conv2d, filters: 32, kernel_size: 3, strides: 2, activation: relu}`
    """

    op: Literal["conv2d"] = "conv2d"
    filters: PositiveInt
    """Number of output channels."""
    kernel_size: Size2D = 3
    """Window size, one int or `[height, width]`. Defaults to `3`."""
    strides: Size2D = 1
    """Step of the window. Defaults to `1`."""
    padding: Padding = "valid"
    """`valid` (no padding, the output shrinks) or `same` (zero-pad so stride 1 keeps the size). Defaults to
    `valid`, like Keras."""
    dilation_rate: Size2D = 1
    """Spacing between kernel taps (atrous convolution). Defaults to `1`."""
    groups: PositiveInt = 1
    """Split input and output channels into this many independent groups. Defaults to `1`."""
    use_bias: bool = True
    """Add a learned bias per output channel. Defaults to `true`."""
    activation: Activation | None = None
    """Activation applied to the output. Defaults to none."""

    @model_validator(mode="after")
    def check_combination(self):
        check_conv_args(self)
        return self
