"""The `train:` section at work: schedules against their formulas, optimizers and losses as named, callbacks,
several outputs with weighted losses, logs, file data, and resuming a run killed with SIGKILL mid-epoch."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nnspec.errors import RunDirError, SpecError
from nnspec.specs.load import load_spec, parse_spec

pytestmark = pytest.mark.keras

IRIS = """\
name: iris_small
inputs:
  features: {shape: [4]}
nodes:
  - {id: hidden, op: dense, units: 16, activation: relu}
  - {id: species, op: dense, units: 3}
train:
  data: iris
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.02}
  epochs: 4
  batch_size: 16
  seed: 2
"""


def _spec(text: str, *overrides: str, folder=None):
    if folder is None:
        return parse_spec(text, "spec.yaml", list(overrides))
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return load_spec(path, list(overrides))


def _train(spec, out, **kwargs):
    from nnspec.runtime.train import train

    return train(spec, out, verbose=0, **kwargs)


# --- schedules: Keras's own where it has them, ours against the formulas ---------------------------------------


def _lr(schedule: str, steps: list[int], spe: int = 10, epochs: int = 10, base: float = 0.1):
    from nnspec.runtime.keras_ext.schedules import learning_rate

    cfg = _spec(IRIS, f"train.schedule={schedule}", f"train.epochs={epochs}",
                f"train.optimizer.learning_rate={base}").train
    rate = learning_rate(cfg, spe)
    return [rate if isinstance(rate, float) else float(rate(s)) for s in steps]


STEPS = [0, 1, 5, 10, 19, 35, 50, 77, 99]


@pytest.mark.parametrize("schedule, formula", [
    ("constant", lambda t: 0.1),
    ("{name: step, every_epochs: 3, factor: 0.5}", lambda t: 0.1 * 0.5 ** math.floor(t / 30)),
    ("{name: exponential, decay_rate: 0.8}", lambda t: 0.1 * 0.8 ** (t / 10)),
    ("{name: cosine, min_learning_rate: 0.01}", lambda t: 0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * t / 100))),
    ("{name: one_cycle, pct_start: 0.25, div_factor: 10, final_div_factor: 100}",
     lambda t: (0.01 + 0.09 * 0.5 * (1 - math.cos(math.pi * (t / 100) / 0.25))) if t < 25
     else 0.001 + 0.099 * 0.5 * (1 + math.cos(math.pi * (t / 100 - 0.25) / 0.75))),
])  # fmt: skip
def test_schedule_follows_its_formula_in_epochs(schedule, formula):
    np.testing.assert_allclose(_lr(schedule, STEPS), [formula(t) for t in STEPS], rtol=1e-5, atol=1e-7)


def test_sgdr_restarts_at_the_end_of_each_longer_cycle():
    # first cycle 2 epochs = 20 steps, then 40, then 80: restarts at steps 20 and 60, each peak halved
    rates = _lr("{name: cosine_restarts, first_cycle_epochs: 2, cycle_mult: 2, peak_mult: 0.5}",
                [0, 10, 19, 20, 40, 59, 60], epochs=20)
    np.testing.assert_allclose(rates[:4], [0.1, 0.05, 0.1 * 0.5 * (1 + math.cos(math.pi * 19 / 20)), 0.05],
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(rates[4], 0.025, rtol=1e-5)  # halfway through the 40-step cycle peaking at 0.05
    assert rates[5] < 1e-3 and rates[6] == pytest.approx(0.025)


def test_warmup_ramps_linearly_then_hands_over_to_the_schedule():
    rates = _lr("{name: cosine, warmup_epochs: 2}", [0, 5, 10, 20, 60, 100])
    after = lambda t: 0.1 * 0.5 * (1 + math.cos(math.pi * t / 80))  # noqa: E731 - the cosine over 8 epochs
    np.testing.assert_allclose(rates, [0.0, 0.025, 0.05, after(0), after(40), after(80)], atol=1e-7)


# --- optimizers and losses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", [("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"), ("rmsprop", "RMSprop"),
                                       ("adagrad", "Adagrad"), ("adadelta", "Adadelta"), ("nadam", "Nadam"),
                                       ("lion", "Lion")])
def test_optimizers_are_the_keras_ones_named(name, cls):
    from nnspec.runtime.objectives import make_optimizer

    cfg = _spec(IRIS, f"train.optimizer.name={name}", "train.optimizer.global_clipnorm=1.5",
                "train.optimizer.ema=0.99").train
    opt = make_optimizer(cfg, 10)
    assert type(opt).__name__ == cls
    assert opt.global_clipnorm == 1.5 and opt.use_ema and opt.ema_momentum == 0.99


def test_contrastive_loss_matches_its_formula():
    from nnspec.runtime.objectives import make_loss
    from nnspec.specs.train import Loss

    d = np.array([[0.2], [1.5], [0.4], [0.9]], np.float32)
    y = np.array([[1], [1], [0], [0]], np.float32)
    want = np.mean(y[:, 0] * d[:, 0] ** 2 + (1 - y[:, 0]) * np.maximum(0.8 - d[:, 0], 0) ** 2)
    got = float(make_loss(Loss(name="contrastive", margin=0.8))(y, d))
    assert got == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "kl_divergence", "cosine_similarity", "huber",
                                  "mean_absolute_error"])
def test_every_loss_is_the_keras_loss_of_that_name(name):
    import keras

    from nnspec.runtime.objectives import make_loss
    from nnspec.specs.train import Loss

    rng = np.random.default_rng(0)
    y, p = rng.random((6, 3)).astype("float32"), rng.random((6, 3)).astype("float32")
    assert float(make_loss(Loss(name=name))(y, p)) == pytest.approx(float(keras.losses.get(name)(y, p).numpy().mean()),
                                                                     rel=1e-5)


def test_options_of_another_loss_are_refused_at_their_line():
    with pytest.raises(SpecError, match=r"spec.yaml:\d+:\d+: train.loss: `label_smoothing` applies to"):
        _spec(IRIS.replace("from_logits: true", "label_smoothing: 0.1").replace(
            "sparse_categorical_crossentropy", "mean_squared_error"))


# --- training with callbacks, several outputs, logs -------------------------------------------------------------


def test_early_stopping_stops_and_keeps_the_best_epoch(tmp_path):
    spec = _spec(IRIS, "train.epochs=40", "train.optimizer.learning_rate=0.2",
                 "train.early_stopping={patience: 1, monitor: val_loss}")
    run = _train(spec, tmp_path / "run")
    losses = run.history["val_loss"]
    assert len(losses) < 40 and run.metrics["epochs_run"] == len(losses)
    # patience 1: it stopped one epoch after its best, and the best epoch's weights were restored
    assert np.argmin(losses) == len(losses) - 2
    assert run.metrics["validation"]["loss"] == pytest.approx(min(losses), rel=1e-5)


def test_swa_ends_with_the_mean_of_the_epoch_weights(tmp_path):
    import keras

    from nnspec.runtime.keras_ext.callbacks import StochasticWeightAveraging

    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append([np.array(w) for w in self.model.get_weights()])

    original = StochasticWeightAveraging.on_epoch_end

    def spying(self, epoch, logs=None):
        Spy.on_epoch_end(self, epoch, logs)
        original(self, epoch, logs)

    spec = _spec(IRIS, "train.swa={start_epoch: 2}", "train.epochs=4")
    StochasticWeightAveraging.on_epoch_end = spying
    try:
        run = _train(spec, tmp_path / "run")
    finally:
        StochasticWeightAveraging.on_epoch_end = original
    want = [np.mean([epoch[i] for epoch in seen[1:]], axis=0) for i in range(len(seen[0]))]
    for got, mean in zip(run.model.get_weights(), want, strict=True):
        np.testing.assert_allclose(got, mean, rtol=1e-5, atol=1e-6)


def test_reduce_on_plateau_lowers_the_learning_rate(tmp_path):
    spec = _spec(IRIS, "train.epochs=8", "train.reduce_on_plateau={patience: 0, factor: 0.5, min_delta: 10}")
    run = _train(spec, tmp_path / "run")
    # min_delta 10: no epoch counts as an improvement, so every epoch after the first halves the rate
    assert float(run.model.optimizer.learning_rate) == pytest.approx(0.02 * 0.5 ** 7, rel=1e-5)


TWO_HEADS = IRIS.replace("""  - {id: species, op: dense, units: 3}
""", """  - {id: species, op: dense, units: 3}
  - {id: aux, op: dense, units: 3, from: hidden}
outputs: [species, aux]
""").replace("  loss: {name: sparse_categorical_crossentropy, from_logits: true}\n", """  loss:
    species: {name: sparse_categorical_crossentropy, from_logits: true}
    aux: {name: sparse_categorical_crossentropy, from_logits: true, weight: 0.3}
  metrics: {species: [accuracy]}
""")


def test_several_outputs_train_with_weighted_losses(tmp_path):
    # one batch per split, so Keras's per-batch averaging of the total cannot blur the weighted sum
    run = _train(_spec(TWO_HEADS, "train.batch_size=128", "train.epochs=8"), tmp_path / "run")
    test = run.metrics["test"]
    assert {"loss", "species_loss", "aux_loss", "species_accuracy"} <= set(test)
    assert "aux_accuracy" not in test
    assert test["loss"] == pytest.approx(test["species_loss"] + 0.3 * test["aux_loss"], rel=1e-4)


def test_a_loss_for_an_output_the_model_lacks_is_located(tmp_path):
    spec = _spec(TWO_HEADS.replace("    aux: {name", "    axu: {name"), folder=tmp_path)
    with pytest.raises(SpecError) as info:
        _train(spec, tmp_path / "run")
    line = TWO_HEADS.splitlines().index("    aux: {name: sparse_categorical_crossentropy, from_logits: true, "
                                        "weight: 0.3}") + 1
    assert f"spec.yaml:{line}:5: train.loss.axu: 'axu' is not an output of the model" in str(info.value)
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run*"))


def test_logs_csv_curves_and_tensorboard(tmp_path):
    run = _train(_spec(IRIS, "train.logs={tensorboard: true}"), tmp_path / "run")
    rows = (run.run_dir / "history.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and rows[0].split(",")[0] == "epoch"
    assert (run.run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((run.run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert not (run.run_dir / "checkpoint").exists()


def test_file_data_is_read_relative_to_the_spec_and_errors_are_located(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "points.npz", x=x, y=y)
    text = IRIS.replace("  data: iris\n", "  data: {name: npz, path: data/points.npz, x: x, y: y}\n")
    run = _train(_spec(text, folder=tmp_path), tmp_path / "run")
    assert run.metrics["data"]["train"] + run.metrics["data"]["validation"] + run.metrics["data"]["test"] == 90
    with pytest.raises(SpecError, match=r"spec.yaml:\d+:\d+: train.data.path: .*Received: path='data/missing.npz'"):
        _train(_spec(text.replace("points.npz", "missing.npz"), folder=tmp_path), tmp_path / "run2")


def test_a_resumed_run_reads_its_data_files_from_the_original_spec_folder(tmp_path, monkeypatch):
    import keras

    from nnspec.runtime.train import resume

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:  # two epochs done and checkpointed
                raise KeyboardInterrupt

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((90, 4)).astype("float32")
    np.savez(project / "data" / "points.npz", x=x, y=(x[:, 0] > 0).astype("int64") + (x[:, 1] > 0))
    text = IRIS.replace("  data: iris\n", "  data: {name: npz, path: data/points.npz, x: x, y: y}\n")
    spec = _spec(text, folder=project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither the current folder nor the run's folder holds the data
    whole = _train(spec, tmp_path / "runs" / "whole")
    with pytest.raises(KeyboardInterrupt):
        _train(spec, tmp_path / "runs" / "cut", callbacks=[Interrupt()])
    resumed = resume(tmp_path / "runs" / "cut", verbose=0)
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in resumed.run_dir.iterdir()) == sorted(p.name for p in whole.run_dir.iterdir())


def test_a_fresh_run_refuses_to_discard_an_interrupted_one(tmp_path):
    from nnspec.runtime.run_dir import partial_dir

    out = tmp_path / "run"
    (partial_dir(out) / "checkpoint").mkdir(parents=True)
    with pytest.raises(RunDirError, match="--resume"):
        _train(_spec(IRIS), out)
    assert _train(_spec(IRIS), out, force=True).run_dir == out and not partial_dir(out).exists()


# --- kill -9 mid-epoch, resume, and get exactly the uninterrupted run -------------------------------------------

RESUMABLE = """\
name: resumable
inputs:
  image: {shape: [8, 8, 1]}
nodes:
  - {op: conv2d, filters: 16, kernel_size: 3, padding: same}
  - {op: batch_norm}
  - {op: relu}
  - {op: flatten}
  - {op: dropout, rate: 0.3}
  - {id: logits, op: dense, units: 10}
train:
  data: digits
  loss: {name: categorical_crossentropy, from_logits: true, label_smoothing: 0.1}
  optimizer: {name: sgd, learning_rate: 0.05, momentum: 0.9, nesterov: true, ema: 0.9}
  schedule: {name: cosine, warmup_epochs: 1}
  augment: {noise: 0.05, mixup: 0.2}
  early_stopping: {patience: 10}
  batch_size: 16
  epochs: 4
  seed: 1
"""


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nnspec", *args], cwd=cwd, capture_output=True, text=True)


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_and_metrics(tmp_path):
    import keras

    (tmp_path / "spec.yaml").write_text(RESUMABLE, encoding="utf-8")
    reference = _cli("train", "spec.yaml", "--out", "reference", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr

    victim = subprocess.Popen([sys.executable, "-m", "nnspec", "train", "spec.yaml", "--out", "run"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / ".run.partial" / "checkpoint" / "checkpoint.npz"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # into the next epoch (an epoch takes over a second here)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL and not (tmp_path / "run").exists()
    with np.load(checkpoint) as saved:
        done = json.loads(str(saved["meta"]))["epochs_done"]
    assert 1 <= done < 4

    resumed = _cli("train", "--resume", "run", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert not (tmp_path / ".run.partial").exists()
    a = keras.saving.load_model(tmp_path / "reference" / "model.keras", compile=False)
    b = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    ma, mb = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("reference", "run"))
    assert mb["resumed"] and not ma["resumed"]
    assert {k: ma[k] for k in ("train", "validation", "test")} == {k: mb[k] for k in ("train", "validation", "test")}
    for name in ("history.json", "history.csv"):
        assert (tmp_path / "reference" / name).read_text() == (tmp_path / "run" / name).read_text()


def test_resume_needs_an_interrupted_run(tmp_path):
    result = _cli("train", "--resume", "nothing", cwd=tmp_path)
    assert result.returncode == 2 and "no interrupted run to resume" in result.stderr
    both = _cli("train", "spec.yaml", "--resume", "nothing", cwd=tmp_path)
    assert both.returncode == 2 and "drop SPEC" in both.stderr


@pytest.mark.parametrize("precision, jit", [("mixed_bfloat16", False), ("mixed_float16", False), ("float32", True)])
def test_mixed_precision_and_xla_train_on_the_cpu(tmp_path, precision, jit):
    import keras

    spec = _spec(IRIS, f"train.precision={precision}", f"train.jit_compile={str(jit).lower()}", "train.epochs=6")
    run = _train(spec, tmp_path / "run")
    layer = run.model.get_layer("hidden")
    assert layer.compute_dtype == {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}.get(precision, "float32")
    assert layer.kernel.dtype == "float32"  # weights stay float32 under a mixed policy
    if precision == "mixed_float16":  # float16 gradients are loss-scaled so small ones do not vanish
        assert type(run.model.optimizer).__name__ == "LossScaleOptimizer"
    assert run.model.jit_compile is jit
    assert run.metrics["test"]["accuracy"] > 0.6 and keras.config.dtype_policy().name == "float32"
