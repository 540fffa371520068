"""`nnspec demo`: the whole pipeline on the bundled digits CNN, with no files needed and no network.

check → summary → train (scikit-learn digits) → export to ONNX → verify with onnxruntime → report.
"""

from __future__ import annotations

from pathlib import Path

import click

from nnspec import api
from nnspec.report import print_table, summary_table

DEMO_SPEC = "example:digits_cnn"


def _step(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


def run_demo(out: Path, *, epochs: int | None = None) -> dict:
    """Run every step into `out` (its previous demo contents are replaced) and return the report as a dict."""
    _step(f"check {DEMO_SPEC}")
    spec = api.load_spec(DEMO_SPEC)
    info = api.summary(spec)
    click.echo(f"ok: {spec.name}, {len(info['nodes'])} nodes")

    _step("summary")
    summary_table(info)

    _step(f"train on scikit-learn digits ({epochs or spec.train.epochs} epochs)")
    out.mkdir(parents=True, exist_ok=True)
    run = api.train(spec, out / "run", epochs=epochs, force=True, verbose=2)

    _step("export to ONNX and verify against Keras with onnxruntime")
    onnx_path = out / f"{spec.name}.onnx"
    report = api.export_onnx(out / "run", onnx_path)
    click.echo(f"wrote {onnx_path}")

    from nnspec.runtime.latency import compare_latency

    latency = compare_latency(out / "run", onnx_path)
    result = {
        "test_accuracy": run.metrics["test"]["accuracy"],
        "params": info["params"],
        "onnx_bytes": report.size_bytes,
        "max_abs_diff": report.max_abs_diff,
        "export_seconds": report.export_seconds,
        **latency,
    }
    _step("report")
    rows = [
        ["test accuracy", f"{result['test_accuracy']:.2%}"],
        ["parameters", f"{result['params']:,}"],
        ["ONNX file", f"{report.size_bytes / 1024:.1f} KiB (opset {report.opset}, IR {report.ir_version})"],
        ["parity |onnxruntime - keras|", f"{report.max_abs_diff:.2e} (limit 1e-04)"],
        ["export time", f"{report.export_seconds:.1f} s"],
        ["latency batch 1, keras / onnxruntime",
         f"{latency['keras_ms_b1']:.2f} ms / {latency['onnx_ms_b1']:.3f} ms"],
        ["run directory", str(out / "run")],
    ]
    print_table(f"nnspec demo: {spec.name}", ["", "value"], rows)
    return result
