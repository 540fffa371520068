"""`reshape`: give each example a new shape with the same elements.

Lowers to `keras.layers.Reshape`, exports as ONNX Reshape.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card
from nnspec.specs.base import LayerSpec


def _shape(spec: Reshape, x: Shape) -> Shape:
    target = tuple(spec.target_shape)
    if any(d is None for d in x[1:]):
        # Keras cannot size the -1 axis either when the input has an unknown axis.
        return (x[0], *(None if d == -1 else d for d in target))
    size = math.prod(x[1:])
    known = math.prod(d for d in target if d != -1)
    if -1 not in target and size != known:
        raise ShapeError(
            f"cannot reshape {size} elements per example into target_shape {list(target)} "
            f"({known} elements). Fix target_shape, or put -1 on one axis to infer its size"
        )
    if -1 in target and size % known:
        raise ShapeError(
            f"cannot infer the -1 axis of target_shape {list(target)}: {size} elements per "
            f"example are not a multiple of the other axes' product ({known})"
        )
    return (x[0], *(size // known if d == -1 else d for d in target))


@card(
    infer_shape=_shape,
    count_flops=lambda s, out, x: 0,
    output_dtype=None,
    input_dtype="any",
    keras=KerasMapping("Reshape", lambda s: dict(target_shape=tuple(s.target_shape))),
    onnx_ops=("Reshape",),
    channels="opaque",
    examples=(
        Example({"target_shape": [64, 3]}),
        Example({"target_shape": [-1, 2]}, inputs=((3, 4),)),
        Example({"target_shape": [2, 3, 2]}, inputs=((12,),), dtype="int32"),
    ),
)
class Reshape(LayerSpec):
    """Reshape each example to `target_shape` (the batch axis is kept and not listed).

    Example:
        `{op: reshape, target_shape: [7, 7, 64]}` or `{op: reshape, target_shape: [-1, 16]}`
    """

    op: Literal["reshape"] = "reshape"
    target_shape: Annotated[list[Annotated[int, Field(ge=-1)]], Field(min_length=1)]
    """The new shape without the batch axis, e.g. `[7, 7, 64]`. One axis may be `-1`: its size is
    inferred from the element count."""

    @field_validator("target_shape")
    @classmethod
    def _check_target(cls, value: list[int]) -> list[int]:
        if 0 in value:
            raise ValueError("target_shape axes must be positive (or -1 for one inferred axis)")
        if value.count(-1) > 1:
            raise ValueError("target_shape can have at most one -1 (inferred) axis")
        return value
