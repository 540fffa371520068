"""`infer_shapes`: annotate every node with its output type, parameter count and FLOPs.

Requires: a graph from `build_graph` (references resolved, acyclic).
Ensures: every node has `out`, `params`, `trainable_params` and `flops`; or raises `CompileError` with one
diagnostic per node whose inputs it cannot take (nodes downstream of a failure are skipped, not reported).
"""

from __future__ import annotations

import dataclasses

from nnspec.compiler.ir import INPUT, Graph, Node
from nnspec.compiler.passes import PassResult
from nnspec.errors import CompileError, Diagnostic
from nnspec.layers._registry import FLOAT_DTYPES, INT_DTYPES, LAYERS, ShapeError, TensorType
from nnspec.layers._shapes import fmt_shape


def _input_type(node: Node) -> TensorType:
    return TensorType((None, *node.spec.shape), node.spec.dtype)


def _check_dtypes(node: Node, inputs: list[TensorType]) -> None:
    wanted = LAYERS[node.op].input_dtype
    for port, t in enumerate(inputs):
        want = wanted if isinstance(wanted, str) else wanted[min(port, len(wanted) - 1)]
        allowed = {"float": FLOAT_DTYPES, "int": INT_DTYPES, "any": FLOAT_DTYPES + INT_DTYPES}[want]
        if t.dtype not in allowed:
            hint = ". Feed integer token ids to an embedding first" if t.dtype in INT_DTYPES else ""
            which = "" if len(inputs) == 1 else f" as input {port + 1}"
            raise ShapeError(f"expects {want} input{which}, got {t.dtype}{hint}")


def annotate(node: Node, inputs: list[TensorType]) -> Node:
    """The node with its output type and counts filled in. Raises `ShapeError`."""
    layer = LAYERS[node.op]
    _check_dtypes(node, inputs)
    result = layer.infer_shape(node.spec, *(t.shape for t in inputs))
    if len(layer.output_names(node.spec)) > 1:  # several outputs: one TensorType each
        outs = tuple(result)
    else:
        outs = (TensorType(tuple(result), layer.output_dtype or inputs[0].dtype),)
    params = layer.count_params(node.spec, *inputs)
    trainable = layer.count_trainable(node.spec, *inputs) if layer.count_trainable else params
    flops = layer.count_flops(node.spec, outs[0], *inputs)
    return dataclasses.replace(node, out=outs[0], outs=outs, params=params, trainable_params=trainable,
                               flops=flops)


def _count_shared_once(node: Node, done: dict[str, Node]) -> Node:
    """A node that reuses another's weights adds no parameters, and its inputs must fit those weights."""
    if node.shares is None:
        return node
    twin = done.get(node.shares)
    if twin is not None and twin.params != node.params:
        raise ShapeError(f"shares weights with '{twin.id}' ({twin.params:,} weights), but its own inputs need "
                         f"{node.params:,}. Feed both uses tensors of the same shape")
    return dataclasses.replace(node, params=0, trainable_params=0)


def _diagnostic(node: Node, inputs: list[TensorType], exc: ShapeError) -> Diagnostic:
    shapes = ", ".join(f"{fmt_shape(t.shape)}" + ("" if t.dtype == "float32" else f" {t.dtype}") for t in inputs)
    what = f"'{node.id}' ({node.op})"
    noun = "input shape" if len(inputs) == 1 else "input shapes"
    note = f" ({node.note})" if node.note else ""
    return Diagnostic(node.src, node.path, f"{what} {exc}. Received: {noun} {shapes}{note}")


def infer_shapes(g: Graph) -> PassResult:
    new: dict[str, Node] = {}
    failed: set[str] = set()
    problems: list[Diagnostic] = []
    for node in g.order():
        if node.op == INPUT:
            out = _input_type(node)
            new[node.id] = dataclasses.replace(node, out=out, outs=(out,), params=0, trainable_params=0, flops=0)
            continue
        sources = g.sources(node.id)
        if any(p in failed for p, _ in sources):
            failed.add(node.id)
            continue
        inputs = [new[p].outs[port] for p, port in sources]
        try:
            new[node.id] = _count_shared_once(annotate(node, inputs), new)
        except ShapeError as exc:
            failed.add(node.id)
            problems.append(_diagnostic(node, inputs, exc))
    if problems:
        raise CompileError(problems)
    changed = any(new[n] != g.node(n) for n in new)
    return PassResult(g.replace_nodes(new), changed)
