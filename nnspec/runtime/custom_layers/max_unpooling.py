"""`MaxUnpooling2D`: place pooled values back at the positions their max pool recorded (the `max_unpool2d` op).

Formulated as a gather, not a scatter: every value can only go to a position of its own pooling window, so slot
`(dy, dx)` of each window takes the value when the value's index is that slot's position. The result is integer
arithmetic, comparisons, a `where`, a reshape and a transpose (ONNX Div, Mul, Sub, Equal, And, Cast/Mul for the
`where` against zero, Reshape, Transpose, Slice or Pad): exact for finite values, deterministic, and with no
constant larger than the pooled height x width. A scatter (tf.scatter_nd → ONNX ScatterND) would need
duplicate-index semantics TensorFlow (sum) and ONNX (unspecified) do not share.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


@keras.saving.register_keras_serializable(package="nnspec")
class MaxUnpooling2D(keras.layers.Layer):
    """`[values, indices]` → a zero map of `output_size` with each value at its index.

    `indices` follow `MaxPooling2DWithIndices`: per example, `(y * width + x) * channels + c` in the
    `output_size` map (height, width; default: the input size times `pool_size`). The pool must have had
    strides equal to `pool_size` ('valid' or 'same' padding, TensorFlow's split of 'same' padding); a value
    whose index is not in its own window (or channel) is dropped.
    """

    def __init__(self, pool_size=2, output_size=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _pair(pool_size)
        self.output_size = None if output_size is None else _pair(output_size)

    def _sizes(self, values_shape):
        _, h, w, c = values_shape
        ph, pw = self.pool_size
        height, width = self.output_size or (h * ph, w * pw)
        return h, w, c, height, width

    def call(self, inputs):
        values, indices = inputs
        ph, pw = self.pool_size
        h, w, c, height, width = self._sizes(tuple(values.shape))
        # 'same' padding puts (h * ph - height) // 2 padded rows above the first window (TensorFlow's split).
        top, left = max(h * ph - height, 0) // 2, max(w * pw - width, 0) // 2
        idx = ops.cast(indices, "int64")
        pos = idx // c                                      # y * width + x
        same_channel = ops.equal(idx - pos * c, np.arange(c, dtype="int64"))
        # Window (i, j) starts at row i * ph - top, column j * pw - left; slot (dy, dx) of it is `start + offset`.
        rows = (np.arange(h, dtype="int64") * ph - top).reshape(h, 1, 1)
        cols = (np.arange(w, dtype="int64") * pw - left).reshape(1, w, 1)
        start = rows * width + cols                         # (h, w, 1): small, no constant of the output's size
        offsets = np.array([dy * width + dx for dy in range(ph) for dx in range(pw)], dtype="int64")
        # Slot k of a value's window holds it when its index is that slot. An offset can also match a position of
        # another row only where the slot lies in padding, which the crop below removes.
        hit = ops.logical_and(ops.equal(ops.expand_dims(pos - start, -1), offsets),
                              ops.expand_dims(same_channel, -1))       # (batch, h, w, c, ph * pw)
        out = ops.where(hit, ops.expand_dims(values, -1), ops.zeros((), dtype=values.dtype))
        out = ops.reshape(out, (-1, h, w, c, ph, pw))
        out = ops.reshape(ops.transpose(out, (0, 1, 4, 2, 5, 3)), (-1, h * ph, w * pw, c))
        # Back to the pre-pooling size: drop 'same' padding, or add the rows a 'valid' pool never read.
        if height < h * ph or width < w * pw:
            out = out[:, top:top + min(height, h * ph), left:left + min(width, w * pw), :]
        if height > h * ph or width > w * pw:
            out = ops.pad(out, ((0, 0), (0, max(height - h * ph, 0)), (0, max(width - w * pw, 0)), (0, 0)))
        return out

    def compute_output_shape(self, input_shape):
        values_shape = tuple(input_shape[0])
        _, _, c, height, width = self._sizes(values_shape)
        return (values_shape[0], height, width, c)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "output_size": self.output_size}
