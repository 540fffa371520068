"""A typed IR graph and its weights → an ONNX `ModelProto`, one emitter call per node in graph order."""

from __future__ import annotations

import numpy as np

from nnspec.compiler.ir import INPUT, Graph
from nnspec.compiler.weights import Weights
from nnspec.layers._registry import FLOAT_DTYPES, INT_DTYPES
from nnspec.runtime.onnx_emit._builder import Builder
from nnspec.runtime.onnx_emit._registry import EMITTERS

PRODUCER = "nnspec"


MASK_USERS = ("multi_head_attention", "global_avg_pool1d", "softmax")
"""Ops whose Keras layers apply a Keras mask they receive (the emitted ones do not)."""


def _masked(graph: Graph) -> dict[str, str]:
    """Node id → the `mask_zero` embedding whose Keras padding mask may reach that node's output (all nodes
    downstream of one: an over-approximation, as some layers drop masks)."""
    found: dict[str, str] = {}
    for node in graph.order():
        if getattr(node.spec, "mask_zero", False) and graph.input_types(node.id)[0].dtype in INT_DTYPES:
            found[node.id] = node.id
            continue
        origin = next((found[src] for src, _ in graph.sources(node.id) if src in found), None)
        if origin is not None:
            found[node.id] = origin
    return found


def refusals(graph: Graph) -> list[str]:
    """Why the emitter cannot write `graph`, one line per node it does not cover (empty: it covers all)."""
    found = []
    masked = _masked(graph)
    for node in graph.order():
        if node.op == INPUT:
            if node.spec.dtype in FLOAT_DTYPES and node.spec.dtype != "float32":
                found.append(f"input '{node.id}': dtype {node.spec.dtype} (Keras casts it to float32 in its first "
                             "layer; the emitter writes float32 graphs only)")
            continue
        rule = EMITTERS.get(node.op)
        why = "no ONNX emitter for this op" if rule is None else (rule.refuse(node, graph) if rule.refuse else None)
        if why is None and len(node.outs) > 1:
            why = "ops with several outputs are not emitted"
        if why is None and node.op in MASK_USERS:
            origin = next((masked[src] for src, _ in graph.sources(node.id) if src in masked), None)
            if origin is not None:
                why = f"applies the Keras padding mask of '{origin}' (mask_zero), which the emitter does not"
        if why:
            found.append(f"node '{node.id}' ({node.op}): {why}")
    return found


def emit_model(graph: Graph, weights: Weights, *, opset: int):
    """The ONNX model of `graph` with `weights`: inputs named as the spec's inputs and outputs as its output
    nodes, both channels-last with axis 0 `batch`, at `opset` with the lowest IR version that opset allows.

    Raises:
        ValueError: a node is not covered (see `refusals`; callers check first).
    """
    from onnx import helper, numpy_helper

    import nnspec

    problems = refusals(graph)
    if problems:
        raise ValueError("cannot emit ONNX directly: " + "; ".join(problems))
    b = Builder(graph, weights, opset)
    for node in graph.order():
        if node.op != INPUT:
            EMITTERS[node.op].emit(b, node)
    outputs = b.output_tensors()
    initializers = [numpy_helper.from_array(np.array(a, order="C"), name) for name, a in b.initializers.items()]
    inputs = [_value_info(name, graph.node(name).spec.dtype, (None, *graph.node(name).spec.shape))
              for name in graph.inputs]  # fmt: skip
    outs = [_value_info(name, graph.node(name).out.dtype, graph.node(name).out.shape) for name in outputs]
    g = helper.make_graph(b.nodes, graph.name, inputs, outs, initializer=initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(g, opset_imports=opsets, producer_name=PRODUCER,
                              producer_version=nnspec.__version__)
    model.ir_version = helper.find_min_ir_version_for(opsets)
    return model


def _value_info(name: str, dtype: str, shape):
    """A graph input/output: axis 0 is `batch`, other unknown axes get their own symbol."""
    from onnx import helper

    dims = ["batch", *(f"{name}_{i}" if d is None else int(d) for i, d in enumerate(shape[1:], start=1))]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), dims)
