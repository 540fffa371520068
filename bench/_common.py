"""Helpers shared by the benchmarks: interleaved timing and writing results to bench/results/."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(fns: dict, repeats: int, warmup: int = 1) -> dict[str, dict[str, float]]:
    """Time each function `repeats` times, alternating between them in a shuffled order each round, so drift and
    the cost of the previous call's garbage hit all alike."""
    import gc
    import random

    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)
    rng = random.Random(0)
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            gc.collect()
            samples[name].append(timed(fns[name]))
    return {name: {"median_s": statistics.median(s), "min_s": min(s), "max_s": max(s), "n": len(s)}
            for name, s in samples.items()}


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    data = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "python": platform.python_version(), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))
    return path
