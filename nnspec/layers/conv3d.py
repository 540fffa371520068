"""`conv3d`: 3-D convolution over (depth, height, width, channels) input (lowers to `keras.layers.Conv3D`)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from nnspec.layers._conv import check_conv_args, conv_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import Activation, LayerSpec, Padding, PositiveInt, Size3D


@card(**conv_rules("Conv3D"), examples=(
    Example({"filters": 4}, inputs=((6, 6, 6, 2),)),
    Example({"filters": 4, "kernel_size": [1, 3, 3], "strides": [1, 2, 2], "padding": "same", "groups": 2},
            inputs=((4, 8, 8, 2),)),
))
class Conv3D(LayerSpec):
    """3-D convolution, for volumes and video clips.

    Example:
        `{op: conv3d, filters: 16, kernel_size: [1, 3, 3]}`
    """

    op: Literal["conv3d"] = "conv3d"
    filters: PositiveInt
    """Number of output channels."""
    kernel_size: Size3D = 3
    """Window size, one int or `[depth, height, width]`. Defaults to `3`."""
    strides: Size3D = 1
    """Step of the window. Defaults to `1`."""
    padding: Padding = "valid"
    """`valid` or `same`. Defaults to `valid`."""
    dilation_rate: Size3D = 1
    """Spacing between kernel taps. Defaults to `1`."""
    groups: PositiveInt = 1
    """Number of independent channel groups. Defaults to `1`."""
    use_bias: bool = True
    """Add a learned bias per output channel. Defaults to `true`."""
    activation: Activation | None = None
    """Activation applied to the output. Defaults to none."""

    @model_validator(mode="after")
    def check_combination(self):
        check_conv_args(self)
        return self
