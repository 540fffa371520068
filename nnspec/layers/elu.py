"""`elu`: exponential linear unit (lowers to `keras.layers.ELU`)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, card
from nnspec.specs.base import LayerSpec


@card(infer_shape=lambda s, x: x, keras=KerasMapping("ELU", lambda s: dict(alpha=s.alpha)),
      onnx_ops=("Elu",), channels="passthrough",
      examples=(Example({}), Example({"alpha": 0.5}, inputs=((7,),))))
class ELU(LayerSpec):
    """`x` where positive, `alpha * (exp(x) - 1)` elsewhere."""

    op: Literal["elu"] = "elu"
    alpha: float = 1.0
    """Scale of the negative part. Defaults to `1.0`."""
