"""`quantize` / `quantize_run`: dynamic, static (QDQ, per-channel, calibrated on the run's training part) and fp16
ONNX files, measured against the float model on the run's test split; the accuracy budget; atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.onnx

# A digits CNN whose weights are mostly in a dense layer (512x128): enough weights that int8 storage dominates
# the file, so static int8 is well over 3x smaller than float32.
DIGITS = """\
name: digits_q
inputs:
  image: {shape: [8, 8, 1]}
nodes:
  - {op: conv2d, filters: 16, kernel_size: 3, padding: same, activation: relu}
  - {op: conv2d, filters: 32, kernel_size: 3, padding: same, activation: relu}
  - {op: max_pool2d, pool_size: 2}
  - {op: flatten}
  - {id: hidden, op: dense, units: 128, activation: relu}
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
    """Train once, export the float model once, and quantize it in all three modes."""
    from nnspec.runtime.onnx_export import export_onnx
    from nnspec.runtime.quantize import quantize, quantize_run
    from nnspec.runtime.train import train
    from nnspec.specs.load import parse_spec

    folder = tmp_path_factory.mktemp("quantize")
    run = train(parse_spec(DIGITS, str(folder / "digits.yaml")), folder / "run", verbose=0).run_dir
    float_onnx = folder / "float.onnx"
    export_onnx(run, float_onnx)
    reports = {"static": quantize_run(run, folder / "static.onnx", "static")}
    for mode in ("dynamic", "fp16"):
        reports[mode] = quantize(float_onnx, folder / f"{mode}.onnx", mode=mode, eval_data=run)
    return {"run": run, "float": float_onnx, "folder": folder, "reports": reports}


def _partials(folder):
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def test_static_is_over_3x_smaller_and_as_accurate_as_float(made):
    report = made["reports"]["static"]
    assert report.mode == "static"
    assert report.path.is_file() and report.size_bytes == report.path.stat().st_size
    assert report.float_size_bytes > 200_000  # ~75k float32 weights
    assert report.ratio >= 3.0, report
    assert report.data == "test split" and report.examples == TEST_EXAMPLES
    assert report.calibration_samples == 256
    assert report.float_accuracy > 0.85, report  # it did learn
    assert abs(report.accuracy_drop) <= 0.02, report  # measured: about 0 to 1 point either way
    assert "sympy" in report.preprocess or report.preprocess == "quant_pre_process"
    assert report.float_latency_ms > 0 and report.latency_ms > 0


def test_static_has_per_channel_qdq_weights_on_conv_and_dense(made):
    import onnx
    from onnx import TensorProto, numpy_helper

    proto = onnx.load(str(made["reports"]["static"].path))
    g = proto.graph
    ops = {n.op_type for n in g.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    checked = {"Conv": 0, "MatMul": 0}
    for node in g.node:
        if node.op_type not in checked:
            continue
        deq = producer[node.input[1]]  # the weight comes out of a DequantizeLinear of an int8 initializer
        assert deq.op_type == "DequantizeLinear", node.name
        weight, scale = inits[deq.input[0]], numpy_helper.to_array(inits[deq.input[1]])
        assert weight.data_type == TensorProto.INT8
        axis = {a.name: a.i for a in deq.attribute}.get("axis", 1)
        channels = weight.dims[0] if node.op_type == "Conv" else weight.dims[1]  # OIHW / (in, out)
        assert axis == (0 if node.op_type == "Conv" else 1)
        assert scale.shape == (channels,) and channels > 1  # one scale per output channel
        assert len(set(scale.tolist())) > 1
        checked[node.op_type] += 1
    assert checked == {"Conv": 2, "MatMul": 2}


def test_static_calibrates_on_the_training_part_never_the_test_split(made, tmp_path, monkeypatch):
    """Recompute the split independently (sklearn digits, stratified, seed 0) and check which rows were fed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from nnspec.runtime import quantize as q

    fed = []
    original = q._Reader

    class Spy(original):
        def __init__(self, data):
            fed.append(data)
            super().__init__(data)

    monkeypatch.setattr(q, "_Reader", Spy)
    q.quantize(made["float"], tmp_path / "s.onnx", mode="static", calibration=made["run"], samples=64,
               eval_data=made["run"])
    x = fed[0]["image"]
    assert x.shape == (64, 8, 8, 1)
    raw = load_digits()
    train, test = train_test_split(np.arange(len(raw.target)), test_size=TEST_EXAMPLES, random_state=0,
                                   stratify=raw.target)
    images = (raw.images / 16.0).astype(np.float32)
    rows = {images[i].tobytes(): i for i in range(len(images))}
    used = [rows[example[..., 0].tobytes()] for example in x]
    assert set(used) <= set(train) and not set(used) & set(test)


def test_dynamic_is_smaller_and_close_to_float(made):
    from nnspec.runtime.onnx_export import onnx_ops

    report = made["reports"]["dynamic"]
    assert report.ratio > 2.0, report
    assert onnx_ops(report.path) & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}
    assert abs(report.accuracy_drop) <= 0.02, report
    assert report.preprocess == "none" and report.calibration_samples == 0


def test_fp16_keeps_float32_io_and_stores_float16_weights(made):
    import onnx
    from onnx import TensorProto

    report = made["reports"]["fp16"]
    proto = onnx.load(str(report.path))
    g = proto.graph
    assert [v.type.tensor_type.elem_type for v in g.input] == [TensorProto.FLOAT]
    assert [v.type.tensor_type.elem_type for v in g.output] == [TensorProto.FLOAT]
    float_inits = [t for t in g.initializer if t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)]
    big = [t for t in float_inits if np.prod(t.dims) > 16]
    assert big and all(t.data_type == TensorProto.FLOAT16 for t in big)
    assert 1.7 < report.ratio < 2.1, report
    assert report.max_abs_diff < 1e-2 and report.accuracy_drop == pytest.approx(0, abs=0.01)
    assert "onnxconverter-common" in report.versions


def test_an_impossible_budget_raises_with_the_numbers_and_writes_nothing(made, tmp_path):
    from nnspec.errors import NnspecError
    from nnspec.runtime.quantize import AccuracyBudgetError, quantize_run

    out = tmp_path / "never.onnx"
    with pytest.raises(AccuracyBudgetError) as info:
        quantize_run(made["run"], out, "dynamic", max_accuracy_drop=-1.0)
    assert isinstance(info.value, NnspecError)
    message = str(info.value)
    assert "max_accuracy_drop=-1" in message and f"{TEST_EXAMPLES} test examples" in message
    assert f"{info.value.report.float_accuracy:.4f}" in message
    assert not out.exists() and _partials(tmp_path) == []


def test_a_budget_that_holds_writes_the_file(made, tmp_path):
    from nnspec.runtime.quantize import quantize

    out = tmp_path / "ok.onnx"
    report = quantize(made["float"], out, mode="dynamic", eval_data=made["run"], max_accuracy_drop=0.05)
    assert out.is_file() and report.accuracy_drop <= 0.05


def test_a_failed_quantization_keeps_the_earlier_file(made, tmp_path, monkeypatch):
    import onnxruntime.quantization

    from nnspec.runtime.quantize import QuantizeError, quantize

    out = tmp_path / "model.onnx"
    earlier = made["reports"]["dynamic"].path.read_bytes()
    out.write_bytes(earlier)

    def garbage(model_input, model_output, **kwargs):
        with open(model_output, "wb") as f:
            f.write(b"not an onnx model")

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", garbage)
    with pytest.raises(QuantizeError, match="onnxruntime cannot load"):
        quantize(made["float"], out, mode="dynamic")
    assert out.read_bytes() == earlier and _partials(tmp_path) == []


def test_given_arrays_and_input_errors(made, tmp_path):
    from nnspec.runtime.quantize import QuantizeError, quantize

    rng = np.random.default_rng(1)
    x = rng.random((40, 8, 8, 1), dtype=np.float32)
    report = quantize(made["float"], tmp_path / "a.onnx", mode="static", calibration=x, samples=16,
                      eval_data=(x, np.zeros(40, np.int64)))
    assert report.calibration_samples == 16 and report.examples == 40 and report.data == "given"
    assert report.accuracy is not None
    with pytest.raises(QuantizeError, match="mode must be one of"):
        quantize(made["float"], tmp_path / "b.onnx", mode="int4")
    with pytest.raises(QuantizeError, match="needs calibration data"):
        quantize(made["float"], tmp_path / "c.onnx", mode="static")
    with pytest.raises(QuantizeError, match="labelled evaluation data"):
        quantize(made["float"], tmp_path / "d.onnx", mode="dynamic", max_accuracy_drop=0.01)
    assert not any(p.name[0] in "bcd" for p in tmp_path.iterdir())


def test_the_command_writes_and_reports_or_fails_the_budget(made, tmp_path):
    import json

    from click.testing import CliRunner

    from nnspec.cli import main

    out = tmp_path / "dyn.onnx"
    result = CliRunner().invoke(main, ["quantize", str(made["run"]), "--mode", "dynamic", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["path"] == str(out) and out.stat().st_size == report["size_bytes"] and report["ratio"] > 2
    over = tmp_path / "over.onnx"
    result = CliRunner().invoke(main, ["quantize", str(made["run"]), "--mode", "dynamic", "--out", str(over),
                                       "--max-accuracy-drop", "-1"])
    assert result.exit_code == 1 and "accuracy" in result.stderr and not over.exists()
    bare = CliRunner().invoke(main, ["quantize", str(made["float"]), "--mode", "static", "--out", str(over)])
    assert bare.exit_code == 2 and "give a RUN_DIR" in bare.output and not over.exists()
