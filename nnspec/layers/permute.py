"""`permute`: reorder the non-batch axes.

Lowers to `keras.layers.Permute`, exports as ONNX Transpose.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card
from nnspec.specs.base import LayerSpec, PositiveInt


def _shape(spec: Permute, x: Shape) -> Shape:
    if len(spec.dims) != len(x) - 1:
        raise ShapeError(
            f"has dims {spec.dims} for {len(spec.dims)} axes, but the input has {len(x) - 1} axes "
            "besides the batch. List every non-batch axis (1-based) exactly once"
        )
    return (x[0], *(x[d] for d in spec.dims))


@card(
    infer_shape=_shape,
    count_flops=lambda s, out, x: 0,
    output_dtype=None,
    input_dtype="any",
    keras=KerasMapping("Permute", lambda s: dict(dims=tuple(s.dims))),
    onnx_ops=("Transpose",),
    channels="opaque",
    examples=(
        Example({"dims": [2, 1]}, inputs=((5, 7),)),
        Example({"dims": [3, 1, 2]}),
        Example({"dims": [1, 3, 2]}, inputs=((2, 3, 4),), dtype="int32"),
    ),
)
class Permute(LayerSpec):
    """Transpose the axes of each example; the batch axis stays first.

    Example:
        `{op: permute, dims: [2, 1]}` swaps steps and features of a `(batch, steps, features)`
        input.
    """

    op: Literal["permute"] = "permute"
    dims: Annotated[list[PositiveInt], Field(min_length=1)]
    """The new order of the non-batch axes, a permutation of `1 ... rank-1` (1 is the first axis
    after the batch): output axis `i` is input axis `dims[i-1]`."""

    @field_validator("dims")
    @classmethod
    def _check_permutation(cls, value: list[int]) -> list[int]:
        if sorted(value) != list(range(1, len(value) + 1)):
            raise ValueError(
                f"dims must be a permutation of 1..{len(value)} (each non-batch axis once, "
                f"1-based), got {value}"
            )
        return value
