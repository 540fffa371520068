"""ONNX export time, direct IR → ONNX emitter vs tf2onnx, side by side in one process: ResNet-50 and the digits CNN.

The time is `ExportReport.export_seconds`: conversion, checks and the onnxruntime-vs-Keras parity run, not loading
the spec or building the Keras model (built once per model here and reused, as both paths read the same model).
Each path is exported once untimed first (TensorFlow's and onnxruntime's first-use costs land there; reported as
`first_s`), then `repeats` rounds alternate the two paths in a shuffled order. Random weights (seed 0).
Run: python bench/export_speed.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import RESULTS, write_result  # noqa: E402

MODELS = {"resnet50": "zoo:resnet50", "digits_cnn": "example:digits_cnn"}
VIAS = ("direct", "tf2onnx")


def _bench_model(ref: str, repeats: int, tmp: Path) -> dict:
    from nnspec.runtime import onnx_export

    loaded = onnx_export._load_source(ref)  # built once: export_seconds never counts building anyway
    real_load = onnx_export._load_source
    onnx_export._load_source = lambda source: loaded
    try:
        cpu: dict[str, list[float]] = {via: [] for via in VIAS}

        def export(via: str):
            start = time.process_time()
            report = onnx_export.export_onnx(ref, tmp / f"{via}.onnx", via=via)
            cpu[via].append(time.process_time() - start)
            return report

        first = {via: export(via) for via in VIAS}
        samples: dict[str, list[float]] = {via: [] for via in VIAS}
        order = list(VIAS)
        rng = random.Random(0)
        for _ in range(repeats):
            rng.shuffle(order)
            for via in order:
                samples[via].append(export(via).export_seconds)
    finally:
        onnx_export._load_source = real_load
    out = {}
    for via in VIAS:
        report = first[via]
        out[via] = {"median_s": statistics.median(samples[via]), "min_s": min(samples[via]),
                    "max_s": max(samples[via]), "first_s": report.export_seconds, "n": len(samples[via]),
                    "cpu_median_s": statistics.median(cpu[via][1:]), "cpu_first_s": cpu[via][0],
                    "size_bytes": report.size_bytes, "max_abs_diff": report.max_abs_diff, "opset": report.opset,
                    "ir_version": report.ir_version}  # fmt: skip
    out["speedup_median"] = out["tf2onnx"]["median_s"] / out["direct"]["median_s"]
    return out


def _markdown(results: dict, load: tuple) -> str:
    lines = ["# ONNX export time: direct emitter vs tf2onnx", "",
             "`ExportReport.export_seconds` (conversion + checks + onnxruntime/Keras parity), random weights.",
             f"Load average while running: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores; "
             "on a shared machine wall time inflates, so the process CPU time (all threads, whole "
             "`export_onnx` call) is given too.",
             "",
             "| model | path | median s | min s | first s | CPU median s | CPU first s | n | file MB | max abs diff |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, r in results.items():
        for via in VIAS:
            v = r[via]
            lines.append(f"| {name} | {via} | {v['median_s']:.2f} | {v['min_s']:.2f} | {v['first_s']:.2f} | "
                         f"{v['cpu_median_s']:.2f} | {v['cpu_first_s']:.2f} | {v['n']} | "
                         f"{v['size_bytes'] / 1e6:.1f} | {v['max_abs_diff']:.1e} |")
        lines.append(f"| {name} | speedup (median) | {r['speedup_median']:.1f}x | | | | | | | |")
    return "\n".join(lines) + "\n"


def main(repeats: int = 3) -> None:
    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ref in MODELS.items():
            results[name] = _bench_model(ref, repeats, Path(tmp))
    load = os.getloadavg()
    write_result("export_speed", {
        "what": "ExportReport.export_seconds, direct emitter vs tf2onnx, same process, random weights (seed 0)",
        "load_average_1_5_15min": [round(x, 2) for x in load], "cpu_count": os.cpu_count(),
        "bench_wall_s": round(time.perf_counter() - started, 1), "results": results,
    })  # fmt: skip
    (RESULTS / "export_speed.md").write_text(_markdown(results, load))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    main(parser.parse_args().repeats)
