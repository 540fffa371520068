"""`fake_quant`: simulate integer quantization of a tensor in float (quantization-aware training).

Lowers to nnspec's own `FakeQuant` layer: the tensor is rounded to the `2^num_bits` levels of an asymmetric
(unsigned) integer grid over a range `[min, max]` that always contains 0, and mapped back to float, so a model
trains against the rounding its int8 export will do. The range is two non-trainable weights: a moving average of
each training batch's min and max, frozen at inference. Gradients pass straight through inside the range (the
straight-through estimator of `tf.quantization.fake_quant_with_min_max_vars`).

The `insert_fake_quant` pass puts these nodes where onnxruntime's static QDQ quantization quantizes activations;
they are not meant to be written by hand. With `num_bits: 8` tf2onnx exports the node as a QuantizeLinear /
DequantizeLinear pair (uint8); other widths do not export.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from nnspec.layers._registry import Example, KerasMapping, Shape, TensorType, card, elements
from nnspec.specs.base import LayerSpec, Rate


def _identity(spec: FakeQuant, x: Shape) -> Shape:
    return x


def _params(spec: FakeQuant, x: TensorType) -> int:
    return 2  # the range: min and max, not trained by gradients


def _flops(spec: FakeQuant, out: TensorType, x: TensorType) -> int:
    return 4 * elements(out.shape)  # clip, scale, round, rescale


@card(infer_shape=_identity, count_params=_params, count_trainable=lambda s, x: 0, count_flops=_flops,
      keras=KerasMapping("nnspec.runtime.custom_layers.fake_quant:FakeQuant",
                         lambda s: dict(num_bits=s.num_bits, momentum=s.momentum)),
      onnx_ops=("QuantizeLinear", "DequantizeLinear"), channels="passthrough",
      examples=(Example({}),
                Example({"momentum": 0.9}, inputs=((6,),)),
                Example({"num_bits": 8, "momentum": 0.0}, inputs=((5, 4),))))
class FakeQuant(LayerSpec):
    """Round to an unsigned `num_bits` integer grid over a tracked range `[min, max]` and back to float.

    Example:
        `{op: fake_quant}` after a conv's activation: trains against its uint8 quantization.
    """

    op: Literal["fake_quant"] = "fake_quant"
    num_bits: Annotated[int, Field(ge=2, le=16)] = 8
    """Width of the integer grid (`2^num_bits` levels; 8 is uint8). Defaults to `8`."""
    momentum: Rate = 0.99
    """Weight of the old range in the moving average updated by each training batch (0 keeps only the last
    batch's range). Defaults to `0.99`."""
