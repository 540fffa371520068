"""`nnspec deploy`: the whole deployment chain of a spec's `deploy:` section in one command.

    report = deploy(Path("examples/digits_cnn.yaml"), Path("deploy/digits"))   # trains first
    report = deploy(Path("runs/digits"), Path("deploy/digits"))                # starts from a trained run

Steps, in this fixed order, each optional (see `nnspec.specs.deploy`), each starting from the previous one's run:

    train (a spec)  → prune_channels (+ fine-tune) → prune (magnitude, while fine-tuning)
    → fold_batchnorm / factorize / cluster → export fp32 ONNX → quantize (each mode, accuracy budget) → bench

The output folder:

    OUT/run/          the trained run (when deploying a spec)
    OUT/pruned/       channel-pruned, fine-tuned run          OUT/sparse/      magnitude-pruned run
    OUT/compressed/   BN-folded / factorized / clustered run (a derived run: spec.yaml + weights)
    OUT/model.onnx    the final float model;  OUT/model.<mode>.onnx, OUT/model.int8.tflite: quantized variants
    OUT/bench.md, OUT/bench.json   every form side by side: size, latency p50/p90, throughput, accuracy
    OUT/deploy.json   what each step did and measured

OUT is written whole or not at all (a partial folder renamed into place at the end): a step that fails its checks,
or a quantized variant over `max_accuracy_drop`, fails the deploy (exit 1, the report says which and by how much)
and leaves no OUT behind and an existing one untouched.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from nnspec.specs.deploy import DeploySpec
from nnspec.specs.model import ModelSpec

QUANTIZED_NAMES = {"dynamic": "model.dynamic.onnx", "static": "model.static.onnx", "fp16": "model.fp16.onnx",
                   "litert": "model.int8.tflite", "qat": "model.qat.onnx"}


def deploy(spec_or_run: ModelSpec | Path, out: Path, *, force: bool = False, repeats: int = 100,
           progress: Callable[[str], None] | None = None, verbose: int = 0) -> dict:
    """Run the `deploy:` chain and write the folder `out` (see the module docs); returns the deploy report.

    Args:
        spec_or_run: A validated spec with `train:` (trained first, into `out/run`) or a run directory (its
            spec.yaml's `deploy:` section is used; defaults when it has none).
        out: The folder to create.
        force: Replace `out` if it exists. Defaults to `False`.
        repeats: Batch-1 timing rounds of the benchmark. Defaults to `100`.
        progress: Called with a line before each step (the CLI prints them).
        verbose: Keras progress output while training. Defaults to `0`.

    Raises:
        RunDirError: `out` exists and `force` is false (before any work), or the run directory is not one.
        SpecError: the spec has no `train:` section (when a spec is given).
        AccuracyBudgetError: a quantized variant lost more accuracy than `max_accuracy_drop` (nothing written).
    """
    from nnspec.runtime.run_dir import load_run, staged_run_dir

    say = progress or (lambda message: None)
    out = Path(out)
    with staged_run_dir(out, force=force) as stage:
        if isinstance(spec_or_run, ModelSpec):
            spec, data_spec = spec_or_run, Path(spec_or_run.source_map.file)
            say(f"train {spec.name} → run/")
            from nnspec.runtime.train import train

            train(spec, stage / "run", verbose=verbose)
            first = stage / "run"
        else:
            first, data_spec = Path(spec_or_run), None
            spec, _ = load_run(first)
        cfg = spec.deploy or DeploySpec()
        steps: list[dict] = []
        current = first
        current = _compress_steps(cfg, current, stage, steps, data_spec, say, verbose)
        variants = _export_and_quantize(cfg, current, stage, steps, say)
        say("bench: every form side by side")
        from nnspec.runtime.deploy_bench import bench_run

        # NOTE: model.onnx is the final float model; its run would only add the same model again
        bench = bench_run(first, stage / "bench", quantize_modes=(), extra=variants, threads=cfg.threads,
                          repeats=repeats, progress=say)
        for name in ("bench.md", "bench.json"):  # paths named as they will be once OUT is in place
            text = (stage / "bench" / name).read_text(encoding="utf-8").replace(str(stage), str(out))
            (stage / name).write_text(text, encoding="utf-8")
            (stage / "bench" / name).unlink()
        report = {"source": str(spec_or_run.source_map.file if isinstance(spec_or_run, ModelSpec)
                                else spec_or_run),
                  "deploy": cfg.model_dump(mode="json"), "steps": _relative(steps, stage),
                  "final_run": current.relative_to(stage).as_posix() if current != first else str(first),
                  "bench": bench["rows"]}
        (stage / "deploy.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return {**report, "out": str(out)}


def _compress_steps(cfg: DeploySpec, current: Path, stage: Path, steps: list, data_spec, say, verbose) -> Path:
    """The float-model rewrites, each a run directory made from the one before: the last one's path."""
    if cfg.prune_channels is not None:
        p = cfg.prune_channels
        say(f"prune channels ({'ratio ' + str(p.ratio) if p.ratio else 'flops ' + str(p.flops)}) → pruned/")
        from nnspec.runtime.channel_pruning import channel_prune_run

        report = channel_prune_run(current, stage / "pruned", ratio=p.ratio, flops=p.flops, norm=p.norm,
                                   multiple=p.multiple, fine_tune_epochs=p.fine_tune_epochs, verbose=verbose)
        steps.append({"step": "prune_channels", "run": stage / "pruned", "report": report})
        current = stage / "pruned"
    if cfg.prune is not None:
        p = cfg.prune
        say(f"magnitude pruning to {p.sparsity:.0%} sparsity over {p.epochs} epochs → sparse/")
        from nnspec.runtime.pruning import magnitude_prune_run

        result = magnitude_prune_run(current, stage / "sparse", sparsity=p.sparsity, epochs=p.epochs,
                                     scope=p.scope, verbose=verbose,
                                     spec=data_spec if current.name == "run" else None)
        steps.append({"step": "prune", "run": stage / "sparse", "report": result.metrics})
        current = stage / "sparse"
    if cfg.fold_batchnorm or cfg.factorize is not None or cfg.cluster is not None:
        say("fold batch norms / factorize / cluster → compressed/")
        from nnspec.runtime.compress import compress_run

        f = cfg.factorize
        report = compress_run(current, stage / "compressed", fold_bn=cfg.fold_batchnorm,
                              rank=f.rank if f else None, energy=f.energy if f else None,
                              clusters=cfg.cluster.clusters if cfg.cluster else None)
        if any(s["changed"] for s in report["stages"]):
            steps.append({"step": "compress", "run": stage / "compressed", "report": report})
            current = stage / "compressed"
        else:  # e.g. no batch norm directly after a linear conv: the run would be the previous one again
            shutil.rmtree(stage / "compressed")
            steps.append({"step": "compress", "changed": False, "report": report})
    return current


def _export_and_quantize(cfg: DeploySpec, current: Path, stage: Path, steps: list, say) -> list[Path]:
    """Export the final float model and make each quantized variant (within the accuracy budget)."""
    from nnspec.runtime.onnx_export import export_onnx
    from nnspec.runtime.quantize import quantize_run

    say("export fp32 ONNX → model.onnx")
    exported = export_onnx(current, stage / "model.onnx", opset=cfg.opset)
    steps.append({"step": "export", "file": stage / "model.onnx", "report": _as_dict(exported)})
    files = [stage / "model.onnx"]
    for mode in cfg.quantize:
        target = stage / QUANTIZED_NAMES[mode]
        say(f"quantize {mode} → {target.name}")
        if mode == "litert":
            from nnspec.runtime.litert import quantize_litert

            report = quantize_litert(current, target, samples=cfg.calibration_samples,
                                     max_accuracy_drop=cfg.max_accuracy_drop)
        elif mode == "qat":
            report = _qat(current, target, cfg)
        else:
            report = quantize_run(current, target, mode, cfg.max_accuracy_drop, samples=cfg.calibration_samples,
                                  exclude_worst=cfg.exclude_worst)
        steps.append({"step": f"quantize:{mode}", "file": target, "report": _as_dict(report)})
        files.append(target)
    return files


def _qat(run: Path, target: Path, cfg: DeploySpec):
    """Quantization-aware fine-tuning of `run`, then its static int8 export, held to the same accuracy budget
    against the float model as every other variant."""
    from nnspec.runtime.qat import qat_run
    from nnspec.runtime.quantize import QuantizeError

    report = qat_run(run, target, samples=cfg.calibration_samples)
    budget = cfg.max_accuracy_drop
    if budget is not None and report.accuracy is not None and report.float_accuracy is not None:
        drop = report.float_accuracy - report.accuracy
        if drop > budget:
            raise QuantizeError(f"qat int8 lost {drop * 100:.2f} accuracy points (float {report.float_accuracy:.4f}"
                                f" → {report.accuracy:.4f}), above the budget max_accuracy_drop={budget:g}")
    return report


def _as_dict(report) -> dict:
    import dataclasses

    if hasattr(report, "to_dict"):
        return report.to_dict()
    return dataclasses.asdict(report) if dataclasses.is_dataclass(report) else dict(report)


def _relative(value, stage: Path):
    """Paths inside the partial folder written relative to OUT, so deploy.json stays true after the rename."""
    if isinstance(value, Path):
        return value.relative_to(stage).as_posix() if value.is_relative_to(stage) else str(value)
    if isinstance(value, str) and value.startswith(str(stage)):
        return Path(value).relative_to(stage).as_posix()
    if isinstance(value, dict):
        return {k: _relative(v, stage) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_relative(v, stage) for v in value]
    return value
