"""`evaluate_run` (`nnspec eval`): the run's test split recomputed exactly, the confusion matrix and per-class
precision/recall against sklearn, other datasets (with the run's standardization), and an output folder written
whole that never touches the run's own files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnspec.errors import NnspecError, RunDirError, SpecError

pytestmark = pytest.mark.keras

IRIS = """\
name: iris_small
inputs:
  features: {shape: [4]}
nodes:
  - {id: hidden, op: dense, units: 8, activation: relu}
  - {id: species, op: dense, units: 3}
train:
  data: iris
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.02}
  epochs: 3
  batch_size: 8
  test_split: 0.3
  seed: 4
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from nnspec.runtime.train import train
    from nnspec.specs.load import parse_spec

    folder = tmp_path_factory.mktemp("eval")
    return train(parse_spec(IRIS, str(folder / "iris.yaml")), folder / "run", verbose=0).run_dir


def _test_split():
    """The run's test split, recomputed here independently of eval: raw features and standardized ones."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    raw = load_iris()
    index = np.arange(150)
    train, test = train_test_split(index, test_size=45, random_state=4, stratify=raw.target)
    mean, std = raw.data[train].mean(axis=0), raw.data[train].std(axis=0)
    return raw.data[test], ((raw.data[test] - mean) / std).astype(np.float32), raw.target[test]


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_eval_recomputes_the_test_metrics_of_metrics_json(run_dir):
    from nnspec.runtime.evaluate import evaluate_run

    before = _snapshot(run_dir)
    result = evaluate_run(run_dir)
    recorded = json.loads((run_dir / "metrics.json").read_text())
    assert set(result["metrics"]) == set(recorded["test"]) == {"loss", "accuracy"}
    for key, value in recorded["test"].items():
        np.testing.assert_allclose(result["metrics"][key], value, rtol=1e-6, err_msg=key)
    assert result["data"] == {"name": "iris", "split": "test", "examples": recorded["data"]["test"]}
    # written to <run>/eval, whole; the run's own files are untouched and nothing partial is left behind
    assert _snapshot(run_dir) == before
    assert sorted(p.name for p in (run_dir / "eval").iterdir()) == ["confusion_matrix.png", "eval.json"]
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")]
    assert json.loads((run_dir / "eval" / "eval.json").read_text()) == result
    assert (run_dir / "eval" / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_confusion_matrix_and_per_class_scores_are_sklearns(run_dir):
    import keras
    from sklearn.metrics import confusion_matrix, precision_score, recall_score

    from nnspec.runtime.evaluate import evaluate_run

    result = evaluate_run(run_dir)
    entry = result["classification"]["species"]
    _, x, y = _test_split()
    predicted = np.argmax(keras.saving.load_model(run_dir / "model.keras").predict(x, verbose=0), axis=-1)
    matrix = np.asarray(entry["confusion_matrix"])
    assert matrix.sum() == len(y) == result["data"]["examples"] == 45
    np.testing.assert_array_equal(matrix, confusion_matrix(y, predicted, labels=[0, 1, 2]))
    assert entry["classes"] == ["setosa", "versicolor", "virginica"] and entry["plot"] == "confusion_matrix.png"
    np.testing.assert_allclose([entry["per_class"][c]["precision"] for c in entry["classes"]],
                               precision_score(y, predicted, average=None, labels=[0, 1, 2], zero_division=0))
    np.testing.assert_allclose([entry["per_class"][c]["recall"] for c in entry["classes"]],
                               recall_score(y, predicted, average=None, labels=[0, 1, 2], zero_division=0))
    assert entry["accuracy"] == pytest.approx(result["metrics"]["accuracy"])


def test_other_data_is_evaluated_whole_with_the_runs_standardization(run_dir, tmp_path):
    """The test split's raw measurements as a CSV (standardized, as csv data is by default): eval applies the
    statistics the run trained with, so it finds the test metrics again; an npz of the standardized features
    does too."""
    from nnspec.runtime.evaluate import evaluate_run

    raw, x, y = _test_split()
    names = ["setosa", "versicolor", "virginica"]
    lines = ["a,b,c,d,species", *(",".join([*map(repr, row.tolist()), names[k]]) for row, k in zip(raw, y))]
    (tmp_path / "more.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    np.savez(tmp_path / "more.npz", x=x, y=y)
    recorded = json.loads((run_dir / "metrics.json").read_text())["test"]

    from_csv = evaluate_run(run_dir, data=f"{{name: csv, path: {tmp_path / 'more.csv'}, label: species}}",
                            out=tmp_path / "csv_eval")
    from_npz = evaluate_run(run_dir, data=f"npz:{tmp_path / 'more.npz'}")
    for result in (from_csv, from_npz):
        assert result["data"]["split"] == "all" and result["data"]["examples"] == 45
        np.testing.assert_allclose(result["metrics"]["loss"], recorded["loss"], rtol=1e-5)
        assert result["metrics"]["accuracy"] == pytest.approx(recorded["accuracy"])
    assert from_npz["out"] == str(run_dir / "eval-npz-more") and (run_dir / "eval-npz-more" / "eval.json").is_file()
    assert from_csv["classification"]["species"]["classes"] == names
    # the run's own data by name is its test split, not the whole dataset
    assert evaluate_run(run_dir, data="iris", out=tmp_path / "own")["data"]["split"] == "test"


@pytest.mark.parametrize("data, message", [
    ("nope", "unknown dataset 'nope'; known: digits"),
    ("wine", "dataset 'wine' gives inputs of shape (13,) but input 'features' has shape (4,)"),
    ("{name: shapes, size: 4}", "size: Input should be greater than or equal to 8"),
])  # fmt: skip
def test_data_that_does_not_fit_is_a_diagnostic(run_dir, tmp_path, data, message):
    from nnspec.runtime.evaluate import evaluate_run

    with pytest.raises(SpecError) as info:
        evaluate_run(run_dir, data=data, out=tmp_path / "x")
    assert info.value.diagnostics[0].path == "--data" and message in str(info.value)
    assert "Received: data=" in str(info.value) and not (tmp_path / "x").exists()


def test_eval_replaces_only_its_own_results(run_dir, tmp_path):
    from nnspec.runtime.evaluate import evaluate_run

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not an eval result"):
        evaluate_run(run_dir, out=tmp_path / "notes")
    with pytest.raises(RunDirError, match="run directory itself"):
        evaluate_run(run_dir, out=run_dir)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    first = evaluate_run(run_dir, out=tmp_path / "ev")
    (tmp_path / "ev" / "stale.txt").write_text("old")
    assert evaluate_run(run_dir, out=tmp_path / "ev") == first  # deterministic, and the folder is replaced whole
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == ["confusion_matrix.png", "eval.json"]


def test_a_folder_that_is_not_a_run(tmp_path):
    from nnspec.runtime.evaluate import evaluate_run

    with pytest.raises(NnspecError, match="not a run directory"):
        evaluate_run(tmp_path)
