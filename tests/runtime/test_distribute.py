"""Data-parallel training: a mirrored strategy over two logical CPU devices gives the results of one device
(within float summation order), with the global batch split over the replicas and the learning rate scaled as
the spec says. Each run is a fresh `nnspec train` process: the CPU can only be split before TensorFlow starts."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nnspec.errors import SpecError
from nnspec.specs.load import parse_spec

pytestmark = pytest.mark.keras

SPEC = """\
name: mirrored
inputs:
  image: {shape: [8, 8, 1]}
nodes:
  - {op: conv2d, filters: 8, kernel_size: 3, activation: relu}
  - {op: batch_norm, synchronized: true}
  - {op: flatten}
  - {id: logits, op: dense, units: 10}
train:
  data: digits
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: sgd, learning_rate: 0.02, momentum: 0.9}
  epochs: 1
  batch_size: 32
  seed: 4
"""


def _train(tmp_path, out: str, *sets: str):
    args = [sys.executable, "-m", "nnspec", "train", "spec.yaml", "--out", out]
    for item in sets:
        args += ["--set", item]
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / out / "metrics.json").read_text())


def test_two_mirrored_cpu_replicas_train_like_one_device(tmp_path):
    import keras

    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    one = _train(tmp_path, "one")
    two = _train(tmp_path, "two", "train.distribute={strategy: mirrored, logical_cpus: 2}")
    assert one["replicas"] == 1 and two["replicas"] == 2
    a = keras.saving.load_model(tmp_path / "one" / "model.keras", compile=False)
    b = keras.saving.load_model(tmp_path / "two" / "model.keras", compile=False)
    worst = max(float(np.max(np.abs(x - y))) for x, y in zip(a.get_weights(), b.get_weights(), strict=True))
    assert worst < 2e-3  # measured 2e-4 after 45 steps: gradients summed in another order, nothing else
    assert abs(one["test"]["accuracy"] - two["test"]["accuracy"]) <= 2 / 360
    assert one["test"]["loss"] == pytest.approx(two["test"]["loss"], rel=5e-3)


def test_linear_scaling_multiplies_the_learning_rate_by_the_replicas(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC, encoding="utf-8")
    run = _train(tmp_path, "scaled", "train.distribute={strategy: mirrored, logical_cpus: 2, "
                                     "learning_rate_scaling: linear}", "train.epochs=1")
    assert run["learning_rate"] == pytest.approx(0.04)


def test_the_global_batch_must_split_evenly():
    with pytest.raises(SpecError, match="batch_size must be a multiple of 3"):
        parse_spec(SPEC.replace("  seed: 4", "  seed: 4\n  distribute: {strategy: mirrored, logical_cpus: 3}"))
    with pytest.raises(SpecError, match="`devices` and `logical_cpus` choose what a `mirrored` strategy spans"):
        parse_spec(SPEC.replace("  seed: 4", "  seed: 4\n  distribute: {logical_cpus: 2}"))
