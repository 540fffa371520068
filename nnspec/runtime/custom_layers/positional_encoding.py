"""`PositionalEncoding`: adds position information to a `(batch, length, features)` sequence (the
`positional_encoding` op's lowering): the fixed sinusoids of Vaswani et al. 2017 (Sec. 3.5) or a learned table
(ViT, BERT)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def sinusoid_rates(features: int) -> np.ndarray:
    """`1 / 10000^(2i / d)` for feature `j = 2i` (sine) and `j = 2i + 1` (cosine)."""
    j = np.arange(features)
    return (1.0 / np.power(10000.0, 2 * (j // 2) / features)).astype("float32")


@keras.saving.register_keras_serializable(package="nnspec")
class PositionalEncoding(keras.layers.Layer):
    """`x (* sqrt(features) if scale_input) + P[:length]`, P sinusoidal (`kind="sinusoidal"`, no weights) or a
    trainable `(max_length, features)` table (`kind="learned"`). Keras masks pass through unchanged."""

    def __init__(self, kind: str = "sinusoidal", max_length: int | None = None, scale_input: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if kind not in ("sinusoidal", "learned"):
            raise ValueError(f"kind must be 'sinusoidal' or 'learned'. Received: kind={kind!r}")
        if kind == "learned" and not max_length:
            raise ValueError("a learned positional encoding needs max_length")
        self.kind, self.max_length, self.scale_input = kind, max_length, bool(scale_input)
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        if self.kind == "learned":
            # ViT (Dosovitskiy et al. 2021, reference code) and BERT initialize position embeddings N(0, 0.02^2).
            self.embeddings = self.add_weight(
                shape=(self.max_length, features), name="embeddings",
                initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.rates = sinusoid_rates(features)

    def call(self, inputs):
        x = inputs
        features = x.shape[-1]
        if self.scale_input:
            x = x * ops.cast(np.sqrt(features), x.dtype)
        length = x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]
        if self.kind == "learned":
            table = self.embeddings if length == self.max_length else \
                ops.slice(self.embeddings, (0, 0), (length, features))
        else:
            angles = ops.expand_dims(ops.arange(length, dtype="float32"), -1) * self.rates
            even = np.arange(features) % 2 == 0
            table = ops.where(even, ops.sin(angles), ops.cos(angles))
        return x + ops.cast(table, x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "max_length": self.max_length,
                "scale_input": self.scale_input}
