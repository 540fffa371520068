"""Part of a trained model as a model of its own: new inputs put in place of some nodes, the layers downstream of
them called again, by name, with the same weights (no copy: the sub-model and the model share the layer objects).

    decoder = submodel(graph, model, inputs=["z"], outputs=["reconstruction"])   # a VAE's decoder
    images = decoder.predict(np.random.default_rng(0).normal(size=(16, latent)))
"""

from __future__ import annotations

from collections.abc import Sequence

from nnspec.compiler.ir import INPUT, Graph
from nnspec.layers._registry import LAYERS
from nnspec.runtime.keras_build import apply_layer


class SubmodelError(ValueError):
    """The outputs asked for need more than the inputs given (another graph input, or a side output)."""


def needed_nodes(graph: Graph, inputs: Sequence[str], outputs: Sequence[str]) -> set[str]:
    """The ids of the nodes that compute `outputs` from `inputs` (the inputs themselves excluded).

    Raises:
        SubmodelError: an output depends on a graph input that is not downstream of `inputs`.
    """
    needed: set[str] = set()
    stack = [o for o in outputs if o not in inputs]
    while stack:
        node_id = stack.pop()
        if node_id in needed:
            continue
        if graph.node(node_id).op == INPUT:
            raise SubmodelError(f"{', '.join(outputs)} depend(s) on the input '{node_id}', not only on "
                                f"{', '.join(inputs)}")
        needed.add(node_id)
        stack.extend(p for p in graph.producers(node_id) if p not in inputs and p not in needed)
    return needed


def submodel(graph: Graph, model, inputs: Sequence[str], outputs: Sequence[str], *, name: str | None = None):
    """The Functional Keras model mapping new `keras.Input`s, one per id in `inputs` (shaped like that node's
    output, without the batch axis), to the tensors of the nodes `outputs`, through `model`'s own layers (looked
    up by node id, the layer name `build_keras` gives; a node that shares weights calls its twin's layer).

    Args:
        graph: The typed IR `model` was built from.
        model: The Keras model (built by `build_keras`, or loaded from a run's `model.keras`).
        inputs: Node ids whose output the sub-model takes as its inputs (e.g. a VAE's latent `z`).
        outputs: Node ids the sub-model returns.
        name: The sub-model's name. Defaults to `<model name>_sub`.

    Raises:
        SubmodelError: the outputs need something other than `inputs` (a graph input upstream of them, or a
            second output port of an input node).
    """
    import keras

    needed = needed_nodes(graph, inputs, outputs)
    tensors = {}
    for node_id in inputs:
        t = graph.node(node_id).out
        tensors[node_id] = [keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype, name=node_id)]
    for node in graph.order():
        if node.id not in needed:
            continue
        xs = []
        for src, port in graph.sources(node.id):
            if src in inputs and port != 0:
                raise SubmodelError(f"node '{node.id}' reads output {port} of '{src}', which the sub-model takes "
                                    "as an input (only its first output)")
            xs.append(tensors[src][port])
        layer = model.get_layer(node.shares or node.id)
        result = apply_layer(layer, LAYERS[node.op].keras.call, xs)
        tensors[node.id] = list(result) if len(node.outs) > 1 else [result]
    ins = [tensors[i][0] for i in inputs]
    outs = [tensors[o][0] for o in outputs]
    return keras.Model(inputs=ins[0] if len(ins) == 1 else ins, outputs=outs[0] if len(outs) == 1 else outs,
                       name=name or f"{model.name}_sub")
