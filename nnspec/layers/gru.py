"""`gru`: gated recurrent unit layer (lowers to `keras.layers.GRU`, optionally `Bidirectional`)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, card
from nnspec.layers._rnn import Recurrent, rnn_rules
from nnspec.specs.base import Activation


@card(**rnn_rules("GRU", "gru"), examples=(
    Example({"units": 6}, inputs=((7, 3),)),
    Example({"units": 4, "reset_after": False, "return_sequences": True}, inputs=((5, 2),)),
    Example({"units": 3, "bidirectional": True, "merge_mode": "sum", "use_bias": False},
            inputs=((6, 4),)),
    # An encoder layer (output, state_h), and a decoder layer started from a given state.
    Example({"units": 5, "return_sequences": True, "return_state": True, "reset_after": False},
            inputs=((6, 3),)),
    Example({"units": 4, "return_sequences": True}, inputs=((5, 3), (4,))),
))
class GRU(Recurrent):
    """Gated recurrent unit over `(batch, steps, features)`: update and reset gates (Cho 2014).

    With `return_state: true` it has two outputs, `output` and `state_h` (there is no cell state); given two
    inputs it starts from the state: `from: [sequence, enc:state_h]`.

    Example:
        `{op: gru, units: 64, bidirectional: true, merge_mode: sum}`
        `{id: dec, op: gru, units: 64, return_sequences: true, from: [target, enc:state_h]}`
    """

    op: Literal["gru"] = "gru"
    recurrent_activation: Activation = "sigmoid"
    """Activation of the update and reset gates. Defaults to `sigmoid`."""
    reset_after: bool = True
    """Apply the reset gate after the recurrent matmul (the cuDNN variant, with separate input and
    recurrent biases); `false` applies it before, as in the paper. Defaults to `true`."""
