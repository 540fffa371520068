"""`multi_head_attention`: scaled dot-product attention with several heads (lowers to nnspec's
`MultiHeadAttention`, `keras.layers.MultiHeadAttention` with its `use_causal_mask` call flag fixed in the config;
ONNX MatMul)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, TensorType, card
from nnspec.layers._shapes import require_known
from nnspec.specs.base import LayerSpec, PositiveInt, Rate


def _dims(spec: MultiHeadAttention, *xs: TensorType) -> tuple[int, int, int, int, int]:
    """Feature sizes of query, key and value, the value head size, and the output size."""
    query, value, key = xs[0].shape[-1], xs[1].shape[-1], xs[-1].shape[-1]
    return query, key, value, spec.value_dim or spec.key_dim, spec.output_shape or query


def _shape(spec: MultiHeadAttention, *xs: Shape) -> Shape:
    if len(xs) > 3:
        raise ShapeError(f"takes 2 or 3 inputs (query, value[, key]), got {len(xs)}. "
                         "Pass `from: [query, value]` or `from: [query, value, key]`")
    query, value, key = xs[0], xs[1], xs[-1]
    if len(query) < 3 or any(len(x) != len(query) for x in xs):
        raise ShapeError("needs query, value and key of the same rank, at least 3 "
                         "(batch, steps, features). Reshape the inputs to (steps, features)")
    for name, x in zip(("query", "value", "key"), xs):
        require_known(x[-1], f"number of {name} features")
    if any(a is not None and b is not None and a != b for a, b in zip(value[1:-1], key[1:-1])):
        raise ShapeError("needs value and key with the same steps (every axis but the last). "
                         "Take key and value from sequences of the same length")
    return (*query[:-1], spec.output_shape or query[-1])


def _params(spec: MultiHeadAttention, *xs: TensorType) -> int:
    dq, dk, dv, head_v, dout = _dims(spec, *xs)
    heads, head_k, bias = spec.num_heads, spec.key_dim, spec.use_bias
    query_key = heads * head_k * (dq + bias) + heads * head_k * (dk + bias)
    value = heads * head_v * (dv + bias)
    return query_key + value + heads * head_v * dout + (dout if bias else 0)


def _steps(x: TensorType) -> int:
    n = 1
    for d in x.shape[1:-1]:
        n *= d or 1
    return n


def _flops(spec: MultiHeadAttention, out: TensorType, *xs: TensorType) -> int:
    dq, dk, dv, head_v, dout = _dims(spec, *xs)
    tq, tv = _steps(xs[0]), _steps(xs[1])
    heads, head_k = spec.num_heads, spec.key_dim
    projections = 2 * heads * (tq * dq * head_k + tv * dk * head_k + tv * dv * head_v)
    # Scores (query . key), mixing (weights . value), and about 3 per score for the softmax.
    attention = 2 * heads * tq * tv * (head_k + head_v) + 3 * heads * tq * tv
    return projections + attention + 2 * tq * heads * head_v * dout


def _kwargs(spec: MultiHeadAttention) -> dict:
    return dict(num_heads=spec.num_heads, key_dim=spec.key_dim, value_dim=spec.value_dim,
                dropout=spec.dropout, use_bias=spec.use_bias, output_shape=spec.output_shape,
                use_causal_mask=spec.use_causal_mask)


@card(infer_shape=_shape, count_params=_params, count_flops=_flops, arity=None,
      keras=KerasMapping("nnspec.runtime.custom_layers.multi_head_attention:MultiHeadAttention", _kwargs,
                         call="attention"), onnx_ops=("MatMul",),
      channels="consume",
      examples=(Example({"num_heads": 2, "key_dim": 4}, inputs=((5, 6), (7, 8))),
                Example({"num_heads": 3, "key_dim": 2, "value_dim": 5, "output_shape": 10,
                         "use_bias": False, "dropout": 0.1}, inputs=((5, 6), (7, 8), (7, 9))),
                Example({"num_heads": 2, "key_dim": 8}, inputs=((3, 4, 6), (3, 4, 6))),
                Example({"num_heads": 2, "key_dim": 3, "use_causal_mask": True}, inputs=((6, 8), (6, 8))),
                Example({"num_heads": 2, "key_dim": 3, "use_causal_mask": True}, inputs=((4, 8), (6, 5)))))
class MultiHeadAttention(LayerSpec):
    """Attention of a query sequence over a value sequence (keyed by `key` if given), in heads.

    Inputs are `from: [query, value]` or `from: [query, value, key]`; self-attention reads the same
    node twice. The output has the query's shape, with `output_shape` features if given.
    Keras masks on the inputs (padding from `embedding` with `mask_zero`) keep attention off padded steps;
    `use_causal_mask` also keeps every query step off later steps (a decoder's self-attention).

    Example:
        `{op: multi_head_attention, num_heads: 4, key_dim: 16, from: [x, x]}`
    """

    op: Literal["multi_head_attention"] = "multi_head_attention"
    num_heads: PositiveInt
    """Number of attention heads."""
    key_dim: PositiveInt
    """Size of each head's query and key projection."""
    value_dim: PositiveInt | None = None
    """Size of each head's value projection. Defaults to `key_dim`."""
    dropout: Rate = 0.0
    """Fraction of the attention weights dropped during training. Defaults to `0`."""
    use_bias: bool = True
    """Add learned biases to the projections. Defaults to `true`."""
    output_shape: PositiveInt | None = None
    """Number of output features. Defaults to the query's number of features."""
    use_causal_mask: bool = False
    """Let query step `t` attend to steps `0..t` only (a lower-triangular mask; a decoder's masked
    self-attention, Vaswani et al. 2017 Sec. 3.2.3). Defaults to `false`."""
