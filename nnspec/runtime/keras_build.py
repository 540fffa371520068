"""IR → a Functional `keras.Model`, one Keras layer per node, named by the node id (nodes that share weights call
their twin's layer).

Each card's `KerasMapping` says which layer class to make and how to call it, so this module knows no op by name.
Always Functional, never Sequential: tf2onnx's Keras path breaks on Keras 3 Sequential models.
"""

from __future__ import annotations

import importlib

from nnspec.compiler.ir import INPUT, Graph, Node
from nnspec.layers._registry import LAYERS, KerasMapping


def layer_class(mapping: KerasMapping):
    """The Keras layer class of a mapping: `keras.layers.<cls>`, or `nnspec.<module>:<Name>` for our own."""
    import keras

    if ":" in mapping.cls:
        module, name = mapping.cls.split(":")
        if not module.startswith("nnspec."):  # specs never choose code: cards do, and only nnspec's own
            raise ValueError(f"custom layer {mapping.cls!r} is outside nnspec")
        return getattr(importlib.import_module(module), name)
    return getattr(keras.layers, mapping.cls)


def make_layer(node: Node):
    """The Keras layer for one IR node."""
    mapping = LAYERS[node.op].keras
    if mapping is None:
        raise NotImplementedError(f"op '{node.op}' has no Keras mapping")
    return layer_class(mapping)(**mapping.kwargs(node.spec), name=node.id)


def apply_layer(layer, call: str, xs: list):
    if call == "list":
        return layer(xs)
    if call == "attention":
        query, value, *key = xs
        return layer(query=query, value=value, key=key[0] if key else None)
    if call == "rnn":
        sequence, *states = xs
        return layer(sequence, initial_state=states) if states else layer(sequence)
    (x,) = xs
    return layer(x)


def build_keras(g: Graph, *, seed: int | None = None):
    """The Functional Keras model of a typed graph. `seed` fixes the initial weights."""
    import keras

    if seed is not None:
        keras.utils.set_random_seed(seed)
    tensors, layers = {}, {}  # tensors: node id → its output tensors, by output port
    for node in g.order():
        if node.op == INPUT:
            tensors[node.id] = [keras.Input(shape=tuple(node.spec.shape), dtype=node.spec.dtype, name=node.id)]
            continue
        # A node that shares weights calls its twin's layer again (one Keras layer, named after the twin).
        owner = g.node(node.shares) if node.shares else node
        if owner.id not in layers:
            layers[owner.id] = make_layer(owner)
        xs = [tensors[p][port] for p, port in g.sources(node.id)]
        result = apply_layer(layers[owner.id], LAYERS[node.op].keras.call, xs)
        tensors[node.id] = list(result) if len(node.outs) > 1 else [result]
    inputs = [tensors[i][0] for i in g.inputs]
    outputs = [tensors[o][0] for o in g.outputs]
    return keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else inputs,
        outputs=outputs[0] if len(outputs) == 1 else outputs,
        name=g.name,
    )
