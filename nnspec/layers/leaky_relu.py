"""`leaky_relu`: ReLU with a small slope for negative inputs (lowers to `keras.layers.LeakyReLU`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from nnspec.layers._registry import Example, KerasMapping, card
from nnspec.specs.base import LayerSpec


@card(infer_shape=lambda s, x: x, keras=KerasMapping("LeakyReLU", lambda s: dict(negative_slope=s.negative_slope)),
      onnx_ops=("LeakyRelu",), channels="passthrough",
      examples=(Example({}), Example({"negative_slope": 0.1}, inputs=((7,),))))
class LeakyReLU(LayerSpec):
    """`x` where positive, `negative_slope * x` elsewhere (DCGAN discriminators use 0.2)."""

    op: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: Annotated[float, Field(ge=0.0)] = 0.2
    """Slope for negative inputs. Defaults to `0.2` (as `keras.activations.leaky_relu`)."""
