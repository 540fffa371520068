"""The `nnspec` command: outputs, exit codes, and that every verb is the API call it claims to be."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import nnspec
from nnspec.cli import main

from .conftest import EXAMPLES, ROOT


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_check_accepts_every_example_and_exits_zero():
    specs = sorted(EXAMPLES.glob("*.yaml"))
    result = run("check", *specs)
    assert result.exit_code == 0, result.output
    assert result.stdout.count(": ok (") == len(specs)


def test_check_reports_problems_of_all_files_at_once(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\ninputs: {x: {shape: [3]}}\nnodes:\n  - {op: dense, units: 0}\n")
    result = run("check", EXAMPLES / "iris_mlp.yaml", bad, ROOT / "tests/golden/bad_unknown_op.yaml")
    assert result.exit_code == 2
    assert f"{bad}:4:17: nodes[0].units:" in result.stderr
    assert "unknown op 'conv2'" in result.stderr
    assert "iris_mlp.yaml: ok" in result.stdout


def test_missing_file_is_a_diagnostic_not_a_traceback(tmp_path):
    result = run("check", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "cannot read the spec" in result.stderr and "Traceback" not in result.output


def test_unknown_example_suggests_the_closest():
    result = run("summary", "example:digits_cn")
    assert result.exit_code == 2
    assert "Did you mean 'example:digits_cnn'?" in result.stderr


def test_summary_json_matches_the_api():
    result = run("summary", "--json", "example:residual_cnn")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"name", "params", "trainable_params", "flops", "nodes"}
    assert set(data["nodes"][0]) == {"id", "op", "shape", "params", "flops"}
    api = nnspec.summary("example:residual_cnn")
    assert data["params"] == api["params"] and data["flops"] == api["flops"]
    assert data["trainable_params"] < data["params"]  # batch norm's moving statistics do not train


def test_summary_table_is_plain_text_when_piped():
    result = run("summary", "example:iris_mlp")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["id", "op", "output", "shape", "params", "FLOPs"]
    assert any(line.split()[:2] == ["species", "dense"] for line in lines)
    assert "403" in lines[-2]  # the total


def test_ops_lists_every_registered_op():
    from nnspec.layers import LAYERS

    data = json.loads(run("ops", "--json").stdout)
    assert [row["op"] for row in data] == sorted(LAYERS)


@pytest.mark.keras
def test_build_writes_a_functional_model_named_by_node_ids(tmp_path):
    import keras

    out = tmp_path / "m.keras"
    result = run("build", "example:residual_cnn", "--out", out)
    assert result.exit_code == 0, result.output
    model = keras.saving.load_model(out)
    ids = [n["id"] for n in nnspec.summary("example:residual_cnn")["nodes"]]
    names = [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert sorted(names) == sorted(ids)
    assert model.count_params() == nnspec.summary("example:residual_cnn")["params"]
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]  # no temporary file left behind


def test_build_rejects_a_wrong_suffix(tmp_path):
    result = run("build", "example:iris_mlp", "--out", tmp_path / "m.h5")
    assert result.exit_code == 2 and "must end in .keras" in result.output


def test_train_refuses_an_existing_run_dir_without_force(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("x")
    result = run("train", "example:iris_mlp", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (tmp_path / "run" / "keep.txt").read_text() == "x"


@pytest.mark.keras
@pytest.mark.onnx
def test_train_then_export_from_the_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    result = run("train", "example:iris_mlp", "--out", run_dir, "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "test accuracy=" in result.stdout
    out = tmp_path / "iris.onnx"
    result = run("export", run_dir, "--out", out, "--opset", "17")
    assert result.exit_code == 0, result.output
    assert "opset 17" in result.stdout and "max |onnxruntime - keras| = " in result.stdout
    assert out.is_file()
    result = run("export", run_dir, "--out", out, "--opset", "19")
    assert result.exit_code == 2  # out of range: a usage error, the previous file stays
    assert out.is_file()
    # eval recomputes the recorded test metrics; sample refuses a model that generates nothing
    result = run("eval", run_dir, "--json")
    assert result.exit_code == 0, result.output
    recorded = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert json.loads(result.stdout)["metrics"]["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-6)
    assert (run_dir / "eval" / "confusion_matrix.png").is_file()
    result = run("sample", run_dir, "--out", tmp_path / "grid.png")
    assert result.exit_code == 1 and "generates nothing to sample" in result.stderr
    assert not (tmp_path / "grid.png").exists()


def test_resume_and_train_arguments_exclude_each_other(tmp_path):
    result = run("train", "--out", tmp_path / "x")
    assert result.exit_code == 2 and "give SPEC and --out" in result.output
