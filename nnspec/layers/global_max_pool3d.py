"""`global_max_pool3d`: maximum over depth, height and width, one value per channel.

Lowers to `keras.layers.GlobalMaxPooling3D`, exports as ONNX ReduceMax."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import global_pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(
    **global_pool_rules("GlobalMaxPooling3D", "ReduceMax"),
    examples=(
        Example({}, inputs=((4, 6, 6, 2),)),
        Example({"keepdims": True}, inputs=((3, 4, 5, 2),)),
    ),
)
class GlobalMaxPooling3D(LayerSpec):
    """Global max pooling: the maximum of each channel over all of depth, height and width.

    Keeps the strongest response of each channel of a volume.

    Example:
        `{op: global_max_pool3d}`
    """

    op: Literal["global_max_pool3d"] = "global_max_pool3d"
    keepdims: bool = False
    """Keep the pooled axes with length 1 (`(batch, 1, 1, 1, channels)`) instead of dropping them
    (`(batch, channels)`). Defaults to `false`."""
