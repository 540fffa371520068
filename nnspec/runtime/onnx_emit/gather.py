"""Lookups: `embedding` and `tied_embedding` (Gather of token vectors; `tied_embedding` on float vectors is the
logits MatMul), `take` (Gather of constant indices) and `gather_nodes` (GatherND with one batch axis).

Integer graph inputs keep their spec dtype (int32 or int64, as the Keras model's inputs and tf2onnx's graph);
Gather takes either, GatherND wants int64 (a Cast `id/int64` where the indices are int32).
"""

from __future__ import annotations

import numpy as np

from nnspec.compiler.ir import Node
from nnspec.layers._registry import INT_DTYPES
from nnspec.runtime.onnx_emit._builder import LAST, Builder
from nnspec.runtime.onnx_emit._registry import emits


@emits("embedding")
def emit_embedding(b: Builder, node: Node) -> None:
    table = b.param(node, "embeddings", lambda: b.weight(node, "embeddings"))
    b.write(node, b.add("Gather", [table, b.read(node, 0, LAST)], name=node.id, axis=0), LAST)


@emits("tied_embedding")
def emit_tied_embedding(b: Builder, node: Node) -> None:
    """One initializer `(output_dim, input_dim)` (Keras's layout) serves both uses, and every twin: ids gather
    its columns (Gather on axis 1, then the vector axis moved last), vectors are multiplied by it (logits)."""
    matrix = b.param(node, "embeddings", lambda: b.weight(node, "embeddings"))
    x = b.read(node, 0, LAST)
    if b.graph.input_types(node.id)[0].dtype in INT_DTYPES:
        rank = len(node.out.shape)
        columns = b.add("Gather", [matrix, x], name=f"{node.id}/gather", axis=1)
        y = b.add("Transpose", [columns], name=node.id, perm=[*range(1, rank), 0])
    else:
        y = b.add("MatMul", [x, matrix], name=node.id)
    b.write(node, y, LAST)


@emits("take")
def emit_take(b: Builder, node: Node) -> None:
    spec = node.spec
    index = b.const(f"{node.id}/index", np.asarray(spec.index, dtype=np.int64))
    axis = spec.axis % b.rank(node)
    b.write(node, b.add("Gather", [b.read(node, 0, LAST), index], name=node.id, axis=axis), LAST)


@emits("gather_nodes")
def emit_gather_nodes(b: Builder, node: Node) -> None:
    """`tf.gather(nodes, index, batch_dims=1)`: GatherND of `index[..., None]` with `batch_dims=1`."""
    index = b.read(node, 1, LAST)
    if b.graph.input_types(node.id)[1].dtype != "int64":
        index = b.add("Cast", [index], name=f"{node.id}/int64", to=7)  # TensorProto.INT64
    index = b.add(
        "Unsqueeze", [index, b.ints(f"{node.id}/last_axis", [2])], name=f"{node.id}/indices"
    )
    y = b.add("GatherND", [b.read(node, 0, LAST), index], name=node.id, batch_dims=1)
    b.write(node, y, LAST)
