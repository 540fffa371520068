"""`lstm`: long short-term memory recurrent layer (lowers to `keras.layers.LSTM`, optionally in
`keras.layers.Bidirectional`)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, card
from nnspec.layers._rnn import Recurrent, rnn_rules
from nnspec.specs.base import Activation


@card(**rnn_rules("LSTM", "lstm"), examples=(
    Example({"units": 6}, inputs=((7, 3),)),
    Example({"units": 4, "return_sequences": True, "use_bias": False, "activation": "relu",
             "recurrent_activation": "hard_sigmoid"}, inputs=((5, 2),)),
    Example({"units": 3, "bidirectional": True, "return_sequences": True, "dropout": 0.1,
             "recurrent_dropout": 0.2}, inputs=((6, 4),)),
    # An encoder layer: the output, then its final states state_h and state_c.
    Example({"units": 5, "return_sequences": True, "return_state": True}, inputs=((6, 3),)),
    # A decoder layer started from given states (sequence, initial state_h, initial state_c).
    Example({"units": 4, "return_sequences": True}, inputs=((5, 3), (4,), (4,))),
    Example({"units": 3, "return_state": True}, inputs=((4, 2), (3,), (3,))),
))
class LSTM(Recurrent):
    """Long short-term memory over `(batch, steps, features)`: input, forget, cell and output gates.

    With `return_state: true` it has three outputs, `output`, `state_h` and `state_c` (read as `enc:state_c`);
    given three inputs it starts from the states: `from: [sequence, enc:state_h, enc:state_c]`.

    Example:
        `{op: lstm, units: 64, return_sequences: true, bidirectional: true}`
        `{id: dec, op: lstm, units: 64, return_sequences: true, from: [target, enc:state_h, enc:state_c]}`
    """

    op: Literal["lstm"] = "lstm"
    recurrent_activation: Activation = "sigmoid"
    """Activation of the input, forget and output gates. Defaults to `sigmoid`."""
