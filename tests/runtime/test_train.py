"""Training: embedded datasets, reproducible runs, the run directory, and spec/data mismatches as located errors."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from nnspec.errors import RunDirError, SpecError
from nnspec.runtime.data import load_dataset, split
from nnspec.runtime.run_dir import FILES

LOGS = ("history.csv", "curves.png")  # train.logs defaults
from nnspec.specs.load import load_spec
from nnspec.specs.data import Digits, DigitsFlat, Iris, SineWaves
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.keras

TINY = """\
nnspec: 1
name: tiny_digits
inputs:
  image: {shape: [8, 8, 1]}
nodes:
  - {op: conv2d, filters: 4, kernel_size: 3, activation: relu}
  - {op: flatten}
  - {id: logits, op: dense, units: 10}
train:
  data: digits
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.01}
  epochs: 20
  batch_size: 64
  seed: 3
"""


def _write(folder, text, name="spec.yaml"):
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _train(spec_path, out, **kwargs):
    from nnspec.runtime.train import train

    return train(load_spec(spec_path), out, verbose=0, **kwargs)


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """The iris example trained as written (60 epochs)."""
    return _train(EXAMPLES / "iris_mlp.yaml", tmp_path_factory.mktemp("iris") / "run")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny digits CNN's spec file and two 2-epoch runs of it (same seed)."""
    folder = tmp_path_factory.mktemp("tiny")
    spec = _write(folder, TINY)
    return spec, _train(spec, folder / "a", epochs=2), _train(spec, folder / "b", epochs=2)


# --- datasets -----------------------------------------------------------------------------------------------------


def test_digits_as_images_and_as_vectors():
    images, flat = load_dataset(Digits()), load_dataset(DigitsFlat())
    assert images.x.shape == (1797, 8, 8, 1) and images.feature_shape == (8, 8, 1)
    assert flat.x.shape == (1797, 64) and flat.feature_shape == (64,)
    assert images.x.dtype == flat.x.dtype == np.float32
    assert 0.0 <= images.x.min() and images.x.max() <= 1.0
    np.testing.assert_array_equal(images.x.reshape(-1, 64), flat.x)
    assert images.num_classes == 10 and set(np.unique(images.y)) == set(range(10))


def test_sine_waves_follow_their_options_and_seed():
    spec = SineWaves(samples=60, steps=16, classes=4, noise=0.1)
    a, b, c = load_dataset(spec, seed=1), load_dataset(spec, seed=1), load_dataset(spec, seed=2)
    assert a.x.shape == (60, 16, 1) and a.x.dtype == np.float32 and a.num_classes == 4
    assert np.bincount(a.y).tolist() == [15, 15, 15, 15]
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)


def test_split_is_stratified_and_fixed_by_the_seed():
    data = load_dataset(Digits())
    train, test = split(data, 0.2, seed=0)
    again, test_again = split(data, 0.2, seed=0)
    _, other = split(data, 0.2, seed=1)
    assert len(test) == 360 and len(train) + len(test) == len(data)
    np.testing.assert_array_equal(test.x, test_again.x)
    np.testing.assert_array_equal(train.y, again.y)
    assert not np.array_equal(test.x, other.x)
    assert np.abs(np.bincount(test.y) / len(test) - np.bincount(data.y) / len(data)).max() < 0.01


def test_iris_is_standardized_with_training_statistics_only():
    data = load_dataset(Iris())
    train, test = split(data, 0.2, seed=0)
    raw_train, raw_test = split(dataclasses.replace(data, fit=None), 0.2, seed=0)  # same rows, not standardized
    mean, std = raw_train.x.mean(axis=0), raw_train.x.std(axis=0)
    np.testing.assert_allclose(train.x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.x.std(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(test.x, (raw_test.x - mean) / std, rtol=1e-5, atol=1e-5)
    assert not np.allclose(test.x, (raw_test.x - data.x.mean(axis=0)) / data.x.std(axis=0), atol=1e-3)
    assert train.preprocessing == test.preprocessing and train.fit is None
    np.testing.assert_allclose(train.preprocessing["standardize"]["mean"], mean, rtol=1e-6)


# --- training and the run directory -------------------------------------------------------------------------------


def test_iris_example_reaches_95_percent_test_accuracy(iris_run):
    m = iris_run.metrics
    assert m["test"]["accuracy"] >= 0.95, m
    assert m["epochs"] == 60 and m["params"] == iris_run.model.count_params() == 403
    assert (m["data"]["train"], m["data"]["validation"], m["data"]["test"]) == (108, 12, 30)
    text = (EXAMPLES / "iris_mlp.yaml").read_text(encoding="utf-8")
    assert (iris_run.run_dir / "spec.yaml").read_text(encoding="utf-8") == text  # not overridden: verbatim


def test_digits_example_reaches_98_percent_test_accuracy_from_the_spec_alone(tmp_path):
    run = _train(EXAMPLES / "digits_cnn.yaml", tmp_path / "run")
    assert run.metrics["epochs"] == 20 and run.metrics["test"]["accuracy"] >= 0.98, run.metrics["test"]


def test_same_seed_gives_identical_weights(tiny):
    _, a, b = tiny
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.history == b.history


def test_run_dir_holds_the_model_spec_history_and_metrics(tiny):
    spec_path, run, _ = tiny
    assert sorted(os.listdir(run.run_dir)) == sorted([*FILES, *LOGS])
    metrics = json.loads((run.run_dir / "metrics.json").read_text())
    history = json.loads((run.run_dir / "history.json").read_text())
    assert metrics == run.metrics and history == run.history
    assert {"train", "validation", "test", "epochs", "seed", "params", "spec_sha256", "nnspec_version",
            "seconds"} <= set(metrics)
    wall = metrics["seconds"]  # recorded for people; its value is not checked
    assert metrics["epochs"] == 2 and metrics["seed"] == 3 and isinstance(wall, float)
    assert 0.5 < metrics["test"]["accuracy"] <= 1.0 and metrics["test"]["loss"] > 0
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in history.values())
    text = (run.run_dir / "spec.yaml").read_text(encoding="utf-8")
    assert text.startswith("# Generated by nnspec train") and "\n" not in text.split("\n", 1)[0]
    again = load_spec(run.run_dir / "spec.yaml")
    assert again.train.epochs == 2 and again.nodes == load_spec(spec_path).nodes
    import hashlib

    assert metrics["spec_sha256"] == hashlib.sha256(text.encode()).hexdigest()


def test_existing_run_dir_needs_force(tiny, tmp_path):
    spec_path, _, _ = tiny
    out = tmp_path / "run"
    out.mkdir()
    _write(out, "old", "metrics.json")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(RunDirError, match="already exists"):
        _train(spec_path, out, epochs=1)
    assert sorted(os.listdir(tmp_path)) == before and os.listdir(out) == ["metrics.json"]
    assert (out / "metrics.json").read_text() == "old"
    run = _train(spec_path, out, epochs=1, force=True)
    assert sorted(os.listdir(out)) == sorted([*FILES, *LOGS]) and sorted(os.listdir(tmp_path)) == before
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1 == run.metrics["epochs"]


# --- mistakes -----------------------------------------------------------------------------------------------------


def test_data_that_does_not_fit_the_input_is_located_at_the_data_key(tmp_path):
    text = TINY.replace("{shape: [8, 8, 1]}", "{shape: [64]}").replace("  - {op: flatten}\n", "")
    text = text.replace("conv2d, filters: 4, kernel_size: 3", "dense, units: 4")
    path = _write(tmp_path, text)
    line = text.splitlines().index("  data: digits") + 1
    with pytest.raises(SpecError) as info:
        _train(path, tmp_path / "run")
    message = str(info.value)
    assert f"{path}:{line}:3: train.data: dataset 'digits' gives inputs of shape (8, 8, 1)" in message
    assert "input 'image' has shape (64,)" in message and "digits_flat" in message
    assert message.endswith("Received: data='digits'") and not (tmp_path / "run").exists()


def test_output_must_have_one_unit_per_class(tmp_path):
    path = _write(tmp_path, TINY.replace("units: 10", "units: 7"))
    with pytest.raises(SpecError, match=r"10 classes.*output 'logits' has shape \(7,\)"):
        _train(path, tmp_path / "run")


def test_a_spec_without_train_cannot_be_trained(tmp_path):
    path = _write(tmp_path, TINY.split("train:")[0])
    with pytest.raises(SpecError, match=r"spec\.yaml:1:1: train: the spec has no `train:` section"):
        _train(path, tmp_path / "run")
    assert not (tmp_path / "run").exists()
