"""Inference latency: percentiles of wall times, and Keras against ONNX for one run, in one process.

`nnspec bench` (nnspec/runtime/deploy_bench/) builds its p50/p90 and throughput columns on `times_ms`.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def times_ms(fn, repeats: int = 50, warmup: int = 5) -> np.ndarray:
    """Wall times of `repeats` calls of `fn()` in milliseconds, after `warmup` calls that are not timed."""
    return interleaved_ms({"fn": fn}, repeats, warmup)["fn"]


def interleaved_ms(fns: dict[str, Callable[[], object]], repeats: int = 50, warmup: int = 5,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Wall times in milliseconds of each of `fns`, measured side by side: `repeats` rounds, each calling every
    function once in a freshly shuffled order, so drift (other processes, clock changes) hits all alike.

    Each function first runs `warmup` times untimed. Python's garbage collector is off while timing (as in
    `timeit`), so a collection triggered by one call is not billed to another.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    times = {name: np.empty(repeats) for name in names}
    rng = random.Random(seed)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(repeats):
            rng.shuffle(names)
            for name in names:
                start = time.perf_counter()
                fns[name]()
                times[name][i] = time.perf_counter() - start
    finally:
        if was_enabled:
            gc.enable()
    return {name: t * 1e3 for name, t in times.items()}


def percentiles(times: np.ndarray, q: tuple[int, ...] = (50, 90)) -> dict[str, float]:
    """`{"p50": ..., "p90": ...}` of measured times (numpy's default linear interpolation).

    Tail percentiles need repeats: with fewer than about 10 / (1 - q/100) runs, p90 is mostly one outlier.
    """
    return {f"p{k}": float(v) for k, v in zip(q, np.percentile(np.asarray(times), q))}


def median_ms(fn, repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time of `fn()` in milliseconds."""
    return float(np.median(times_ms(fn, repeats, warmup)))


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
