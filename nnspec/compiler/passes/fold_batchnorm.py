"""`fold_batchnorm`: fold each inference-mode batch norm into the conv or dense layer before it.

At inference a batch norm is a per-channel affine map, `y = (x - mean) * s + beta` with
`s = gamma / sqrt(moving_variance + epsilon)`. When `x = conv(w, input) + b` it equals the same
conv with kernel `w * s` (scaled along its output-channel axis) and bias `(b - mean) * s + beta`.
Deployed models then run one layer instead of two, and later passes (factorization, clustering,
pruning) see plain convs.

A batch norm is folded only where that identity holds: its producer is a `dense`,
`conv1d`/`conv2d`/`conv3d`, `depthwise_conv2d` or `separable_conv2d` with no activation (or
`linear`) that feeds the batch norm alone; the batch norm normalizes the last (channel) axis; and
neither node shares weights. Batch norms that are graph outputs stay too, since folding would
rename the output. Everything skipped is reported with its reason.

Requires: a typed graph (`infer_shapes`) and the weights of its batch norms and their producers.
Ensures: the same function at inference (up to float32 rounding); folded producers have
`use_bias: true`; the graph is re-typed; a second run changes nothing.
"""

from __future__ import annotations

import numpy as np

from nnspec.compiler.edit import bypass, with_params
from nnspec.compiler.ir import Graph
from nnspec.compiler.passes.infer_shapes import infer_shapes
from nnspec.compiler.weights import WeightedGraph, WeightedResult, copy_weights
from nnspec.layers._shapes import norm_axis

FOLDABLE = {"dense": "kernel", "conv1d": "kernel", "conv2d": "kernel", "conv3d": "kernel",
            "depthwise_conv2d": "depthwise_kernel", "separable_conv2d": "pointwise_kernel"}
"""Producer ops a batch norm folds into, and the variable whose output channels it scales."""


def fold_batchnorm(model: WeightedGraph) -> WeightedResult:
    """Fold every foldable `batch_norm` into its producer and remove it.

    Returns:
        A `WeightedResult` whose report is `{"folded": [[producer, batch_norm], ...],
        "skipped": {batch_norm: reason}, "params_before", "params_after"}`.
    """
    g, weights = model.graph, copy_weights(model.weights)
    folded, skipped = [], {}
    # NOTE: checked on the graph as folded so far, so a batch norm after a batch norm folds too.
    for bn in [n.id for n in g.order() if n.op == "batch_norm"]:
        reason = _why_not(g, bn)
        if reason:
            skipped[bn] = reason
            continue
        (producer, _), = g.sources(bn)
        weights[producer] = _folded(g, producer, weights.get(producer, {}), bn, weights.pop(bn, {}))
        g = bypass(with_params(g, producer, use_bias=True), bn)
        folded.append([producer, bn])
    if not folded:
        return WeightedResult(model, False, _report(folded, skipped, model.graph, model.graph))
    g = infer_shapes(g).graph
    return WeightedResult(WeightedGraph(g, weights), True, _report(folded, skipped, model.graph, g))


def _why_not(g: Graph, bn: str) -> str | None:
    """Why the batch norm `bn` cannot be folded, or None when it can."""
    node = g.node(bn)
    (producer, _), = g.sources(bn)
    src = g.node(producer)
    if src.op not in FOLDABLE:
        return f"its input comes from '{producer}' ({src.op}), not a conv or dense layer"
    if src.spec.activation not in (None, "linear"):
        return f"'{producer}' applies activation '{src.spec.activation}' before it"
    if g.consumers(producer) != [bn] or producer in g.outputs:
        return f"'{producer}' also feeds other nodes"
    if bn in g.outputs:
        return "it is a graph output (folding would rename the output)"
    sharing = {n.shares for n in g.order() if n.shares}
    if node.shares or src.shares or {bn, producer} & sharing:
        return "weights are shared with another node"
    if norm_axis(node.spec.axis, node.out.shape) != len(node.out.shape) - 1:
        return f"it normalizes axis {node.spec.axis}, not the channel axis"
    return None


def _folded(g: Graph, producer: str, conv: dict, bn: str, stats: dict) -> dict:
    """The producer's variables with the batch norm's affine map folded in (computed in float64)."""
    spec = g.node(bn).spec
    mean = stats["moving_mean"].astype(np.float64)
    gamma = stats["gamma"].astype(np.float64) if spec.scale else np.ones_like(mean)
    beta = stats["beta"].astype(np.float64) if spec.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(stats["moving_variance"].astype(np.float64) + spec.epsilon)
    name = FOLDABLE[g.node(producer).op]
    kernel = conv[name]
    factor = scale
    if g.node(producer).op == "depthwise_conv2d":
        factor = scale.reshape(kernel.shape[-2:])  # (kh, kw, in, m): channel c*m + j is [c, j]
    bias = conv.get("bias", np.zeros_like(mean)).astype(np.float64)
    return {**conv, name: (kernel.astype(np.float64) * factor).astype(kernel.dtype),
            "bias": ((bias - mean) * scale + beta).astype(kernel.dtype)}


def _report(folded: list, skipped: dict, before: Graph, after: Graph) -> dict:
    return {"folded": folded, "skipped": skipped,
            "params_before": sum(n.params or 0 for n in before.order()),
            "params_after": sum(n.params or 0 for n in after.order())}
