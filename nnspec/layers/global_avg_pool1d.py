"""`global_avg_pool1d`: mean over steps, one value per channel.

Lowers to `keras.layers.GlobalAveragePooling1D`, exports as ONNX ReduceMean."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import global_pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(
    **global_pool_rules("GlobalAveragePooling1D", "ReduceMean"),
    examples=(
        Example({}, inputs=((16, 4),)),
        Example({"keepdims": True}, inputs=((7, 3),)),
    ),
)
class GlobalAveragePooling1D(LayerSpec):
    """Global average pooling: the mean of each channel over all of steps.

    Use it To summarize a sequence before a dense head.

    Example:
        `{op: global_avg_pool1d}`
    """

    op: Literal["global_avg_pool1d"] = "global_avg_pool1d"
    keepdims: bool = False
    """Keep the pooled axes with length 1 (`(batch, 1, channels)`) instead of dropping them
    (`(batch, channels)`). Defaults to `false`."""
