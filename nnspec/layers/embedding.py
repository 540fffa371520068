"""`embedding`: look up a learned vector per integer token id (lowers to `keras.layers.Embedding`,
ONNX Gather)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, TensorType, card
from nnspec.specs.base import LayerSpec, PositiveInt


def _shape(spec: Embedding, x: Shape) -> Shape:
    if len(x) < 2:
        raise ShapeError("expects token ids of shape (batch, steps). "
                         "Give the input a `shape: [steps]`")
    return (*x, spec.output_dim)


def _params(spec: Embedding, x: TensorType) -> int:
    return spec.input_dim * spec.output_dim


def _kwargs(spec: Embedding) -> dict:
    return dict(input_dim=spec.input_dim, output_dim=spec.output_dim, mask_zero=spec.mask_zero)


@card(infer_shape=_shape, count_params=_params,
      count_flops=lambda s, out, x: 0,  # a table lookup, no arithmetic
      keras=KerasMapping("Embedding", _kwargs), input_dtype="int",
      index_bounds=lambda s, inputs: {0: s.input_dim}, onnx_ops=("Gather",),
      channels="produce",
      examples=(Example({"input_dim": 10, "output_dim": 4}, inputs=((6,),), dtype="int32"),
                Example({"input_dim": 8, "output_dim": 3, "mask_zero": True}, inputs=((5,),),
                        dtype="int64")))
class Embedding(LayerSpec):
    """Map integer token ids `(batch, steps)` to learned vectors `(batch, steps, output_dim)`.

    Example:
        `{op: embedding, input_dim: 10000, output_dim: 64}` on an input with `dtype: int32`.
    """

    op: Literal["embedding"] = "embedding"
    input_dim: PositiveInt
    """Vocabulary size: ids run from 0 to `input_dim - 1`."""
    output_dim: PositiveInt
    """Length of each embedding vector."""
    mask_zero: bool = False
    """Treat id 0 as padding and mask it for the layers after (RNNs and attention skip masked
    steps); real ids then start at 1, so `input_dim` is the vocabulary size + 1. Defaults to
    `false`."""
