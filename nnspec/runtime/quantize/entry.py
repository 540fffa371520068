"""The entry points: `quantize` (an ONNX file) and `quantize_run` (a run directory), with their
argument checks; the steps they take live in the sibling modules (see the package docstring).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from nnspec.runtime.atomic import publish, temp_beside
from nnspec.runtime.quantize.budget import attempts
from nnspec.runtime.quantize.compare import session
from nnspec.runtime.quantize.data import (
    as_eval_data, calibration_arrays, graph_inputs, run_eval_data,
)  # fmt: skip
from nnspec.runtime.quantize.errors import QuantizeInputError
from nnspec.runtime.quantize.modes import MODES, Quantizer
from nnspec.runtime.quantize.report import QuantizeReport

DEFAULT_SAMPLES = 256


def quantize(source_onnx: Path, out: Path, *, mode: str, calibration=None, samples: int = DEFAULT_SAMPLES,
             per_channel: bool = True, eval_data=None, max_accuracy_drop: float | None = None,
             exclude_worst: int = 0, weight_bits: int = 8) -> QuantizeReport:
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
            (see the `budget` module; fp16 keeps them in float32). Needs `max_accuracy_drop` and
            calibration data.
            Defaults to `0`.
        weight_bits: Static mode's kernel precision: `8` (int8) or `4` (int4, onnxruntime `QInt4`; activations
            stay uint8). Defaults to `8`.

    Returns:
        The `QuantizeReport`.

    Raises:
        QuantizeInputError: unknown mode, bad arguments, missing calibration or evaluation data.
        QuantizeError: a failed quantization or a result onnxruntime cannot load (nothing is written then).
        AccuracyBudgetError: over the accuracy budget, after any exclusions (nothing is written).
    """
    import onnx

    _check_arguments(mode, max_accuracy_drop, exclude_worst)
    if weight_bits not in (8, 4) or (weight_bits != 8 and mode != "static"):
        raise QuantizeInputError(f"weight_bits is 8, or 4 in static mode. Received: weight_bits={weight_bits!r}, "
                                 f"mode={mode!r}")
    source_onnx, out = Path(source_onnx), Path(out)
    if not source_onnx.is_file():
        raise QuantizeInputError(f"no ONNX file at {source_onnx}")
    inputs = graph_inputs(onnx.load(str(source_onnx)))
    evaluation = as_eval_data(eval_data, inputs)
    if max_accuracy_drop is not None and evaluation.y is None:
        raise QuantizeInputError(
            "max_accuracy_drop needs labelled evaluation data (a classifier run's test split or (x, y) arrays). "
            f"Received: eval_data={'random inputs' if eval_data is None else 'no labels'}")
    calib = None
    if mode == "static" or (exclude_worst and calibration is not None):
        calib = calibration_arrays(calibration, inputs, samples)
    if exclude_worst and calib is None:
        raise QuantizeInputError("exclude_worst measures each node's harm on calibration data (never on the "
                                 "evaluation data): give calibration data (a run directory, .npz or arrays)")
    floating = session(source_onnx)
    with tempfile.TemporaryDirectory(prefix="nnspec-quantize-") as folder:
        quantizer = Quantizer(mode, source_onnx, Path(folder), calib, per_channel, weight_bits)
        with temp_beside(out, suffix=".onnx") as tmp:
            report = attempts(quantizer, tmp, out, floating, evaluation, max_accuracy_drop, exclude_worst)
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
    evaluation = run_eval_data(run_dir)
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
