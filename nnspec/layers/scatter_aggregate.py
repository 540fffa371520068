"""`scatter_aggregate`: edge-to-node aggregation on padded batches of graphs: each node gets the sum, mean or
max of the messages on its incoming edges (lowers to nnspec's own `ScatterAggregate`, a segment reduction)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import (
    Example,
    KerasMapping,
    Shape,
    ShapeError,
    TensorType,
    card,
    elements,
)
from nnspec.layers._shapes import require_known
from nnspec.specs.base import LayerSpec


def _shape(spec: ScatterAggregate, messages: Shape, receivers: Shape, nodes: Shape) -> Shape:
    if len(messages) != 3:
        raise ShapeError("expects edge messages of shape (batch, edges, features) as input 1. "
                         "Give the message input a `shape: [edges, features]`")
    if len(receivers) != 2:
        raise ShapeError("expects receivers of shape (batch, edges) as input 2. "
                         "Give the receivers input a `shape: [edges]` and `dtype: int32`")
    if len(nodes) < 2:
        raise ShapeError("reads the number of nodes from input 3, which must be (batch, nodes, ...): pass the "
                         "node features")
    if None not in (messages[1], receivers[1]) and messages[1] != receivers[1]:
        raise ShapeError(f"needs one receiver per message: {messages[1]} messages but {receivers[1]} receivers. "
                         "Take the messages from the same edge list")
    require_known(nodes[1], "number of nodes")
    require_known(messages[2], "number of message features")
    return (messages[0], nodes[1], messages[2])


def _flops(spec: ScatterAggregate, out: TensorType, messages: TensorType, *rest: TensorType) -> int:
    # One sum/max per message element, and for `mean` one division per output element.
    return elements(messages.shape) + (elements(out.shape) if spec.reduce == "mean" else 0)


@card(
    infer_shape=_shape,
    count_flops=_flops,
    keras=KerasMapping("nnspec.runtime.custom_layers.scatter_aggregate:ScatterAggregate",
                       lambda s: {"reduce": s.reduce}, call="list"),
    arity=3,
    inputs_hint="edge messages, receivers, node features (for the node count)",
    input_dtype=("float", "int", "float"),
    index_bounds=lambda s, inputs: {1: inputs[2].shape[1]},
    onnx_ops=("ScatterND", "ReduceSum"),
    examples=(
        Example({}, inputs=((8, 3), (8,), (5, 2)), dtype=("float32", "int32", "float32")),
        Example({"reduce": "mean"}, inputs=((10, 4), (10,), (6, 4)), dtype=("float32", "int32", "float32")),
        Example({"reduce": "max"}, inputs=((7, 2), (7,), (9, 3)), dtype=("float32", "int64", "float32")),
    ),
)
class ScatterAggregate(LayerSpec):
    """Edge-to-node aggregation: from edge messages `(batch, E, F)`, their receivers `(batch, E)` (integers in
    `[0, N)`) and the node features `(batch, N, ...)` (read only for `N`), give each node the `reduce` of the
    messages on its incoming edges, `(batch, N, F)`; a node with no incoming edge gets 0. No weights.

    Computed as a segment reduction over the flattened batch: O(E·F) per graph in Keras; in ONNX (tf2onnx's
    segment lowering) a sort of the E receivers and a gather into an `(N, max in-degree, F)` grid, O(E log E +
    N · max in-degree · F). Receivers are not checked at run time: keep them below `N`.

    Example:
        `{id: incoming, op: scatter_aggregate, reduce: sum, from: [edge_messages, receivers, nodes]}`
    """

    op: Literal["scatter_aggregate"] = "scatter_aggregate"
    reduce: Literal["sum", "mean", "max"] = "sum"
    """How messages arriving at one node combine: `sum`, `mean` or `max` (per feature). Defaults to `sum`."""
