"""`take`: pick entries along one axis by index, as `numpy.take` (lowers to nnspec's own `Take` layer, which
calls `keras.ops.take`; exports as ONNX Gather)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card
from nnspec.layers._shapes import norm_axis
from nnspec.specs.base import LayerSpec


def _shape(spec: Take, x: Shape) -> Shape:
    axis = norm_axis(spec.axis, x)
    size = x[axis]
    indices = [spec.index] if isinstance(spec.index, int) else spec.index
    if size is not None:
        bad = [i for i in indices if not -size <= i < size]
        if bad:
            raise ShapeError(f"takes index {bad[0]} on axis {spec.axis}, which has {size} entries. Use an index "
                             f"from {-size} to {size - 1}")
    kept = () if isinstance(spec.index, int) else (len(spec.index),)
    return (*x[:axis], *kept, *x[axis + 1:])


@card(infer_shape=_shape, count_flops=lambda s, out, x: 0, output_dtype=None, input_dtype="any",
      keras=KerasMapping("nnspec.runtime.custom_layers.take:Take", lambda s: dict(axis=s.axis, index=s.index)),
      onnx_ops=("Gather",), channels="opaque",
      examples=(Example({"axis": 1, "index": 0}, inputs=((5, 8),)),
                Example({"axis": -1, "index": [2, 0, 2]}, inputs=((4, 6),)),
                Example({"axis": 1, "index": -1}, inputs=((7, 4),)),
                Example({"axis": 2, "index": 1}, inputs=((3, 4, 2),), dtype="int32")))
class Take(LayerSpec):
    """Entries `index` along `axis`, as `numpy.take(x, index, axis)`. One int index removes the axis
    (`(batch, n, d)` → `(batch, d)`: ViT's class token `x[:, 0]`, or a decoder's last step with `-1`); a list of
    indices keeps it, one entry per index, in that order (repeats allowed). Negative indices count from the end.

    Example:
        `{op: take, axis: 1, index: 0}` reads the class token out of a `(batch, tokens, d)` sequence.
    """

    op: Literal["take"] = "take"
    axis: int
    """The axis to index: 1 is the first axis after the batch, -1 the last. The batch axis cannot be taken."""
    index: int | Annotated[list[int], Field(min_length=1)]
    """One index (the axis is removed) or a list of them (the axis is kept, with one entry per index)."""
