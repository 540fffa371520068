"""`class_token`: prepend a learned vector to a `(batch, n, features)` sequence (ViT's [class] token). Lowers to
nnspec's own `ClassToken` layer; exports as ONNX Concat."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, card
from nnspec.layers._shapes import require_known, require_rank
from nnspec.specs.base import LayerSpec


def _shape(spec: ClassToken, x: Shape) -> Shape:
    require_rank(x, 3, "a sequence of tokens", "Reshape the input to (tokens, features) first")
    require_known(x[2], "number of features")
    return (x[0], None if x[1] is None else x[1] + 1, x[2])


@card(infer_shape=_shape, count_params=lambda s, x: x.shape[2],
      count_flops=lambda s, out, x: 0,  # a copy
      keras=KerasMapping("nnspec.runtime.custom_layers.class_token:ClassToken", lambda s: {}),
      onnx_ops=("Concat",), channels="passthrough",
      examples=(Example({}, inputs=((4, 6),)), Example({}, inputs=((1, 3),))))
class ClassToken(LayerSpec):
    """Prepend one learned `features`-vector to a token sequence: `(batch, n, d)` → `(batch, n + 1, d)`, the
    [class] token of ViT (Dosovitskiy et al. 2021, Eq. 1), read out later with `{op: take, axis: 1, index: 0}`.
    Zero-initialized, as in the ViT reference code; `d` weights. A padding mask gets the token as a real step.

    Example:
        `{op: class_token}` after the patch embedding, before the position embedding.
    """

    op: Literal["class_token"] = "class_token"
