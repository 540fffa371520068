"""`avg_pool2d`: average over sliding windows along height and width.

Lowers to `keras.layers.AveragePooling2D`, exports as ONNX AveragePool."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec, Padding, Size2D


@card(
    **pool_rules("AveragePooling2D", "AveragePool"),
    examples=(
        Example({}),
        Example({"pool_size": 3, "strides": 1, "padding": "same"}, inputs=((7, 7, 2),)),
        Example({"pool_size": [3, 2], "strides": [2, 1]}, inputs=((9, 5, 4),)),
    ),
)
class AveragePooling2D(LayerSpec):
    """Average pooling: each output is the average of a `pool_size` window over height and width.

    Example:
        `{op: avg_pool2d, pool_size: 2}`
    """

    op: Literal["avg_pool2d"] = "avg_pool2d"
    pool_size: Size2D = 2
    """Window size, one int or `[height, width]`. Defaults to `2`."""
    strides: Size2D | None = None
    """Step of the window; `null` means the window size (no overlap). Defaults to `null`."""
    padding: Padding = "valid"
    """`valid` (drop edge positions that do not fill a window) or `same` (pad so the output is
    `ceil(input / strides)`). Defaults to `valid`."""
