"""`dropout`: randomly zero a fraction of the inputs while training.

Lowers to `keras.layers.Dropout`. An identity at inference, so the exported ONNX graph has no node
for it.
"""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, card
from nnspec.specs.base import LayerSpec, Rate


def _identity(spec: Dropout, x: Shape) -> Shape:
    return x


@card(
    infer_shape=_identity,
    count_flops=lambda s, out, x: 0,
    channels="passthrough",
    keras=KerasMapping("Dropout", lambda s: dict(rate=s.rate)),
    examples=(
        Example({"rate": 0.5}, inputs=((64,),)),
        Example({"rate": 0.1}),
        Example({"rate": 0.0}, inputs=((5, 4),)),
    ),
)
class Dropout(LayerSpec):
    """While training, set each input to 0 with probability `rate` and scale the rest by
    `1 / (1 - rate)`; at inference, pass the input through unchanged.

    Example:
        `{op: dropout, rate: 0.5}`
    """

    op: Literal["dropout"] = "dropout"
    rate: Rate
    """Fraction of the inputs to drop, in `[0, 1)`."""
