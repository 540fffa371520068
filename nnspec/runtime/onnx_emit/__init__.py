"""Direct ONNX emission: a typed IR graph and its trained weights → an ONNX model, without TensorFlow.

Exporting through tf2onnx traces the Keras model into a TensorFlow graph and converts that (about 24 s for
ResNet-50); the IR already says everything ONNX needs, so emitting it directly takes well under a second. One
small module per op family registers its emitters (`EMITTERS`, op → `Rule`); `refusals(graph)` says which
nodes are not covered, and `nnspec.runtime.onnx_export` falls back to tf2onnx for those graphs.

    from nnspec.runtime.onnx_emit import emit_model, refusals
    model = emit_model(graph, read_weights(keras_model, graph), opset=18)
"""

from __future__ import annotations

from nnspec.runtime.onnx_emit import (  # noqa: F401  (each module registers its emitters)
    activations,
    batch_norm,
    conv,
    dense,
    merge,
    padding,
    pool,
    shape,
    upsampling,
)
from nnspec.runtime.onnx_emit._registry import EMITTERS
from nnspec.runtime.onnx_emit.emit import PRODUCER, emit_model, refusals

__all__ = ["EMITTERS", "PRODUCER", "emit_model", "refusals"]
