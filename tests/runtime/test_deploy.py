"""`nnspec deploy`: a spec's `deploy:` chain end to end (train, compress, export, quantize, bench) into one folder
written whole or not at all."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import nnspec
from nnspec.cli import main

pytestmark = pytest.mark.onnx

SPEC = """\
name: deploy_mlp
inputs:
  x: {shape: [4]}
nodes:
  - {op: dense, units: 64}
  - {id: bn, op: batch_norm}
  - {op: relu}
  - {id: hidden, op: dense, units: 128, activation: relu}
  - {id: species, op: dense, units: 3, activation: softmax}
train:
  data: iris
  loss: sparse_categorical_crossentropy
  optimizer: {name: adam, learning_rate: 0.02}
  epochs: 4
  batch_size: 16
  test_split: 0.3
  seed: 0
deploy:
  fold_batchnorm: true
  factorize: {rank: 4}
  quantize: [static, fp16, qat]
  calibration_samples: 64
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    (root / "mlp.yaml").write_text(SPEC, encoding="utf-8")
    report = nnspec.deploy(root / "mlp.yaml", root / "out", repeats=3)
    return root, report


def test_deploy_writes_every_step_and_the_bench(deployed):
    root, report = deployed
    out = root / "out"
    for name in ("run/model.keras", "compressed/spec.yaml", "model.onnx", "model.static.onnx", "model.fp16.onnx",
                 "model.qat.onnx", "bench.md", "bench.json", "deploy.json"):
        assert (out / name).is_file(), name
    written = json.loads((out / "deploy.json").read_text())
    assert [s["step"] for s in written["steps"]] == ["compress", "export", "quantize:static", "quantize:fp16",
                                                         "quantize:qat"]
    assert written["final_run"] == "compressed"
    compress = written["steps"][0]["report"]
    assert compress["passes"][0] == "fold_batchnorm" and compress["passes"][1].startswith("factorize_dense")
    compressed = nnspec.compile_spec(out / "compressed" / "spec.yaml")
    ops = [n.op for n in compressed.order()]
    assert "batch_norm" not in ops and ops.count("dense") == 4  # BN folded; `hidden` became two dense layers
    rows = {r["variant"]: r for r in written["bench"]}
    assert {"keras", "fp32", "model.onnx", "model.static.onnx", "model.fp16.onnx"} <= set(rows)
    assert rows["model.static.onnx"]["size_bytes"] < rows["model.onnx"]["size_bytes"]
    qat = written["steps"][-1]["report"]
    assert qat["ptq_accuracy"] is not None and rows["model.qat.onnx"]["accuracy"] == pytest.approx(qat["accuracy"])


def test_the_final_onnx_file_computes_the_compressed_model(deployed):
    import onnxruntime as ort

    from nnspec.runtime.run_dir import load_run

    out = deployed[0] / "out"
    _, model = load_run(out / "compressed")
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    np.testing.assert_allclose(got, np.asarray(model(x, training=False)), atol=1e-5)


def test_a_failed_step_leaves_no_folder_and_keeps_the_previous_one(deployed, monkeypatch):
    from nnspec.runtime import quantize as quantize_module

    root, _ = deployed
    before = sorted(p.name for p in (root / "out").iterdir())

    def over_budget(*args, **kwargs):
        raise quantize_module.QuantizeError("simulated failure of a quantization step")

    monkeypatch.setattr(quantize_module, "quantize_run", over_budget)
    result = CliRunner().invoke(main, ["deploy", str(root / "out" / "run"), "--out", str(root / "out"), "--force",
                                       "--repeats", "2"])
    assert result.exit_code == 1 and "simulated failure" in result.output
    assert sorted(p.name for p in (root / "out").iterdir()) == before
    assert not [p for p in root.iterdir() if p.name.startswith(".out.")]  # no partial folder left


def test_deploy_refuses_an_existing_folder_without_force(deployed):
    root, _ = deployed
    result = CliRunner().invoke(main, ["deploy", str(root / "mlp.yaml"), "--out", str(root / "out")])
    assert result.exit_code == 2 and "already exists" in result.output
