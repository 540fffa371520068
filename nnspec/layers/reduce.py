"""`reduce`: sum, mean, max, min or Euclidean (L2) norm over one or more feature axes (lowers to nnspec's own
`Reduce` layer, which calls `keras.ops.sum` / `mean` / `max` / `min`; exports as ONNX ReduceSum, ReduceMean,
ReduceMax, ReduceMin, and ReduceSum + Sqrt for `l2`).

The distance of a Siamese network's two embeddings is `{op: subtract}` then `{op: reduce, reduction: l2}`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card, elements
from nnspec.layers._shapes import norm_axis
from nnspec.specs.base import LayerSpec


def _axes(spec: Reduce, x: Shape) -> list[int]:
    """The reduced axes as sorted non-negative indices (batch included), each once."""
    given = [spec.axis] if isinstance(spec.axis, int) else spec.axis
    axes = [norm_axis(a, x) for a in given]
    if len(set(axes)) != len(axes):
        twice = next(a for a in axes if axes.count(a) > 1)
        raise ShapeError(f"reduces axis {twice} more than once (axis {given}). Give each axis once")
    return sorted(axes)


def _shape(spec: Reduce, x: Shape) -> Shape:
    axes = _axes(spec, x)
    if spec.keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


@card(infer_shape=_shape, count_flops=lambda s, out, x: elements(x.shape),
      keras=KerasMapping("nnspec.runtime.custom_layers.reduce:Reduce",
                         lambda s: dict(reduction=s.reduction, axis=s.axis, keepdims=s.keepdims)),
      channels="opaque",
      examples=(Example({"reduction": "sum", "axis": -1}, inputs=((8,),)),
                Example({"reduction": "l2", "axis": -1, "keepdims": True}, inputs=((16,),)),
                Example({"reduction": "mean", "axis": [1, 2]}, inputs=((6, 6, 4),)),
                Example({"reduction": "max", "axis": 1, "keepdims": True}, inputs=((5, 3),)),
                Example({"reduction": "min", "axis": -2}, inputs=((4, 3, 2),))))
class Reduce(LayerSpec):
    """Reduce over feature axes: `sum`, `mean`, `max`, `min`, or `l2`, the Euclidean norm `sqrt(sum(x²))`. The
    reduced axes are removed, or kept with size 1 (`keepdims`). Has no weights.

    `l2` is floored at 1e-6 (`sqrt(max(sum(x²), 1e-12))`) so that its gradient stays finite when every entry is
    0, as when a Siamese network's two embeddings coincide.

    Example:
        `{id: distance, op: reduce, reduction: l2, axis: -1, keepdims: true, from: difference}` gives the
        Euclidean distance `(batch, 1)` of two `(batch, d)` embeddings subtracted.
    """

    op: Literal["reduce"] = "reduce"
    reduction: Literal["sum", "mean", "max", "min", "l2"] = "sum"
    """How to reduce: `sum`, `mean`, `max`, `min`, or `l2` (Euclidean norm). Defaults to `sum`."""
    axis: int | Annotated[list[int], Field(min_length=1)] = -1
    """The axis to reduce, or a list of axes: 1 is the first after the batch, -1 the last. The batch axis
    cannot be reduced. Defaults to `-1`."""
    keepdims: bool = False
    """Keep each reduced axis with size 1 (so the result broadcasts against the input). Defaults to `false`."""
