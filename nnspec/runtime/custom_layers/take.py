"""`Take`: picks positions along one axis (the `take` op's lowering): `keras.ops.take(x, index, axis)`, which
exports as ONNX Gather."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nnspec")
class Take(keras.layers.Layer):
    """`numpy.take(x, index, axis)`: an int `index` drops the axis (ViT's class token `x[:, 0]`), a list of
    indices keeps it with one entry per index. Negative indices count from the end of the axis."""

    def __init__(self, axis: int, index: int | list[int], **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.index = index if isinstance(index, int) else [int(i) for i in index]
        self.supports_masking = True

    def call(self, inputs):
        return ops.take(inputs, ops.convert_to_tensor(self.index, dtype="int32"), axis=self._axis(inputs.shape))

    def _axis(self, shape) -> int:
        return self.axis % len(shape)

    def compute_mask(self, inputs, mask=None):
        """A mask over (batch, steps) follows the steps taken; taking one step (or a feature axis) keeps none."""
        if mask is None:
            return None
        if self._axis(inputs.shape) != 1:
            return mask
        if isinstance(self.index, int):
            return None
        return ops.take(mask, ops.convert_to_tensor(self.index, dtype="int32"), axis=1)

    def compute_output_shape(self, input_shape):
        axis = self._axis(input_shape)
        kept = () if isinstance(self.index, int) else (len(self.index),)
        return (*input_shape[:axis], *kept, *input_shape[axis + 1:])

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "index": self.index}
