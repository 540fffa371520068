"""`avg_pool3d`: average over sliding windows along depth, height and width.

Lowers to `keras.layers.AveragePooling3D`, exports as ONNX AveragePool."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec, Padding, Size3D


@card(
    **pool_rules("AveragePooling3D", "AveragePool"),
    examples=(
        Example({}, inputs=((4, 6, 6, 2),)),
        Example({"pool_size": 3, "strides": [1, 2, 2], "padding": "same"}, inputs=((3, 5, 7, 1),)),
    ),
)
class AveragePooling3D(LayerSpec):
    """Average pooling: each output is the mean of a `pool_size` window over depth, height, width.

    Example:
        `{op: avg_pool3d, pool_size: [1, 2, 2]}`
    """

    op: Literal["avg_pool3d"] = "avg_pool3d"
    pool_size: Size3D = 2
    """Window size, one int or `[depth, height, width]`. Defaults to `2`."""
    strides: Size3D | None = None
    """Step of the window; `null` means the window size (no overlap). Defaults to `null`."""
    padding: Padding = "valid"
    """`valid` (drop edge positions that do not fill a window) or `same` (pad so the output is
    `ceil(input / strides)`). Defaults to `valid`."""
