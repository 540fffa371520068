"""Weights beside the IR: read from a Keras model, saved and loaded as `.npz`, put back into a fresh model (same
outputs), rejected with every mismatch named, and used to fine-tune (`train --init-weights`)."""

from __future__ import annotations

import numpy as np
import pytest

import nnspec
from nnspec.compiler.pipeline import compile_spec
from nnspec.compiler.to_spec import spec_data
from nnspec.compiler.weights import WeightedGraph, copy_weights
from nnspec.errors import WeightsError
from nnspec.specs.load import parse_spec
from nnspec.specs.resolve import to_yaml
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.keras


def _outputs(model, xs):
    out = model(xs if len(xs) > 1 else xs[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize("name", ["resnet_small", "sequence_lstm", "siamese_digits"])
def test_weights_round_trip_through_npz_into_a_fresh_model(name, tmp_path):
    from nnspec.runtime.weights_io import build_weighted, load_weights, read_weights, save_weights

    spec = nnspec.load_spec(EXAMPLES / f"{name}.yaml")
    graph = compile_spec(spec)
    model = nnspec.build_keras(spec, seed=1)
    weights = read_weights(model, graph)
    assert sum(a.size for vs in weights.values() for a in vs.values()) == model.count_params()
    save_weights(tmp_path / "w.npz", weights)
    rebuilt = build_weighted(WeightedGraph(graph, load_weights(tmp_path / "w.npz")))
    rng = np.random.default_rng(0)
    xs = [rng.random((2, *t.shape[1:])).astype("float32") for t in model.inputs]
    for a, b in zip(_outputs(model, xs), _outputs(rebuilt, xs)):
        np.testing.assert_array_equal(a, b)


def test_mismatched_weights_name_every_problem():
    from nnspec.runtime.weights_io import apply_weights, read_weights

    spec = nnspec.load_spec(EXAMPLES / "iris_mlp.yaml")
    graph = compile_spec(spec)
    model = nnspec.build_keras(spec, seed=1)
    weights = copy_weights(read_weights(model, graph))
    first, second, *_ = list(weights)
    weights[first]["kernel"] = weights[first]["kernel"][:, :1]
    del weights[second]
    weights["ghost"] = {"kernel": np.zeros(3)}
    before = [np.array(v) for v in model.get_weights()]
    with pytest.raises(WeightsError) as err:
        apply_weights(model, weights, require=[second])
    message = str(err.value)
    assert f"'{first}/kernel': shape" in message and f"'{second}': no weights" in message and "'ghost'" in message
    for a, b in zip(before, model.get_weights()):  # nothing was assigned
        np.testing.assert_array_equal(a, b)


def test_graph_back_to_spec_compiles_to_the_same_model():
    spec = nnspec.load_spec(EXAMPLES / "resnet_small.yaml")
    graph = compile_spec(spec)
    again = compile_spec(parse_spec(to_yaml(spec_data(graph, spec)), "respec.yaml"))
    assert [(n.id, n.op, n.out, n.params) for n in again.order()] == [(n.id, n.op, n.out, n.params)
                                                                        for n in graph.order()]
    assert again.outputs == graph.outputs


def test_fine_tuning_starts_from_the_given_weights(tmp_path):
    from nnspec.runtime.weights_io import load_weights

    first = nnspec.train(EXAMPLES / "iris_mlp.yaml", tmp_path / "a", epochs=2, verbose=0)
    tiny_lr = ["train.optimizer.learning_rate=1e-9"]
    tuned = nnspec.train(nnspec.load_spec(EXAMPLES / "iris_mlp.yaml", tiny_lr), tmp_path / "b", epochs=1,
                         verbose=0, init_weights=tmp_path / "a")
    assert tuned.metrics["initial_weights"] == str(tmp_path / "a")
    a, b = load_weights(tmp_path / "a"), load_weights(tmp_path / "b")
    for node in a:  # a learning rate of 1e-9: the fine-tuned run still holds the weights it started from
        for name in a[node]:
            np.testing.assert_allclose(a[node][name], b[node][name], atol=1e-6)
    assert tuned.metrics["test"]["accuracy"] == pytest.approx(first.metrics["test"]["accuracy"])


def test_a_derived_run_is_a_run_directory_holding_the_given_weights(tmp_path):
    from nnspec.runtime.derived_run import write_derived_run
    from nnspec.runtime.run_dir import load_run
    from nnspec.runtime.weights_io import read_weights

    spec = nnspec.load_spec(EXAMPLES / "residual_cnn.yaml")
    graph = compile_spec(spec)
    model = nnspec.build_keras(spec, seed=3)
    out = write_derived_run(WeightedGraph(graph, read_weights(model, graph)), spec, tmp_path / "derived",
                            source=tmp_path / "nowhere", passes=["identity"])
    spec2, model2 = load_run(out)
    assert nnspec.summary(spec2)["params"] == nnspec.summary(spec)["params"]
    x = np.random.default_rng(0).random((3, *model.inputs[0].shape[1:])).astype("float32")
    np.testing.assert_allclose(_outputs(model, [x])[0], _outputs(model2, [x])[0], atol=1e-6)
    with pytest.raises(Exception, match="already exists"):
        write_derived_run(WeightedGraph(graph, read_weights(model, graph)), spec, out, source=out, passes=[])
