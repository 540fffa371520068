"""`lstm`: long short-term memory recurrent layer (lowers to `keras.layers.LSTM`, optionally in
`keras.layers.Bidirectional`)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, card
from nnspec.layers._rnn import Recurrent, rnn_rules
from nnspec.specs.base import Activation


@card(**rnn_rules("LSTM"), examples=(
    Example({"units": 6}, inputs=((7, 3),)),
    Example({"units": 4, "return_sequences": True, "use_bias": False, "activation": "relu",
             "recurrent_activation": "hard_sigmoid"}, inputs=((5, 2),)),
    Example({"units": 3, "bidirectional": True, "return_sequences": True, "dropout": 0.1,
             "recurrent_dropout": 0.2}, inputs=((6, 4),)),
))
class LSTM(Recurrent):
    """Long short-term memory over `(batch, steps, features)`: input, forget, cell and output gates.

    Example:
        `{op: lstm, units: 64, return_sequences: true, bidirectional: true}`
    """

    op: Literal["lstm"] = "lstm"
    recurrent_activation: Activation = "sigmoid"
    """Activation of the input, forget and output gates. Defaults to `sigmoid`."""
