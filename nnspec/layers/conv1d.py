"""`conv1d`: 1-D convolution over (steps, channels) input (lowers to `keras.layers.Conv1D`)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from nnspec.layers._conv import check_conv_args, conv_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import Activation, LayerSpec, PositiveInt, Size1D


@card(**conv_rules("Conv1D"), examples=(
    Example({"filters": 8, "kernel_size": 3}, inputs=((16, 4),)),
    Example({"filters": 4, "kernel_size": 5, "strides": 2, "padding": "same"}, inputs=((15, 2),)),
    Example({"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2, "groups": 2},
            inputs=((12, 4),)),
))
class Conv1D(LayerSpec):
    """1-D convolution along the steps axis, for sequences and signals.

    Example:
        `{op: conv1d, filters: 64, kernel_size: 5, padding: causal}`
    """

    op: Literal["conv1d"] = "conv1d"
    filters: PositiveInt
    """Number of output channels."""
    kernel_size: Size1D = 3
    """Window length. Defaults to `3`."""
    strides: Size1D = 1
    """Step of the window. Defaults to `1`."""
    padding: Literal["valid", "same", "causal"] = "valid"
    """`valid`, `same`, or `causal` (left padding only, so no step sees the future). Defaults to `valid`."""
    dilation_rate: Size1D = 1
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
