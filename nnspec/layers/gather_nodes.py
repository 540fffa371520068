"""`gather_nodes`: node-to-edge gather on padded batches of graphs: each edge gets the features of one of its
endpoints (lowers to nnspec's own `GatherNodes`, ONNX GatherND)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card
from nnspec.layers._shapes import require_known
from nnspec.specs.base import LayerSpec


def _shape(spec: GatherNodes, nodes: Shape, index: Shape) -> Shape:
    if len(nodes) != 3:
        raise ShapeError("expects node features of shape (batch, nodes, features) as input 1. "
                         "Give the node input a `shape: [nodes, features]`")
    if len(index) != 2:
        raise ShapeError("expects edge endpoints of shape (batch, edges) as input 2 (`senders` or `receivers`). "
                         "Give the index input a `shape: [edges]` and `dtype: int32`")
    require_known(nodes[1], "number of nodes")
    require_known(nodes[2], "number of node features")
    return (nodes[0], index[1], nodes[2])


@card(
    infer_shape=_shape,
    count_flops=lambda s, out, nodes, index: 0,  # a lookup, no arithmetic
    keras=KerasMapping("nnspec.runtime.custom_layers.gather_nodes:GatherNodes", lambda s: {}, call="list"),
    arity=2,
    inputs_hint="node features, edge endpoints",
    input_dtype=("float", "int"),
    index_bounds=lambda s, inputs: {1: inputs[0].shape[1]},
    onnx_ops=("GatherND",),
    examples=(
        Example({}, inputs=((5, 3), (8,)), dtype=("float32", "int32")),
        Example({}, inputs=((4, 6), (10,)), dtype=("float32", "int64")),
    ),
)
class GatherNodes(LayerSpec):
    """Node-to-edge gather: from node features `(batch, N, F)` and an edge endpoint list `(batch, E)` (integers
    in `[0, N)`, e.g. `senders`), give each edge its endpoint's features, `(batch, E, F)`. Graphs are batched
    as equal-size (padded) graphs; no weights. Indices are not checked at run time: keep them below `N`.

    Example:
        `{id: v_sender, op: gather_nodes, from: [nodes, senders]}`
    """

    op: Literal["gather_nodes"] = "gather_nodes"
