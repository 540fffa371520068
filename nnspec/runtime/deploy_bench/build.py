"""The variants of one source: a run's Keras model, fp32 ONNX export and quantized files, an ONNX
source's quantized files, or a compared `.onnx` / `.tflite` file; a failed quantization is a skipped
row.
"""

from __future__ import annotations

from pathlib import Path

from nnspec.runtime.deploy_bench.errors import BenchInputError
from nnspec.runtime.deploy_bench.eval_set import run_eval_set
from nnspec.runtime.deploy_bench.keras_run import keras_variant
from nnspec.runtime.deploy_bench.litert_run import litert_variant
from nnspec.runtime.deploy_bench.options import QUANTIZE_MODES
from nnspec.runtime.deploy_bench.ort_run import ort_variant
from nnspec.runtime.deploy_bench.variant import Variant


def run_variants(run_dir, label, out_dir, data, variants, modes, threads, main, say):
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
    evaluation = run_eval_set(run_dir, spec, graph, data)
    found = []
    if "keras" in variants:
        found.append(keras_variant(prefix + "keras", run_dir / "model.keras", model, graph, spec, evaluation))
    fp32 = out_dir / f"{label}.fp32.onnx"
    say(f"exporting {fp32.name}")
    export_onnx(run_dir, fp32)
    if "fp32" in variants:
        found.append(ort_variant(prefix + "fp32", fp32, evaluation, threads))
    onnx_modes = [m for m in modes if m in QUANTIZE_MODES]
    quantized, skipped = _quantized(fp32, label, prefix, out_dir, onnx_modes, run_dir, evaluation, threads, say)
    if "litert" in modes:
        quantized += _litert_mode(run_dir, out_dir / f"{label}.int8.tflite", prefix, evaluation, threads, skipped,
                                  say)
    return found + quantized, skipped


def onnx_source_variants(path, label, out_dir, data, modes, threads, say):
    say(f"loading {path}")
    fp32 = ort_variant("fp32", path, None, threads, data=data)
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
    variant = litert_variant(prefix + "litert", target, evaluation, threads)
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
        variant = ort_variant(prefix + mode, target, evaluation, threads)
        variant.row["max_abs_diff_vs_fp32"] = report.max_abs_diff
        found.append(variant)
    return found, skipped


def file_variant(path, kind, evaluation, threads, say, main):
    if main:  # a .tflite source: measured alone, on seeded random inputs
        raise BenchInputError(f"SOURCE: a .tflite file can only be compared (--compare); give a run directory "
                              f"or an .onnx file as SOURCE. Received: {path}")
    say(f"loading {path}")
    if kind == "onnx":
        return ort_variant(path.name, path, evaluation, threads)
    return litert_variant(path.name, path, evaluation, threads)
