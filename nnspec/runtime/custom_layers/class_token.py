"""`ClassToken`: prepends a learned vector to a `(batch, steps, features)` sequence (the `class_token` op's
lowering; ViT's [class] token, Dosovitskiy et al. 2021, Eq. 1)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nnspec")
class ClassToken(keras.layers.Layer):
    """`(batch, n, d)` → `(batch, n + 1, d)`: the learned `(d,)` token first, then the input. Zero-initialized, as in
    the ViT reference code. A Keras mask on the input gets a `True` prepended (the token is never padding)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        self.token = self.add_weight(shape=(input_shape[-1],), name="token", initializer="zeros")

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype), (batch, 1, inputs.shape[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        first = ops.ones_like(mask[:, :1], dtype="bool")
        return ops.concatenate([first, ops.cast(mask, "bool")], axis=1)

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        return (input_shape[0], None if n is None else n + 1, *input_shape[2:])
