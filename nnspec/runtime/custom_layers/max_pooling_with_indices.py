"""`MaxPooling2DWithIndices`: 2D max pooling that also returns the position of each maximum, for the
`max_pool2d_with_indices` op. Exports to ONNX as MaxPool with its `Indices` output (tf2onnx's
`MaxPoolWithArgmax` handler converts ONNX's NCHW indices back to this layer's convention)."""

from __future__ import annotations

import keras


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


@keras.saving.register_keras_serializable(package="nnspec")
class MaxPooling2DWithIndices(keras.layers.Layer):
    """Channels-last max pooling returning `[values, indices]`.

    `indices` (int64, the shape of `values`) holds, for each output element, where its maximum is in the same
    example's input, flattened channels-last: `(y * width + x) * channels + c`, with `y, x` in the unpadded
    input. The batch is not counted in (`tf.nn.max_pool_with_argmax(..., include_batch_in_index=False)`), so
    the indices of an example do not depend on its place in the batch. Needs the TensorFlow backend.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size)
        self.strides = self.pool_size if strides is None else _pair(strides)
        self.padding = padding.lower()

    def call(self, inputs):
        if keras.backend.backend() != "tensorflow":
            raise NotImplementedError("MaxPooling2DWithIndices needs the TensorFlow backend "
                                      f"(tf.nn.max_pool_with_argmax); this is {keras.backend.backend()!r}")
        import tensorflow as tf

        values, indices = tf.nn.max_pool_with_argmax(
            inputs, ksize=self.pool_size, strides=self.strides, padding=self.padding.upper(),
            output_dtype=tf.int64, include_batch_in_index=False)
        return [values, indices]

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        spatial = []
        for length, pool, stride in zip((height, width), self.pool_size, self.strides):
            if length is None:
                spatial.append(None)
            elif self.padding == "same":
                spatial.append(-(-length // stride))
            else:
                spatial.append((length - pool) // stride + 1)
        shape = (batch, *spatial, channels)
        return [shape, shape]

    def compute_output_spec(self, inputs):
        values, indices = self.compute_output_shape(tuple(inputs.shape))
        return [keras.KerasTensor(values, dtype=self.compute_dtype), keras.KerasTensor(indices, dtype="int64")]

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}
