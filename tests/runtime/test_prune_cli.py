"""`nnspec prune` and `nnspec compress` on the command line: structured and unstructured pruning of a trained run,
the compression passes, and usage mistakes (exit 2, nothing written)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import nnspec
from nnspec.cli import main
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.keras


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("prune") / "run"
    nnspec.train(EXAMPLES / "iris_mlp.yaml", out, epochs=3, verbose=0)
    return out


def _invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_structured_pruning_writes_a_smaller_spec_that_checks(run, tmp_path):
    result = _invoke("prune", run, "--out", tmp_path / "half", "--channels", "0.5", "--multiple", "1",
                     "--epochs", "1", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["params"]["after"] < report["params"]["before"]
    assert _invoke("check", tmp_path / "half" / "spec.yaml").exit_code == 0
    assert nnspec.summary(tmp_path / "half" / "spec.yaml")["params"] == report["params"]["after"]


def test_unstructured_pruning_reports_sparsity_per_layer(run, tmp_path):
    result = _invoke("prune", run, "--out", tmp_path / "sparse", "--sparsity", "0.6", "--epochs", "1")
    assert result.exit_code == 0, result.output
    sparsity = json.loads((tmp_path / "sparse" / "metrics.json").read_text())["sparsity"]
    assert sparsity["total"] == pytest.approx(0.6, abs=0.01)
    assert set(sparsity["layers"]) >= {n["id"] for n in nnspec.summary(run / "spec.yaml")["nodes"]
                                       if n["op"] == "dense"}


def test_compress_folds_and_factorizes(run, tmp_path):
    result = _invoke("compress", run, "--out", tmp_path / "c", "--clusters", "8")
    assert result.exit_code == 0, result.output
    assert "cluster_weights" in result.output and (tmp_path / "c" / "model.keras").is_file()


@pytest.mark.parametrize("args", [["--channels", "0.5", "--sparsity", "0.5"], [], ["--sparsity", "0.5",
                                                                                   "--epochs", "0"]])
def test_usage_mistakes_exit_2_and_write_nothing(run, tmp_path, args):
    result = _invoke("prune", run, "--out", tmp_path / "x", *args)
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "x").exists()


def test_qat_through_the_quantize_command(run, tmp_path):
    result = _invoke("quantize", run, "--mode", "qat", "--out", tmp_path / "m.qat.onnx", "--epochs", "1",
                     "--samples", "32", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert (tmp_path / "m.qat.onnx").is_file() and report["weight_bits"] == 8
    assert report["accuracy"] is not None and report["ptq_accuracy"] is not None
    assert _invoke("quantize", run, "--mode", "qat", "--out", tmp_path / "x.onnx", "--max-accuracy-drop",
                   "0.01").exit_code == 2
