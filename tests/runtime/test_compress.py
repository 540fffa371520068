"""The weight-changing passes checked in Keras, before and after: batch-norm folding keeps outputs
within 1e-5, SVD factorization within the bound its dropped singular values give (exactly at full
rank), clustering to 16 values keeps digits accuracy; `compress_run` writes a derived run of it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nnspec
from nnspec.compiler.passes.cluster_weights import cluster_weights
from nnspec.compiler.passes.factorize_dense import factorize_dense
from nnspec.compiler.passes.fold_batchnorm import fold_batchnorm
from nnspec.compiler.pipeline import compile_spec
from nnspec.compiler.weights import WeightedGraph, copy_weights
from nnspec.errors import InputError, RunDirError
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.keras


def _predict(model, x):
    out = model.predict(x, batch_size=256, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _random_stats(weights, seed=0):
    """Moving statistics and affine terms as after training (fresh 0/1 ones would hide mistakes)."""
    rng = np.random.default_rng(seed)
    weights = copy_weights(weights)
    for vs in weights.values():
        if "moving_mean" in vs:
            c = vs["moving_mean"].shape
            vs.update(moving_mean=rng.normal(0, 0.5, c), moving_variance=rng.uniform(0.2, 3.0, c),
                      gamma=rng.uniform(0.5, 1.5, c), beta=rng.normal(0, 0.3, c))
            vs.update({k: v.astype(np.float32) for k, v in vs.items()})
    return weights


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A residual CNN trained one epoch (BN statistics moved) and the digits CNN trained a few."""
    base = tmp_path_factory.mktemp("compress")
    nnspec.train(EXAMPLES / "residual_cnn.yaml", base / "residual", epochs=1, verbose=0)
    # a faster-moving batch norm, so three epochs give settled statistics (~90% test accuracy)
    digits = nnspec.load_spec(EXAMPLES / "digits_cnn.yaml", ["nodes.1.momentum=0.9"])
    nnspec.train(digits, base / "digits", epochs=3, verbose=0)
    return base


def test_folding_resnet_small_with_random_statistics_keeps_keras_outputs():
    from nnspec.runtime.weights_io import apply_weights, build_weighted, read_weights

    spec = nnspec.load_spec(EXAMPLES / "resnet_small.yaml")
    graph = compile_spec(spec)
    model = nnspec.build_keras(spec, seed=2)
    before = WeightedGraph(graph, _random_stats(read_weights(model, graph)))
    apply_weights(model, before.weights)
    result = fold_batchnorm(before)
    assert len(result.report["folded"]) == sum(n.op == "batch_norm" for n in graph.order())
    x = np.random.default_rng(1).random((16, 8, 8, 1)).astype("float32")
    want, got = _predict(model, x)[0], _predict(build_weighted(result.model), x)[0]
    assert np.abs(want).max() > 1  # outputs that could differ
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_factorized_logits_stay_within_the_dropped_singular_value_bound(runs):
    import keras

    from nnspec.runtime.run_dir import load_run
    from nnspec.runtime.weights_io import build_weighted, read_weights

    spec, model = load_run(runs / "residual")
    graph = compile_spec(spec)
    wg = WeightedGraph(graph, read_weights(model, graph))
    x = np.random.default_rng(0).random((32, 8, 8, 1)).astype("float32")
    features = np.asarray(keras.Model(model.inputs, model.get_layer("pool").output)([x]))
    lossy = factorize_dense(wg, rank=3, layers=["logits"])
    entry = lossy.report["layers"]["logits"]
    assert entry["rank"] == 3 and entry["params_after"] < entry["params_before"]
    diff = np.abs(_predict(build_weighted(lossy.model), x)[0] - _predict(model, x)[0])
    bound = np.linalg.norm(features, axis=1, keepdims=True) * entry["largest_dropped"]
    assert diff.max() > 1e-4 and np.all(diff <= bound * (1 + 1e-4) + 1e-5)
    full = factorize_dense(wg, rank=10, layers=["logits"], only_smaller=False)
    exact = _predict(build_weighted(full.model), x)[0]
    np.testing.assert_allclose(exact, _predict(model, x)[0], atol=1e-5)


def test_clustering_digits_to_16_values_keeps_accuracy_and_is_written_as_a_run(runs):
    from nnspec.runtime.compress import compress_run
    from nnspec.runtime.run_dir import load_run
    from nnspec.runtime.weights_io import load_weights

    report = compress_run(runs / "digits", runs / "digits-c16", clusters=16)
    before, after = report["accuracy"]["before"], report["accuracy"]["after"]
    # NOTE: a model trained 3 epochs; fully trained (20 epochs) the change measured +0.3 points
    assert before > 0.85 and after >= before - 0.02, report["accuracy"]
    assert report["weights_bytes"]["ratio"] > 5
    assert report["params"]["before"] == report["params"]["after"]
    assert 0 < report["max_abs_diff"] < 1
    weights = load_weights(runs / "digits-c16" / "weights.npz")
    clustered = report["stages"][0]["report"]["layers"]
    assert clustered and all(len(np.unique(weights[n]["kernel"])) <= 16 for n in clustered)
    metrics = json.loads((runs / "digits-c16" / "metrics.json").read_text())
    assert metrics["passes"] == ["cluster_weights(clusters=16)"]
    assert metrics["report"]["accuracy"]["after"] == after
    spec, model = load_run(runs / "digits-c16")  # the written model is the one that was scored
    again = cluster_weights(WeightedGraph(compile_spec(spec), weights), clusters=16)
    assert not again.changed
    with pytest.raises(RunDirError, match="already exists"):
        compress_run(runs / "digits", runs / "digits-c16", clusters=16)
    with pytest.raises(InputError, match="nothing to do"):
        compress_run(runs / "digits", runs / "nothing")


def test_the_whole_chain_in_order_on_a_residual_cnn(runs):
    from nnspec.runtime.compress import compress_run
    from nnspec.runtime.run_dir import load_run
    from nnspec.runtime.weights_io import load_weights

    out = runs / "residual-all"
    report = compress_run(runs / "residual", out, fold_bn=True, rank=5, min_params=0, clusters=32)
    assert report["passes"] == ["fold_batchnorm", "factorize_dense(rank=5, min_params=0)",
                                "cluster_weights(clusters=32)"]
    fold, factorize, cluster = report["stages"]
    assert fold["max_abs_diff"] < 1e-5 and fold["accuracy"] == report["accuracy"]["before"]
    assert len(fold["report"]["folded"]) == 6 and not fold["report"]["skipped"]
    assert list(factorize["report"]["layers"]) == ["logits"]
    assert report["params"]["after"] < report["params"]["before"]
    spec, model = load_run(out)
    ops = [node.op for node in compile_spec(spec).order()]
    assert "batch_norm" not in ops and ops.count("dense") == 2
    assert compile_spec(spec).outputs == ("logits",)
    weights = load_weights(out / "weights.npz")
    assert len(np.unique(weights["logits_svd"]["kernel"])) <= 32
    x = np.random.default_rng(3).random((8, 8, 8, 1)).astype("float32")
    from nnspec.runtime.weights_io import build_weighted

    rebuilt = build_weighted(WeightedGraph(compile_spec(spec), weights))
    np.testing.assert_allclose(_predict(model, x)[0], _predict(rebuilt, x)[0], atol=1e-6)
