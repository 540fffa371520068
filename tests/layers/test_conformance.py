"""Every registered op, every card example: nnspec's shape and parameter count equal Keras's.

Parametrized over the registry, so a new card is tested with no new test code: validate the example, round-trip
it through YAML, infer its shape and counts through the compiler, build the same one-node model in Keras, and
compare output shape, total and trainable parameter counts, and the layer config.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from nnspec.compiler.pipeline import compile_spec
from nnspec.layers import LAYERS
from nnspec.specs.load import parse_spec

CASES = [(op, i) for op, layer in sorted(LAYERS.items()) for i in range(len(layer.examples))]


def example_spec(op: str, i: int) -> str:
    """A one-node model around card example `i` of `op`, as YAML text."""
    example = LAYERS[op].examples[i]
    names = [f"x{k}" for k in range(len(example.inputs))]
    node = {"id": "layer", "op": op, **example.params}
    if len(names) > 1:
        node["from"] = names
    doc = {
        "name": f"{op}_example_{i}",
        "inputs": {n: {"shape": list(s), "dtype": d} for n, s, d in zip(names, example.inputs, example.dtypes())},
        "nodes": [node],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _same_config(key, got, want) -> bool:
    """Keras normalizes some arguments: ints to tuples, activation aliases (swish is silu) to one name."""
    import keras

    if key == "activation":
        return keras.activations.get(got) is keras.activations.get(want)
    if isinstance(got, (tuple, list)) and isinstance(want, int):
        return tuple(got) == (want,) * len(got)
    if isinstance(got, (tuple, list)) and isinstance(want, (tuple, list)):
        return tuple(got) == tuple(want)
    return got == want


def test_every_card_has_examples_docs_and_a_keras_mapping():
    for op, layer in LAYERS.items():
        assert layer.examples, op
        assert layer.keras is not None, op
        assert layer.spec.__doc__ and layer.spec.__doc__.strip(), op
        for name, field in layer.spec.model_fields.items():
            if name not in ("id", "from_", "op"):
                assert field.description or layer.spec.__doc__, f"{op}.{name} has no docs"


@pytest.mark.parametrize("op,i", CASES, ids=[f"{op}-{i}" for op, i in CASES])
def test_example_round_trips_through_yaml(op, i):
    layer = LAYERS[op]
    spec = layer.spec.model_validate({"op": op, **layer.examples[i].params})
    dumped = yaml.safe_load(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)))
    assert layer.spec.model_validate({"op": op, **dumped}) == spec


@pytest.mark.keras
@pytest.mark.parametrize("op,i", CASES, ids=[f"{op}-{i}" for op, i in CASES])
def test_shape_and_params_match_keras(op, i):
    import keras

    from nnspec.runtime.keras_build import apply_layer, build_keras
    from nnspec.runtime.onnx_export import parity_inputs

    g = compile_spec(parse_spec(example_spec(op, i)))
    node = g.node("layer")
    model = build_keras(g, seed=0)
    layer = model.get_layer("layer")
    assert tuple(model.output.shape) == node.out.shape
    assert layer.count_params() == node.params
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    assert trainable == node.trainable_params
    config = layer.get_config()
    for key, value in LAYERS[op].keras.kwargs(node.spec).items():
        if key in config and value is not None:
            assert _same_config(key, config[key], value), (key, config[key], value)
    # The layer runs, and its real outputs have the inferred shapes (batch of 2; integer inputs in range).
    feeds = parity_inputs(g, batch=2)
    xs = [feeds[name] for name in g.inputs]
    ys = model(xs if len(xs) > 1 else xs[0])
    assert keras.ops.convert_to_numpy(ys).shape == (2, *node.out.shape[1:])
    # Called on its own, the layer gives every output (ops with several) with its inferred shape and dtype.
    outs = apply_layer(layer, LAYERS[op].keras.call, [keras.ops.convert_to_tensor(x) for x in xs])
    outs = list(outs) if len(node.outs) > 1 else [outs]
    assert len(outs) == len(node.outs)
    for got, want in zip(outs, node.outs):
        assert tuple(got.shape) == (2, *want.shape[1:])
        assert keras.backend.standardize_dtype(got.dtype) == want.dtype
