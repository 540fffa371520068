"""Post-training quantization of ONNX files with onnxruntime, measured against the float model it came from.

    report = quantize_run(Path("runs/digits"), Path("digits.int8.onnx"), mode="static", max_accuracy_drop=0.01)
    report = quantize(Path("model.onnx"), Path("model.fp16.onnx"), mode="fp16")

Modes:
    dynamic  `onnxruntime.quantization.quantize_dynamic`: int8 weights (per-channel by default), activations
             quantized at run time. Needs no calibration data.
    static   `onnxruntime.quantization.quantize_static` in QDQ format (QuantizeLinear/DequantizeLinear pairs),
             int8 weights per output channel, uint8 activations with ranges calibrated (MinMax) on `samples`
             examples. For a run these are the first `samples` of its *training* part (the split recomputed as
             training made it, like `nnspec eval` recomputes the test part), never its test split. The float
             model first goes through onnxruntime's `quant_pre_process`; its symbolic shape inference needs
             sympy, so without sympy that step is skipped, and the report's `preprocess` field says so.
    fp16     onnxconverter-common's `convert_float_to_float16(keep_io_types=True)`: float16 weights and compute,
             float32 graph inputs and outputs (Cast nodes at the boundary), so callers feed the same arrays.

Checks and report:
    The quantized file is written to a temporary file beside `out`, must load in onnxruntime, is evaluated against
    the float model, and only then renamed into place: a failed quantization (or one over the accuracy budget)
    never leaves a file behind nor replaces a good one already at `out`. Evaluation data is a run's held-out test
    split (accuracy of each model for classifiers, plus max/mean |quantized - float| over all outputs), or given
    arrays; latency is the onnxruntime median at batch 1 on one CPU thread, both models measured the same way.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnspec.errors import NnspecError
from nnspec.runtime.atomic import publish, temp_beside

MODES = ("dynamic", "static", "fp16")
DEFAULT_SAMPLES = 256
CALIBRATION_BATCH = 32
LATENCY_REPEATS = 50
LATENCY_THREADS = 1
"""Latency is measured on one intra-op thread: steadier, and closer to a small edge CPU."""
RANDOM_EXAMPLES = 64
"""Seeded random examples used for output differences when no evaluation data is given."""


class QuantizeError(NnspecError):
    """Quantization failed, or its result did not load in onnxruntime; no file was kept."""


class AccuracyBudgetError(QuantizeError):
    """The quantized model lost more accuracy than the budget allows; no file was kept."""

    def __init__(self, report: QuantizeReport, budget: float):
        self.report = report
        self.budget = budget
        super().__init__(
            f"{report.mode} quantization lost {report.accuracy_drop * 100:.2f} accuracy points "
            f"(float {report.float_accuracy:.4f} → quantized {report.accuracy:.4f} on {report.examples} test "
            f"examples), above the budget max_accuracy_drop={budget:g}; {report.path} was not written")


@dataclass(frozen=True)
class QuantizeReport:
    """What a quantization wrote and how it compares with the float model."""

    mode: str
    path: Path
    size_bytes: int
    float_size_bytes: int
    ratio: float
    """`float_size_bytes / size_bytes`: how many times smaller the quantized file is."""
    float_accuracy: float | None
    """Accuracy of the float ONNX model on the evaluation data (first classifier output); None if no labels."""
    accuracy: float | None
    max_abs_diff: float
    """Largest |quantized - float| over all outputs on the evaluation data."""
    mean_abs_diff: float
    examples: int
    """How many examples the accuracies and differences were measured on."""
    data: str
    """Which data: `"test split"` of a run, `"given"` arrays, or `"random"` seeded inputs."""
    float_latency_ms: float
    latency_ms: float
    """Median onnxruntime latency at batch 1, one thread, LATENCY_REPEATS runs."""
    preprocess: str
    """For static mode, what ran before quantizing (`quant_pre_process` or why it was skipped); else `"none"`."""
    calibration_samples: int
    """Examples the static mode calibrated on (0 for the other modes)."""
    versions: dict[str, str]
    """Versions of the libraries that did the work."""

    @property
    def accuracy_drop(self) -> float | None:
        """`float_accuracy - accuracy` (positive: the quantized model is worse), or None without labels."""
        if self.float_accuracy is None or self.accuracy is None:
            return None
        return self.float_accuracy - self.accuracy

    @property
    def latency_ratio(self) -> float:
        """`float_latency_ms / latency_ms`: above 1 the quantized model is faster."""
        return self.float_latency_ms / self.latency_ms if self.latency_ms > 0 else math.inf

    def to_dict(self) -> dict:
        fields = dict(self.__dict__, path=str(self.path))
        return {**fields, "accuracy_drop": self.accuracy_drop, "latency_ratio": self.latency_ratio}


@dataclass(frozen=True)
class EvalData:
    """Inputs by graph input name, and optionally integer labels for one classifier output."""

    x: dict[str, np.ndarray]
    y: np.ndarray | None = None
    output: int = 0
    """Index of the graph output the labels belong to."""
    binary_threshold: float = 0.5
    """For a one-unit output: the class is `output > threshold` (0 for logits, 0.5 for probabilities)."""
    name: str = "given"


def quantize(source_onnx: Path, out: Path, *, mode: str, calibration=None, samples: int = DEFAULT_SAMPLES,
             per_channel: bool = True, eval_data=None, max_accuracy_drop: float | None = None) -> QuantizeReport:
    """Quantize a float ONNX file into `out`, check it loads in onnxruntime, and compare it with the float one.

    Args:
        source_onnx: The float32 ONNX file (e.g. from `nnspec export`).
        out: The file to write. Only written (atomically) when every check passes.
        mode: `"dynamic"`, `"static"` or `"fp16"`.
        calibration: For `static`: a run directory (its training part is used), an `.npz` file (arrays named
            after the graph inputs, or a single array), an array (single-input models) or a dict of arrays by
            input name. Ignored by the other modes.
        samples: How many calibration examples `static` uses. Defaults to `256`.
        per_channel: Per-output-channel weight scales (dynamic and static). Defaults to `True`.
        eval_data: What to compare the models on: a run directory (its test split), an `EvalData`, a tuple
            `(x, y)` (y integer labels of the first output, or None), or an array / dict of arrays. Defaults to
            seeded random inputs (output differences only).
        max_accuracy_drop: Fail (`AccuracyBudgetError`, nothing written) when the accuracy drops by more than
            this (a fraction: 0.01 is one point). Needs labelled evaluation data. Defaults to no budget.

    Returns:
        The `QuantizeReport`.

    Raises:
        QuantizeError: unknown mode, missing calibration data, a failed quantization or a result onnxruntime
            cannot load (nothing is written then).
        AccuracyBudgetError: over the accuracy budget (nothing is written).
    """
    import onnx

    if mode not in MODES:
        raise QuantizeError(f"mode must be one of {', '.join(MODES)}. Received: mode={mode!r}")
    source_onnx, out = Path(source_onnx), Path(out)
    if not source_onnx.is_file():
        raise QuantizeError(f"no ONNX file at {source_onnx}")
    if max_accuracy_drop is not None and not isinstance(max_accuracy_drop, (int, float)):
        raise QuantizeError(f"max_accuracy_drop must be a number. Received: max_accuracy_drop={max_accuracy_drop!r}")
    inputs = _graph_inputs(onnx.load(str(source_onnx)))
    evaluation = _eval_data(eval_data, inputs)
    if max_accuracy_drop is not None and evaluation.y is None:
        raise QuantizeError("max_accuracy_drop needs labelled evaluation data (a classifier run's test split or "
                            f"(x, y) arrays). Received: eval_data={'random inputs' if eval_data is None else 'no labels'}")
    preprocess, used = "none", 0
    with temp_beside(out, suffix=".onnx") as tmp:
        if mode == "dynamic":
            _dynamic(source_onnx, tmp, per_channel)
        elif mode == "static":
            calib = _calibration_arrays(calibration, inputs, samples)
            used = len(next(iter(calib.values())))
            preprocess = _static(source_onnx, tmp, calib, per_channel)
        else:
            _fp16(source_onnx, tmp)
        quantized = _session(tmp)  # loads, or raises QuantizeError
        floating = _session(source_onnx)
        report = _compare(mode, out, tmp, source_onnx, floating, quantized, evaluation, preprocess, used)
        if max_accuracy_drop is not None and report.accuracy_drop > max_accuracy_drop:
            raise AccuracyBudgetError(report, max_accuracy_drop)
        publish(tmp, out)
    return report


def quantize_run(run_dir: Path, out: Path, mode: str, max_accuracy_drop: float | None = None, *,
                 samples: int = DEFAULT_SAMPLES, per_channel: bool = True) -> QuantizeReport:
    """Export a run's trained model to a float ONNX file (a temporary one), quantize it into `out`, and compare
    both on the run's held-out test split; static mode calibrates on its training part.

    Raises:
        RunDirError: `run_dir` is not a run directory.
        ExportError: the float export failed its checks.
        QuantizeError, AccuracyBudgetError: as `quantize` (nothing is written).
    """
    from nnspec.runtime.onnx_export import export_onnx

    run_dir, out = Path(run_dir), Path(out)
    evaluation = _run_eval_data(run_dir)
    with tempfile.TemporaryDirectory(prefix="nnspec-quantize-") as folder:
        float_onnx = Path(folder) / "float.onnx"
        export_onnx(run_dir, float_onnx)
        return quantize(float_onnx, out, mode=mode, calibration=run_dir, samples=samples,
                        per_channel=per_channel, eval_data=evaluation, max_accuracy_drop=max_accuracy_drop)


# --- the three modes ----------------------------------------------------------------------------------------------


def _dynamic(source: Path, tmp: Path, per_channel: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _failures("dynamic"):
        quantize_dynamic(str(source), str(tmp), per_channel=per_channel, weight_type=QuantType.QInt8)


def _static(source: Path, tmp: Path, calib: dict[str, np.ndarray], per_channel: bool) -> str:
    """Pre-process (when possible) and quantize statically in QDQ format; returns what pre-processing did."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory(prefix="nnspec-calib-") as folder:
        model_in, preprocess = _preprocess(source, Path(folder) / "pre.onnx")
        with _failures("static"):
            quantize_static(
                str(model_in), str(tmp), _Reader(calib), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )  # fmt: skip
    return preprocess


def _preprocess(source: Path, target: Path) -> tuple[Path, str]:
    """onnxruntime's `quant_pre_process` (graph optimization and shape inference), when it can run here."""
    try:
        import sympy  # noqa: F401  (symbolic shape inference needs it)
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        return source, f"skipped: quant_pre_process needs sympy ({e})"
    try:
        quant_pre_process(str(source), str(target))
    except Exception as e:  # noqa: BLE001  (a model it cannot handle still quantizes without it)
        return source, f"skipped: quant_pre_process failed ({type(e).__name__}: {e})"
    return target, "quant_pre_process"


def _fp16(source: Path, tmp: Path) -> None:
    import onnx

    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError as e:
        raise QuantizeError(f"fp16 mode needs onnxconverter-common (pip install onnxconverter-common): {e}") from e
    with _failures("fp16"):
        model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
        onnx.save(model, str(tmp))


@contextlib.contextmanager
def _failures(mode: str) -> Iterator[None]:
    """Turn whatever the quantizer raises into a `QuantizeError` naming the mode; quiet its root-logger advice."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    except NnspecError:
        raise
    except Exception as e:  # onnxruntime.quantization raises anything from ValueError to its own types
        raise QuantizeError(f"{mode} quantization failed: {type(e).__name__}: {e}; nothing was written") from e
    finally:
        root.setLevel(level)


class _Reader:
    """A `CalibrationDataReader` over dict-of-arrays data, in batches of CALIBRATION_BATCH."""

    def __init__(self, data: dict[str, np.ndarray]):
        n = len(next(iter(data.values())))
        self._batches = iter([{k: v[i:i + CALIBRATION_BATCH] for k, v in data.items()}
                              for i in range(0, n, CALIBRATION_BATCH)])  # fmt: skip

    def get_next(self):
        return next(self._batches, None)


# --- data ---------------------------------------------------------------------------------------------------------


def _graph_inputs(proto) -> dict[str, tuple[str, list]]:
    """Graph input name → (numpy dtype name, shape with None for symbolic axes)."""
    from onnx.helper import tensor_dtype_to_np_dtype

    initializers = {t.name for t in proto.graph.initializer}
    found = {}
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        t = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        found[value.name] = (np.dtype(tensor_dtype_to_np_dtype(t.elem_type)).name, dims)
    return found


def _as_feeds(x, inputs: dict, what: str) -> dict[str, np.ndarray]:
    """Arrays by graph input name, cast to the inputs' dtypes."""
    names = list(inputs)
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        if missing:
            raise QuantizeError(f"{what} has no arrays for graph inputs {missing}. Received: keys={sorted(x)}")
        x = {n: x[n] for n in names}
    elif len(names) == 1:
        x = {names[0]: x}
    else:
        raise QuantizeError(f"{what}: the model has inputs {names}; give a dict of arrays by input name")
    feeds = {n: np.asarray(v).astype(inputs[n][0], copy=False) for n, v in x.items()}
    sizes = {len(v) for v in feeds.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise QuantizeError(f"{what}: arrays must be non-empty and equally long. Received: lengths={sorted(sizes)}")
    return feeds


def _own_splits(run_dir: Path):
    """`(spec, graph, train, test)`: the run's data split exactly as training made it (see `nnspec eval`)."""
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.data import split
    from nnspec.runtime.evaluate import inputs_of, load_from
    from nnspec.runtime.run_dir import is_run_dir
    from nnspec.specs.load import load_spec

    if not is_run_dir(run_dir):
        from nnspec.errors import RunDirError

        raise RunDirError(f"{run_dir} is not a run directory (needs model.keras and spec.yaml)")
    spec = load_spec(run_dir / "spec.yaml")
    cfg = spec.train
    if cfg is None:
        raise QuantizeError(f"{run_dir}: the run's spec has no train section, so it names no data")
    graph = compile_spec(spec)
    data = load_from(cfg.data, cfg.seed, [run_dir, Path.cwd()])  # as evaluate._own_test_split does
    train, test = split(inputs_of(data, graph), cfg.test_split, cfg.seed)
    return spec, graph, train, test


def _calibration_arrays(calibration, inputs: dict, samples: int) -> dict[str, np.ndarray]:
    if calibration is None:
        raise QuantizeError("static quantization needs calibration data: a run directory, an .npz file or arrays")
    if not isinstance(samples, int) or samples < 1:
        raise QuantizeError(f"samples must be a positive integer. Received: samples={samples!r}")
    if isinstance(calibration, (str, Path)) and Path(calibration).is_dir():
        _, _, train, _ = _own_splits(Path(calibration))
        x = train.x
    elif isinstance(calibration, (str, Path)):
        x = _read_npz(Path(calibration))
    else:
        x = calibration
    feeds = _as_feeds(x, inputs, "calibration data")
    return {n: v[:samples] for n, v in feeds.items()}


def _read_npz(path: Path):
    if not path.is_file():
        raise QuantizeError(f"calibration data: no file at {path}")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    return {k: v for k, v in arrays.items() if k not in ("y", "labels")} if "x" not in arrays else arrays["x"]


def _run_eval_data(run_dir: Path) -> EvalData:
    """A run's test split, with labels for its first classifier output (as `nnspec eval` picks them)."""
    from nnspec.runtime.evaluate import classifier_outputs
    from nnspec.runtime.objectives import losses_by_output

    spec, graph, _, test = _own_splits(run_dir)
    if not len(test):
        raise QuantizeError(f"the run held out no test examples (train.test_split is 0), so the quantized model "
                            f"cannot be evaluated. Received: test_split={spec.train.test_split}")
    x = test.x if isinstance(test.x, dict) else {graph.inputs[0]: test.x}
    classifiers = classifier_outputs(spec.train, graph, test)
    if not classifiers or np.asarray(test.y).ndim != 1:
        return EvalData(x=x, name="test split")
    name = classifiers[0]
    loss = losses_by_output(spec.train, (name,))[name]
    return EvalData(x=x, y=np.asarray(test.y).astype(np.int64), output=list(graph.outputs).index(name),
                    binary_threshold=0.0 if loss.from_logits else 0.5, name="test split")


def _eval_data(eval_data, inputs: dict) -> EvalData:
    if eval_data is None:
        rng = np.random.default_rng(0)
        x = {}
        for name, (dtype, shape) in inputs.items():
            full = (RANDOM_EXAMPLES, *(1 if d is None else d for d in shape[1:]))
            x[name] = (rng.integers(0, 10, full) if dtype.startswith("int") else rng.standard_normal(full))
        return EvalData(x=_as_feeds(x, inputs, "random inputs"), name="random")
    if isinstance(eval_data, (str, Path)):
        return _run_eval_data(Path(eval_data))
    if isinstance(eval_data, EvalData):
        return EvalData(_as_feeds(eval_data.x, inputs, "eval_data"), eval_data.y, eval_data.output,
                        eval_data.binary_threshold, eval_data.name)
    if isinstance(eval_data, tuple):
        x, y = eval_data
        return EvalData(_as_feeds(x, inputs, "eval_data"), None if y is None else np.asarray(y).astype(np.int64))
    return EvalData(_as_feeds(eval_data, inputs, "eval_data"))


# --- running and comparing ----------------------------------------------------------------------------------------


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = LATENCY_THREADS
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise QuantizeError(f"onnxruntime cannot load the {'quantized' if '.partial' in path.name else ''} "
                            f"model: {e}; nothing was written") from e


def _predict(session, x: dict[str, np.ndarray], batch: int = 256) -> list[np.ndarray]:
    n = len(next(iter(x.values())))
    parts = [session.run(None, {k: v[i:i + batch] for k, v in x.items()}) for i in range(0, n, batch)]
    return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]


def _accuracy(output: np.ndarray, evaluation: EvalData) -> float:
    if output.shape[-1] == 1:
        predicted = (output[..., 0] > evaluation.binary_threshold).astype(np.int64)
    else:
        predicted = np.argmax(output, axis=-1)
    return float(np.mean(predicted.reshape(-1) == evaluation.y.reshape(-1)))


def _compare(mode, out, tmp, source, floating, quantized, evaluation, preprocess, used) -> QuantizeReport:
    from nnspec.runtime.latency import median_ms

    want = _predict(floating, evaluation.x)
    got = _predict(quantized, evaluation.x)
    diffs = [np.abs(a.astype(np.float64) - b.astype(np.float64)) for a, b in zip(got, want)]
    max_diff = max(float(d.max()) for d in diffs)
    mean_diff = float(np.mean(np.concatenate([d.reshape(-1) for d in diffs])))
    float_acc = acc = None
    if evaluation.y is not None:
        float_acc = _accuracy(want[evaluation.output], evaluation)
        acc = _accuracy(got[evaluation.output], evaluation)
    one = {k: v[:1] for k, v in evaluation.x.items()}
    float_ms = median_ms(lambda: floating.run(None, one), repeats=LATENCY_REPEATS)
    quant_ms = median_ms(lambda: quantized.run(None, one), repeats=LATENCY_REPEATS)
    size, float_size = tmp.stat().st_size, source.stat().st_size
    return QuantizeReport(
        mode=mode, path=out, size_bytes=size, float_size_bytes=float_size, ratio=float_size / size,
        float_accuracy=float_acc, accuracy=acc, max_abs_diff=max_diff, mean_abs_diff=mean_diff,
        examples=len(next(iter(evaluation.x.values()))), data=evaluation.name, float_latency_ms=float_ms,
        latency_ms=quant_ms, preprocess=preprocess, calibration_samples=used, versions=_versions(mode),
    )  # fmt: skip


def _versions(mode: str) -> dict[str, str]:
    import onnx
    import onnxruntime

    found = {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}
    if mode == "fp16":
        import onnxconverter_common

        found["onnxconverter-common"] = onnxconverter_common.__version__
    return found
