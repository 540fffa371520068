"""Shared rules of the recurrent cards (`lstm`, `gru`, `simple_rnn`): fields, shape rule, counts.

All three lower through `nnspec.runtime.keras_factories:recurrent`, which returns the plain Keras
layer, or wraps it in `keras.layers.Bidirectional` when the spec says `bidirectional: true`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from nnspec.layers._registry import KerasMapping, Shape, TensorType
from nnspec.layers._shapes import require_known, require_rank
from nnspec.specs.base import Activation, LayerSpec, PositiveInt, Rate

# op → number of gates (weight blocks of `units` columns each).
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


class Recurrent(LayerSpec):
    """Fields every recurrent card shares (a base class, not a card)."""

    units: PositiveInt
    """Size of the hidden state, and of the output (per direction)."""
    activation: Activation = "tanh"
    """Activation of the candidate state and output. Defaults to `tanh`."""
    use_bias: bool = True
    """Add learned biases. Defaults to `true`."""
    return_sequences: bool = False
    """Output the hidden state of every step `(batch, steps, units)` instead of only the last one
    `(batch, units)`. Set it on every recurrent layer of a stack but the last. Defaults to
    `false`."""
    dropout: Rate = 0.0
    """Fraction of the input units dropped during training. Defaults to `0`."""
    recurrent_dropout: Rate = 0.0
    """Fraction of the recurrent state units dropped during training. Defaults to `0`."""
    bidirectional: bool = False
    """Also run a second copy of the layer backwards over the steps and merge both outputs
    (nnspec's shorthand for `keras.layers.Bidirectional`). Defaults to `false`."""
    merge_mode: Literal["concat", "sum", "mul", "ave"] = "concat"
    """How a bidirectional layer merges its two outputs; `concat` doubles the output size. Only
    used with `bidirectional: true`. Defaults to `concat`."""

    @model_validator(mode="after")
    def _merge_mode_needs_bidirectional(self):
        if self.merge_mode != "concat" and not self.bidirectional:
            raise ValueError("merge_mode only applies to a bidirectional layer: "
                             "set `bidirectional: true`")
        return self


def _directions(spec: Recurrent) -> int:
    return 2 if spec.bidirectional else 1


def rnn_shape(spec: Recurrent, x: Shape) -> Shape:
    require_rank(x, 3, spec.op, "Reshape the input to (steps, features), or add "
                 "`return_sequences: true` to the recurrent layer before it")
    require_known(x[-1], "number of input features")
    width = spec.units * (2 if spec.bidirectional and spec.merge_mode == "concat" else 1)
    return (x[0], x[1], width) if spec.return_sequences else (x[0], width)


def rnn_params(spec: Recurrent, x: TensorType) -> int:
    gates, units = GATES[spec.op], spec.units
    bias = gates * units if spec.use_bias else 0
    if spec.op == "gru" and spec.reset_after:
        bias *= 2  # separate input and recurrent biases
    return _directions(spec) * (gates * units * (x.shape[-1] + units) + bias)


def rnn_flops(spec: Recurrent, out: TensorType, x: TensorType) -> int:
    """Per step and direction: the input and recurrent matmuls of every gate (the elementwise gate
    math is small next to them and left out). An unknown number of steps counts as 1."""
    gates, units, steps = GATES[spec.op], spec.units, x.shape[1] or 1
    return _directions(spec) * steps * gates * 2 * units * (x.shape[-1] + units)


def rnn_rules(keras_cls: str) -> dict:
    """The `register(...)` rules every recurrent card shares; spec fields are factory kwargs."""
    mapping = KerasMapping("nnspec.runtime.keras_factories:recurrent",
                           lambda s: dict(rnn=keras_cls, **s.params()))
    return dict(infer_shape=rnn_shape, count_params=rnn_params, count_flops=rnn_flops,
                keras=mapping, channels="consume")
