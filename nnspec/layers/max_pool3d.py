"""`max_pool3d`: max over sliding windows along depth, height and width.

Lowers to `keras.layers.MaxPooling3D`, exports as ONNX MaxPool."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec, Padding, Size3D


@card(
    **pool_rules("MaxPooling3D", "MaxPool"),
    examples=(
        Example({}, inputs=((4, 6, 6, 2),)),
        Example({"pool_size": [1, 2, 2], "padding": "same"}, inputs=((3, 5, 5, 2),)),
    ),
)
class MaxPooling3D(LayerSpec):
    """Max pooling: each output is the maximum of a `pool_size` window over depth, height and width.

    Example:
        `{op: max_pool3d, pool_size: [1, 2, 2]}`
    """

    op: Literal["max_pool3d"] = "max_pool3d"
    pool_size: Size3D = 2
    """Window size, one int or `[depth, height, width]`. Defaults to `2`."""
    strides: Size3D | None = None
    """Step of the window; `null` means the window size (no overlap). Defaults to `null`."""
    padding: Padding = "valid"
    """`valid` (drop edge positions that do not fill a window) or `same` (pad so the output is
    `ceil(input / strides)`). Defaults to `valid`."""
