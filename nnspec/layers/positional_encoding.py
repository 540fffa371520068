"""`positional_encoding`: add position information to a `(batch, length, features)` sequence, either the fixed
sinusoids of Vaswani et al. 2017 (Sec. 3.5) or a learned table (ViT, BERT). Lowers to nnspec's own
`PositionalEncoding` layer; exports as ONNX Add (plus Sin/Cos when the length is only known at run time)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from nnspec.layers._registry import (
    Example,
    KerasMapping,
    Shape,
    ShapeError,
    TensorType,
    card,
    elements,
)
from nnspec.layers._shapes import require_known, require_rank
from nnspec.specs.base import LayerSpec, PositiveInt


def _shape(spec: PositionalEncoding, x: Shape) -> Shape:
    require_rank(x, 3, "a sequence", "Reshape the input to (length, features), e.g. patches to tokens")
    require_known(x[2], "number of features")
    if spec.max_length is not None and x[1] is not None and x[1] > spec.max_length:
        raise ShapeError(f"has positions for {spec.max_length} steps (max_length), but the sequence has {x[1]}. "
                         "Raise max_length")
    return x


def _params(spec: PositionalEncoding, x: TensorType) -> int:
    return spec.max_length * x.shape[2] if spec.kind == "learned" else 0


def _flops(spec: PositionalEncoding, out: TensorType, x: TensorType) -> int:
    return elements(out.shape) * (1 + spec.scale_input)  # the add (and the scaling)


@card(infer_shape=_shape, count_params=_params, count_flops=_flops,
      keras=KerasMapping("nnspec.runtime.custom_layers.positional_encoding:PositionalEncoding",
                         lambda s: dict(kind=s.kind, max_length=s.max_length, scale_input=s.scale_input)),
      onnx_ops=("Add",), channels="passthrough",
      examples=(Example({}, inputs=((6, 8),)),
                Example({"scale_input": True}, inputs=((5, 7),)),
                Example({"kind": "learned", "max_length": 5}, inputs=((5, 4),)),
                Example({"kind": "learned", "max_length": 9, "scale_input": True}, inputs=((4, 6),))))
class PositionalEncoding(LayerSpec):
    """Add a position code to every step of a `(batch, length, features)` sequence; shape unchanged.

    `kind: sinusoidal` adds the fixed code of Vaswani et al. 2017 (Sec. 3.5),
    `PE[pos, 2i] = sin(pos / 10000^(2i/d))`, `PE[pos, 2i+1] = cos(pos / 10000^(2i/d))`, with no weights and any
    length. `kind: learned` adds rows `0..length-1` of a trainable `(max_length, features)` table (ViT, BERT).
    Keras masks pass through, so padding masks from `embedding` with `mask_zero` still reach attention.

    Example:
        `{op: positional_encoding, scale_input: true}` after a token embedding (the Transformer),
        `{op: positional_encoding, kind: learned, max_length: 197}` after ViT's class token.
    """

    op: Literal["positional_encoding"] = "positional_encoding"
    kind: Literal["sinusoidal", "learned"] = "sinusoidal"
    """`sinusoidal` (fixed, no weights) or `learned` (a trainable table). Defaults to `sinusoidal`."""
    max_length: PositiveInt | None = None
    """Longest sequence: rows of the learned table (required for `learned`); for `sinusoidal` only a checked
    bound. Defaults to none."""
    scale_input: bool = False
    """Multiply the input by `sqrt(features)` before adding positions, as the Transformer scales its embeddings
    (Vaswani et al. 2017, Sec. 3.4). Defaults to `false`."""

    @model_validator(mode="after")
    def _learned_needs_length(self):
        if self.kind == "learned" and self.max_length is None:
            raise ValueError("kind 'learned' needs max_length (the rows of the position table)")
        return self
