"""Running models in onnxruntime and comparing a quantized model with its float one: output
differences, accuracies, latency timed in alternation, and the `QuantizeReport` that gathers them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnspec.runtime.quantize.data import EvalData
from nnspec.runtime.quantize.errors import QuantizeError
from nnspec.runtime.quantize.report import QuantizeReport

LATENCY_REPEATS = 100
LATENCY_THREADS = 1
"""Latency is measured on one intra-op thread: steadier, and closer to a small edge CPU."""


def session(path: Path):
    from nnspec.runtime.ort_session import cpu_session

    try:
        return cpu_session(path, threads=LATENCY_THREADS)
    except Exception as e:  # onnxruntime raises its own exception types
        raise QuantizeError(f"onnxruntime cannot load the {'quantized' if '.partial' in path.name else ''} "
                            f"model: {e}; nothing was written") from e


def predict(session, x: dict[str, np.ndarray], batch: int = 256) -> list[np.ndarray]:
    n = len(next(iter(x.values())))
    parts = [session.run(None, {k: v[i:i + batch] for k, v in x.items()}) for i in range(0, n, batch)]
    return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]


def _accuracy(output: np.ndarray, evaluation: EvalData) -> float:
    if output.shape[-1] == 1:
        predicted = (output[..., 0] > evaluation.binary_threshold).astype(np.int64)
    else:
        predicted = np.argmax(output, axis=-1)
    return float(np.mean(predicted.reshape(-1) == evaluation.y.reshape(-1)))


def compare(quantizer, out: Path, tmp: Path, floating, quantized, evaluation: EvalData) -> QuantizeReport:
    want = predict(floating, evaluation.x)
    got = predict(quantized, evaluation.x)
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
