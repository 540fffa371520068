"""The result: one row per variant (size, timing, accuracy), written as bench.json and bench.md."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from nnspec.runtime.deploy_bench.measure import LATENCY_BATCH, THROUGHPUT_BATCH, WARMUP


def bench_result(source, baseline: Path, variants, skipped, repeats, threads,
                 keras_threads) -> dict:
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


def write_outputs(out_dir: Path, result: dict) -> None:
    from nnspec.runtime.atomic import publish, temp_beside

    result["files"] = {"json": str(out_dir / "bench.json"), "markdown": str(out_dir / "bench.md")}
    for name, text in (("bench.json", json.dumps(result, indent=2) + "\n"), ("bench.md", markdown(result))):
        with temp_beside(out_dir / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
            publish(tmp, out_dir / name)
