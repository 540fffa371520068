"""`multiply`: elementwise product of two or more tensors of the same rank whose axes agree or are 1 (size-1 axes
broadcast, NumPy-style); lowers to `keras.layers.Multiply`, ONNX Mul."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._merge import merge_rules
from nnspec.layers._registry import Example, card
from nnspec.specs.base import LayerSpec


@card(**merge_rules("Multiply"), onnx_ops=("Mul",),
      examples=(Example({}, inputs=((8, 8, 3), (8, 8, 3))),
                Example({}, inputs=((4,), (4,), (4,))),
                Example({}, inputs=((7, 7, 16), (1, 1, 16)))))  # channel gate (squeeze-and-excitation)
class Multiply(LayerSpec):
    """Product of its inputs, e.g. a gate; axes of size 1 broadcast.

    A `(N, 1, 1, C)` gate scales every pixel of a `(N, H, W, C)` feature map (squeeze-and-excitation).

    Example:
        `{op: multiply, from: [features, sigmoid_gate]}`
    """

    op: Literal["multiply"] = "multiply"
