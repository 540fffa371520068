"""`flatten`: collapse every axis but the batch into one (lowers to `keras.layers.Flatten`)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card
from nnspec.layers._shapes import fmt_shape
from nnspec.specs.base import LayerSpec


def _shape(spec: Flatten, x: Shape) -> Shape:
    if len(x) < 2:
        raise ShapeError(f"needs at least one axis besides the batch, got {fmt_shape(x)}")
    if any(d is None for d in x[1:]):
        return (x[0], None)
    n = 1
    for d in x[1:]:
        n *= d
    return (x[0], n)


@card(infer_shape=_shape, keras=KerasMapping("Flatten", lambda s: {}), count_flops=lambda s, out, x: 0,
      output_dtype=None, input_dtype="any", onnx_ops=("Reshape",), channels="opaque",
      examples=(Example({}), Example({}, inputs=((5, 7),))))
class Flatten(LayerSpec):
    """Flatten `(batch, d1, d2, ...)` to `(batch, d1*d2*...)`, e.g. between conv and dense layers.

    Example:
        `{op: flatten}`
    """

    op: Literal["flatten"] = "flatten"
