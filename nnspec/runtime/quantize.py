"""Post-training quantization of ONNX files with onnxruntime, measured against the float model it came from.

    report = quantize_run(Path("runs/digits"), Path("digits.int8.onnx"), mode="static", max_accuracy_drop=0.01)
    report = quantize(Path("model.onnx"), Path("model.fp16.onnx"), mode="fp16")
    report = quantize_run(run, out, "static", max_accuracy_drop=0.01, exclude_worst=3)  # retry without the worst

Modes (LiteRT full-integer `.tflite` files are made from the Keras model instead: nnspec/runtime/litert.py):
    dynamic  `onnxruntime.quantization.quantize_dynamic`: int8 weights (per-channel by default), activations
             quantized at run time. Needs no calibration data.
    static   `onnxruntime.quantization.quantize_static` in QDQ format (QuantizeLinear/DequantizeLinear pairs),
             int8 weights per output channel, uint8 activations with ranges calibrated (MinMax) on `samples`
             examples. For a run these are the first `samples` of its *training* part (the split recomputed as
             training made it, like `nnspec eval` recomputes the test part), never its test split. The float
             model first goes through onnxruntime's `quant_pre_process` (symbolic shape inference, which needs
             sympy, and onnxruntime's graph optimizer: batch norms fold into convolutions, MatMul + Add become
             Gemm); if it cannot run, the model is quantized as given and the report's `preprocess` says why.
    fp16     onnxconverter-common's `convert_float_to_float16(keep_io_types=True)`: float16 weights and compute,
             float32 graph inputs and outputs (Cast nodes at the boundary), so callers feed the same arrays.

What makes an int8 file small (measured on examples/digits_cnn.yaml: 2.5x smaller before, 3.5x after):
    - names: onnxruntime names every tensor it adds after the float tensor it quantizes (`<tf2onnx path>:0_`
      `QuantizeLinear_Output`, `..._scale`, `..._zero_point`), so in a small model names outweigh the int8 weights'
      savings. `_compact` renames every tensor except the graph inputs and outputs to a short one, names the
      nodes quantization added `n<k>` (the float model's nodes keep their names), drops identical duplicate
      initializers, the intermediate `value_info` (onnxruntime infers it again) and unused opset imports.
    - biases: static mode keeps them float32 (`QuantizeBias: False`), 4 bytes per channel instead of 12 (an int32
      bias plus a float scale and an int32 zero point per channel). onnxruntime quantizes them when it loads the
      model, so Conv and Gemm still run as QLinearConv / QGemm (checked in the tests).
    - pre-processing folds batch norms into convolutions, leaving fewer tensors to quantize.

Accuracy budget and excluding the worst nodes:
    With `max_accuracy_drop`, a quantized model that loses more accuracy than the budget is not written
    (`AccuracyBudgetError`). With `exclude_worst=N` as well, nnspec first ranks the nodes the quantizer
    touches by sensitivity: for each node k, the model is quantized with only k left in float (the
    calibration ranges are computed once and reused from onnxruntime's calibration cache), and the drop in mean
    |quantized - float| of the outputs on the *calibration* examples is node k's harm. Measuring on the training
    part keeps the test split out of the choice, so the final accuracy stays an honest held-out figure. The
    attempts then exclude the 1, 2, ... N most harmful nodes (`nodes_to_exclude`), stopping at the first one
    within budget. Every attempt (excluded nodes, accuracy) is in the report and in the error. Leave-one-out
    costs one quantization per candidate node; data-movement ops (Reshape, Transpose, MaxPool, ...) are not
    candidates, since they pass quantized values through unchanged.

Checks and report:
    The quantized file is written to a temporary file beside `out`, must load in onnxruntime, is evaluated against
    the float model, and only then renamed into place: a failed quantization (or one over the accuracy budget)
    never leaves a file behind nor replaces a good one already at `out`. Evaluation data is a run's held-out test
    split (accuracy of each model for classifiers, plus max/mean |quantized - float| over all outputs), or given
    arrays; latency is the onnxruntime median at batch 1 on one CPU thread, both models timed in alternation
    (`latency.interleaved_ms`) so that load from other processes hits both alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnspec.errors import InputError, NnspecError
from nnspec.runtime.atomic import publish, temp_beside

MODES = ("dynamic", "static", "fp16")
INT8_MODES = ("dynamic", "static")
"""The modes whose files `_compact` shortens (fp16 files are nearly all weights already)."""
DEFAULT_SAMPLES = 256
CALIBRATION_BATCH = 32
LATENCY_REPEATS = 100
LATENCY_THREADS = 1
"""Latency is measured on one intra-op thread: steadier, and closer to a small edge CPU."""
RANDOM_EXAMPLES = 64
"""Seeded random examples used for output differences when no evaluation data is given."""
QUANTIZE_BIAS = False
"""Static mode stores biases as float32 (onnxruntime's `QuantizeBias` option); see the module docstring."""
DATA_MOVEMENT_OPS = frozenset({
    "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Slice", "Split", "Gather", "GatherElements",
    "Pad", "MaxPool", "TopK", "ArgMax", "Identity",
})  # fmt: skip
"""Ops that pass quantized values through unchanged: never candidates for `exclude_worst`."""


class QuantizeError(NnspecError):
    """Quantization failed, or its result did not load in onnxruntime; no file was kept."""


class QuantizeInputError(QuantizeError, InputError):
    """The arguments or data given to quantize are unusable (the command line exits 2); nothing was written."""


class AccuracyBudgetError(QuantizeError):
    """The quantized model lost more accuracy than the budget allows; no file was kept."""

    def __init__(self, report: QuantizeReport, budget: float):
        self.report = report
        self.budget = budget
        if len(report.attempts) > 1:
            steps = "; ".join(f"[{', '.join(a['excluded'])}] -> {a['accuracy']:.4f}" for a in report.attempts)
            tried = f"; excluding the nodes it hurt most did not bring it within budget ({steps})"
        elif report.exclude_worst:
            tried = ("; no node left alone in float brought the outputs closer to the float model's, so none was "
                     "excluded")
        else:
            tried = " (--exclude-worst N retries with the N nodes that hurt most left in float)"
        super().__init__(
            f"{report.mode} quantization lost {report.accuracy_drop * 100:.2f} accuracy points "
            f"(float {report.float_accuracy:.4f} → quantized {report.accuracy:.4f} on {report.examples} test "
            f"examples), above the budget max_accuracy_drop={budget:g}{tried}; {report.path} was not written")


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
    """Accuracy of the float model on the evaluation data (first classifier output); None if no labels."""
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
    """Median latency at batch 1, one thread, LATENCY_REPEATS runs alternating with the float model's."""
    preprocess: str
    """For static mode, what ran before quantizing (`quant_pre_process` or why it was skipped); else `"none"`."""
    calibration_samples: int
    """Examples the static mode calibrated on (0 for the other modes)."""
    versions: dict[str, str]
    """Versions of the libraries that did the work."""
    baseline: str = "float32 ONNX"
    """What the float figures (size, latency, accuracy) were measured on."""
    excluded_nodes: tuple[str, ...] = ()
    """Nodes left in float (`exclude_worst`), most harmful first."""
    exclude_worst: int = 0
    """How many nodes the caller allowed to be left in float."""
    attempts: tuple[dict, ...] = ()
    """Each quantization tried, in order: `{"excluded": [...], "accuracy": ..., "accuracy_drop": ...}`."""
    sensitivity: dict[str, float] = dataclasses.field(default_factory=dict)
    """Node → how much leaving it alone in float lowers mean |quantized - float| on the calibration examples,
    most harmful first (only measured when the first attempt was over budget and `exclude_worst` > 0)."""

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
        fields = dict(self.__dict__, path=str(self.path), excluded_nodes=list(self.excluded_nodes),
                      attempts=list(self.attempts))
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
             per_channel: bool = True, eval_data=None, max_accuracy_drop: float | None = None,
             exclude_worst: int = 0) -> QuantizeReport:
    """Quantize a float ONNX file into `out`, check it loads in onnxruntime, and compare it with the float one.

    Args:
        source_onnx: The float32 ONNX file (e.g. from `nnspec export`).
        out: The file to write. Only written (atomically) when every check passes.
        mode: `"dynamic"`, `"static"` or `"fp16"`.
        calibration: For `static`: a run directory (its training part is used), an `.npz` file (arrays named
            after the graph inputs, or a single array), an array (single-input models) or a dict of arrays by
            input name. `exclude_worst` also measures each node's harm on it. Ignored otherwise.
        samples: How many calibration examples `static` uses. Defaults to `256`.
        per_channel: Per-output-channel weight scales (dynamic and static). Defaults to `True`.
        eval_data: What to compare the models on: a run directory (its test split), an `EvalData`, a tuple
            `(x, y)` (y integer labels of the first output, or None), or an array / dict of arrays. Defaults to
            seeded random inputs (output differences only).
        max_accuracy_drop: Fail (`AccuracyBudgetError`, nothing written) when the accuracy drops by more than
            this (a fraction: 0.01 is one point). Needs labelled evaluation data. Defaults to no budget.
        exclude_worst: When over budget, retry leaving up to this many nodes in float, the most harmful first
            (see the module docstring; fp16 keeps them in float32). Needs `max_accuracy_drop` and
            calibration data.
            Defaults to `0`.

    Returns:
        The `QuantizeReport`.

    Raises:
        QuantizeInputError: unknown mode, bad arguments, missing calibration or evaluation data.
        QuantizeError: a failed quantization or a result onnxruntime cannot load (nothing is written then).
        AccuracyBudgetError: over the accuracy budget, after any exclusions (nothing is written).
    """
    import onnx

    _check_arguments(mode, max_accuracy_drop, exclude_worst)
    source_onnx, out = Path(source_onnx), Path(out)
    if not source_onnx.is_file():
        raise QuantizeInputError(f"no ONNX file at {source_onnx}")
    inputs = _graph_inputs(onnx.load(str(source_onnx)))
    evaluation = _eval_data(eval_data, inputs)
    if max_accuracy_drop is not None and evaluation.y is None:
        raise QuantizeInputError(
            "max_accuracy_drop needs labelled evaluation data (a classifier run's test split or (x, y) arrays). "
            f"Received: eval_data={'random inputs' if eval_data is None else 'no labels'}")
    calib = None
    if mode == "static" or (exclude_worst and calibration is not None):
        calib = _calibration_arrays(calibration, inputs, samples)
    if exclude_worst and calib is None:
        raise QuantizeInputError("exclude_worst measures each node's harm on calibration data (never on the "
                                 "evaluation data): give calibration data (a run directory, .npz or arrays)")
    floating = _session(source_onnx)
    with tempfile.TemporaryDirectory(prefix="nnspec-quantize-") as folder:
        quantizer = _Quantizer(mode, source_onnx, Path(folder), calib, per_channel)
        with temp_beside(out, suffix=".onnx") as tmp:
            report = _attempts(quantizer, tmp, out, floating, evaluation, max_accuracy_drop, exclude_worst)
            publish(tmp, out)
    return report


def quantize_run(run_dir: Path, out: Path, mode: str, max_accuracy_drop: float | None = None, *,
                 samples: int = DEFAULT_SAMPLES, per_channel: bool = True, exclude_worst: int = 0) -> QuantizeReport:
    """Export a run's trained model to a float ONNX file (a temporary one), quantize it into `out`, and compare
    both on the run's held-out test split; static mode calibrates on its training part, and `exclude_worst`
    ranks nodes on that part too.

    Raises:
        RunDirError: `run_dir` is not a run directory.
        ExportError: the float export failed its checks.
        QuantizeError, AccuracyBudgetError: as `quantize` (nothing is written).
    """
    from nnspec.runtime.onnx_export import export_onnx

    _check_arguments(mode, max_accuracy_drop, exclude_worst)
    run_dir, out = Path(run_dir), Path(out)
    evaluation = _run_eval_data(run_dir)
    with tempfile.TemporaryDirectory(prefix="nnspec-quantize-") as folder:
        float_onnx = Path(folder) / "float.onnx"
        export_onnx(run_dir, float_onnx)
        return quantize(float_onnx, out, mode=mode, calibration=run_dir, samples=samples,
                        per_channel=per_channel, eval_data=evaluation, max_accuracy_drop=max_accuracy_drop,
                        exclude_worst=exclude_worst)


def _check_arguments(mode: str, max_accuracy_drop, exclude_worst) -> None:
    if mode not in MODES:
        raise QuantizeInputError(f"mode must be one of {', '.join(MODES)}. Received: mode={mode!r}")
    if max_accuracy_drop is not None and (isinstance(max_accuracy_drop, bool)
                                          or not isinstance(max_accuracy_drop, (int, float))):
        raise QuantizeInputError(
            f"max_accuracy_drop must be a number. Received: max_accuracy_drop={max_accuracy_drop!r}")
    if isinstance(exclude_worst, bool) or not isinstance(exclude_worst, int) or exclude_worst < 0:
        raise QuantizeInputError(
            f"exclude_worst must be a whole number >= 0. Received: exclude_worst={exclude_worst!r}")
    if exclude_worst and max_accuracy_drop is None:
        raise QuantizeInputError("exclude_worst only acts when a quantized model is over its accuracy budget: "
                                 f"give max_accuracy_drop too. Received: exclude_worst={exclude_worst}")


# --- attempts within the budget -----------------------------------------------------------------------------------


def _attempts(quantizer, tmp: Path, out: Path, floating, evaluation, budget, exclude_worst: int):
    """Quantize, and while over budget retry leaving the 1, 2, ... `exclude_worst` most harmful nodes in float."""
    excluded: list[str] = []
    tried: list[dict] = []
    harm: dict[str, float] = {}
    while True:
        quantizer.write(tmp, excluded)
        report = _compare(quantizer, out, tmp, floating, _session(tmp), evaluation)
        tried.append({"excluded": list(excluded), "accuracy": report.accuracy, "accuracy_drop": report.accuracy_drop,
                      "size_bytes": report.size_bytes})  # fmt: skip
        if budget is None or report.accuracy_drop <= budget or len(excluded) >= exclude_worst:
            break
        if not harm:
            harm = _sensitivity(quantizer, floating)
        harmful = [node for node, gain in harm.items() if gain > 0]
        if len(harmful) <= len(excluded):
            break  # leaving any further node in float does not bring the outputs closer to float
        excluded = harmful[:len(excluded) + 1]
    report = dataclasses.replace(report, excluded_nodes=tuple(excluded), exclude_worst=exclude_worst,
                                 attempts=tuple(tried), sensitivity=harm)
    if budget is not None and report.accuracy_drop > budget:
        raise AccuracyBudgetError(report, budget)
    return report


def _sensitivity(quantizer, floating) -> dict[str, float]:
    """Each candidate node's harm: how much quantizing everything but it lowers mean |quantized - float| of the
    outputs on the calibration examples; sorted, most harmful first."""
    x = quantizer.calib
    want = _predict(floating, x)

    def error(exclude: list[str]) -> float:
        with temp_beside(quantizer.folder / "probe.onnx", suffix=".onnx") as probe:
            quantizer.write(probe, exclude)
            got = _predict(_session(probe), x)
        return float(np.mean(np.concatenate([np.abs(a.astype(np.float64) - b).reshape(-1)
                                             for a, b in zip(got, want)])))  # fmt: skip

    everything = error([])
    harm = {node: everything - error([node]) for node in quantizer.candidates()}
    return dict(sorted(harm.items(), key=lambda item: -item[1]))


# --- the three modes ----------------------------------------------------------------------------------------------


class _Quantizer:
    """One float model prepared for one mode, quantized again as often as needed with different exclusions.

    Static mode pre-processes once and calibrates once: the first `write` saves the activation ranges in
    onnxruntime's calibration cache, the later ones read them back.
    """

    def __init__(self, mode: str, source: Path, folder: Path, calib, per_channel: bool):
        import onnx

        self.mode, self.source, self.calib, self.per_channel = mode, source, calib, per_channel
        self.folder, self.cache = folder, folder / "calibration.json"
        self.model, self.preprocess = source, "none"
        if mode == "static":
            self.model, self.preprocess = _preprocess(source, folder / "pre.onnx")
        self.model = _name_nodes(self.model, folder / "named.onnx")
        self.nodes = [(n.name, n.op_type) for n in onnx.load(str(self.model)).graph.node]

    def write(self, target: Path, exclude: list[str]) -> None:
        if self.mode == "dynamic":
            _dynamic(self.model, target, self.per_channel, exclude)
        elif self.mode == "static":
            _static(self.model, target, self.calib, self.per_channel, exclude, self.cache)
        else:
            _fp16(self.model, target, exclude)
        if self.mode in INT8_MODES:
            _compact_file(target, {name for name, _ in self.nodes})

    def candidates(self) -> list[str]:
        """Names of the nodes the mode quantizes that change values (not data movement), in graph order."""
        from onnxruntime.quantization.registry import IntegerOpsRegistry, QDQRegistry, QLinearOpsRegistry

        if self.mode == "fp16":  # every op computes in float16
            return [name for name, op in self.nodes if op not in DATA_MOVEMENT_OPS]
        ops = set(IntegerOpsRegistry) if self.mode == "dynamic" else set(QDQRegistry) | set(QLinearOpsRegistry)
        return [name for name, op in self.nodes if op in ops - DATA_MOVEMENT_OPS]

    @property
    def calibration_samples(self) -> int:
        return len(next(iter(self.calib.values()))) if self.mode == "static" else 0


def _dynamic(source: Path, tmp: Path, per_channel: bool, exclude: list[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _failures("dynamic"):
        quantize_dynamic(str(source), str(tmp), per_channel=per_channel, weight_type=QuantType.QInt8,
                         nodes_to_exclude=list(exclude))


def _static(source: Path, tmp: Path, calib: dict[str, np.ndarray], per_channel: bool, exclude: list[str],
            cache: Path) -> None:
    """Quantize statically in QDQ format (ranges from `cache` when an earlier call calibrated already)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with _failures("static"):
        quantize_static(
            str(source), str(tmp), _Reader(calib), quant_format=QuantFormat.QDQ, per_channel=per_channel,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=list(exclude),
            extra_options={"QuantizeBias": QUANTIZE_BIAS}, calibration_cache_path=str(cache),
        )  # fmt: skip


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


def _fp16(source: Path, tmp: Path, exclude: list[str]) -> None:
    import onnx

    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError as e:
        raise QuantizeError(f"fp16 mode needs onnxconverter-common (pip install onnxconverter-common): {e}") from e
    with _failures("fp16"):
        model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True,
                                         node_block_list=list(exclude) or None)
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


# --- smaller files ------------------------------------------------------------------------------------------------


def _name_nodes(model: Path, target: Path) -> Path:
    """The model with every node named (onnxruntime excludes nodes by name); `model` itself when all are."""
    import onnx

    proto = onnx.load(str(model))
    nodes = proto.graph.node
    if all(n.name for n in nodes) and len({n.name for n in nodes}) == len(nodes):
        return model
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{i}"
        seen.add(node.name)
    onnx.save(proto, str(target))
    return target


def _compact_file(path: Path, float_nodes: set[str]) -> None:
    """Rewrite a quantized file with short names and no duplicates (see the module docstring)."""
    import onnx

    try:
        proto = onnx.load(str(path))
    except Exception:  # noqa: BLE001  (not ONNX at all: the onnxruntime load check that follows says so)
        return
    if _compact(proto, float_nodes):
        onnx.save(proto, str(path))


def _compact(proto, float_nodes: set[str]) -> bool:
    """Shorten tensor names and added node names, merge identical initializers, drop intermediate value_info
    and unused opset imports, in place. Models with subgraphs (If, Loop, Scan) are left alone, since their
    bodies may name outer tensors; returns whether anything was done."""
    from onnx import AttributeProto

    g = proto.graph
    if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for n in g.node for a in n.attribute):
        return False
    _merge_duplicate_initializers(g)
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    tensor_names, node_names = _short_names("t", keep), _short_names("n", float_nodes)
    short: dict[str, str] = {}

    def rename(name: str) -> str:
        if not name or name in keep:
            return name
        if name not in short:
            short[name] = next(tensor_names)
        return short[name]

    for t in g.initializer:
        t.name = rename(t.name)
    for node in g.node:
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        if node.name not in float_nodes:
            node.name = next(node_names)
    del g.value_info[:]
    used = {n.domain for n in g.node} | {"", "ai.onnx"}
    opsets = [o for o in proto.opset_import if o.domain in used]
    del proto.opset_import[:]
    proto.opset_import.extend(opsets)
    return True


def _short_names(prefix: str, taken: set[str]) -> Iterator[str]:
    """`t0, t1, ... tz, t10, ...` (base 36), skipping names already `taken`."""
    i = 0
    while True:
        name = prefix + np.base_repr(i, 36).lower()
        i += 1
        if name not in taken:
            yield name


def _merge_duplicate_initializers(g) -> None:
    """Point every use of an initializer at the first one with the same type, shape and bytes."""
    from onnx import numpy_helper

    inputs = {v.name for v in g.input}
    first: dict[tuple, str] = {}
    alias: dict[str, str] = {}
    for t in g.initializer:
        if t.name in inputs:
            continue  # an initializer that is also a graph input can be fed: it is not a constant
        key = (t.data_type, tuple(t.dims), numpy_helper.to_array(t).tobytes())
        alias[t.name] = first.setdefault(key, t.name)
    if all(a == n for n, a in alias.items()):
        return
    for node in g.node:
        node.input[:] = [alias.get(n, n) for n in node.input]
    kept = [t for t in g.initializer if alias.get(t.name, t.name) == t.name]
    del g.initializer[:]
    g.initializer.extend(kept)


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
            raise QuantizeInputError(f"{what} has no arrays for graph inputs {missing}. Received: keys={sorted(x)}")
        x = {n: x[n] for n in names}
    elif len(names) == 1:
        x = {names[0]: x}
    else:
        raise QuantizeInputError(f"{what}: the model has inputs {names}; give a dict of arrays by input name")
    feeds = {n: np.asarray(v).astype(inputs[n][0], copy=False) for n, v in x.items()}
    sizes = {len(v) for v in feeds.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise QuantizeInputError(
            f"{what}: arrays must be non-empty and equally long. Received: lengths={sorted(sizes)}")
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
        raise QuantizeInputError(f"{run_dir}: the run's spec has no train section, so it names no data")
    graph = compile_spec(spec)
    data = load_from(cfg.data, cfg.seed, [run_dir, Path.cwd()])  # as evaluate._own_test_split does
    train, test = split(inputs_of(data, graph), cfg.test_split, cfg.seed)
    return spec, graph, train, test


def _calibration_arrays(calibration, inputs: dict, samples: int) -> dict[str, np.ndarray]:
    if calibration is None:
        raise QuantizeInputError("static quantization needs calibration data: a run directory, an .npz file or arrays")
    if not isinstance(samples, int) or samples < 1:
        raise QuantizeInputError(f"samples must be a positive integer. Received: samples={samples!r}")
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
        raise QuantizeInputError(f"calibration data: no file at {path}")
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
        raise QuantizeInputError(f"the run held out no test examples (train.test_split is 0), so the quantized model "
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


def _compare(quantizer, out: Path, tmp: Path, floating, quantized, evaluation: EvalData) -> QuantizeReport:
    want = _predict(floating, evaluation.x)
    got = _predict(quantized, evaluation.x)
    one = {k: v[:1] for k, v in evaluation.x.items()}
    float_ms, quant_ms = paired_latency(lambda: floating.run(None, one), lambda: quantized.run(None, one))
    size, float_size = tmp.stat().st_size, quantizer.source.stat().st_size
    return QuantizeReport(
        mode=quantizer.mode, path=out, size_bytes=size, float_size_bytes=float_size, ratio=float_size / size,
        **compare_outputs(want, got, evaluation), examples=len(next(iter(evaluation.x.values()))),
        data=evaluation.name, float_latency_ms=float_ms, latency_ms=quant_ms, preprocess=quantizer.preprocess,
        calibration_samples=quantizer.calibration_samples, versions=_versions(quantizer.mode),
    )  # fmt: skip


def compare_outputs(want: list[np.ndarray], got: list[np.ndarray], evaluation: EvalData) -> dict:
    """`max_abs_diff`, `mean_abs_diff` over all outputs, and both accuracies (None without labels)."""
    diffs = [np.abs(a.astype(np.float64) - b.astype(np.float64)) for a, b in zip(got, want)]
    found = {"max_abs_diff": max(float(d.max()) for d in diffs),
             "mean_abs_diff": float(np.mean(np.concatenate([d.reshape(-1) for d in diffs]))),
             "float_accuracy": None, "accuracy": None}  # fmt: skip
    if evaluation.y is not None:
        found["float_accuracy"] = _accuracy(want[evaluation.output], evaluation)
        found["accuracy"] = _accuracy(got[evaluation.output], evaluation)
    return found


def paired_latency(float_fn, quant_fn) -> tuple[float, float]:
    """Median milliseconds of the float and the quantized model, timed in alternation."""
    from nnspec.runtime.latency import interleaved_ms

    times = interleaved_ms({"float": float_fn, "quantized": quant_fn}, repeats=LATENCY_REPEATS)
    return float(np.median(times["float"])), float(np.median(times["quantized"]))


def _versions(mode: str) -> dict[str, str]:
    import onnx
    import onnxruntime

    found = {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__}
    if mode == "fp16":
        import onnxconverter_common

        found["onnxconverter-common"] = onnxconverter_common.__version__
    return found
