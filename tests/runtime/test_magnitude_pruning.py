"""Magnitude pruning during training (`train.prune:`): the schedule against its formula, masks that
keep pruned weights at exactly zero through training, global against per-layer sparsity, the final
sparsity reached, resuming a pruned run, the lottery-ticket rewind, fine-tuning a run with pruning,
ONNX export of a pruned run, and spec errors at their YAML line."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnspec.errors import SpecError
from nnspec.specs.load import parse_spec

pytestmark = pytest.mark.keras

TINY = """\
name: tiny_digits
inputs:
  image: {shape: [8, 8, 1]}
nodes:
  - {id: conv, op: conv2d, filters: 8, kernel_size: 3, padding: same, activation: relu}
  - {op: max_pool2d, pool_size: 2}
  - {op: flatten}
  - {id: hidden, op: dense, units: 32, activation: relu}
  - {id: logits, op: dense, units: 10}
train:
  data: digits
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.01}
  epochs: 3
  batch_size: 128
  validation_split: 0.0
  seed: 0
  prune: {sparsity: 0.8, end_epoch: 2, frequency: 4}
"""
KERNELS = ("conv", "hidden", "logits")


def _spec(*overrides: str, text: str = TINY):
    return parse_spec(text, "spec.yaml", list(overrides))


def _spy():
    """A callback that records every kernel before each training step (`kernels[step][id]`), the
    optimizer's step count there, and every weight at the start of training (`initial[path]`)."""
    import keras

    class Spy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.initial = {w.path: np.array(w) for w in self.model.weights}
            self.kernels, self.iterations = [], []

        def on_train_batch_begin(self, batch, logs=None):
            self.kernels.append({k: np.array(self.model.get_layer(k).kernel) for k in KERNELS})
            self.iterations.append(int(self.model.optimizer.iterations))

    return Spy()


def _train(spec, out, **kwargs):
    from nnspec.runtime.train import train

    return train(spec, out, verbose=0, **kwargs)


def _zeros(model) -> dict:
    return {k: model.get_layer(k).kernel.numpy() == 0 for k in KERNELS}


@pytest.fixture(scope="module")
def global_run(tmp_path_factory):
    spy = _spy()
    return _train(_spec(), tmp_path_factory.mktemp("runs") / "global", callbacks=[spy]), spy


@pytest.fixture(scope="module")
def per_layer_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "per_layer"
    return _train(_spec("train.prune.scope=per_layer"), out)


# --- the schedule and the masks ----------------------------------------------------------------


def test_polynomial_schedule_follows_its_formula():
    from nnspec.runtime.keras_ext.pruning import SparsitySchedule

    s = SparsitySchedule(final=0.8, initial=0.1, begin=10, end=50, frequency=7, power=3)
    for t in (0, 9, 10, 17, 30, 49, 50, 80):
        p = min(max((t - 10) / 40, 0.0), 1.0)
        want = 0.0 if t < 10 else 0.8 + (0.1 - 0.8) * (1 - p) ** 3
        assert s.sparsity(t) == pytest.approx(want, abs=1e-12), t
    # masks are recomputed every 7 steps from the begin, and at the end
    assert [t for t in range(100) if s.due(t)] == [10, 17, 24, 31, 38, 45, 50]
    constant = SparsitySchedule(final=0.5, begin=4, end=8, frequency=4, constant=True)
    assert [constant.sparsity(t) for t in (3, 4, 8, 20)] == [0.0, 0.5, 0.5, 0.5]


def test_masks_prune_the_smallest_magnitudes_globally_or_per_layer():
    from nnspec.runtime.keras_ext.pruning import magnitude_masks

    rng = np.random.default_rng(0)
    kernels = {"a": rng.normal(0, 1.0, (3, 3, 4, 8)), "b": rng.normal(0, 0.1, (64, 10))}
    per_layer = magnitude_masks(kernels, 0.75, "per_layer")
    for key, w in kernels.items():
        assert (~per_layer[key]).sum() == round(0.75 * w.size)
        assert np.abs(w[per_layer[key]]).min() >= np.abs(w[~per_layer[key]]).max()
    both = magnitude_masks(kernels, 0.75, "global")
    kept = np.concatenate([np.abs(kernels[k][both[k]]) for k in kernels])
    pruned = np.concatenate([np.abs(kernels[k][~both[k]]) for k in kernels])
    assert pruned.size == round(0.75 * (kept.size + pruned.size))
    assert kept.min() >= pruned.max()
    # one threshold for both: the kernel of small weights loses nearly all, the other far fewer
    assert (~both["b"]).mean() > 0.95 and (~both["a"]).mean() < 0.5


# --- training with masks -----------------------------------------------------------------------


def test_pruned_weights_stay_exactly_zero_through_training(global_run):
    from nnspec.runtime.keras_ext.pruning import SparsitySchedule

    run, spy = global_run
    steps = len(spy.kernels) // 3
    zeros = [{k: v == 0 for k, v in kernels.items()} for kernels in spy.kernels]
    for before, after in itertools.pairwise(zeros):  # once pruned, a weight stays zero
        assert all(np.all(after[k][before[k]]) for k in KERNELS)
    final = _zeros(run.model)
    for step in range(2 * steps + 1, 3 * steps):  # the last epoch trains with fixed masks
        assert all(np.array_equal(zeros[step][k], final[k]) for k in KERNELS)
    schedule = SparsitySchedule(0.8, end=2 * steps, frequency=4)
    size = sum(z.size for z in zeros[0].values())
    for t in range(1, 2 * steps + 1):  # before step t: the last update before t, or at t if t ends
        due = [u for u in range(t + 1) if schedule.due(u) and (u < t or t % steps == 0)]  # an epoch
        count = sum(int(z.sum()) for z in zeros[t].values())
        assert count == round(schedule.sparsity(max(due)) * size), t


def test_final_sparsity_is_reached_and_reported_per_layer(global_run, per_layer_run):
    run, _ = global_run
    report = run.metrics["sparsity"]
    assert report["total"] == pytest.approx(0.8, abs=0.01)
    sizes = {k: z.size for k, z in _zeros(run.model).items()}
    measured = {k: float(z.mean()) for k, z in _zeros(run.model).items()}
    assert report["layers"] == pytest.approx(measured, abs=1e-6)
    total = sum(report["layers"][k] * sizes[k] for k in KERNELS) / sum(sizes.values())
    assert total == pytest.approx(report["total"], abs=1e-6)
    assert max(report["layers"].values()) - min(report["layers"].values()) > 0.05  # one threshold
    layers = per_layer_run.metrics["sparsity"]["layers"]
    assert layers == pytest.approx(dict.fromkeys(KERNELS, 0.8), abs=0.01)  # each kernel alone
    for pruned in (run, per_layer_run):  # still a classifier (chance: 0.1)
        assert pruned.metrics["test"]["accuracy"] > 0.5


def test_a_resumed_pruned_run_ends_with_the_uninterrupted_weights(global_run, tmp_path):
    import keras

    from nnspec.runtime.train import resume

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:  # two epochs done and checkpointed, masks mid-schedule
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(_spec(), tmp_path / "cut", callbacks=[Interrupt()])
    resumed = resume(tmp_path / "cut", verbose=0)
    assert resumed.metrics["weights_sha256"] == global_run[0].metrics["weights_sha256"]


def test_lottery_ticket_rewinds_survivors_to_their_initial_weights(tmp_path):
    spy = _spy()
    spec = _spec("train.prune.lottery=true", "train.epochs=2", "train.prune.end_epoch=1")
    run = _train(spec, tmp_path / "lottery", callbacks=[spy])
    steps = len(spy.kernels) // 4
    assert len(run.history["loss"]) == 4 and run.metrics["epochs_run"] == 4  # both phases kept
    end_of_pruning, rewound = spy.kernels[2 * steps - 1], spy.kernels[2 * steps]
    assert spy.iterations[2 * steps] == 0  # the optimizer starts over too
    for name in KERNELS:
        initial = spy.initial[f"{name}/kernel"]
        mask = rewound[name] != 0
        assert np.array_equal(mask, end_of_pruning[name] != 0)  # the masks of the first phase
        np.testing.assert_array_equal(rewound[name], np.where(mask, initial, 0))
        assert not np.array_equal(end_of_pruning[name][mask], initial[mask])  # phase one moved them
        assert np.all(run.model.get_layer(name).kernel.numpy()[~mask] == 0)
    assert run.metrics["sparsity"]["total"] == pytest.approx(0.8, abs=0.01)


def test_a_trained_run_is_fine_tuned_with_pruning(global_run, tmp_path):
    from nnspec.runtime.pruning import magnitude_prune_run
    from nnspec.specs.load import load_spec

    source = global_run[0].run_dir
    run = magnitude_prune_run(source, tmp_path / "sparser", sparsity=0.9, epochs=1,
                              scope="per_layer", learning_rate=0.001)
    assert run.metrics["initial_weights"] == str(source)
    assert run.metrics["sparsity"]["layers"] == pytest.approx(dict.fromkeys(KERNELS, 0.9), abs=0.01)
    cfg = load_spec(run.run_dir / "spec.yaml").train  # the run's spec says what it did
    assert (cfg.prune.sparsity, cfg.prune.scope, cfg.optimizer.learning_rate) == (0.9, "per_layer",
                                                                                   0.001)
    for name, zeros in _zeros(global_run[0].model).items():  # pruned before: pruned still
        assert np.all(_zeros(run.model)[name][zeros])


@pytest.mark.onnx
def test_a_pruned_run_exports_to_onnx_with_its_zeros(global_run, tmp_path):
    import onnx
    from onnx import numpy_helper

    from nnspec.runtime.onnx_export import export_onnx

    export_onnx(global_run[0].run_dir, tmp_path / "pruned.onnx")  # parity-checked against Keras
    model = onnx.load(str(tmp_path / "pruned.onnx"))
    weights = [numpy_helper.to_array(t) for t in model.graph.initializer]
    zeros = sum(int((w == 0).sum()) for w in weights if w.dtype == np.float32)
    assert zeros >= sum(int(z.sum()) for z in _zeros(global_run[0].model).values())


# --- spec errors -------------------------------------------------------------------------------


def test_bad_pruning_options_are_errors_at_their_line():
    with pytest.raises(SpecError) as error:
        _spec(text=TINY.replace("sparsity: 0.8", "sparsity: 1.5"))
    assert ("spec.yaml:18:11: train.prune.sparsity: input should be less than 1. "
            "Received: sparsity=1.5") in str(error.value)
    with pytest.raises(SpecError, match=r"spec.yaml:\d+:\d+: train: prune.end_epoch is after"):
        _spec(text=TINY.replace("end_epoch: 2", "end_epoch: 5"))


def test_a_layer_without_a_kernel_is_refused_at_its_line(tmp_path):
    text = TINY.replace("frequency: 4", "layers: [conv, flatten_1]")
    with pytest.raises(SpecError, match=r"spec.yaml:18:\d+: train.prune.layers\[1\]: 'flatten_1' "
                                        r"has no convolution or dense kernel to prune"):
        _train(_spec(text=text), tmp_path / "run")
