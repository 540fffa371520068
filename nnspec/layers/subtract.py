"""`subtract`: elementwise difference of two tensors of one shape (size-1 axes broadcast; lowers to
`keras.layers.Subtract`, ONNX Sub)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._merge import merge_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(**{**merge_rules("Subtract"), "arity": 2}, onnx_ops=("Sub",),
      examples=(Example({}, inputs=((8, 8, 3), (8, 8, 3))), Example({}, inputs=((5,), (5,)))))
class Subtract(LayerSpec):
    """First input minus the second, e.g. the difference of two branches.

    Example:
        `{op: subtract, from: [a, b]}`
    """

    op: Literal["subtract"] = "subtract"
