"""`dense`: fully connected layer on the last axis (lowers to `keras.layers.Dense`, exports as ONNX MatMul)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, TensorType, card, elements
from nnspec.layers._shapes import require_known
from nnspec.specs.base import Activation, LayerSpec, PositiveInt


def _shape(spec: Dense, x: Shape) -> Shape:
    # Keras accepts any rank, but dense on a feature map is almost always a forgotten flatten: allow
    # (batch, features) and (batch, steps, features) only.
    if len(x) not in (2, 3):
        raise ShapeError(
            "expects a rank-2 (batch, features) or rank-3 (batch, steps, features) input. "
            "Add a flatten or a global pool before it"
        )
    require_known(x[-1], "number of input features")
    return (*x[:-1], spec.units)


def _params(spec: Dense, x: TensorType) -> int:
    return x.shape[-1] * spec.units + (spec.units if spec.use_bias else 0)


def _flops(spec: Dense, out: TensorType, x: TensorType) -> int:
    return 2 * elements(out.shape) * x.shape[-1]


@card(infer_shape=_shape, count_params=_params, count_flops=_flops, channels="produce", onnx_ops=("MatMul",),
      keras=KerasMapping("Dense", lambda s: dict(units=s.units, activation=s.activation, use_bias=s.use_bias)),
      examples=(Example({"units": 10}, inputs=((64,),)),
                Example({"units": 3, "activation": "softmax", "use_bias": False}, inputs=((5, 4),))))
class Dense(LayerSpec):
    """Fully connected layer: `output = activation(input @ kernel + bias)` on the last axis.

    Example:
        `{op: dense, units: 10, activation: softmax}`
    """

    op: Literal["dense"] = "dense"
    units: PositiveInt
    """Number of output features."""
    activation: Activation | None = None
    """Activation applied to the output. Defaults to none (linear)."""
    use_bias: bool = True
    """Add a learned bias. Defaults to `true`."""
