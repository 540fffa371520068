"""The weight-changing passes (`fold_batchnorm`, `factorize_dense`, `cluster_weights`) without
Keras: random weights in Keras's layout, a small numpy interpreter as the oracle for outputs before
and after, and checks that graphs, parameter counts and weights stay consistent."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from nnspec.compiler.ir import INPUT
from nnspec.compiler.passes.cluster_weights import cluster_weights, clustered_bytes
from nnspec.compiler.passes.factorize_dense import factorize_dense
from nnspec.compiler.passes.fold_batchnorm import fold_batchnorm
from nnspec.compiler.pipeline import compile_spec
from nnspec.compiler.verify import verify
from nnspec.compiler.weights import WeightedGraph
from nnspec.errors import InputError
from nnspec.layers._shapes import norm_axis
from nnspec.specs.base import ntuple
from nnspec.specs.load import load_spec, parse_spec
from tests.conftest import EXAMPLES

# --- random weights and a numpy oracle ------------------------------------------------------------


def random_weights(g, seed: int = 0) -> dict:
    """Weights of every node in Keras's layout, scaled to keep activations near 1, with non-trivial
    BN statistics (as after training)."""
    rng = np.random.default_rng(seed)
    w = {}
    for node in g.order():
        s = node.spec
        if node.op in ("dense", "conv2d", "depthwise_conv2d"):
            c = g.input_types(node.id)[0].shape[-1]
            if node.op == "dense":
                shape, fan = (c, s.units), c
            elif node.op == "conv2d":
                shape = (*ntuple(s.kernel_size, 2), c, s.filters)
                fan = shape[0] * shape[1] * c
            else:
                shape = (*ntuple(s.kernel_size, 2), c, s.depth_multiplier)
                fan = shape[0] * shape[1]
            name = "depthwise_kernel" if node.op == "depthwise_conv2d" else "kernel"
            w[node.id] = {name: (rng.standard_normal(shape) / np.sqrt(fan)).astype(np.float32)}
            if s.use_bias:
                bias = 0.1 * rng.standard_normal(node.out.shape[-1])
                w[node.id]["bias"] = bias.astype(np.float32)
        elif node.op == "batch_norm":
            c = node.out.shape[norm_axis(s.axis, node.out.shape)]
            w[node.id] = {"gamma": rng.uniform(0.5, 1.5, c), "beta": rng.normal(0, 0.3, c),
                          "moving_mean": rng.normal(0, 0.5, c),
                          "moving_variance": rng.uniform(0.3, 2.0, c)}
            w[node.id] = {k: v.astype(np.float32) for k, v in w[node.id].items()
                          if (k != "gamma" or s.scale) and (k != "beta" or s.center)}
    return w


def _same_pad(x, k, stride, padding):
    if padding != "same":
        return x
    pads = []
    for size, kk, ss in zip(x.shape[1:3], k, stride):
        out = -(-size // ss)
        total = max((out - 1) * ss + kk - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), *pads, (0, 0)])


def _windows(x, spec):
    k, st = ntuple(spec.kernel_size, 2), ntuple(spec.strides, 2)
    # (n, h, w, c, kh, kw)
    p = sliding_window_view(_same_pad(x, k, st, spec.padding), k, axis=(1, 2))
    return p[:, ::st[0], ::st[1]]


def _act(name, y):
    if name in (None, "linear"):
        return y
    if name == "relu":
        return np.maximum(y, 0)
    if name == "softmax":
        e = np.exp(y - y.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    raise NotImplementedError(name)


def run_numpy(wg: WeightedGraph, x: np.ndarray) -> dict[str, np.ndarray]:
    """The graph's outputs in float64, for the ops these tests use."""
    g, w, val = wg.graph, wg.weights, {}
    for node in g.order():
        s, v = node.spec, w.get(node.id, {})
        ins = [val[p] for p in g.producers(node.id)]
        if node.op == INPUT:
            y = x.astype(np.float64)
        elif node.op == "dense":
            y = _act(s.activation, ins[0] @ v["kernel"] + v.get("bias", 0))
        elif node.op == "conv2d":
            y = _act(s.activation, np.einsum("nhwcij,ijco->nhwo", _windows(ins[0], s), v["kernel"])
                     + v.get("bias", 0))
        elif node.op == "depthwise_conv2d":
            y = np.einsum("nhwcij,ijcm->nhwcm", _windows(ins[0], s), v["depthwise_kernel"])
            y = _act(s.activation, y.reshape(*y.shape[:3], -1) + v.get("bias", 0))
        elif node.op == "batch_norm":
            axis = norm_axis(s.axis, ins[0].shape)
            shape = [1] * ins[0].ndim
            shape[axis] = c = ins[0].shape[axis]
            mean, var = (v[k].reshape(shape) for k in ("moving_mean", "moving_variance"))
            gamma = v.get("gamma", np.ones(c)).reshape(shape)
            beta = v.get("beta", np.zeros(c)).reshape(shape)
            y = (ins[0] - mean) / np.sqrt(var + s.epsilon) * gamma + beta
        elif node.op == "relu":
            y = np.maximum(ins[0], 0)
        elif node.op == "add":
            y = sum(ins)
        elif node.op == "global_avg_pool2d":
            y = ins[0].mean(axis=(1, 2))
        elif node.op == "flatten":
            y = ins[0].reshape(len(ins[0]), -1)
        else:
            raise NotImplementedError(node.op)
        val[node.id] = y
    return {o: val[o] for o in g.outputs}


def check_consistent(wg: WeightedGraph) -> None:
    """The graph verifies and every node holds exactly the weights its parameter count says."""
    verify(wg.graph)
    for node in wg.graph.order():
        held = sum(a.size for a in wg.of(node.id).values())
        assert held == node.params, f"{node.id}: {held} weights held, {node.params} counted"


def graph(text: str):
    return compile_spec(parse_spec(text, "test.yaml"))


def example(name: str):
    return compile_spec(load_spec(EXAMPLES / f"{name}.yaml"))


def sample(g, n=4, seed=1):
    return np.random.default_rng(seed).standard_normal((n, *g.node(g.inputs[0]).out.shape[1:]))


# --- fold_batchnorm -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet_small", "residual_cnn"])
def test_folding_the_resnets_removes_every_batch_norm_and_keeps_outputs(name):
    g = example(name)
    wg = WeightedGraph(g, random_weights(g))
    result = fold_batchnorm(wg)
    after = result.model
    bns = [n for n in g.order() if n.op == "batch_norm"]
    assert result.changed and len(result.report["folded"]) == len(bns)
    assert not result.report["skipped"]
    assert not [n for n in after.graph.order() if n.op == "batch_norm"]
    # each BN's 4C values go; its conv gains C biases
    removed = sum(3 * n.out.shape[-1] for n in bns)
    assert result.report["params_after"] == result.report["params_before"] - removed
    assert result.report["params_after"] == sum(n.params for n in after.graph.order())
    assert all(after.graph.node(p).spec.use_bias for p, _ in result.report["folded"])
    assert after.graph.outputs == g.outputs
    check_consistent(after)
    x = sample(g)
    want, got = run_numpy(wg, x), run_numpy(after, x)
    for o in g.outputs:
        np.testing.assert_allclose(got[o], want[o], atol=1e-5, rtol=1e-5)
    again = fold_batchnorm(after)
    assert not again.changed and again.model is after


FOLD_CASES = """
nnspec: 1
name: fold_cases
inputs: {x: {shape: [6, 6, 3]}}
nodes:
  - {id: dw, op: depthwise_conv2d, depth_multiplier: 2, padding: same}
  - {id: dw_bn, op: batch_norm, scale: false}
  - {id: c1, op: conv2d, filters: 5, activation: relu, padding: same}
  - {id: c1_bn, op: batch_norm}
  - {id: c2, op: conv2d, filters: 5, kernel_size: 1, use_bias: true}
  - {id: c2_bn, op: batch_norm, center: false, epsilon: 0.1}
  - {id: c3, op: conv2d, filters: 5, kernel_size: 1}
  - {id: c3_bn, op: batch_norm, from: [c3]}
  - {id: side, op: relu, from: [c3]}
  - {id: sum, op: add, from: [c3_bn, side]}
  - {id: c4, op: conv2d, filters: 4, kernel_size: 1}
  - {id: c4_bn, op: batch_norm, axis: 1}
  - {id: pool, op: global_avg_pool2d}
  - {id: d, op: dense, units: 3, activation: linear}
  - {id: d_bn, op: batch_norm}
outputs: [d_bn]
"""


def test_folding_only_where_the_identity_holds_and_saying_why_not():
    g = graph(FOLD_CASES)
    wg = WeightedGraph(g, random_weights(g, seed=2))
    result = fold_batchnorm(wg)
    assert result.report["folded"] == [["dw", "dw_bn"], ["c2", "c2_bn"]]
    skipped = result.report["skipped"]
    assert set(skipped) == {"c1_bn", "c3_bn", "c4_bn", "d_bn"}
    assert "activation 'relu'" in skipped["c1_bn"]
    assert "also feeds" in skipped["c3_bn"]
    assert "axis 1" in skipped["c4_bn"]
    assert "graph output" in skipped["d_bn"]
    check_consistent(result.model)
    x = sample(g, seed=3)
    want, got = run_numpy(wg, x)["d_bn"], run_numpy(result.model, x)["d_bn"]
    np.testing.assert_allclose(got, want, atol=1e-5)


# --- factorize_dense ------------------------------------------------------------------------------

MLP = """
nnspec: 1
name: mlp
inputs: {x: {shape: [64]}}
nodes:
  - {id: hidden, op: dense, units: 96, activation: relu}
  - {id: logits, op: dense, units: 80}
  - {id: small, op: dense, units: 4, activation: softmax, from: [hidden]}
outputs: [logits, small]
"""


def _low_rank(g, weights, node_id, r, seed=0):
    rng = np.random.default_rng(seed)
    n_in, n_out = weights[node_id]["kernel"].shape
    weights[node_id]["kernel"] = (rng.standard_normal((n_in, r)) @ rng.standard_normal((r, n_out))
                                  / np.sqrt(n_in * r)).astype(np.float32)


def test_factorizing_a_low_rank_kernel_at_its_rank_is_exact():
    g = graph(MLP)
    weights = random_weights(g)
    _low_rank(g, weights, "hidden", 6, seed=1)
    _low_rank(g, weights, "logits", 6)
    wg = WeightedGraph(g, weights)
    result = factorize_dense(wg, rank=6, min_params=5000)  # hidden (64x96) and logits (96x80)
    report = result.report
    assert set(report["layers"]) == {"hidden", "logits"} and "small" in report["skipped"]
    assert report["layers"]["logits"] | {"relative_error": 0} == {
        "rank": 6, "full_rank": 80, "first": "logits_svd", "params_before": 96 * 80,
        "params_after": 6 * (96 + 80), "relative_error": 0,
        "largest_dropped": pytest.approx(0, abs=1e-5)}
    assert report["layers"]["logits"]["relative_error"] < 1e-5
    after = result.model
    check_consistent(after)
    assert after.graph.outputs == g.outputs  # the second layer keeps the original id
    assert after.graph.producers("logits") == ["logits_svd"]
    assert after.graph.producers("logits_svd") == ["hidden"]
    first = after.graph.node("logits_svd").spec
    assert (first.units, first.use_bias, first.activation) == (6, False, None)
    assert report["params_after"] == report["params_before"] - 96 * 80 + 6 * 176 - 64 * 96 + 6 * 160
    x = sample(g)
    want, got = run_numpy(wg, x), run_numpy(after, x)
    for o in g.outputs:
        np.testing.assert_allclose(got[o], want[o], atol=1e-5)


def test_truncation_error_is_bounded_by_the_largest_dropped_singular_value():
    g = graph(MLP)
    wg = WeightedGraph(g, random_weights(g, seed=4))
    result = factorize_dense(wg, energy=0.6, layers=["logits"])
    entry = result.report["layers"]["logits"]
    s = np.linalg.svd(wg.weights["logits"]["kernel"].astype(np.float64), compute_uv=False)
    kept = np.cumsum(s**2) / np.sum(s**2)
    assert entry["rank"] == int(np.argmax(kept >= 0.6)) + 1 < 80
    assert entry["largest_dropped"] == pytest.approx(s[entry["rank"]])
    a, b = result.model.weights["logits_svd"]["kernel"], result.model.weights["logits"]["kernel"]
    w = wg.weights["logits"]["kernel"]
    error = np.linalg.norm(w - a @ b) / np.linalg.norm(w)
    assert entry["relative_error"] == pytest.approx(error, rel=1e-4)
    x = sample(g, n=16)
    hidden = np.maximum(x @ wg.weights["hidden"]["kernel"] + wg.weights["hidden"]["bias"], 0)
    diff = np.abs(run_numpy(result.model, x)["logits"] - run_numpy(wg, x)["logits"])
    bound = np.linalg.norm(hidden, axis=1, keepdims=True) * entry["largest_dropped"]
    assert np.all(diff <= bound + 1e-5) and diff.max() > 1e-3  # lossy, but within the bound
    check_consistent(result.model)


def test_factorizing_skips_layers_it_would_not_shrink_and_checks_its_arguments():
    g = graph(MLP)
    wg = WeightedGraph(g, random_weights(g))
    result = factorize_dense(wg, rank=60, min_params=0)
    assert not result.changed and result.model is wg
    assert "would not make" in result.report["skipped"]["logits"]
    full = factorize_dense(wg, rank=1000, layers=["logits"], only_smaller=False)
    assert full.report["layers"]["logits"]["rank"] == 80
    x = sample(g)
    want, got = run_numpy(wg, x)["logits"], run_numpy(full.model, x)["logits"]
    np.testing.assert_allclose(got, want, atol=1e-5)
    bad = ({}, {"rank": 2, "energy": 0.5}, {"rank": 0}, {"energy": 1.5},
           {"rank": 2, "layers": ["x"]})
    for kwargs in bad:
        with pytest.raises(InputError):
            factorize_dense(wg, **kwargs)


# --- cluster_weights ------------------------------------------------------------------------------


def test_clustering_leaves_at_most_n_values_per_kernel_and_counts_the_bytes():
    g = example("resnet_small")
    wg = WeightedGraph(g, random_weights(g, seed=5))
    result = cluster_weights(wg, clusters=16)
    after = result.model
    assert result.changed and after.graph is g
    kernels = [n.id for n in g.order() if n.op in ("conv2d", "dense")]
    assert set(result.report["layers"]) == set(kernels)
    for node_id in kernels:
        kernel = after.weights[node_id]["kernel"]
        assert len(np.unique(kernel)) <= 16 and kernel.dtype == np.float32
        before = wg.weights[node_id]["kernel"]
        nearest = np.abs(before[..., None] - np.unique(kernel)).min(axis=-1)
        # each value moved to its nearest centroid
        np.testing.assert_allclose(np.abs(kernel - before), nearest, atol=1e-7)
        assert np.linalg.norm(kernel - before) < 0.15 * np.linalg.norm(before)  # Gaussian: ~0.1
    for node_id, vs in wg.weights.items():  # biases and batch norms untouched
        for name, a in vs.items():
            if name != "kernel":
                np.testing.assert_array_equal(after.weights[node_id][name], a)
    report = result.report
    first = report["layers"]["stem"]
    assert first == {"clusters": 16, "values": 9 * 16, "bytes": clustered_bytes(144, 16),
                     "float_bytes": 576}
    assert clustered_bytes(144, 16) == 16 * 4 + 72
    assert report["float_bytes"] == 4 * wg.count()
    assert 4 < report["ratio"] < 8  # 4-bit indices, plus centroids and float32 BN/bias values
    again = cluster_weights(after, clusters=16)
    assert not again.changed
    check_consistent(after)


def test_clustering_only_named_layers_and_checking_arguments():
    g = graph(MLP)
    wg = WeightedGraph(g, random_weights(g))
    result = cluster_weights(wg, clusters=4, layers=["hidden"])
    assert list(result.report["layers"]) == ["hidden"]
    assert len(np.unique(result.model.weights["hidden"]["kernel"])) <= 4
    untouched = result.model.weights["logits"]["kernel"]
    np.testing.assert_array_equal(untouched, wg.weights["logits"]["kernel"])
    for kwargs in ({"clusters": 1}, {"clusters": 2.5}, {"layers": ["nope"]}):
        with pytest.raises(InputError):
            cluster_weights(wg, **kwargs)
