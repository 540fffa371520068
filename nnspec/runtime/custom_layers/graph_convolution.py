"""`GraphConvolution`: the propagation rule of Kipf & Welling 2017 (the `gcn_conv` op's lowering).

`[features H (batch, N, F), adjacency Â (batch, N, N)]` → `activation(Â (H W) + b)`, `(batch, N, units)`. Â is
data (the renormalized adjacency `D^-1/2 (A + I) D^-1/2`, computed once per graph outside the model). `H W` is
taken first, as the reference implementation does (cheaper whenever `units <= F`). Exports to ONNX as `MatMul`s.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="nnspec")
class GraphConvolution(keras.layers.Layer):
    """`activation(adjacency @ (features @ kernel) + bias)` on batches of dense graphs."""

    def __init__(self, units: int, activation=None, use_bias: bool = False,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        features, _ = input_shape
        self.kernel = self.add_weight(name="kernel", shape=(features[-1], self.units),
                                      initializer=self.kernel_initializer)
        self.bias = (self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)
                     if self.use_bias else None)

    def call(self, inputs):
        features, adjacency = inputs
        out = keras.ops.matmul(adjacency, keras.ops.matmul(features, self.kernel))
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def compute_output_shape(self, input_shape):
        features, _ = input_shape
        return (*features[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}
