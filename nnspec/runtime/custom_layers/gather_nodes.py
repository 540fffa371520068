"""`GatherNodes`: node-to-edge gather for padded batches of graphs (the `gather_nodes` op's lowering).

`[nodes (batch, N, F), index (batch, E)]` → `(batch, E, F)`, row `e` of graph `b` being `nodes[b, index[b, e]]`:
one `tf.gather(..., batch_dims=1)`, O(E·F) per graph, exported to ONNX as one `GatherND` (with `batch_dims=1`).

A TensorFlow op because `keras.ops` has no batched gather: `keras.ops.take_along_axis` computes the same thing,
but tf2onnx turns it into about 40 ONNX nodes (index arithmetic around a GatherND), and flattening the batch
for `keras.ops.take` into about 25; both make graph-network exports several times slower.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="nnspec")
class GatherNodes(keras.layers.Layer):
    """Each edge gets the features of the node its index names (its sender or its receiver). No weights.

    Indices must lie in `[0, N)`; they are not checked at run time (TensorFlow on the CPU raises on an index out
    of range, onnxruntime fails or reads anything).
    """

    def call(self, inputs):
        nodes, index = inputs
        return tf.gather(nodes, index, batch_dims=1)

    def compute_output_shape(self, input_shape):
        nodes, index = input_shape
        return (index[0], index[1], nodes[2])
