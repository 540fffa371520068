"""`ReflectionPadding2D`: pad height and width by mirroring the image at its edges (the edge row and column
are not repeated), for the `reflection_pad2d` op. Exports to ONNX as `Pad` with `mode="reflect"`."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="nnspec")
class ReflectionPadding2D(keras.layers.Layer):
    """Reflection padding of channels-last images: `padding` is `((top, bottom), (left, right))`."""

    def __init__(self, padding=((1, 1), (1, 1)), **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        self.padding = tuple((p, p) if isinstance(p, int) else tuple(int(v) for v in p) for p in padding)

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return keras.ops.pad(inputs, ((0, 0), (top, bottom), (left, right), (0, 0)), mode="reflect")

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        batch, height, width, channels = input_shape
        return (batch, None if height is None else height + top + bottom,
                None if width is None else width + left + right, channels)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
