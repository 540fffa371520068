"""`nnspec bench`: Keras, onnxruntime fp32, quantized, compared-run and LiteRT rows measured side by side; the
JSON and markdown it writes; bad sources as exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.onnx]

# The quantize tests' digits CNN: most weights in a 512x128 dense layer, so int8 files are clearly smaller.
DIGITS = """\
name: digits_b
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
  epochs: 2
  batch_size: 32
  test_split: 0.2
  seed: 0
"""
TEST_EXAMPLES = 360  # ceil(0.2 * 1797)
MAIN = ["keras", "fp32", "dynamic", "static", "fp16"]
KEYS = {"variant", "format", "path", "size_bytes", "size_ratio", "gzip_bytes", "p50_ms", "p90_ms", "throughput_eps", "accuracy",
        "accuracy_delta_points"}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Train once; compare the run with a copy of itself (an extra run directory) and a full-int8 .tflite."""
    import tensorflow as tf

    from nnspec.runtime.deploy_bench import bench_run
    from nnspec.runtime.evaluate import evaluate_run
    from nnspec.runtime.run_dir import load_run
    from nnspec.runtime.train import train
    from nnspec.specs.load import parse_spec

    folder = tmp_path_factory.mktemp("bench")
    run = train(parse_spec(DIGITS, str(folder / "digits.yaml")), folder / "run", verbose=0).run_dir
    twin = folder / "twin"
    shutil.copytree(run, twin)
    _, model = load_run(run)
    x = np.random.default_rng(0).random((32, 8, 8, 1), dtype=np.float32)
    tflite = folder / "digits_int8.tflite"
    model.export(str(tflite), format="litert", optimizations=[tf.lite.Optimize.DEFAULT],
                 representative_dataset=lambda: ([x[i:i + 1]] for i in range(len(x))),
                 target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
                 inference_input_type=tf.int8, inference_output_type=tf.int8)
    out = folder / "bench"
    result = bench_run(run, out, extra=[twin, tflite], repeats=10)
    evaluated = evaluate_run(run, out=folder / "eval")
    return {"run": run, "out": out, "result": result, "eval": evaluated, "tflite": tflite,
            "rows": {r["variant"]: r for r in result["rows"]}}


def test_every_variant_has_a_row_with_sane_values(made):
    rows = made["rows"]
    assert list(rows) == [*MAIN, *(f"twin {v}" for v in MAIN), "digits_int8.tflite"]
    for name, row in rows.items():
        assert KEYS <= set(row), name
        assert row["size_bytes"] == Path(row["path"]).stat().st_size > 0, name
        assert 0 < row["gzip_bytes"] <= row["size_bytes"] + 64, name  # gzip never grows a file by more
        assert 0 < row["p50_ms"] <= row["p90_ms"], row
        assert row["throughput_eps"] > 0, row
        assert 0.0 <= row["accuracy"] <= 1.0, row
        assert row["examples"] == TEST_EXAMPLES
    assert rows["fp32"]["size_ratio"] == 1.0
    assert rows["static"]["size_ratio"] > 1.0 and rows["dynamic"]["size_ratio"] > 1.0
    assert rows["fp16"]["size_ratio"] > 1.5  # float16 weights: about half
    assert rows["static"]["max_abs_diff_vs_fp32"] > 0  # int8 really changed the numbers
    assert rows["keras"]["accuracy_delta_points"] == 0.0
    assert made["result"]["settings"]["accuracy_reference"] == "keras"


def test_keras_row_accuracy_is_nnspec_evals_test_accuracy(made):
    """Same data (the run's recomputed test split), same predictions: exactly eval's number."""
    rows = made["rows"]
    assert made["result"]["data"] == {"name": "digits", "split": "test", "examples": TEST_EXAMPLES}
    assert rows["keras"]["accuracy"] == made["eval"]["classification"]["probs"]["accuracy"]
    # the fp32 ONNX file passed its parity gate: at most a tie or two may flip a class
    assert abs(rows["fp32"]["accuracy"] - rows["keras"]["accuracy"]) <= 2 / TEST_EXAMPLES


def test_compared_run_is_exported_and_measured_like_the_source(made):
    rows, out = made["rows"], made["out"]
    for mode in ("fp32", "dynamic", "static", "fp16"):
        assert (out / f"run.{mode}.onnx").is_file() and (out / f"twin.{mode}.onnx").is_file()
        assert rows[f"twin {mode}"]["path"] == str(out / f"twin.{mode}.onnx")
    # the same trained model on the same recomputed test split
    assert rows["twin keras"]["accuracy"] == rows["keras"]["accuracy"]
    assert rows["twin fp32"]["accuracy"] == rows["fp32"]["accuracy"]


def test_full_int8_tflite_runs_with_quantized_inputs(made):
    row = made["rows"]["digits_int8.tflite"]
    assert row["format"] == "tflite" and row["size_bytes"] == made["tflite"].stat().st_size
    assert row["size_ratio"] > 2.5  # int8 weights
    # int8 inputs come from the interpreter's scale and zero point: a wrong mapping would be near chance (0.1)
    assert row["accuracy"] >= made["rows"]["keras"]["accuracy"] - 0.05, row


def test_litert_mode_writes_and_measures_the_runs_int8_tflite(made, tmp_path):
    from nnspec.runtime.deploy_bench import bench_run

    result = bench_run(made["run"], tmp_path, variants=("keras",), quantize_modes=("litert",), repeats=3)
    rows = {r["variant"]: r for r in result["rows"]}
    assert list(rows) == ["keras", "litert"]
    assert rows["litert"]["path"] == str(tmp_path / "run.int8.tflite") and rows["litert"]["format"] == "tflite"
    assert rows["litert"]["size_ratio"] > 2.5  # against the fp32 ONNX file, exported for the ratio
    assert abs(rows["litert"]["accuracy_delta_points"]) <= 5.0, rows["litert"]


def test_json_and_markdown_are_written_with_one_table_row_per_variant(made):
    out, result = made["out"], made["result"]
    assert json.loads((out / "bench.json").read_text()) == json.loads(json.dumps(result))
    text = (out / "bench.md").read_text()
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| variant | format |")
    body = table[1:]
    assert len(body) == len(result["rows"])
    assert [line.split(" | ")[0][2:] for line in body] == [r["variant"] for r in result["rows"]]
    assert not [p.name for p in out.iterdir() if ".partial" in p.name]


def test_onnx_source_through_the_cli_has_only_onnxruntime_rows(made, tmp_path):
    from click.testing import CliRunner

    from nnspec.cli import main

    source = made["out"] / "run.fp32.onnx"
    result = CliRunner().invoke(main, ["bench", str(source), "--out", str(tmp_path), "--data", "digits",
                                       "--modes", "dynamic,static", "--repeats", "4", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["variant"] for r in data["rows"]] == ["fp32", "dynamic"]
    assert [s["variant"] for s in data["skipped"]] == ["static"]  # needs a run's training data to calibrate
    assert data["data"] == {"name": "digits", "split": "all", "examples": 1797}
    assert all(0.5 < r["accuracy"] <= 1.0 for r in data["rows"])  # the whole dataset, training part included
    assert data["settings"]["accuracy_reference"] == "fp32"
    assert (tmp_path / "run.fp32.dynamic.onnx").is_file() and (tmp_path / "bench.md").is_file()


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "does not exist"),
    (lambda p: (p / "folder").mkdir() or p / "folder", "not a run directory"),
    (lambda p: (p / "bad.onnx").write_bytes(b"not a model") and p / "bad.onnx", "onnxruntime cannot load"),
    (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "neither a run directory"),
])
def test_a_bad_source_exits_2_with_a_clear_message(tmp_path, make, message):
    from click.testing import CliRunner

    from nnspec.cli import main

    source = make(tmp_path)
    result = CliRunner().invoke(main, ["bench", str(source), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output and str(source) in result.output
    assert "Traceback" not in result.output


def test_a_bad_compare_path_or_mode_exits_2(made, tmp_path):
    from click.testing import CliRunner

    from nnspec.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["bench", str(made["run"]), "--out", str(tmp_path), "--compare",
                                  str(tmp_path / "nope.tflite")])
    assert result.exit_code == 2 and "--compare" in result.output and "does not exist" in result.output
    result = runner.invoke(main, ["bench", str(made["run"]), "--out", str(tmp_path), "--modes", "int4"])
    assert result.exit_code == 2 and "int4" in result.output


def test_interleaved_timings_and_percentiles():
    from nnspec.runtime.latency import interleaved_ms, percentiles

    calls = []
    times = interleaved_ms({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=7, warmup=2)
    assert sorted(times) == ["a", "b"] and all(len(t) == 7 and (t >= 0).all() for t in times.values())
    assert calls.count("a") == calls.count("b") == 9
    assert percentiles(np.arange(11.0)) == {"p50": 5.0, "p90": 9.0}
