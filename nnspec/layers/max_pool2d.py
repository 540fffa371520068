"""`max_pool2d`: max over sliding windows along height and width.

Lowers to `keras.layers.MaxPooling2D`, exports as ONNX MaxPool."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec, Padding, Size2D


@card(
    **pool_rules("MaxPooling2D", "MaxPool"),
    examples=(
        Example({}),
        Example({"pool_size": 3, "strides": 2, "padding": "same"}, inputs=((9, 11, 2),)),
        Example({"pool_size": [2, 3], "strides": [1, 2]}, inputs=((6, 7, 4),)),
    ),
)
class MaxPooling2D(LayerSpec):
    """Max pooling: each output is the maximum of a `pool_size` window over height and width.

    Example:
        `{op: max_pool2d, pool_size: 2}`
    """

    op: Literal["max_pool2d"] = "max_pool2d"
    pool_size: Size2D = 2
    """Window size, one int or `[height, width]`. Defaults to `2`."""
    strides: Size2D | None = None
    """Step of the window; `null` means the window size (no overlap). Defaults to `null`."""
    padding: Padding = "valid"
    """`valid` (drop edge positions that do not fill a window) or `same` (pad so the output is
    `ceil(input / strides)`). Defaults to `valid`."""
