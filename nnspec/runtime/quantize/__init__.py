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

Checks and report:
    The quantized file is written to a temporary file beside `out`, must load in onnxruntime, is evaluated against
    the float model, and only then renamed into place: a failed quantization (or one over the accuracy budget)
    never leaves a file behind nor replaces a good one already at `out`. Evaluation data is a run's held-out test
    split (accuracy of each model for classifiers, plus max/mean |quantized - float| over all outputs), or given
    arrays; latency is the onnxruntime median at batch 1 on one CPU thread, both models timed in alternation
    (`latency.interleaved_ms`) so that load from other processes hits both alike.

What makes an int8 file small: nnspec/runtime/quantize/compact.py. The accuracy budget and excluding
the worst nodes (`exclude_worst`): nnspec/runtime/quantize/budget.py.

Modules (one job each):
    entry     `quantize` and `quantize_run`: check the arguments, run the steps below, publish.
    modes     the three modes; the `Quantizer` that prepares a model once and quantizes it again.
    budget    attempts within the accuracy budget; sensitivity ranking (`exclude_worst`).
    compact   shorter int8 files (names, duplicate initializers, value_info, opset imports).
    data      graph inputs, calibration and evaluation arrays, a run's own training and test parts.
    compare   onnxruntime sessions, output differences, accuracies, paired latency, the report.
    report    `QuantizeReport`.
    errors    `QuantizeError`, `QuantizeInputError`, `AccuracyBudgetError`.
"""

from __future__ import annotations

from nnspec.runtime.quantize.compare import (
    LATENCY_REPEATS, LATENCY_THREADS, compare_outputs, paired_latency,
)  # fmt: skip
from nnspec.runtime.quantize.data import RANDOM_EXAMPLES, EvalData
from nnspec.runtime.quantize.entry import DEFAULT_SAMPLES, quantize, quantize_run
from nnspec.runtime.quantize.errors import AccuracyBudgetError, QuantizeError, QuantizeInputError
from nnspec.runtime.quantize.modes import (
    CALIBRATION_BATCH, DATA_MOVEMENT_OPS, INT8_MODES, MODES, QUANTIZE_BIAS,
)  # fmt: skip
from nnspec.runtime.quantize.report import QuantizeReport

__all__ = [
    "CALIBRATION_BATCH", "DATA_MOVEMENT_OPS", "DEFAULT_SAMPLES", "INT8_MODES", "LATENCY_REPEATS",
    "LATENCY_THREADS", "MODES", "QUANTIZE_BIAS", "RANDOM_EXAMPLES", "AccuracyBudgetError",
    "EvalData", "QuantizeError", "QuantizeInputError", "QuantizeReport", "compare_outputs",
    "paired_latency", "quantize", "quantize_run",
]
