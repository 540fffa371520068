"""`bench_run`: every variant of a source and of the compared paths, built, measured, reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nnspec.runtime.deploy_bench.build import file_variant, onnx_source_variants, run_variants
from nnspec.runtime.deploy_bench.measure import measure
from nnspec.runtime.deploy_bench.options import (
    BASE_VARIANTS, DEFAULT_REPEATS, QUANTIZE_MODES, check_options, set_tf_threads, source_kind,
    unique_labels, unique_names,
)  # fmt: skip
from nnspec.runtime.deploy_bench.report import bench_result, write_outputs


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
    check_options(variants, quantize_modes, repeats, threads)
    kinds = [source_kind(source, "SOURCE"), *(source_kind(Path(p), "--compare") for p in extra)]
    out_dir.mkdir(parents=True, exist_ok=True)
    keras_threads = set_tf_threads(threads) if kinds[0] == "run" and "keras" in variants else None
    labels = unique_labels([source, *map(Path, extra)])
    all_variants, skipped = [], []
    for path, kind, label in zip([source, *map(Path, extra)], kinds, labels):
        main = not all_variants
        if kind == "run":
            found, skips = run_variants(path, label, out_dir, data, variants, quantize_modes, threads, main, say)
        elif kind == "onnx" and main:
            found, skips = onnx_source_variants(path, label, out_dir, data, quantize_modes, threads, say)
        else:
            found, skips = [file_variant(path, kind, all_variants[0].evaluation, threads, say, main)], []
        all_variants += found
        skipped += skips
    unique_names(all_variants)
    measure(all_variants, repeats, say)
    baseline = out_dir / f"{labels[0]}.fp32.onnx" if kinds[0] == "run" else source  # written even without its row
    result = bench_result(source, baseline, all_variants, skipped, repeats, threads, keras_threads)
    write_outputs(out_dir, result)
    return result
