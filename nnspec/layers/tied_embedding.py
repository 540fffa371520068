"""`tied_embedding`: one `(input_dim, output_dim)` matrix used both as a token embedding and as the pre-softmax
projection that scores vectors against every token (weight tying, Press & Wolf 2017; Vaswani et al. 2017,
Sec. 3.4). Lowers to nnspec's own `TiedEmbedding` layer; exports as ONNX Gather (ids) and MatMul (vectors), both
reading one initializer."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import (
    INT_DTYPES,
    Example,
    KerasMapping,
    Shape,
    ShapeError,
    TensorType,
    card,
)
from nnspec.specs.base import LayerSpec, PositiveInt


def _shape(spec: TiedEmbedding, x: Shape) -> Shape:
    if len(x) == 2:  # ids (batch, steps)
        return (*x, spec.output_dim)
    if len(x) == 3 and x[2] == spec.output_dim:  # vectors (batch, steps, output_dim) → logits
        return (*x[:2], spec.input_dim)
    raise ShapeError(f"reads token ids (batch, steps) or vectors (batch, steps, {spec.output_dim}) to score "
                     "against every token. Give ids a `shape: [steps]`, or vectors output_dim features")


def _mode(spec: TiedEmbedding, x: TensorType) -> str:
    ids = x.dtype in INT_DTYPES
    if ids != (len(x.shape) == 2):
        raise ShapeError("needs integer ids of shape (batch, steps) or float vectors of shape (batch, steps, "
                         f"{spec.output_dim}). Received {x.dtype} of rank {len(x.shape)}")
    return "ids" if ids else "vectors"


def _params(spec: TiedEmbedding, x: TensorType) -> int:
    _mode(spec, x)
    return spec.input_dim * spec.output_dim


def _flops(spec: TiedEmbedding, out: TensorType, x: TensorType) -> int:
    if _mode(spec, x) == "ids":
        return 0  # a table lookup
    return 2 * (x.shape[1] or 1) * spec.output_dim * spec.input_dim


@card(infer_shape=_shape, count_params=_params, count_flops=_flops,
      keras=KerasMapping("nnspec.runtime.custom_layers.tied_embedding:TiedEmbedding",
                         lambda s: dict(input_dim=s.input_dim, output_dim=s.output_dim, mask_zero=s.mask_zero)),
      input_dtype="any",
      index_bounds=lambda s, inputs: {0: s.input_dim} if inputs[0].dtype in INT_DTYPES else {},
      channels="opaque",
      examples=(Example({"input_dim": 10, "output_dim": 4}, inputs=((6,),), dtype="int32"),
                Example({"input_dim": 10, "output_dim": 4}, inputs=((5, 4),)),
                Example({"input_dim": 8, "output_dim": 3, "mask_zero": True}, inputs=((5,),), dtype="int64")))
class TiedEmbedding(LayerSpec):
    """A token embedding whose matrix `E` (`input_dim` x `output_dim`) also scores vectors against every token.

    Integer ids `(batch, steps)` give rows of `E`: `(batch, steps, output_dim)`, as `embedding`. Float vectors
    `(batch, steps, output_dim)` give logits `x @ E^T`: `(batch, steps, input_dim)` (no bias), the pre-softmax
    projection. Use it inside a block and reuse that block with `share:`, so the source embedding, the target
    embedding and the output projection are one matrix, counted once (the Transformer, Sec. 3.4).
    Initialized `N(0, 1/output_dim)`, as Tensor2Tensor does for embeddings scaled by `sqrt(output_dim)`.

    Example:
        `blocks: {vocab: {nodes: [{op: tied_embedding, input_dim: 37000, output_dim: 512}]}}`, then
        `{id: src, block: vocab, from: source}`, `{id: logits, block: vocab, from: decoder, share: src}`.
    """

    op: Literal["tied_embedding"] = "tied_embedding"
    input_dim: PositiveInt
    """Vocabulary size: ids run from 0 to `input_dim - 1`; logits have `input_dim` entries."""
    output_dim: PositiveInt
    """Length of each embedding vector (the model width)."""
    mask_zero: bool = False
    """Treat id 0 as padding and mask it for the layers after (attention skips masked steps); a logits use
    passes its input's mask through. Defaults to `false`."""
