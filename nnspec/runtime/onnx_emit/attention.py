"""`multi_head_attention`, written out as Keras's MultiHeadAttention computes it at inference:

    q, k, v = x W + b for the query, key and value inputs (EinsumDense per head: one MatMul `id/query`, ...)
    scores  = (q / sqrt(key_dim)) k^T per head         (MatMul `id/scores`)
    scores  = where(causal, scores, -1e9)              (with `use_causal_mask`: key step <= query step)
    out     = softmax(scores) v, heads concatenated, W_o + b_o   (MatMul `id/context`, MatMul `id`)

Heads are split with Reshape + Transpose to (batch, heads, steps, size). Inputs with several attention axes
(rank > 3: Keras attends over all of them jointly) are flattened to one axis first and the output reshaped
back. Keras padding masks are not applied here: `emit.refusals` sends graphs where one can reach an attention to
tf2onnx.
"""

from __future__ import annotations

import math

import numpy as np

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import LAST, Builder
from nnspec.runtime.onnx_emit._registry import emits

LARGE_NEGATIVE = -1e9
"""What Keras writes over masked attention scores in float32."""


def _refuse(node: Node, graph) -> str | None:
    query_shape = node.out.shape
    if len(query_shape) > 3:
        if node.spec.use_causal_mask:
            return "causal attention over several attention axes is not emitted"
        if any(d is None for t in graph.input_types(node.id) for d in t.shape[1:]):
            return "attention over several attention axes of unknown size is not emitted"
    return None


def _project(
    b: Builder, node: Node, x: str, layer: str, heads: int, size: int, perm: list[int]
) -> str:
    """`x W + b` of projection `layer` (Keras kernel `(features, heads, size)`), split into heads, permuted."""
    kernel = b.param(
        node, f"{layer}/kernel", lambda: b.weight(node, f"{layer}/kernel").reshape(-1, heads * size)
    )
    y = b.add("MatMul", [x, kernel], name=f"{node.id}/{layer}")
    if node.spec.use_bias:
        bias = b.param(node, f"{layer}/bias", lambda: b.weight(node, f"{layer}/bias").reshape(-1))
        y = b.add("Add", [y, bias], name=f"{node.id}/{layer}_bias")
    y = b.add(
        "Reshape",
        [y, b.ints(f"{node.id}/{layer}_heads", [0, 0, heads, size])],
        name=f"{node.id}/{layer}_heads",
    )
    return b.add("Transpose", [y], name=f"{node.id}/{layer}_split", perm=perm)


def _causal(b: Builder, node: Node, scores: str) -> str:
    """Scores of later key steps replaced by -1e9 (a (T, S) lower-triangular mask built from the run-time shape)."""
    shape = b.add("Shape", [scores], name=f"{node.id}/scores_shape")
    zero, one = b.const(f"{node.id}/zero", np.int64(0)), b.const(f"{node.id}/one", np.int64(1))
    steps = []
    for axis, side in ((2, "query"), (3, "key")):
        n = b.add(
            "Gather",
            [shape, b.const(f"{node.id}/{side}_axis", np.int64(axis))],
            name=f"{node.id}/{side}_steps",
            axis=0,
        )
        steps.append(b.add("Range", [zero, n, one], name=f"{node.id}/{side}_range"))
    rows = b.add(
        "Unsqueeze", [steps[0], b.ints(f"{node.id}/column", [1])], name=f"{node.id}/query_column"
    )
    allowed = b.add("GreaterOrEqual", [rows, steps[1]], name=f"{node.id}/causal_mask")
    return b.add(
        "Where",
        [allowed, scores, b.scalar(f"{node.id}/masked", LARGE_NEGATIVE, node)],
        name=f"{node.id}/causal",
    )


@emits("multi_head_attention", refuse=_refuse)
def emit_multi_head_attention(b: Builder, node: Node) -> None:
    spec = node.spec
    heads, key_dim = spec.num_heads, spec.key_dim
    value_dim = spec.value_dim or key_dim
    out_shape = node.out.shape
    query, value = b.read(node, 0, LAST), b.read(node, 1, LAST)
    key = b.read(node, 2, LAST) if b.inputs(node) > 2 else value
    if len(out_shape) > 3:  # attend over all middle axes jointly: flatten them to one
        flat = {}
        for x, port in ((query, 0), (value, 1), (key, 2 if b.inputs(node) > 2 else 1)):
            features = b.graph.input_types(node.id)[port].shape[-1]
            flat[x] = flat.get(x) or b.add(
                "Reshape",
                [x, b.ints(f"{node.id}/flat_{port}", [0, -1, features])],
                name=f"{node.id}/flatten_{port}",
            )
        query, value, key = flat[query], flat[value], flat[key]
    q = _project(b, node, query, "query", heads, key_dim, [0, 2, 1, 3])
    q = b.add(
        "Mul",
        [q, b.scalar(f"{node.id}/inverse_sqrt_key_dim", 1 / math.sqrt(key_dim), node)],
        name=f"{node.id}/query_scaled",
    )
    k = _project(b, node, key, "key", heads, key_dim, [0, 2, 3, 1])
    v = _project(b, node, value, "value", heads, value_dim, [0, 2, 1, 3])
    scores = b.add("MatMul", [q, k], name=f"{node.id}/scores")
    if spec.use_causal_mask:
        scores = _causal(b, node, scores)
    weights = b.add("Softmax", [scores], name=f"{node.id}/softmax", axis=-1)
    context = b.add("MatMul", [weights, v], name=f"{node.id}/context")
    context = b.add("Transpose", [context], name=f"{node.id}/merge_heads", perm=[0, 2, 1, 3])
    context = b.add(
        "Reshape",
        [context, b.ints(f"{node.id}/context_shape", [0, 0, heads * value_dim])],
        name=f"{node.id}/context_flat",
    )
    kernel = b.param(
        node,
        "attention_output/kernel",
        lambda: b.weight(node, "attention_output/kernel").reshape(heads * value_dim, -1),
    )
    y = b.add("MatMul", [context, kernel], name=node.id)
    if spec.use_bias:
        y = b.add(
            "Add",
            [
                y,
                b.param(
                    node, "attention_output/bias", lambda: b.weight(node, "attention_output/bias")
                ),
            ],
            name=f"{node.id}/output_bias",
        )
    if len(out_shape) > 3:
        y = b.add(
            "Reshape",
            [y, b.ints(f"{node.id}/output_shape", [0, *out_shape[1:]])],
            name=f"{node.id}/unflatten",
        )
    b.write(node, y, LAST)
