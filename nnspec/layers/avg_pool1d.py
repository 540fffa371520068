"""`avg_pool1d`: average over sliding windows along the steps axis.

Lowers to `keras.layers.AveragePooling1D`, exports as ONNX AveragePool."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec, Padding, Size1D


@card(
    **pool_rules("AveragePooling1D", "AveragePool"),
    examples=(
        Example({}, inputs=((16, 4),)),
        Example({"pool_size": 4, "strides": 1}, inputs=((9, 3),)),
        Example({"pool_size": 2, "padding": "same"}, inputs=((7, 2),)),
    ),
)
class AveragePooling1D(LayerSpec):
    """Average pooling: each output is the average of `pool_size` consecutive steps.

    Example:
        `{op: avg_pool1d, pool_size: 4}`
    """

    op: Literal["avg_pool1d"] = "avg_pool1d"
    pool_size: Size1D = 2
    """Window size, one int (or `[steps]`). Defaults to `2`."""
    strides: Size1D | None = None
    """Step of the window; `null` means the window size (no overlap). Defaults to `null`."""
    padding: Padding = "valid"
    """`valid` (drop edge positions that do not fill a window) or `same` (pad so the output is
    `ceil(input / strides)`). Defaults to `valid`."""
