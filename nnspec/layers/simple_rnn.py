"""`simple_rnn`: fully connected recurrent layer (lowers to `keras.layers.SimpleRNN`, optionally in
`keras.layers.Bidirectional`)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, card
from nnspec.layers._rnn import Recurrent, rnn_rules


@card(**rnn_rules("SimpleRNN", "simple_rnn"), examples=(
    Example({"units": 6}, inputs=((7, 3),)),
    Example({"units": 4, "activation": "relu", "return_sequences": True}, inputs=((5, 2),)),
    Example({"units": 3, "bidirectional": True, "merge_mode": "ave"}, inputs=((6, 4),)),
    Example({"units": 4, "return_state": True}, inputs=((5, 2), (4,))),
))
class SimpleRNN(Recurrent):
    """Elman recurrent layer: `h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`.

    With `return_state: true` it also outputs its final state `state_h`; given two inputs it starts from the
    state: `from: [sequence, enc:state_h]`.

    Example:
        `{op: simple_rnn, units: 32, return_sequences: true}`
    """

    op: Literal["simple_rnn"] = "simple_rnn"
