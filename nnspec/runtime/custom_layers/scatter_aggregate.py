"""`ScatterAggregate`: edge-to-node aggregation for padded batches of graphs (the `scatter_aggregate` op's lowering).

`[messages (batch, E, F), receivers (batch, E), nodes (batch, N, ...)]` → `(batch, N, F)`: node `n` of graph `b`
gets the sum, mean or max of the messages of the edges whose receiver is `n`; a node with no incoming edge gets 0.
The third input only gives `N`.

Segment formulation: the batch is flattened to one graph of `batch * N` nodes (receiver `r` of graph `b` becomes
segment `b * N + r`) and reduced with `keras.ops.segment_sum` / `segment_max`. Cost O(E·F) per graph in Keras;
tf2onnx writes each segment reduction as a sort of the batch's `batch * E` segment ids (TopK, Unique) and a
gather into a `(batch * N, max in-degree, F)` grid (ScatterND builds the index grid) reduced along its second
axis: O(E log E + N · max in-degree · F) per graph. Exports from opset 13 on.
"""

from __future__ import annotations

import keras
import numpy as np

REDUCTIONS = ("sum", "mean", "max")


@keras.saving.register_keras_serializable(package="nnspec")
class ScatterAggregate(keras.layers.Layer):
    """Aggregate edge messages at their receiving nodes with `reduce` (`sum`, `mean` or `max`). No weights."""

    def __init__(self, reduce: str = "sum", **kwargs):
        super().__init__(**kwargs)
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {REDUCTIONS}. Received: reduce={reduce!r}")
        self.reduce = reduce

    def call(self, inputs):
        messages, receivers, nodes = inputs
        n = nodes.shape[1]  # static: the card requires it
        batch = keras.ops.shape(messages)[0]
        features = messages.shape[2]
        offsets = keras.ops.expand_dims(keras.ops.arange(batch, dtype="int32") * n, -1)  # (batch, 1)
        segments = keras.ops.reshape(keras.ops.cast(receivers, "int32") + offsets, (-1,))  # (batch * E,)
        data = keras.ops.reshape(messages, (-1, features))  # (batch * E, F)
        count = batch * n
        if self.reduce == "max":
            out = keras.ops.segment_max(data, segments, num_segments=count)
        else:
            out = keras.ops.segment_sum(data, segments, num_segments=count)
        if self.reduce != "sum":
            ones = keras.ops.ones_like(data[:, :1])
            degree = keras.ops.segment_sum(ones, segments, num_segments=count)  # (batch * N, 1)
            if self.reduce == "mean":
                out = out / keras.ops.maximum(degree, 1.0)
            else:
                # An empty segment's max is the dtype's lowest value (TensorFlow) or -inf (tf2onnx's lowering,
                # which also writes `where` as arithmetic, where -inf * 0 is NaN): clip to finite, then make it 0.
                lowest = float(np.finfo(keras.backend.standardize_dtype(out.dtype)).min)
                out = keras.ops.where(degree > 0, keras.ops.maximum(out, lowest), keras.ops.zeros_like(out))
        return keras.ops.reshape(out, (-1, n, features))

    def compute_output_shape(self, input_shape):
        messages, _, nodes = input_shape
        return (messages[0], nodes[1], messages[2])

    def get_config(self):
        return {**super().get_config(), "reduce": self.reduce}
