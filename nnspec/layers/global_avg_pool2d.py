"""`global_avg_pool2d`: mean over height and width, one value per channel.

Lowers to `keras.layers.GlobalAveragePooling2D`, exports as ONNX ReduceMean."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import global_pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(
    **global_pool_rules("GlobalAveragePooling2D", "ReduceMean"),
    examples=(
        Example({}, inputs=((8, 8, 3),)),
        Example({"keepdims": True}, inputs=((5, 7, 4),)),
    ),
)
class GlobalAveragePooling2D(LayerSpec):
    """Global average pooling: the mean of each channel over all of height and width.

    Use it Before the classifier head of a CNN.

    Example:
        `{op: global_avg_pool2d}`
    """

    op: Literal["global_avg_pool2d"] = "global_avg_pool2d"
    keepdims: bool = False
    """Keep the pooled axes with length 1 (`(batch, 1, 1, channels)`) instead of dropping them
    (`(batch, channels)`). Defaults to `false`."""
