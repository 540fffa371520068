"""The summary analysis: per-node output shape, parameters and FLOPs, and the model's totals."""

from __future__ import annotations

from nnspec.compiler.ir import INPUT, Graph


def summarize(g: Graph) -> dict:
    """`{"name", "params", "trainable_params", "flops", "inputs", "outputs", "nodes": [...]}` of a typed graph."""
    nodes = [
        {"id": n.id, "op": n.op, "shape": list(n.out.shape), "dtype": n.out.dtype, "params": n.params,
         "flops": n.flops}
        for n in g.order() if n.op != INPUT
    ]
    layers = [n for n in g.order() if n.op != INPUT]
    return {
        "name": g.name,
        "params": sum(n.params for n in layers),
        "trainable_params": sum(n.trainable_params for n in layers),
        "flops": sum(n.flops for n in layers),
        "inputs": {i: {"shape": list(g.node(i).out.shape), "dtype": g.node(i).out.dtype} for i in g.inputs},
        "outputs": {o: {"shape": list(g.node(o).out.shape), "dtype": g.node(o).out.dtype} for o in g.outputs},
        "nodes": nodes,
    }
