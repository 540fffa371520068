"""`concatenate`: join two or more tensors along one axis (lowers to `keras.layers.Concatenate`,
ONNX Concat)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card
from nnspec.specs.base import LayerSpec


def _shape(spec: Concatenate, *xs: Shape) -> Shape:
    rank = len(xs[0])
    if any(len(x) != rank for x in xs):
        raise ShapeError("needs inputs of the same rank. Reshape or flatten the inputs to match")
    axis = spec.axis + rank if spec.axis < 0 else spec.axis
    if not 1 <= axis < rank:
        raise ShapeError(f"axis {spec.axis} is not a feature axis of rank-{rank} inputs. Use an "
                         f"axis from 1 to {rank - 1}, or a negative one (-1 is the last)")
    out = []
    for i, dims in enumerate(zip(*xs)):
        known = {d for d in dims if d is not None}
        if i == axis:
            out.append(None if None in dims else sum(dims))
        elif len(known) > 1:
            raise ShapeError(f"needs inputs of the same size on every axis but the concatenation "
                             f"axis ({spec.axis}); axis {i} differs. Resize the inputs, or "
                             "concatenate along the axis where they differ")
        else:
            out.append(next(iter(known), None))
    return tuple(out)


# Each output channel is one input channel at an offset: channel pruning passes through per input.
@card(infer_shape=_shape, count_flops=lambda s, out, *xs: 0, arity=None, channels="passthrough",
      keras=KerasMapping("Concatenate", lambda s: dict(axis=s.axis), call="list"),
      onnx_ops=("Concat",),
      examples=(Example({}, inputs=((8, 8, 3), (8, 8, 5))),
                Example({"axis": 1}, inputs=((2, 4), (3, 4), (1, 4)))))
class Concatenate(LayerSpec):
    """Join its inputs along `axis`; every other axis must match, e.g. a U-Net skip connection.

    Example:
        `{op: concatenate, from: [upsampled, skip]}`
    """

    op: Literal["concatenate"] = "concatenate"
    axis: int = -1
    """The axis to join along (1 = first axis after the batch; -1 = last, the channels).
    Defaults to `-1`."""
