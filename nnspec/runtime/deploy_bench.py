"""`nnspec bench`: every deployable form of a model measured side by side, in one process, on the same data.

    result = bench_run(Path("runs/digits"), Path("bench/digits"))                 # Keras, fp32 and 3 quantized
    result = bench_run(Path("runs/digits"), Path("out"), extra=[Path("runs/digits_pruned"), Path("m.tflite")])
    result = bench_run(Path("model.onnx"), Path("out"), data="digits")            # ORT rows only

Variants (one row each):
    keras        the run's model.keras, called as a compiled `tf.function(model(x, training=False))` (the graph
                 that serving and `model.predict` run, not an eager call, whose Python overhead would dominate).
                 Its size is the file's, which holds the optimizer's state too when training saved it.
    fp32         the float ONNX file `export_onnx` writes (checked against Keras by its parity gate).
    dynamic, static, fp16
                 `nnspec.runtime.quantize.quantize` of that file (static: calibrated on the run's training part).
    litert       on request (not a default mode): the run's full-integer `.tflite` from
                 `nnspec.runtime.litert.quantize_litert`, run in ai-edge-litert.
    extra runs   each run directory in `extra` (e.g. a pruned run) gets the same rows, prefixed by its folder name.
    extra files  named by file name; `.onnx` files run in onnxruntime, `.tflite` files in ai-edge-litert's
                 `Interpreter` (int8 or uint8 inputs are quantized and outputs dequantized with the tensors'
                 scale and zero point).
    An ONNX source (instead of a run) is the fp32 row; it gets dynamic and fp16 rows (static and litert need a
    run's training data to calibrate on, so they are skipped and say so).

Columns:
    size_bytes     the file (model.keras for Keras); size_ratio = fp32 ONNX size / size (above 1: smaller).
    gzip_bytes     the file gzip-compressed: the download size, where pruned zeros and clustered weights show.
    p50_ms, p90_ms batch-1 latency percentiles; throughput_eps = 32 / median time of a batch-32 call (examples/s).
    accuracy       on the run's own test split, recomputed as training made it (what `nnspec eval` reports), or
                   on `data` (same syntax as `nnspec eval --data`); the first classifier output's accuracy.
                   `None` for models with no classifier output, and for an ONNX source without `data`.
    accuracy_delta_points  (accuracy - Keras float accuracy) x 100; against the fp32 row when there is no Keras.

Measurement: every variant is loaded first, then all are timed interleaved (each round calls every variant once,
in a shuffled order; see `latency.interleaved_ms`), so load drift on a shared machine hits all alike. onnxruntime
and LiteRT use `threads` intra-op threads (default 1: steady, and close to a small edge CPU); TensorFlow's
intra-op pool is set to the same when it is not yet initialized in this process (the JSON's `keras_threads`
says whether it was). Inputs are the first 1 and 32 evaluation examples (seeded random inputs without data).

Output (in `out_dir`, created if missing; each file written whole): `bench.json` (the returned dict),
`bench.md` (the table), and the variant files `<label>.<variant>.onnx` (and `<label>.int8.tflite`), kept so
you can deploy the one you pick (`<label>` is the run's folder name, or the ONNX source's stem).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnspec.errors import InputError

BASE_VARIANTS = ("keras", "fp32")
QUANTIZE_MODES = ("dynamic", "static", "fp16")
"""The default quantized variants (onnxruntime)."""
MODES = (*QUANTIZE_MODES, "litert")
"""`litert` adds the run's full-integer `.tflite` (`nnspec.runtime.litert.quantize_litert`), on request."""
LATENCY_BATCH = 1
THROUGHPUT_BATCH = 32
DEFAULT_REPEATS = 100
"""Batch-1 timing rounds; the batch-32 rounds are a fifth of them (at least 10)."""
WARMUP = 5
RANDOM_EXAMPLES = 64
PREDICT_BATCH = 256
FORMATS = {".onnx": "onnx", ".tflite": "tflite"}


class BenchInputError(InputError):
    """A source or comparison path that is not a run directory, an .onnx or a .tflite file (or does not load)."""


@dataclass
class EvalSet:
    """Inputs by model input name, and integer labels with the rule that turns an output into classes."""

    x: dict[str, np.ndarray]
    name: str
    split: str
    y: np.ndarray | None = None
    output: str | None = None
    """Name of the classifier output the labels belong to (None: the model's first output)."""
    classify: Callable[[np.ndarray], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.x.values())))

    def head(self, n: int) -> dict[str, np.ndarray]:
        """The first `n` examples (repeated when there are fewer), as a batch of `n`."""
        return {k: np.resize(v, (n, *v.shape[1:])) for k, v in self.x.items()}

    def accuracy(self, outputs: dict[str, np.ndarray]) -> float | None:
        if self.y is None or self.classify is None:
            return None
        out = outputs[self.output] if self.output in outputs else next(iter(outputs.values()))
        return float(np.mean(self.classify(out).reshape(-1) == self.y.reshape(-1)))


@dataclass
class Variant:
    """One row: how to call the model, what file it is, and what was measured."""

    name: str
    format: str
    path: Path
    run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    """Inputs by name → outputs by name, for any batch size."""
    predict: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    """Like `run`, for a whole evaluation set (in batches)."""
    evaluation: EvalSet
    notes: list[str] = field(default_factory=list)
    row: dict = field(default_factory=dict)


def bench_run(source: Path, out_dir: Path, *, data: str | None = None, variants=BASE_VARIANTS,
              quantize_modes=QUANTIZE_MODES, extra=(), repeats: int = DEFAULT_REPEATS, threads: int = 1,
              progress: Callable[[str], None] | None = None) -> dict:
    """Measure a run (or an ONNX file) and its deployable variants side by side; write bench.json and bench.md.

    Args:
        source: A run directory of `nnspec train` (or a derived run, e.g. pruned), or an `.onnx` file.
        out_dir: Folder for bench.json, bench.md and the variant `.onnx` files (created if missing).
        data: Evaluate on this dataset (as `nnspec eval --data`) instead of each run's own test split.
        variants: Which of `("keras", "fp32")` to include for run directories. Defaults to both.
        quantize_modes: Which of `dynamic`, `static`, `fp16` (and `litert`) to make. Defaults to the first three.
        extra: More to compare: run directories (measured like the source, labelled by folder name), `.onnx` and
            `.tflite` files (run on the source's evaluation data).
        repeats: Batch-1 timing rounds. Defaults to `100`.
        threads: Intra-op threads of onnxruntime, LiteRT and (when still possible) TensorFlow. Defaults to `1`.
        progress: Called with a short message before each step (the CLI prints them).

    Returns:
        `{"source", "data", "settings", "machine", "versions", "rows": [...], "skipped": [...], "files"}`; each
        row has `variant, format, path, size_bytes, size_ratio, p50_ms, p90_ms, throughput_eps, accuracy,
        accuracy_delta_points` (see the module's docs).

    Raises:
        BenchInputError: a missing or unreadable source or comparison path, or bad options (CLI exit 2).
        SpecError: `data` names no dataset or one that does not fit the model (exit 2).
        ExportError, QuantizeError: exporting the fp32 model failed its checks.
    """
    say = progress or (lambda message: None)
    source, out_dir = Path(source), Path(out_dir)
    _check_options(variants, quantize_modes, repeats, threads)
    kinds = [_kind(source, "SOURCE"), *(_kind(Path(p), "--compare") for p in extra)]
    out_dir.mkdir(parents=True, exist_ok=True)
    keras_threads = _set_tf_threads(threads) if kinds[0] == "run" and "keras" in variants else None
    labels = _labels([source, *map(Path, extra)])
    all_variants, skipped = [], []
    for path, kind, label in zip([source, *map(Path, extra)], kinds, labels):
        main = not all_variants
        if kind == "run":
            found, skips = _run_variants(path, label, out_dir, data, variants, quantize_modes, threads, main, say)
        elif kind == "onnx" and main:
            found, skips = _onnx_source_variants(path, label, out_dir, data, quantize_modes, threads, say)
        else:
            found, skips = [_file_variant(path, kind, all_variants[0].evaluation, threads, say, main)], []
        all_variants += found
        skipped += skips
    _unique_names(all_variants)
    _measure(all_variants, repeats, say)
    baseline = out_dir / f"{labels[0]}.fp32.onnx" if kinds[0] == "run" else source  # written even without its row
    result = _result(source, baseline, all_variants, skipped, repeats, threads, keras_threads)
    _write(out_dir, result)
    return result


# --- inputs and options -------------------------------------------------------------------------------------------


def _check_options(variants, modes, repeats, threads) -> None:
    bad = [v for v in variants if v not in BASE_VARIANTS]
    if bad:
        raise BenchInputError(f"variants must be among {', '.join(BASE_VARIANTS)}. Received: variants={bad}")
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise BenchInputError(f"quantize modes must be among {', '.join(MODES)}. Received: modes={bad}")
    if not isinstance(repeats, int) or repeats < 2:
        raise BenchInputError(f"repeats must be an integer of at least 2. Received: repeats={repeats!r}")
    if not isinstance(threads, int) or threads < 1:
        raise BenchInputError(f"threads must be a positive integer. Received: threads={threads!r}")


def _kind(path: Path, what: str) -> str:
    """`"run"`, `"onnx"` or `"tflite"`, or a `BenchInputError` saying what was expected."""
    from nnspec.runtime.run_dir import is_run_dir

    if is_run_dir(path):
        return "run"
    if path.is_file() and path.suffix.lower() in FORMATS:
        if not os.access(path, os.R_OK):
            raise BenchInputError(f"{what}: cannot read {path}. Received: {path}")
        return FORMATS[path.suffix.lower()]
    if path.is_dir():
        problem = "is a folder but not a run directory (it needs model.keras and spec.yaml)"
    elif path.exists():
        problem = "is neither a run directory nor an .onnx or .tflite file"
    else:
        problem = "does not exist"
    allowed = "a run directory or an .onnx file" if what == "SOURCE" else "a run directory, .onnx or .tflite file"
    raise BenchInputError(f"{what}: {path} {problem}; give {allowed}. Received: {path}")


def _labels(paths: list[Path]) -> list[str]:
    """Folder names of runs and stems of files, made unique (`name`, `name-2`, ...) and safe as file names."""
    labels = []
    for path in paths:
        labels.append(_unique(re.sub(r"[^A-Za-z0-9_.-]+", "_", (path.name if path.is_dir() else path.stem)
                                     or "model"), labels))
    return labels


def _unique(name: str, taken) -> str:
    found, n = name, 1
    while found in taken:
        n += 1
        found = f"{name}-{n}"
    return found


def _unique_names(variants: list[Variant]) -> None:
    """Row names are keys (of the timings, of the JSON rows): two compared files of one name get `-2`, ..."""
    taken: list[str] = []
    for v in variants:
        v.name = _unique(v.name, taken)
        taken.append(v.name)


def _set_tf_threads(threads: int) -> int | None:
    """Pin TensorFlow's intra-op pool to `threads` (and one inter-op thread); None if TF already started."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is initialized: the pools are fixed for this process
        return None
    return threads


# --- evaluation data ----------------------------------------------------------------------------------------------


def _run_eval_set(run_dir: Path, spec, graph, data: str | None) -> EvalSet:
    """A run's test split (or `data`), with its first classifier output's labels, as `nnspec eval` uses them."""
    from nnspec.runtime.evaluate import classifier_outputs, evaluation_data, predicted_classes

    _, own, dataset = evaluation_data(spec, graph, run_dir, data)
    x = dataset.x if isinstance(dataset.x, dict) else {graph.inputs[0]: dataset.x}
    evaluation = EvalSet(x=x, name=dataset.name, split="test" if own else "all")
    classifiers = classifier_outputs(spec.train, graph, dataset)
    if classifiers:
        name = classifiers[0]
        evaluation.y, evaluation.output = np.asarray(dataset.y), name
        evaluation.classify = lambda out: predicted_classes(spec.train, name, out)
    return evaluation


def _file_eval_set(data: str | None, inputs: dict[str, tuple[str, list]]) -> EvalSet:
    """For an ONNX source: `data` (its own standardization fitted on itself), or seeded random inputs."""
    from nnspec.runtime.evaluate import load_from, parse_data

    if data is None:
        rng = np.random.default_rng(0)
        x = {name: (rng.integers(0, 10, _shape(shape)) if dtype.startswith("int")
                    else rng.standard_normal(_shape(shape))).astype(dtype) for name, (dtype, shape) in inputs.items()}
        return EvalSet(x=x, name="random", split="seeded")
    dataset = load_from(parse_data(data), 0, [Path.cwd()])
    features = dataset.fit(dataset.x)[0](dataset.x) if dataset.fit is not None else dataset.x
    if not isinstance(features, dict):
        features = {name: features for name in inputs} if len(inputs) == 1 else {}
    missing = [name for name in inputs if name not in features]
    if missing:
        raise BenchInputError(f"--data gives arrays {sorted(features)} but the model's inputs are {list(inputs)}. "
                              f"Received: data={data}")
    x = {name: np.asarray(features[name]).astype(inputs[name][0]) for name in inputs}
    evaluation = EvalSet(x=x, name=dataset.name, split="all")
    if dataset.classes and np.asarray(dataset.y).ndim == 1:
        # no spec says whether one unit is a logit or a probability: 0.5 (probabilities) is the assumption
        evaluation.y = np.asarray(dataset.y)
        evaluation.classify = lambda out: (np.argmax(out, -1) if out.shape[-1] > 1 else (out[..., 0] > 0.5))
    return evaluation


def _shape(shape: list) -> tuple[int, ...]:
    return (RANDOM_EXAMPLES, *(d if isinstance(d, int) and d > 0 else 1 for d in shape[1:]))


# --- building the variants ----------------------------------------------------------------------------------------


def _run_variants(run_dir, label, out_dir, data, variants, modes, threads, main, say):
    """Keras, fp32 ONNX and the quantized files of one run directory."""
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.onnx_export import export_onnx
    from nnspec.runtime.run_dir import load_run

    prefix = "" if main else f"{label} "
    say(f"loading {run_dir}")
    spec, model = load_run(run_dir)
    if spec.train is None:
        raise BenchInputError(f"{run_dir}: the run's spec has no train section, so it names no data to measure "
                              f"accuracy on. Received: {run_dir}")
    graph = compile_spec(spec)
    evaluation = _run_eval_set(run_dir, spec, graph, data)
    found = []
    if "keras" in variants:
        found.append(_keras_variant(prefix + "keras", run_dir / "model.keras", model, graph, spec, evaluation))
    fp32 = out_dir / f"{label}.fp32.onnx"
    say(f"exporting {fp32.name}")
    export_onnx(run_dir, fp32)
    if "fp32" in variants:
        found.append(_ort_variant(prefix + "fp32", fp32, evaluation, threads))
    onnx_modes = [m for m in modes if m in QUANTIZE_MODES]
    quantized, skipped = _quantized(fp32, label, prefix, out_dir, onnx_modes, run_dir, evaluation, threads, say)
    if "litert" in modes:
        quantized += _litert_mode(run_dir, out_dir / f"{label}.int8.tflite", prefix, evaluation, threads, skipped,
                                  say)
    return found + quantized, skipped


def _onnx_source_variants(path, label, out_dir, data, modes, threads, say):
    say(f"loading {path}")
    fp32 = _ort_variant("fp32", path, None, threads, data=data)
    quantized, skipped = _quantized(path, label, "", out_dir, [m for m in modes if m in ("dynamic", "fp16")],
                                    None, fp32.evaluation, threads, say)
    for mode in ("static", "litert"):
        if mode in modes:
            skipped.append({"variant": mode, "reason": f"{mode} int8 calibrates on a run's training data; give "
                                                       "the run directory instead of the .onnx file"})
    return [fp32, *quantized], skipped


def _litert_mode(run_dir, target: Path, prefix, evaluation, threads, skipped, say) -> list[Variant]:
    """The run's full-integer `.tflite`, as `nnspec quantize --mode litert` writes it; skipped if it fails."""
    from nnspec.runtime.litert import quantize_litert
    from nnspec.runtime.quantize import QuantizeError

    say(f"quantizing {target.name}")
    try:
        report = quantize_litert(run_dir, target)
    except QuantizeError as exc:
        skipped.append({"variant": prefix + "litert", "reason": str(exc)})
        return []
    variant = _litert_variant(prefix + "litert", target, evaluation, threads)
    variant.row["max_abs_diff_vs_keras"] = report.max_abs_diff
    return [variant]


def _quantized(fp32: Path, label, prefix, out_dir, modes, run_dir, evaluation, threads, say):
    """Quantize `fp32` in each mode; a mode that fails is reported as skipped, with why."""
    from nnspec.runtime.quantize import QuantizeError, quantize

    found, skipped = [], []
    for mode in modes:
        target = out_dir / f"{label}.{mode}.onnx"
        say(f"quantizing {target.name}")
        try:
            report = quantize(fp32, target, mode=mode, calibration=run_dir, eval_data=dict(evaluation.x))
        except QuantizeError as exc:
            skipped.append({"variant": prefix + mode, "reason": str(exc)})
            continue
        variant = _ort_variant(prefix + mode, target, evaluation, threads)
        variant.row["max_abs_diff_vs_fp32"] = report.max_abs_diff
        found.append(variant)
    return found, skipped


def _file_variant(path, kind, evaluation, threads, say, main):
    if main:  # a .tflite source: measured alone, on seeded random inputs
        raise BenchInputError(f"SOURCE: a .tflite file can only be compared (--compare); give a run directory "
                              f"or an .onnx file as SOURCE. Received: {path}")
    say(f"loading {path}")
    if kind == "onnx":
        return _ort_variant(path.name, path, evaluation, threads)
    return _litert_variant(path.name, path, evaluation, threads)


def _keras_variant(name, path, model, graph, spec, evaluation) -> Variant:
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    names = list(graph.outputs)

    def feed(x):
        return x[graph.inputs[0]] if len(graph.inputs) == 1 else x

    def run(x):
        out = call({k: tf.convert_to_tensor(v) for k, v in x.items()} if len(x) > 1 else tf.convert_to_tensor(
            next(iter(x.values()))))
        return dict(zip(names, out if isinstance(out, (list, tuple)) else [out]))

    def predict(x):  # as `nnspec eval` predicts: Keras's own batching with the spec's batch size
        out = model.predict(feed(x), batch_size=spec.train.batch_size, verbose=0)
        return dict(zip(names, out if isinstance(out, (list, tuple)) else [out]))

    return Variant(name, "keras", path, run, predict, evaluation,
                   notes=["size: model.keras as saved, with the optimizer's state when training kept it"])


def _ort_variant(name, path: Path, evaluation: EvalSet | None, threads: int, data: str | None = None) -> Variant:
    session = _ort_session(path, threads)
    inputs = {i.name: (_ort_dtype(i.type), list(i.shape)) for i in session.get_inputs()}
    if evaluation is None:
        evaluation = _file_eval_set(data, inputs)
    evaluation = _fit_inputs(path, inputs, evaluation)
    names = [o.name for o in session.get_outputs()]
    fixed = inputs[next(iter(inputs))][1][0]
    fixed = fixed if isinstance(fixed, int) and fixed > 0 else None

    def run(x):
        if fixed is not None and len(next(iter(x.values()))) != fixed:
            return _looped(run, x, fixed)
        return dict(zip(names, session.run(None, {k: x[k].astype(inputs[k][0], copy=False) for k in inputs})))

    return Variant(name, "onnx", path, run, lambda x: _batched(run, x), evaluation)


def _ort_session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BenchInputError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}. Received: {path}") from exc


def _ort_dtype(type_name: str) -> str:
    """`tensor(float)` → `float32`."""
    inner = type_name[type_name.find("(") + 1:-1]
    return {"float": "float32", "double": "float64", "float16": "float16"}.get(inner, inner)


def _fit_inputs(path: Path, inputs: dict, evaluation: EvalSet) -> EvalSet:
    """The evaluation set keyed by this file's input names: as it is, or renamed for a one-input model."""
    if len(inputs) == 1 and len(evaluation.x) == 1 and next(iter(inputs)) not in evaluation.x:
        return dataclasses.replace(evaluation, x={next(iter(inputs)): next(iter(evaluation.x.values()))})
    missing = [name for name in inputs if name not in evaluation.x]
    if missing:
        raise BenchInputError(f"{path} has inputs {list(inputs)} but the evaluation data gives {list(evaluation.x)}"
                              f". Received: {path}")
    return evaluation


def _litert_variant(name, path: Path, evaluation: EvalSet, threads: int) -> Variant:
    interpreter = _litert_interpreter(path, threads)
    details = interpreter.get_input_details()
    feeds = _litert_feeds(path, details, evaluation)
    outputs = interpreter.get_output_details()
    state = {"batch": None}

    def run(x):
        n = len(next(iter(x.values())))
        if state["batch"] != n:
            if not _litert_resize(interpreter, details, n):
                return _looped(run, x, state["batch"])
            state["batch"] = n
        for d, key in zip(details, feeds):
            interpreter.set_tensor(d["index"], _quantize_input(x[key], d))
        interpreter.invoke()
        return {o["name"]: _dequantize_output(interpreter.get_tensor(o["index"]), o) for o in outputs}

    variant = Variant(name, "tflite", path, run, lambda x: _batched(run, x, 64), evaluation)
    if len(outputs) > 1 and evaluation.output is not None:
        variant.notes.append("several outputs: accuracy is read from the first")
    return variant


def _litert_interpreter(path: Path, threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise BenchInputError(f"measuring {path} needs ai-edge-litert (pip install ai-edge-litert): {exc}") from exc
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise BenchInputError(f"LiteRT cannot load {path}: {str(exc).splitlines()[0]}. Received: {path}") from exc
    return interpreter


def _litert_feeds(path: Path, details: list[dict], evaluation: EvalSet) -> list[str]:
    """The evaluation array for each interpreter input: the only one, or the one whose name it contains."""
    if len(details) == 1 and len(evaluation.x) == 1:
        return [next(iter(evaluation.x))]
    keys = []
    for d in details:
        match = [k for k in evaluation.x if k in d["name"]]
        if len(match) != 1:
            raise BenchInputError(f"{path}: cannot tell which data array feeds input '{d['name']}' (data has "
                                  f"{list(evaluation.x)}). Received: {path}")
        keys.append(match[0])
    return keys


def _litert_resize(interpreter, details, n: int) -> bool:
    """Resize every input to batch `n` (models exported with a dynamic batch axis); False if it cannot."""
    try:
        for d in details:
            interpreter.resize_tensor_input(d["index"], [n, *d["shape"][1:]], strict=False)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError):
        return False
    return True


def _quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail["quantization"]
    if np.issubdtype(dtype, np.integer) and scale:
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def _dequantize_output(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if np.issubdtype(y.dtype, np.integer) and scale:
        return (y.astype(np.float32) - zero) * scale
    return y


def _looped(run, x: dict, batch: int | None) -> dict:
    """A model with a fixed batch size called on another: run it on consecutive slices and concatenate."""
    step = batch or 1
    n = len(next(iter(x.values())))
    if n % step:
        raise BenchInputError(f"the model takes batches of exactly {step}; cannot run a batch of {n}")
    parts = [run({k: v[i:i + step] for k, v in x.items()}) for i in range(0, n, step)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _batched(run, x: dict, batch: int = PREDICT_BATCH) -> dict:
    n = len(next(iter(x.values())))
    parts = [run({k: v[i:i + batch] for k, v in x.items()}) for i in range(0, n, batch)]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


# --- measuring ----------------------------------------------------------------------------------------------------


def _measure(variants: list[Variant], repeats: int, say) -> None:
    """Accuracy of each variant, then batch-1 and batch-32 timings of all of them interleaved."""
    from nnspec.runtime.latency import interleaved_ms, percentiles

    for v in variants:
        say(f"evaluating {v.name}")
        v.row["accuracy"] = v.evaluation.accuracy(v.predict(v.evaluation.x))
        v.row["examples"] = len(v.evaluation)
    for batch, rounds in ((LATENCY_BATCH, repeats), (THROUGHPUT_BATCH, max(10, repeats // 5))):
        say(f"timing {len(variants)} variants at batch {batch} ({rounds} rounds)")
        fns = {v.name: _bound(v.run, v.evaluation.head(batch)) for v in variants}
        times = interleaved_ms(fns, repeats=rounds, warmup=WARMUP)
        for v in variants:
            if batch == LATENCY_BATCH:
                v.row.update({f"{k}_ms": t for k, t in percentiles(times[v.name]).items()})
            else:
                v.row["throughput_eps"] = batch / (float(np.median(times[v.name])) / 1e3)


def _bound(run, x):
    return lambda: run(x)


def _result(source, baseline: Path, variants, skipped, repeats, threads, keras_threads) -> dict:
    base_size = baseline.stat().st_size
    reference = next((v for v in variants if v.name in ("keras", "fp32") and v.row["accuracy"] is not None), None)
    rows = []
    for v in variants:
        size = v.path.stat().st_size
        acc, ref = v.row["accuracy"], reference.row["accuracy"] if reference is not None else None
        rows.append({"variant": v.name, "format": v.format, "path": str(v.path), "size_bytes": size,
                     "size_ratio": base_size / size, "gzip_bytes": _gzip_size(v.path), "p50_ms": v.row["p50_ms"],
                     "p90_ms": v.row["p90_ms"], "throughput_eps": v.row["throughput_eps"], "accuracy": acc,
                     "accuracy_delta_points": (acc - ref) * 100 if acc is not None and ref is not None else None,
                     **{k: val for k, val in v.row.items() if k not in ("accuracy", "p50_ms", "p90_ms",
                                                                       "throughput_eps")},
                     **({"notes": v.notes} if v.notes else {})})
    first = variants[0].evaluation
    return {
        "source": str(source),
        "data": {"name": first.name, "split": first.split, "examples": len(first)},
        "settings": {"repeats_batch1": repeats, "repeats_batch32": max(10, repeats // 5), "warmup": WARMUP,
                     "latency_batch": LATENCY_BATCH, "throughput_batch": THROUGHPUT_BATCH, "threads": threads,
                     "keras_threads": keras_threads, "keras_call": "tf.function(model(x, training=False))",
                     "accuracy_reference": reference.name if reference is not None else None,
                     "size_reference": str(baseline)},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count()},
        "versions": _versions(variants),
        "rows": rows,
        "skipped": skipped,
    }


def _gzip_size(path: Path) -> int:
    """Bytes of the file gzip-compressed (level 9): the download size, where sparse and clustered weights
    (stored densely, as float32) show their gain."""
    import gzip

    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def _versions(variants) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    packages = ["onnxruntime", "onnx"]
    formats = {v.format for v in variants}
    packages += ["tensorflow", "keras"] if "keras" in formats else []
    packages += ["ai-edge-litert"] if "tflite" in formats else []
    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


# --- output -------------------------------------------------------------------------------------------------------


def markdown(result: dict) -> str:
    """The bench table as GitHub markdown, with a line saying what was measured how."""
    s, d = result["settings"], result["data"]
    ref = s["accuracy_reference"]
    keras = (f"; Keras as {s['keras_call']}, TensorFlow intra-op threads: {s['keras_threads'] or 'default'}"
             if any(r["format"] == "keras" for r in result["rows"]) else "")
    head = ["variant", "format", "size (bytes)", "× smaller vs fp32", "gzip (bytes)", "p50 ms (b1)", "p90 ms (b1)",
            f"ex/s (b{s['throughput_batch']})", "accuracy", f"Δ acc (pts vs {ref})" if ref else "Δ acc (pts)"]
    lines = [f"# nnspec bench: {result['source']}", "",
             f"Data: {d['name']} ({d['split']}, {d['examples']} examples). onnxruntime/LiteRT threads: "
             f"{s['threads']}{keras}. {s['repeats_batch1']} rounds at batch 1, {s['repeats_batch32']} at "
             f"batch {s['throughput_batch']}, interleaved. {result['machine']['processor']}, "
             f"{result['machine']['cpus']} CPUs.", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|"]
    for r in result["rows"]:
        cells = [r["variant"], r["format"], f"{r['size_bytes']:,}", _num(r["size_ratio"], "{:.2f}×"),
                 f"{r['gzip_bytes']:,}", _num(r["p50_ms"], "{:.3f}"), _num(r["p90_ms"], "{:.3f}"), _num(r["throughput_eps"], "{:,.0f}"),
                 _num(r["accuracy"], "{:.4f}"), _num(r["accuracy_delta_points"], "{:+.2f}")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\nSkipped {k['variant']}: {k['reason']}" for k in result["skipped"]]
    return "\n".join(lines) + "\n"


def _num(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _write(out_dir: Path, result: dict) -> None:
    from nnspec.runtime.atomic import publish, temp_beside

    result["files"] = {"json": str(out_dir / "bench.json"), "markdown": str(out_dir / "bench.md")}
    for name, text in (("bench.json", json.dumps(result, indent=2) + "\n"), ("bench.md", markdown(result))):
        with temp_beside(out_dir / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
            publish(tmp, out_dir / name)
