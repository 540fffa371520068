"""`add`: elementwise sum of two or more tensors of one shape (size-1 axes broadcast; lowers to
`keras.layers.Add`, ONNX Add)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._merge import merge_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(**merge_rules("Add"), onnx_ops=("Add",),
      examples=(Example({}, inputs=((8, 8, 3), (8, 8, 3))), Example({}, inputs=((4,), (4,), (4,)))))
class Add(LayerSpec):
    """Sum of its inputs, e.g. a residual connection: `{op: add, from: [main, shortcut]}`."""

    op: Literal["add"] = "add"
