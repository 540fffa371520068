"""`Sampling`: the VAE reparameterization trick as a Keras layer (the `sampling` op's lowering)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="nnspec")
class Sampling(keras.layers.Layer):
    """`[mean, log_var]` → `mean + exp(0.5 * log_var) * eps`, `eps ~ N(0, I)`, while training; `mean` otherwise.

    Returning the mean at inference (`training` false or unset) keeps a deployed encoder deterministic, and the
    traced inference graph (the one ONNX export converts) has no random op.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        if not training:
            return mean
        eps = keras.random.normal(keras.ops.shape(mean), dtype=mean.dtype, seed=self.seed_generator)
        return mean + keras.ops.exp(0.5 * log_var) * eps

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
