"""`max_pool1d`: max over sliding windows along the steps axis.

Lowers to `keras.layers.MaxPooling1D`, exports as ONNX MaxPool."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec, Padding, Size1D


@card(
    **pool_rules("MaxPooling1D", "MaxPool"),
    examples=(
        Example({}, inputs=((16, 4),)),
        Example({"pool_size": 3, "strides": 2, "padding": "same"}, inputs=((15, 2),)),
    ),
)
class MaxPooling1D(LayerSpec):
    """Max pooling: each output is the maximum of `pool_size` consecutive steps.

    Example:
        `{op: max_pool1d, pool_size: 4}`
    """

    op: Literal["max_pool1d"] = "max_pool1d"
    pool_size: Size1D = 2
    """Window size, one int (or `[steps]`). Defaults to `2`."""
    strides: Size1D | None = None
    """Step of the window; `null` means the window size (no overlap). Defaults to `null`."""
    padding: Padding = "valid"
    """`valid` (drop edge positions that do not fill a window) or `same` (pad so the output is
    `ceil(input / strides)`). Defaults to `valid`."""
