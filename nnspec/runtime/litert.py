"""LiteRT full-integer quantization: a run's Keras model becomes an int8 `.tflite` file, checked with ai-edge-litert.

    report = quantize_litert(Path("runs/digits"), Path("digits.int8.tflite"), max_accuracy_drop=0.01)
    outputs = run_tflite(Path("digits.int8.tflite"), {"image": x})   # float in, float out

How: Keras 3's `model.export(path, format="litert", **settings)` writes the model as a SavedModel, converts it
with `tf.lite.TFLiteConverter.from_saved_model` and sets every keyword argument as a converter attribute. The
settings asked for here make the file full-integer:
    optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=<calibration examples>,
    target_spec={"supported_ops": [TFLITE_BUILTINS_INT8]}, inference_input_type=tf.int8,
    inference_output_type=tf.int8.
The representative dataset is the first `samples` examples of the run's *training* part, one example per step
(the split recomputed as training made it, as the static ONNX mode calibrates), never its test split. Only int8
builtin ops are allowed, so a model with an op that has no int8 kernel fails to convert instead of quietly keeping
float ops.

Inputs and outputs are int8, not float: that is what integer-only targets (microcontrollers, NPUs, Edge TPUs)
need, and it keeps float conversions out of the graph. A caller quantizes each float input with the input tensor's
scale and zero point, `q = clip(round(x / scale) + zero_point, -128, 127)`, and dequantizes each output,
`y = (q - zero_point) * scale`; `run_tflite` does both (integer inputs such as token ids are fed as they are).

Checks and report (a `QuantizeReport`, mode `"litert"`): the file loads in ai-edge-litert's `Interpreter`, its
float inputs and outputs all became int8, and it is evaluated on the run's held-out test split against the float
Keras model (accuracy of both, max/mean |int8 - float| of the outputs). Size and batch-1 latency (one thread,
timed in alternation) are compared with a float32 `.tflite` of the same model, exported the same way without
quantization. The file is written to a temporary file beside `out` and renamed into place only when every
check passes and the accuracy budget holds.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from nnspec.runtime.atomic import publish, temp_beside
from nnspec.runtime.quantize import (
    DEFAULT_SAMPLES, LATENCY_THREADS, AccuracyBudgetError, QuantizeError, QuantizeInputError,
    QuantizeReport, compare_outputs, paired_latency,
)  # fmt: skip

MODE = "litert"
PREDICT_BATCH = 256


def quantize_litert(run_dir: Path, out: Path, *, samples: int = DEFAULT_SAMPLES,
                    max_accuracy_drop: float | None = None) -> QuantizeReport:
    """Write a run's model as a full-integer (int8) `.tflite` file and compare it with the float model.

    Args:
        run_dir: A run directory (its Keras model, its training part for calibration, its test split).
        out: The `.tflite` file to write. Only written (atomically) when every check passes.
        samples: How many training examples form the representative dataset. Defaults to `256`.
        max_accuracy_drop: Fail (`AccuracyBudgetError`, nothing written) when the test accuracy drops by more
            than this (a fraction: 0.01 is one point). Defaults to no budget.

    Returns:
        The `QuantizeReport` (mode `"litert"`, baseline the float32 `.tflite` and the Keras model).

    Raises:
        RunDirError: `run_dir` is not a run directory.
        QuantizeInputError: bad arguments, or the run has no test split to evaluate on.
        QuantizeError: the conversion failed or its result does not load (nothing is written).
        AccuracyBudgetError: over the accuracy budget (nothing is written).
    """
    from nnspec.runtime.quantize.data import own_splits, run_eval_data
    from nnspec.runtime.run_dir import load_run

    run_dir, out = Path(run_dir), Path(out)
    _check_arguments(out, samples, max_accuracy_drop)
    evaluation = run_eval_data(run_dir)  # raises RunDirError first when run_dir is not a run
    _, graph, train, _ = own_splits(run_dir)
    calib = _calibration(train.x, list(graph.inputs), samples)
    _, model = load_run(run_dir)
    want = _keras_outputs(model, evaluation.x, list(graph.inputs))
    with tempfile.TemporaryDirectory(prefix="nnspec-litert-") as folder, \
            temp_beside(out, suffix=".tflite") as tmp:  # fmt: skip
        float_tflite = Path(folder) / "float.tflite"
        _export(model, float_tflite, None)
        _export(model, tmp, calib)
        _check_integer_io(tmp)
        got = run_tflite(tmp, evaluation.x, outputs=list(graph.outputs))
        float_ms, int8_ms = _latency(float_tflite, tmp, evaluation.x)
        size, float_size = tmp.stat().st_size, float_tflite.stat().st_size
        report = QuantizeReport(
            mode=MODE, path=out, size_bytes=size, float_size_bytes=float_size, ratio=float_size / size,
            **compare_outputs(want, got, evaluation), examples=len(next(iter(evaluation.x.values()))),
            data=evaluation.name, float_latency_ms=float_ms, latency_ms=int8_ms, preprocess="none",
            calibration_samples=len(next(iter(calib.values()))), versions=_versions(),
            baseline="float32 .tflite (size, latency); float Keras model (accuracy, differences)",
        )  # fmt: skip
        if max_accuracy_drop is not None and report.accuracy_drop is not None \
                and report.accuracy_drop > max_accuracy_drop:  # fmt: skip
            raise AccuracyBudgetError(report, max_accuracy_drop)
        publish(tmp, out)
    return report


def run_tflite(path: Path, x: dict[str, np.ndarray], outputs: list[str] | None = None) -> list[np.ndarray]:
    """Run a `.tflite` file on float inputs by name: int8 inputs are quantized and int8 outputs dequantized with
    their tensors' scale and zero point. Returns the outputs as float32 arrays, in the model's output order."""
    runner = _interpreter(path).get_signature_runner()
    details = runner.get_input_details()
    names = _match_inputs(list(details), list(x))
    n = len(next(iter(x.values())))
    parts = []
    for i in range(0, n, PREDICT_BATCH):
        feeds = {sig: quantize_input(x[name][i:i + PREDICT_BATCH], details[sig]) for sig, name in names.items()}
        parts.append(runner(**feeds))
    out_details = runner.get_output_details()
    order = _output_order(list(out_details), outputs)
    return [dequantize_output(np.concatenate([p[k] for p in parts]), out_details[k]) for k in order]


def _check_arguments(out: Path, samples, max_accuracy_drop) -> None:
    if out.suffix != ".tflite":
        raise QuantizeInputError(f"a LiteRT model is written to a .tflite file. Received: out={out}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise QuantizeInputError(f"samples must be a positive integer. Received: samples={samples!r}")
    if max_accuracy_drop is not None and (isinstance(max_accuracy_drop, bool)
                                          or not isinstance(max_accuracy_drop, (int, float))):
        raise QuantizeInputError(
            f"max_accuracy_drop must be a number. Received: max_accuracy_drop={max_accuracy_drop!r}")


def _calibration(x, names: list[str], samples: int) -> dict[str, np.ndarray]:
    arrays = x if isinstance(x, dict) else {names[0]: x}
    return {name: np.asarray(arrays[name][:samples]) for name in names}


def _export(model, path: Path, calib: dict[str, np.ndarray] | None) -> None:
    """`model.export(format="litert")`: float32 without `calib`, full-integer int8 with it."""
    import tensorflow as tf

    settings = {}
    if calib is not None:
        n = len(next(iter(calib.values())))

        def representative():  # one example per step, float inputs as float32, by input name
            for i in range(n):
                yield {k: v[i:i + 1].astype(np.float32 if v.dtype.kind == "f" else v.dtype) for k, v in calib.items()}

        settings = dict(
            optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=representative,
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            inference_input_type=tf.int8, inference_output_type=tf.int8,
        )  # fmt: skip
    try:
        with warnings.catch_warnings():  # the converter calibrates with tf.lite.Interpreter, which warns
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
            model.export(str(path), format="litert", verbose=False, **settings)
    except Exception as e:  # the converter raises anything from ValueError to ConverterError
        what = "int8" if calib is not None else "float32"
        raise QuantizeError(f"LiteRT {what} conversion failed: {type(e).__name__}: {_first_line(e)}; nothing "
                            "was written") from e


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def _interpreter(path: Path, threads: int | None = None):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise QuantizeError(f"litert mode needs ai-edge-litert (pip install ai-edge-litert): {e}") from e
    try:
        return Interpreter(model_path=str(path), num_threads=threads)
    except Exception as e:  # the interpreter raises ValueError or RuntimeError
        raise QuantizeError(f"ai-edge-litert cannot load {path.name}: {e}; nothing was written") from e


def _check_integer_io(path: Path) -> None:
    runner = _interpreter(path).get_signature_runner()
    ends = {**runner.get_input_details(), **runner.get_output_details()}
    floating = sorted(name for name, d in ends.items() if np.dtype(d["dtype"]).kind == "f")
    if floating:
        raise QuantizeError(f"the LiteRT model kept float inputs or outputs {floating}; nothing was written")


def _match_inputs(signature: list[str], given: list[str]) -> dict[str, str]:
    """Signature input name → given input name: by name, or the only one with the only one."""
    if set(signature) <= set(given):
        return {name: name for name in signature}
    if len(signature) == 1 and len(given) == 1:
        return {signature[0]: given[0]}
    raise QuantizeInputError(f"the .tflite inputs {sorted(signature)} do not match the inputs given "
                             f"{sorted(given)}")


def _output_order(signature: list[str], outputs: list[str] | None) -> list[str]:
    """Signature output names in the model's output order (`output_0, output_1, ...` as Keras names them)."""
    if outputs and set(outputs) <= set(signature):
        return list(outputs)
    numbered = [name for name in signature if name.rsplit("_", 1)[-1].isdigit()]
    if len(numbered) == len(signature):
        return sorted(signature, key=lambda name: int(name.rsplit("_", 1)[-1]))
    return sorted(signature)


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail["quantization"]
    if dtype.kind in "iu" and scale and np.asarray(x).dtype.kind == "f":
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)
    return np.asarray(x).astype(dtype, copy=False)


def dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if np.dtype(detail["dtype"]).kind in "iu" and scale:
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)
    return y


def _keras_outputs(model, x: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
    feed = x[names[0]] if len(names) == 1 else [x[name] for name in names]
    got = model.predict(feed, batch_size=PREDICT_BATCH, verbose=0)
    return [np.asarray(o) for o in (got if isinstance(got, (list, tuple)) else [got])]


def _latency(float_path: Path, int8_path: Path, x: dict[str, np.ndarray]) -> tuple[float, float]:
    """Median batch-1 milliseconds of both files on one thread, timed in alternation."""
    calls = []
    for path in (float_path, int8_path):
        interpreter = _interpreter(path, threads=LATENCY_THREADS)
        interpreter.allocate_tensors()
        details = interpreter.get_input_details()
        feeds = [(d["index"], quantize_input(_one(x, d["name"], len(details)), d)) for d in details]
        calls.append(_invoker(interpreter, feeds))
    return paired_latency(*calls)


def _one(x: dict[str, np.ndarray], tensor_name: str, inputs: int) -> np.ndarray:
    """The first example of the input a tensor named `serving_default_<input>:0` reads."""
    for name, value in x.items():
        if inputs == 1 or f"_{name}:" in tensor_name:
            return value[:1]
    raise QuantizeInputError(f"no input matches the .tflite tensor {tensor_name}. Received: inputs={sorted(x)}")


def _invoker(interpreter, feeds):
    def call():
        for index, value in feeds:
            interpreter.set_tensor(index, value)
        interpreter.invoke()

    return call


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("tensorflow", "keras", "ai-edge-litert"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found

