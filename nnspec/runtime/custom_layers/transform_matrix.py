"""`TransformMatrix`: a k x k matrix regressed from a feature vector, starting at the identity (the
`transform_matrix` op's lowering; PointNet's T-Net head)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="nnspec")
class TransformMatrix(keras.layers.Layer):
    """`(batch, units)` → `reshape(x @ kernel + bias, (batch, k, k)) + I`.

    The kernel `(units, k*k)` and the bias `(k*k,)` are initialised to zero, so the fresh layer returns the
    identity for any input. The identity is a constant added after the product, not folded into the bias, as
    in the original PointNet (charlesq34/pointnet, transform_nets.py): weight decay then pulls the learned
    part, not the whole matrix, towards zero.
    """

    def __init__(self, k: int, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def build(self, input_shape):
        units = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(units, self.k * self.k), initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=(self.k * self.k,), initializer="zeros")

    def call(self, inputs):
        flat = keras.ops.matmul(inputs, self.kernel) + self.bias
        matrix = keras.ops.reshape(flat, (-1, self.k, self.k))
        return matrix + keras.ops.eye(self.k, dtype=matrix.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.k, self.k)

    def get_config(self):
        return {**super().get_config(), "k": self.k}
