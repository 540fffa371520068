"""`global_avg_pool3d`: mean over depth, height and width, one value per channel.

Lowers to `keras.layers.GlobalAveragePooling3D`, exports as ONNX ReduceMean."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._pool import global_pool_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(
    **global_pool_rules("GlobalAveragePooling3D", "ReduceMean"),
    examples=(
        Example({}, inputs=((4, 6, 6, 2),)),
        Example({"keepdims": True}, inputs=((3, 4, 5, 2),)),
    ),
)
class GlobalAveragePooling3D(LayerSpec):
    """Global average pooling: the mean of each channel over all of depth, height and width.

    Use it Before the classifier head of a video or volume CNN.

    Example:
        `{op: global_avg_pool3d}`
    """

    op: Literal["global_avg_pool3d"] = "global_avg_pool3d"
    keepdims: bool = False
    """Keep the pooled axes with length 1 (`(batch, 1, 1, 1, channels)`) instead of dropping them
    (`(batch, channels)`). Defaults to `false`."""
