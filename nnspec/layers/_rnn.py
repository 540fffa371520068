"""Shared rules of the recurrent cards (`lstm`, `gru`, `simple_rnn`): fields, shape rule, counts.

All three lower through `nnspec.runtime.keras_factories:recurrent`, which returns the plain Keras
layer, or wraps it in `keras.layers.Bidirectional` when the spec says `bidirectional: true`.

States: with `return_state: true` a layer has several outputs, `output` then its final states (`state_h`, and
`state_c` for an lstm), each `(batch, units)`, read as `enc:state_h`. A layer may also start from given states,
read after the sequence: `from: [sequence, enc:state_h, enc:state_c]` (Keras's `initial_state`). This is how a
sequence-to-sequence decoder starts from its encoder's final state. Neither works on a bidirectional layer (the
wrapper has a forward and a backward state of each kind).
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from nnspec.layers._registry import KerasMapping, Shape, ShapeError, TensorType
from nnspec.layers._shapes import fmt_shape, require_known, require_rank
from nnspec.specs.base import Activation, LayerSpec, PositiveInt, Rate

# op → number of gates (weight blocks of `units` columns each).
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
# op → names of its states, in Keras's order (`return_state` outputs and `initial_state` inputs).
STATES = {"lstm": ("state_h", "state_c"), "gru": ("state_h",), "simple_rnn": ("state_h",)}


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
    return_state: bool = False
    """Also output the final states, `(batch, units)` each: `state_h` (and `state_c` for an lstm), read by
    other nodes as `id:state_h`, e.g. to start a decoder from `from: [target, enc:state_h, enc:state_c]`.
    The plain id still means the output. Not available on a bidirectional layer. Defaults to `false`."""
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

    @model_validator(mode="after")
    def _no_states_on_bidirectional(self):
        if self.return_state and self.bidirectional:
            raise ValueError("return_state is not supported on a bidirectional layer (it has a forward and a "
                             "backward state of each kind): drop `bidirectional: true`, or drop `return_state`")
        return self


def _directions(spec: Recurrent) -> int:
    return 2 if spec.bidirectional else 1


def state_names(spec: Recurrent) -> tuple[str, ...]:
    """The layer's outputs: `output`, then with `return_state` its final states."""
    return ("output", *STATES[spec.op]) if spec.return_state else ("output",)


def _check_states(spec: Recurrent, states: tuple[Shape, ...]) -> None:
    names = STATES[spec.op]
    if spec.bidirectional:
        raise ShapeError("cannot start a bidirectional layer from given states (it has a forward and a backward "
                         "state of each kind): read only the sequence, or drop `bidirectional: true`")
    if len(states) != len(names):
        raise ShapeError(f"takes the sequence then {len(names)} initial state{'s' * (len(names) > 1)} "
                         f"({', '.join(names)}), got {len(states)}")
    for name, state in zip(names, states):
        if len(state) != 2:
            raise ShapeError(f"needs its initial {name} shaped (batch, units) = (None, {spec.units}), got "
                             f"{fmt_shape(state)}. Read the final state of the layer it comes from "
                             f"(`return_state: true`, then `id:{name}`), not its output sequence")
        if state[1] != spec.units:
            raise ShapeError(f"needs its initial {name} shaped (batch, units) = (None, {spec.units}), got "
                             f"{fmt_shape(state)}: the state width must equal `units` ({spec.units}). Give the "
                             f"layer the state comes from the same `units`")


def rnn_shape(spec: Recurrent, x: Shape, *states: Shape) -> Shape | tuple[TensorType, ...]:
    require_rank(x, 3, spec.op, "Reshape the input to (steps, features), or add "
                 "`return_sequences: true` to the recurrent layer before it")
    require_known(x[-1], "number of input features")
    if states:
        _check_states(spec, states)
    width = spec.units * (2 if spec.bidirectional and spec.merge_mode == "concat" else 1)
    out = (x[0], x[1], width) if spec.return_sequences else (x[0], width)
    if not spec.return_state:
        return out
    return (TensorType(out), *(TensorType((x[0], spec.units)) for _ in STATES[spec.op]))


def rnn_params(spec: Recurrent, x: TensorType, *states: TensorType) -> int:
    gates, units = GATES[spec.op], spec.units
    bias = gates * units if spec.use_bias else 0
    if spec.op == "gru" and spec.reset_after:
        bias *= 2  # separate input and recurrent biases
    return _directions(spec) * (gates * units * (x.shape[-1] + units) + bias)


def rnn_flops(spec: Recurrent, out: TensorType, x: TensorType, *states: TensorType) -> int:
    """Per step and direction: the input and recurrent matmuls of every gate (the elementwise gate
    math is small next to them and left out). An unknown number of steps counts as 1."""
    gates, units, steps = GATES[spec.op], spec.units, x.shape[1] or 1
    return _directions(spec) * steps * gates * 2 * units * (x.shape[-1] + units)


def rnn_rules(keras_cls: str, op: str) -> dict:
    """The `register(...)` rules every recurrent card shares; spec fields are factory kwargs."""
    mapping = KerasMapping("nnspec.runtime.keras_factories:recurrent",
                           lambda s: dict(rnn=keras_cls, **s.params()), call="rnn")
    states = STATES[op]
    what = "states are outputs: state_h and state_c" if op == "lstm" else \
        f"state is an output: state_h (a {op} has no cell state state_c)"
    return {"infer_shape": rnn_shape, "count_params": rnn_params, "count_flops": rnn_flops, "keras": mapping,
            "channels": "consume", "arity": (1, 1 + len(states)),
            "inputs_hint": ", ".join(("sequence", *(f"initial {s}" for s in states))),
            "outputs": state_names, "outputs_hint": f"With `return_state: true` its final {what}."}
