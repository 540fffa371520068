"""`global_max_pool1d`: maximum over steps, one value per channel.

Lowers to `keras.layers.GlobalMaxPooling1D`, exports as ONNX ReduceMax."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import global_pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(
    **global_pool_rules("GlobalMaxPooling1D", "ReduceMax"),
    examples=(
        Example({}, inputs=((16, 4),)),
        Example({"keepdims": True}, inputs=((7, 3),)),
    ),
)
class GlobalMaxPooling1D(LayerSpec):
    """Global max pooling: the maximum of each channel over all of steps.

    Keeps the strongest response of each feature over a sequence.

    Example:
        `{op: global_max_pool1d}`
    """

    op: Literal["global_max_pool1d"] = "global_max_pool1d"
    keepdims: bool = False
    """Keep the pooled axes with length 1 (`(batch, 1, channels)`) instead of dropping them
    (`(batch, channels)`). Defaults to `false`."""
