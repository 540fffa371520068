"""A run trained from a spec that names its data by a relative path keeps working from anywhere: eval, quantize,
prune (with fine-tuning) and compress find the data where the original spec was, and so do the runs they derive."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import nnspec
from nnspec.cli import main

pytestmark = pytest.mark.onnx

SPEC = """\
name: npz_mlp
inputs:
  x: {shape: [6]}
nodes:
  - {op: dense, units: 32, activation: relu}
  - {id: probs, op: dense, units: 3, activation: softmax}
train:
  data: {name: npz, path: data/points.npz}
  loss: sparse_categorical_crossentropy
  optimizer: {name: adam, learning_rate: 0.02}
  epochs: 3
  batch_size: 32
  test_split: 0.25
  seed: 0
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("datadirs")
    (root / "project" / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = (rng.normal(size=(300, 6)) + y[:, None]).astype("float32")
    np.savez(root / "project" / "data" / "points.npz", x=x, y=y)
    (root / "project" / "spec.yaml").write_text(SPEC, encoding="utf-8")
    run = nnspec.train(root / "project" / "spec.yaml", root / "runs" / "run", verbose=0)
    return root, run


def test_every_run_command_finds_relative_data_from_another_folder(trained, monkeypatch):
    root, run = trained
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither the run's folder nor the spec's
    runs = root / "runs"
    evaluated = CliRunner().invoke(main, ["eval", str(runs / "run"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["metrics"]["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])
    for args in (["quantize", runs / "run", "--mode", "static", "--out", runs / "q.onnx", "--samples", "32"],
                 ["prune", runs / "run", "--out", runs / "half", "--channels", "0.5", "--multiple", "1",
                  "--epochs", "1"],
                 ["compress", runs / "half", "--out", runs / "clustered", "--clusters", "8"],
                 ["eval", runs / "clustered"]):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 0, (args, result.output)
