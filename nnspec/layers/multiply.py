"""`multiply`: elementwise product of two or more same-shaped tensors (lowers to
`keras.layers.Multiply`, ONNX Mul)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._merge import merge_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(**merge_rules("Multiply"), onnx_ops=("Mul",),
      examples=(Example({}, inputs=((8, 8, 3), (8, 8, 3))),
                Example({}, inputs=((4,), (4,), (4,)))))
class Multiply(LayerSpec):
    """Product of its inputs, e.g. a gate.

    Example:
        `{op: multiply, from: [features, sigmoid_gate]}`
    """

    op: Literal["multiply"] = "multiply"
