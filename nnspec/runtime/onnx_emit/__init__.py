"""Direct ONNX emission: a typed IR graph and its trained weights → an ONNX model, without TensorFlow.

Exporting through tf2onnx traces the Keras model into a TensorFlow graph and converts that (about 24 s for
ResNet-50); the IR already says everything ONNX needs, so emitting it directly takes well under a second. One
small module per op family registers its emitters (`EMITTERS`, op → `Rule`); `refusals(graph)` says which
nodes are not covered, and `nnspec.runtime.onnx_export` falls back to tf2onnx for those graphs.

Covered ops (module): activations and `softmax`, `leaky_relu`, `elu`, `prelu` (activations); `batch_norm`;
`conv1d/2d/3d`, `conv2d_transpose` (not dilated), `depthwise_conv2d`, `separable_conv2d` (conv); `dense`;
`add`, `subtract`, `multiply`, `concatenate` (merge); `zero_padding2d`, `reflection_pad2d`, `cropping2d`
(padding); max/avg and global pools 1-3d (pool); `flatten`, `reshape`, `permute`, `dropout` (shape);
`upsampling2d`; `layer_norm`, `group_norm`, `instance_norm` (normalization); `embedding`, `tied_embedding`,
`take`, `gather_nodes` (gather); `positional_encoding`, `class_token` (sequence); `matmul`; `reduce`;
`multi_head_attention` (attention; not when a Keras padding mask from a `mask_zero` embedding reaches it).
Not covered: recurrent layers, `gcn_conv`, `scatter_aggregate`, `transform_matrix`, `sampling`,
`fake_quant`, `max_pool2d_with_indices`, `max_unpool2d`.

    from nnspec.runtime.onnx_emit import emit_model, refusals
    model = emit_model(graph, read_weights(keras_model, graph), opset=18)
"""

from __future__ import annotations

from nnspec.runtime.onnx_emit import (  # noqa: F401  (each module registers its emitters)
    activations,
    attention,
    batch_norm,
    conv,
    dense,
    gather,
    matmul,
    merge,
    normalization,
    padding,
    pool,
    reduce,
    sequence,
    shape,
    upsampling,
)
from nnspec.runtime.onnx_emit._registry import EMITTERS
from nnspec.runtime.onnx_emit.emit import PRODUCER, emit_model, refusals

__all__ = ["EMITTERS", "PRODUCER", "emit_model", "refusals"]
