"""Median inference latency of a run's Keras model and its ONNX file, measured side by side in one process."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def median_ms(fn, repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time of `fn()` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def compare_latency(run_dir: Path, onnx_path: Path, batch: int = 1) -> dict[str, float]:
    """`{"keras_ms_b<batch>", "onnx_ms_b<batch>"}` for one random batch (Keras called eagerly, as in serving)."""
    import onnxruntime as ort

    from nnspec.runtime.run_dir import load_run

    _, model = load_run(run_dir)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feed_input = session.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal((batch, *model.inputs[0].shape[1:])).astype("float32")
    keras_ms = median_ms(lambda: model(x, training=False))
    onnx_ms = median_ms(lambda: session.run(None, {feed_input.name: x}))
    return {f"keras_ms_b{batch}": keras_ms, f"onnx_ms_b{batch}": onnx_ms}
