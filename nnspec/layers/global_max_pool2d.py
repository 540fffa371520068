"""`global_max_pool2d`: maximum over height and width, one value per channel.

Lowers to `keras.layers.GlobalMaxPooling2D`, exports as ONNX ReduceMax."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import global_pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(
    **global_pool_rules("GlobalMaxPooling2D", "ReduceMax"),
    examples=(
        Example({}, inputs=((8, 8, 3),)),
        Example({"keepdims": True}, inputs=((5, 7, 4),)),
    ),
)
class GlobalMaxPooling2D(LayerSpec):
    """Global max pooling: the maximum of each channel over all of height and width.

    Keeps the strongest response of each channel.

    Example:
        `{op: global_max_pool2d}`
    """

    op: Literal["global_max_pool2d"] = "global_max_pool2d"
    keepdims: bool = False
    """Keep the pooled axes with length 1 (`(batch, 1, 1, channels)`) instead of dropping them
    (`(batch, channels)`). Defaults to `false`."""
