"""Weights between Keras models, `.npz` files and the IR's `Weights` (see `nnspec.compiler.weights`).

    weights = read_weights(model, graph)          # a trained model's variables, by node id and variable name
    model = build_weighted(WeightedGraph(g, w))   # a fresh Functional model holding exactly those weights
    save_weights(path, weights); load_weights(path)

Variables are named as Keras names them inside their layer (`kernel`, `bias`, `gamma`, `moving_mean`, and for
recurrent layers `cell/kernel`...), so a name means the same thing on both sides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnspec.compiler.ir import INPUT, Graph
from nnspec.compiler.weights import Weights, WeightedGraph, flatten, unflatten
from nnspec.errors import WeightsError
from nnspec.runtime.atomic import publish, temp_beside


def variables_of(layer) -> dict:
    """A layer's variables by their name inside the layer (the path without the layer's own prefix)."""
    prefix = f"{layer.name}/"
    return {v.path[len(prefix):] if v.path.startswith(prefix) else v.name: v for v in layer.weights}


def layers_by_name(model) -> dict:
    """Every layer in `model`, nested models included, by name."""
    found = {}
    stack = [model]
    while stack:
        m = stack.pop()
        for layer in getattr(m, "layers", []):
            found.setdefault(layer.name, layer)
            stack.append(layer)
    return found


def read_weights(model, graph: Graph) -> Weights:
    """The weights of every graph node that owns some (inputs and weight-sharing twins have none)."""
    layers = layers_by_name(model)
    weights: Weights = {}
    for node in graph.order():
        if node.op == INPUT or node.shares:
            continue
        layer = layers.get(node.id)
        if layer is None:
            raise WeightsError(f"the model has no layer named '{node.id}'")
        variables = {name: np.asarray(v.numpy()) for name, v in variables_of(layer).items()}
        if variables:
            weights[node.id] = variables
    return weights


def apply_weights(model, weights: Weights, require: list[str] | tuple[str, ...] = ()) -> None:
    """Assign `weights` to the layers of `model` named by node id. Every variable of those layers must be given,
    with its exact shape, and every node id in `require` must have weights; raises `WeightsError` listing every
    mismatch (and changes nothing) otherwise."""
    layers = layers_by_name(model)
    problems = [f"'{node_id}': no weights given for it" for node_id in require if node_id not in weights]
    assignments = []
    for node_id, given in weights.items():
        layer = layers.get(node_id)
        if layer is None:
            problems.append(f"'{node_id}': the model has no such layer")
            continue
        variables = variables_of(layer)
        for name in sorted(set(variables) - set(given)):
            problems.append(f"'{node_id}/{name}': not in the weights")
        for name, value in given.items():
            v = variables.get(name)
            if v is None:
                problems.append(f"'{node_id}/{name}': the layer has no such variable")
            elif tuple(v.shape) != value.shape:
                problems.append(f"'{node_id}/{name}': shape {value.shape}, the layer wants {tuple(v.shape)}")
            else:
                assignments.append((v, value))
    if problems:
        raise WeightsError("weights do not fit the model:\n  " + "\n  ".join(problems))
    for v, value in assignments:
        v.assign(value.astype(v.dtype))


def build_weighted(wg: WeightedGraph):
    """A Functional Keras model of `wg.graph` holding `wg.weights`."""
    from nnspec.runtime.keras_build import build_keras

    model = build_keras(wg.graph)
    apply_weights(model, wg.weights, require=[n.id for n in wg.graph.order() if n.params and not n.shares])
    return model


def save_weights(path: Path, weights: Weights) -> None:
    """Write weights as an `.npz` of `node/variable` arrays, atomically."""
    path = Path(path)
    with temp_beside(path, suffix=".npz") as tmp:
        np.savez(tmp, **flatten(weights))
        publish(tmp, path)


def load_weights(path: Path) -> Weights:
    """Weights from an `.npz` written by `save_weights`, or from a run directory's trained model."""
    path = Path(path)
    from nnspec.runtime.run_dir import is_run_dir, load_run

    if is_run_dir(path):
        from nnspec.compiler.pipeline import compile_spec

        spec, model = load_run(path)
        return read_weights(model, compile_spec(spec))
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file or run directory")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return unflatten({k: npz[k] for k in npz.files})
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a weights .npz file ({exc})") from None
