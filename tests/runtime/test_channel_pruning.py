"""Structured channel pruning, checked by running Keras models before and after: removing channels
whose weights are zero leaves the outputs unchanged (through residual adds, concatenation, depthwise
convolutions, batch norm and flatten), pruning nothing changes nothing, a FLOP budget is met, and a
trained run is pruned into a new run that `nnspec check` accepts and that fine-tunes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nnspec
from nnspec.compiler.passes.channel_groups import channel_groups
from nnspec.compiler.passes.prune_channels import PruneError, prune_channels
from nnspec.compiler.pipeline import compile_spec
from nnspec.compiler.to_spec import spec_data
from nnspec.compiler.weights import WeightedGraph, copy_weights
from nnspec.specs.load import parse_spec
from nnspec.specs.resolve import to_yaml
from tests.compiler.test_channel_groups import CONCAT, DEPTHWISE
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.keras

MLP = """
nnspec: 1
name: mlp
inputs: {x: {shape: [12]}}
nodes:
  - {id: d1, op: dense, units: 24, activation: relu}
  - {id: bn1, op: batch_norm}
  - {id: drop, op: dropout, rate: 0.2}
  - {id: d2, op: dense, units: 16, activation: gelu}
  - {id: d3, op: dense, units: 16, use_bias: false}
  - {id: bn3, op: batch_norm}
  - {id: act3, op: elu}
  - {id: out, op: dense, units: 5}
outputs: [out]
"""

VALID_CNN = """
nnspec: 1
name: valid_cnn
inputs: {image: {shape: [14, 14, 3]}}
nodes:
  - {id: c1, op: conv2d, filters: 12, kernel_size: 3, activation: relu}
  - {id: bn1, op: batch_norm}
  - {id: pool, op: max_pool2d, pool_size: 2}
  - {id: dw, op: depthwise_conv2d, kernel_size: 3, depth_multiplier: 2}
  - {id: c2, op: conv2d, filters: 10, kernel_size: 2, activation: tanh}
  - {id: avg, op: avg_pool2d, pool_size: 2, padding: same}
  - {id: c3, op: conv2d, filters: 16, kernel_size: 1, padding: same, activation: relu6}
  - {id: sep, op: separable_conv2d, filters: 8, kernel_size: 2, depth_multiplier: 2,
     activation: relu}
  - {id: flat, op: flatten}
  - {id: out, op: dense, units: 4}
outputs: [out]
"""

RESIDUAL_1X1 = """
nnspec: 1
name: residual_1x1
inputs: {image: {shape: [6, 6, 3]}}
nodes:
  - {id: stem, op: conv2d, filters: 8, kernel_size: 3, use_bias: false}
  - {id: stem_bn, op: batch_norm}
  - {id: stem_act, op: relu}
  - {id: a, op: conv2d, filters: 8, kernel_size: 1, padding: same, use_bias: false}
  - {id: a_bn, op: batch_norm}
  - {id: a_act, op: relu}
  - {id: b, op: conv2d, filters: 8, kernel_size: 1, use_bias: false}
  - {id: b_bn, op: batch_norm}
  - {id: sum, op: add, from: [b_bn, stem_act]}
  - {id: act, op: relu}
  - {id: side, op: conv2d, filters: 4, kernel_size: 1, activation: sigmoid}
  - {id: cat, op: concatenate, from: [act, side]}
  - {id: down, op: conv2d, filters: 6, kernel_size: 2, strides: 2}
  - {id: pool, op: global_avg_pool2d}
  - {id: logits, op: dense, units: 3}
outputs: [logits]
"""

SPECS = {"resnet_small": None, "residual_cnn": None, "mobile_net": DEPTHWISE, "concat_net": CONCAT,
         "mlp": MLP, "valid_cnn": VALID_CNN, "residual_1x1": RESIDUAL_1X1}
EXACT = ("mlp", "valid_cnn", "residual_1x1")
"""Models where every reader of a prunable channel is a dense layer or a conv that pads nothing."""

# Where a channel's weights sit, per op, for zeroing it: (variable, axis) pairs of what it produces,
# and the batch norm variables that make its output exactly zero when its input is.
_OUT = {"conv2d": [("kernel", -1), ("bias", 0)], "dense": [("kernel", -1), ("bias", 0)],
        "separable_conv2d": [("pointwise_kernel", -1), ("bias", 0)],
        "depthwise_conv2d": [("bias", 0)], "conv2d_transpose": [("kernel", -2), ("bias", 0)],
        "batch_norm": [("beta", 0), ("moving_mean", 0)]}


def _spec(name: str):
    text = SPECS[name]
    if text is None:
        return nnspec.load_spec(EXAMPLES / f"{name}.yaml")
    return parse_spec(text, f"{name}.yaml")


def _model(name: str) -> WeightedGraph:
    """The spec's graph with seeded random weights, batch norm statistics made non-trivial."""
    from nnspec.runtime.weights_io import read_weights

    spec = _spec(name)
    g = compile_spec(spec)
    weights = copy_weights(read_weights(nnspec.build_keras(spec, seed=1), g))
    rng = np.random.default_rng(0)
    for vs in weights.values():
        if "moving_variance" in vs:
            n = vs["gamma"].shape
            vs.update(gamma=rng.uniform(0.5, 1.5, n), beta=rng.normal(0, .3, n),
                      moving_mean=rng.normal(0, .3, n), moving_variance=rng.uniform(0.5, 2, n))
        elif "bias" in vs:
            vs["bias"] = rng.normal(0, .1, vs["bias"].shape)
    return WeightedGraph(g, {n: {k: np.asarray(a, "float32") for k, a in vs.items()}
                             for n, vs in weights.items()})


def _outputs(wg: WeightedGraph, x: np.ndarray) -> np.ndarray:
    from nnspec.runtime.weights_io import build_weighted

    return np.asarray(build_weighted(wg)(x, training=False))


def _inputs(wg: WeightedGraph) -> np.ndarray:
    shape = wg.graph.node(wg.graph.inputs[0]).out.shape[1:]
    return np.random.default_rng(1).random((4, *shape)).astype("float32")


def _zero_channels(wg: WeightedGraph, fraction: float) -> tuple[WeightedGraph, set]:
    """Zero a fraction of every group's units: kernels, biases, and every constant on their way
    (batch norm shifts, depthwise biases), so those channels carry exact zeros to every reader."""
    analysis = channel_groups(wg.graph)
    rng = np.random.default_rng(2)
    chosen = set()
    for grp in analysis.groups:
        picked = rng.choice(len(grp.units), round(fraction * len(grp.units)), replace=False)
        chosen |= {grp.units[i] for i in picked}
    keep = analysis.keep_masks({e for unit in chosen for e in unit})
    weights = copy_weights(wg.weights)
    for node_id, vs in weights.items():
        zero = ~keep[node_id] if keep.get(node_id) is not None else None
        for name, axis in _OUT.get(wg.graph.node(node_id).op, []):
            if zero is not None and name in vs:
                np.moveaxis(vs[name], axis, -1)[..., zero] = 0
    return WeightedGraph(wg.graph, weights), chosen


def _zero_kernels(wg: WeightedGraph, fraction: float) -> tuple[WeightedGraph, set]:
    """Zero the kernel slices of a fraction of every group's units, leaving their biases and batch
    norm shifts: those channels then carry a nonzero constant to their readers."""
    analysis = channel_groups(wg.graph)
    rng = np.random.default_rng(3)
    chosen = set()
    for grp in analysis.groups:
        picked = rng.choice(len(grp.units), round(fraction * len(grp.units)), replace=False)
        chosen |= {grp.units[i] for i in picked}
    weights = copy_weights(wg.weights)
    for producer, channel in {e for unit in chosen for e in unit}:
        op = wg.graph.node(producer).op
        name, axis = {"separable_conv2d": ("pointwise_kernel", -1),
                      "conv2d_transpose": ("kernel", -2)}.get(op, ("kernel", -1))
        np.moveaxis(weights[producer][name], axis, -1)[..., channel] = 0
    return WeightedGraph(wg.graph, weights), chosen


@pytest.mark.parametrize("name", EXACT)
def test_removed_channels_constants_are_folded_into_their_readers(name):
    zeroed, chosen = _zero_kernels(_model(name), 1 / 3)
    x = _inputs(zeroed)
    reference = _outputs(zeroed, x)
    result = prune_channels(zeroed, ratio=1 / 3)
    groups = {tuple(g["producers"]): g for g in result.report["groups"]}
    for grp in channel_groups(zeroed.graph).groups:  # exactly the zeroed units went
        assert groups[grp.producers]["kept"] == len(grp.units) - sum(u in chosen for u in grp.units)
    compensation = result.report["compensation"]
    assert compensation["skipped"] == {} and compensation["folded"]
    np.testing.assert_allclose(_outputs(result.model, x), reference, atol=1e-5)
    dropped = prune_channels(zeroed, ratio=1 / 3, compensate=False)  # the constants matter
    assert dropped.report["compensation"] is None
    assert np.abs(_outputs(dropped.model, x) - reference).max() > 1e-2


def test_padded_convolutions_are_compensated_only_on_request():
    zeroed, _ = _zero_kernels(_model("resnet_small"), 1 / 4)
    x = _inputs(zeroed)
    reference = _outputs(zeroed, x)
    errors = {}
    for mode in (False, True, "mean"):
        result = prune_channels(zeroed, ratio=1 / 4, compensate=mode)
        errors[mode] = np.abs(_outputs(result.model, x) - reference).mean()
        report = result.report["compensation"]
        if mode is True:  # a 1x1 stride-2 projection pads nothing; the 3x3 convs pad
            assert set(report["folded"]) == {"stage2.block1.proj", "stage3.block1.proj", "logits"}
            assert "padding 'same' pads" in report["skipped"]["stage1.block1.conv1"]
        if mode == "mean":
            assert report["skipped"] == {}
    assert errors["mean"] < errors[True] < errors[False]
    with pytest.raises(PruneError, match="compensate"):
        prune_channels(zeroed, ratio=0.5, compensate="exact")


@pytest.mark.parametrize("name", list(SPECS))
def test_removing_zeroed_channels_keeps_the_outputs(name):
    zeroed, chosen = _zero_channels(_model(name), 1 / 3)
    result = prune_channels(zeroed, ratio=1 / 3)
    assert result.changed
    groups = {tuple(g["producers"]): g for g in result.report["groups"]}
    for grp in channel_groups(zeroed.graph).groups:  # exactly the zeroed units went
        assert groups[grp.producers]["kept"] == len(grp.units) - sum(u in chosen for u in grp.units)
    x = _inputs(zeroed)
    np.testing.assert_allclose(_outputs(result.model, x), _outputs(zeroed, x), atol=1e-5)
    new = result.model.graph
    assert result.report["params"]["after"] < result.report["params"]["before"]
    assert new.node(new.outputs[0]).out == zeroed.graph.node(zeroed.graph.outputs[0]).out
    # What `nnspec check` does with the pruned spec: parse and compile it.
    again = compile_spec(parse_spec(to_yaml(spec_data(new, _spec(name))), "pruned.yaml"))
    assert sum(n.params for n in again.order()) == result.report["params"]["after"]


def test_pruning_nothing_changes_nothing():
    wg = _model("mobile_net")
    result = prune_channels(wg, ratio=0.0)
    assert not result.changed
    assert result.report["params"]["after"] == result.report["params"]["before"]
    x = _inputs(wg)
    np.testing.assert_array_equal(_outputs(result.model, x), _outputs(wg, x))


def test_a_flop_budget_is_met_by_the_graph_it_leaves():
    wg = _model("resnet_small")
    result = prune_channels(wg, flops=0.5, norm="l2")
    flops = result.report["flops"]
    less = prune_channels(wg, ratio=result.report["ratio"] - 0.02)  # the smallest ratio that does
    assert 0.45 * flops["before"] < flops["after"] <= 0.5 * flops["before"]
    assert less.report["flops"]["after"] > 0.5 * flops["before"]
    assert flops["after"] == sum(n.flops for n in result.model.graph.order())
    blocks = prune_channels(wg, flops=0.5, multiple=8).report
    assert blocks["flops"]["after"] <= 0.5 * flops["before"]
    assert all(grp["kept"] % 8 == 0 for grp in blocks["groups"])
    with pytest.raises(PruneError, match="cannot be reached"):
        prune_channels(wg, flops=0.001)
    with pytest.raises(PruneError, match="exactly one"):
        prune_channels(wg, ratio=0.5, flops=0.5)
    with pytest.raises(PruneError, match="norm"):
        prune_channels(wg, ratio=0.5, norm="l3")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "digits"
    nnspec.train(EXAMPLES / "digits_cnn.yaml", run, epochs=2, verbose=0)
    return run


def test_a_run_is_pruned_into_a_derived_run(trained, tmp_path):
    from nnspec.errors import RunDirError
    from nnspec.runtime.channel_pruning import channel_prune_run
    from nnspec.runtime.weights_io import load_weights

    report = channel_prune_run(trained, tmp_path / "half", flops=0.5)
    assert report["flops"]["after"] <= 0.5 * report["flops"]["before"]
    source = json.loads((trained / "metrics.json").read_text())["test"]["accuracy"]
    assert report["accuracy"]["before"] == pytest.approx(source, abs=1e-6)  # as `nnspec eval`
    assert 0 <= report["accuracy"]["pruned"] <= 1
    spec = nnspec.load_spec(tmp_path / "half" / "spec.yaml")
    assert sum(n.flops for n in compile_spec(spec).order()) == report["flops"]["after"]
    metrics = json.loads((tmp_path / "half" / "metrics.json").read_text())
    assert metrics["report"]["accuracy"] == report["accuracy"]
    weights, graph = load_weights(tmp_path / "half" / "weights.npz"), compile_spec(spec)
    widths = [graph.node(f"conv2d_{i}").spec.filters for i in (1, 2, 3)]
    assert [weights[f"conv2d_{i}"]["kernel"].shape[-1] for i in (1, 2, 3)] == widths
    assert sum(widths) < 32 + 32 + 64 and all(w % 16 == 0 for w in widths)  # `multiple` is 16
    with pytest.raises(RunDirError):
        channel_prune_run(trained, tmp_path / "half", ratio=0.5)


def test_a_pruned_run_fine_tunes_from_its_pruned_weights(trained, tmp_path):
    from nnspec.runtime.channel_pruning import channel_prune_run

    out = tmp_path / "tuned"
    report = channel_prune_run(trained, out, ratio=0.5, fine_tune_epochs=1)
    assert report["accuracy"]["fine_tuned"] is not None
    assert json.loads((out / "pruning.json").read_text())["accuracy"] == report["accuracy"]
    assert "initial_weights" in json.loads((out / "metrics.json").read_text())
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 1
    assert [p for p in out.parent.iterdir() if ".pruned." in p.name] == []  # temporary weights gone
    graph = compile_spec(nnspec.load_spec(out / "spec.yaml"))
    assert graph.node("conv2d_3").spec.filters == 32
