"""`nnspec quantize --mode litert`: a full-integer `.tflite` from a run's Keras model, calibrated on the run's
training part, checked with ai-edge-litert against the float Keras model on the run's test split."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.keras

SPEC = """\
name: digits_lite
inputs:
  image: {shape: [8, 8, 1]}
nodes:
  - {op: conv2d, filters: 16, kernel_size: 3, padding: same, activation: relu}
  - {op: max_pool2d, pool_size: 2}
  - {op: flatten}
  - {id: hidden, op: dense, units: 64, activation: relu}
  - {id: probs, op: dense, units: 10, activation: softmax}
train:
  data: digits
  loss: sparse_categorical_crossentropy
  optimizer: {name: adam, learning_rate: 0.003}
  epochs: 5
  batch_size: 32
  test_split: 0.2
  seed: 0
"""
TEST_EXAMPLES = 360  # ceil(0.2 * 1797)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Train once and quantize through the command line (its JSON report is the API's report)."""
    from click.testing import CliRunner

    from nnspec.cli import main
    from nnspec.runtime.train import train
    from nnspec.specs.load import parse_spec

    folder = tmp_path_factory.mktemp("litert")
    run = train(parse_spec(SPEC, str(folder / "spec.yaml")), folder / "run", verbose=0).run_dir
    out = folder / "model.int8.tflite"
    result = CliRunner().invoke(main, ["quantize", str(run), "--mode", "litert", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return {"run": run, "out": out, "report": json.loads(result.stdout), "folder": folder}


def _test_split(run):
    from nnspec.runtime.quantize.data import run_eval_data

    return run_eval_data(run)


def test_the_file_is_full_integer_and_as_accurate_as_the_float_model(made):
    from ai_edge_litert.interpreter import Interpreter

    report = made["report"]
    assert report["mode"] == "litert" and report["path"] == str(made["out"])
    assert made["out"].stat().st_size == report["size_bytes"]
    assert report["data"] == "test split" and report["examples"] == TEST_EXAMPLES
    assert report["calibration_samples"] == 256
    assert report["float_accuracy"] > 0.9, report  # the float Keras model did learn
    assert abs(report["accuracy_drop"]) <= 0.02, report  # measured: 0 to 0.3 points
    assert report["ratio"] > 2.5, report  # against the float32 .tflite; measured 3.07
    assert report["latency_ms"] > 0 and report["float_latency_ms"] > 0
    assert "ai-edge-litert" in report["versions"]
    interpreter = Interpreter(model_path=str(made["out"]))
    ends = interpreter.get_input_details() + interpreter.get_output_details()
    assert [np.dtype(d["dtype"]) for d in ends] == [np.int8, np.int8]
    assert all(d["quantization"][0] > 0 for d in ends)
    kinds = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    assert kinds <= {"int8", "int32"}, kinds  # no float tensor anywhere: weights, activations, io


def test_inputs_are_quantized_with_the_tensor_scale_and_outputs_match_keras(made):
    """`run_tflite` quantizes inputs as the file says (checked by doing it by hand), and its dequantized
    outputs match the float Keras model; feeding the float pixels merely cast to int8 would not."""
    from ai_edge_litert.interpreter import Interpreter

    from nnspec.runtime.litert import run_tflite
    from nnspec.runtime.run_dir import load_run

    evaluation = _test_split(made["run"])
    x = evaluation.x["image"][:64]
    got = run_tflite(made["out"], {"image": x})[0]
    interpreter = Interpreter(model_path=str(made["out"]))
    runner = interpreter.get_signature_runner()
    [(name, detail)] = runner.get_input_details().items()
    scale, zero = detail["quantization"]
    by_hand = np.clip(np.round(x / scale) + zero, -128, 127).astype(np.int8)
    [(out_name, out_detail)] = runner.get_output_details().items()
    raw = runner(**{name: by_hand})[out_name]
    out_scale, out_zero = out_detail["quantization"]
    np.testing.assert_array_equal(got, (raw.astype(np.float32) - out_zero) * out_scale)
    _, model = load_run(made["run"])
    want = np.asarray(model.predict(x, verbose=0))
    assert np.abs(got - want).max() < 0.2 and np.abs(got - want).mean() < 0.01
    labels = evaluation.y[:64]
    naive = runner(**{name: x.astype(np.int8)})[out_name]  # pixels in [0, 1] cast: all 0 or 1
    assert np.mean(np.argmax(got, -1) == labels) > np.mean(np.argmax(naive, -1) == labels) + 0.3


def test_over_budget_fails_and_writes_nothing(made, tmp_path):
    from nnspec.runtime.litert import quantize_litert
    from nnspec.runtime.quantize import AccuracyBudgetError

    out = tmp_path / "never.tflite"
    with pytest.raises(AccuracyBudgetError) as info:
        quantize_litert(made["run"], out, samples=32, max_accuracy_drop=-1.0)
    assert info.value.report.mode == "litert" and info.value.report.calibration_samples == 32
    assert "max_accuracy_drop=-1" in str(info.value) and f"{TEST_EXAMPLES} test examples" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a partial one


def test_usage_errors(made, tmp_path):
    from click.testing import CliRunner

    from nnspec.cli import main
    from nnspec.runtime.litert import quantize_litert
    from nnspec.runtime.quantize import QuantizeInputError

    with pytest.raises(QuantizeInputError, match=r"\.tflite file"):
        quantize_litert(made["run"], tmp_path / "model.onnx")
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"")
    bare = CliRunner().invoke(main, ["quantize", str(onnx_file), "--mode", "litert", "--out",
                                     str(tmp_path / "m.tflite")])
    assert bare.exit_code == 2 and "give a RUN_DIR" in bare.output
    worst = CliRunner().invoke(main, ["quantize", str(made["run"]), "--mode", "litert", "--out",
                                      str(tmp_path / "m.tflite"), "--max-accuracy-drop", "0.1",
                                      "--exclude-worst", "1"])
    assert worst.exit_code == 2 and "not litert" in worst.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
