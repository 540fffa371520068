"""`softmax`: normalize to a probability distribution along one axis (lowers to `keras.layers.Softmax`)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card, elements
from nnspec.specs.base import LayerSpec


def _shape(spec: Softmax, x: Shape) -> Shape:
    if not -len(x) <= spec.axis < len(x) or spec.axis % len(x) == 0:
        raise ShapeError(f"axis {spec.axis} is not a non-batch axis of a rank-{len(x)} input")
    return x


@card(infer_shape=_shape, keras=KerasMapping("Softmax", lambda s: dict(axis=s.axis)),
      count_flops=lambda s, out, x: 3 * elements(out.shape),
      onnx_ops=("Softmax",), channels="passthrough",
      examples=(Example({}, inputs=((10,),)), Example({"axis": 1}, inputs=((4, 6),))))
class Softmax(LayerSpec):
    """`exp(x) / sum(exp(x))` along `axis`: class probabilities, attention weights."""

    op: Literal["softmax"] = "softmax"
    axis: int = -1
    """The axis to normalize over (not the batch axis). Defaults to `-1`, the last."""
