"""The `nnspec` command: one verb per step, each a thin layer over one `nnspec` API call.

Exit codes: 0 ok, 2 bad input (every diagnostic printed to stderr as `file:line:col: path: message`), 1 anything
else. Set NNSPEC_DEBUG=1 to get a traceback for unexpected errors.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import traceback
from pathlib import Path

import click

from nnspec.errors import DiagnosticError, InputError, NnspecError, RunDirError

SPEC_HELP = "A spec file, or `example:NAME` for a bundled example."
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
    help="Override a spec value (repeatable; the value is read as YAML), e.g. --set params.width=32.")


def _load(ref: str, overrides: tuple[str, ...]):
    from nnspec import api

    return api.load_spec(ref, overrides)


def _fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def handles_errors(fn):
    """Turn nnspec's errors into diagnostics and exit codes instead of tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise  # usage errors: click prints them and exits 2
        except DiagnosticError as exc:
            n = len(exc.diagnostics)
            _fail(f"{exc}\nnnspec: {n} problem{'s' * (n != 1)} found.", 2)
        except InputError as exc:
            _fail(f"nnspec: {exc}", 2)
        except NnspecError as exc:
            _fail(f"nnspec: error: {exc}", 1)
        except KeyboardInterrupt:
            _fail("nnspec: interrupted; nothing half-written was kept.", 130)
        except Exception as exc:  # a bug in nnspec or its dependencies, not in the user's spec
            if os.environ.get("NNSPEC_DEBUG"):
                traceback.print_exc()
            _fail(f"nnspec: internal error: {type(exc).__name__}: {exc}\n"
                  "Set NNSPEC_DEBUG=1 for a traceback, and please report it.", 1)

    return wrapper


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="nnspec", message="nnspec %(version)s")
def main() -> None:
    """nnspec: write a neural network as YAML; check, summarize, build, train and export it."""


@main.command()
@click.argument("specs", nargs=-1, required=True)
@set_option
@handles_errors
def check(specs: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Validate SPECS: fields, graph, shapes and dtypes (no TensorFlow import). Exit 2 on any problem."""
    from nnspec import api
    from nnspec.errors import DiagnosticError as Bad

    problems = []
    for ref in specs:
        try:
            info = api.summary(_load(ref, overrides))
        except Bad as exc:
            problems += exc.diagnostics
            continue
        click.echo(f"{ref}: ok ({len(info['nodes'])} nodes, {info['params']:,} params, {info['flops']:,} FLOPs)")
    if problems:
        raise DiagnosticError(problems)


@main.command()
@click.argument("spec")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@set_option
@handles_errors
def summary(spec: str, as_json: bool, overrides: tuple[str, ...]) -> None:
    """Per-node output shape, parameters and FLOPs of SPEC, and the totals."""
    from nnspec import api
    from nnspec.report import summary_table

    info = api.summary(_load(spec, overrides))
    if as_json:
        keys = ("name", "params", "trainable_params", "flops", "nodes")
        nodes = [{k: n[k] for k in ("id", "op", "shape", "params", "flops")} for n in info["nodes"]]
        click.echo(json.dumps({**{k: info[k] for k in keys}, "nodes": nodes}, indent=2))
    else:
        summary_table(info)


@main.command()
@click.argument("spec")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the model (.keras).")
@set_option
@handles_errors
def build(spec: str, out: Path, overrides: tuple[str, ...]) -> None:
    """Build SPEC as a Functional Keras model (layer names are node ids) and save it to OUT."""
    _quiet_tensorflow()
    from nnspec import api
    from nnspec.runtime.keras_io import save_keras_atomic

    if out.suffix != ".keras":
        raise click.BadParameter("must end in .keras", param_hint="--out")
    model = api.build_keras(_load(spec, overrides))
    save_keras_atomic(model, out)
    click.echo(f"wrote {out} ({model.count_params():,} params, {len(model.layers)} layers)")


@main.command()
@click.argument("spec", required=False)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="The run directory to create.")
@click.option("--epochs", type=click.IntRange(min=1), help="Override train.epochs.")
@click.option("--force", is_flag=True, help="Replace OUT (and discard an interrupted run to OUT) if it exists.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Continue the interrupted run to this run directory from its last checkpoint (no SPEC).")
@click.option("--init-weights", type=click.Path(exists=True, path_type=Path),
              help="Fine-tune: start from these weights (a weights .npz, e.g. what pruning wrote beside its "
                   "spec, or a run directory of the same model) instead of a fresh initialization.")
@set_option
@handles_errors
def train(spec: str | None, out: Path | None, epochs: int | None, force: bool, resume_dir: Path | None,
          init_weights: Path | None, overrides: tuple[str, ...]) -> None:
    """Train SPEC from its `train:` section; write model, spec, history, metrics and logs to OUT.

    An interrupted run (Ctrl-C, a killed process, a crash) keeps its last checkpoint;
    `nnspec train --resume OUT` finishes it with the same result as an uninterrupted run.
    """
    if resume_dir is not None:
        extra = [name for name, given in (("SPEC", spec), ("--out", out), ("--epochs", epochs),
                                          ("--force", force), ("--set", overrides),
                                          ("--init-weights", init_weights)) if given]
        if extra:
            raise click.UsageError(f"--resume continues a run as it was started; drop {', '.join(extra)}")
    elif spec is None or out is None:
        raise click.UsageError("give SPEC and --out OUT (or --resume OUT to continue an interrupted run)")
    _quiet_tensorflow()
    from nnspec import api

    if resume_dir is None and out.exists() and not force:
        raise RunDirError(f"{out} already exists; pass --force to replace it (nothing was changed)")
    try:
        run = api.resume(resume_dir) if resume_dir else api.train(_load(spec, overrides), out, epochs=epochs,
                                                                  force=force, init_weights=init_weights)
    except KeyboardInterrupt:
        _interrupted(resume_dir or out)
    metrics = run.metrics
    if not metrics.get("chief", True):
        click.echo(f"worker done, in step with the chief, which writes the run directory (weights sha256 "
                   f"{metrics['weights_sha256']})")
        return
    click.echo(f"wrote {run.run_dir}: " + ", ".join(
        f"{split} {name}={value:.4f}" for split in ("train", "validation", "test")
        for name, value in metrics.get(split, {}).items() if isinstance(value, float)))


def _interrupted(out: Path) -> None:
    from nnspec.runtime.run_dir import partial_dir

    if (partial_dir(out) / "checkpoint").is_dir():
        _fail(f"nnspec: interrupted; continue with `nnspec train --resume {out}`", 130)
    _fail("nnspec: interrupted before the first epoch ended; nothing was kept", 130)


@main.command()
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write (only kept if every check passes).")
@click.option("--opset", type=click.IntRange(min=13, max=18), help="ONNX opset. Defaults to 18.")
@click.option("--atol", type=float, default=1e-4, show_default=True,
              help="Largest allowed |onnxruntime - Keras| on seeded random inputs.")
@click.option("--via", type=click.Choice(["auto", "direct", "tf2onnx"]), default="auto", show_default=True,
              help="direct: emit ONNX from the IR and the weights (fast); tf2onnx: convert through TensorFlow "
                   "(any op); auto: direct when it covers every node, else tf2onnx.")
@set_option
@handles_errors
def export(source: str, fmt: str, out: Path, opset: int | None, atol: float, via: str,
           overrides: tuple[str, ...]) -> None:
    """Export SOURCE (a run directory or a spec) to ONNX, verified against Keras with onnxruntime."""
    _quiet_tensorflow()
    from nnspec import api

    from nnspec.runtime.run_dir import is_run_dir

    if overrides and is_run_dir(Path(source)):
        raise click.BadParameter("a run directory is exported as trained; --set applies to specs only",
                                 param_hint="--set")
    target = source if is_run_dir(Path(source)) else _load(source, overrides)
    report = api.export_onnx(target, out, opset=opset, atol=atol, via=via)
    for reason in report.fallback:
        click.echo(f"via tf2onnx: the direct emitter does not cover {reason}", err=True)
    click.echo(f"wrote {report.path} ({report.size_bytes / 1024:.1f} KiB, opset {report.opset}, IR "
               f"{report.ir_version}, via {report.via}) in {report.export_seconds:.1f}s; max |onnxruntime - "
               f"keras| = {report.max_abs_diff:.2e} (limit {atol:.0e})")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The PNG grid to write (a VAE also writes OUT_reconstructions.png beside it).")
@click.option("-n", "count", type=click.IntRange(min=1, max=1024), default=64, show_default=True,
              help="How many images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latent draws.")
@handles_errors
def sample(run_dir: Path, out: Path, count: int, seed: int) -> None:
    """Write a PNG grid of what the generative model trained in RUN_DIR makes (VAE, GAN, autoencoder)."""
    _quiet_tensorflow()
    from nnspec import api

    for path in api.sample(run_dir, out, n=count, seed=seed):
        click.echo(f"wrote {path}")


@main.command(name="eval")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--data", help="Evaluate on this dataset instead of the run's own test split: a name (`wine`), "
                             "KIND:PATH (`npz:more.npz`) or a YAML mapping.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="The folder for eval.json and confusion_matrix.png. Defaults to RUN_DIR/eval.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@handles_errors
def evaluate(run_dir: Path, data: str | None, out: Path | None, as_json: bool) -> None:
    """Evaluate the model trained in RUN_DIR: loss, metrics, and for classifiers per-class precision and recall
    and a confusion-matrix PNG."""
    _quiet_tensorflow()
    import json

    from nnspec import api

    result = api.evaluate(run_dir, data=data, out=out)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    data = result["data"]
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in result["metrics"].items() if isinstance(v, float))
    click.echo(f"{data['name']} ({data['split']}, {data['examples']} examples): {metrics}")
    click.echo(f"wrote {result['out']}")


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--mode", type=click.Choice(["dynamic", "static", "fp16", "litert", "qat"]), required=True,
              help="dynamic: int8 weights; static: int8 QDQ, per-channel, calibrated; fp16: float16 weights and "
                   "compute with float32 inputs and outputs; litert: full-integer .tflite (int8 inputs and "
                   "outputs) from the Keras model, calibrated; qat: quantization-aware fine-tuning of the run, "
                   "then its static int8 export, compared with post-training static int8.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The quantized .onnx (or, for litert, .tflite) file; only kept if it loads, is evaluated and "
                   "keeps the budget.")
@click.option("--samples", type=click.IntRange(min=1), default=256, show_default=True,
              help="Training examples to calibrate static and litert quantization on.")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="static on a bare .onnx file: an .npz of calibration inputs (arrays named after the graph "
                   "inputs, or one array); a run directory calibrates on its own training part.")
@click.option("--max-accuracy-drop", type=float,
              help="Fail (exit 1, no file) when test accuracy drops more than this, e.g. 0.01.")
@click.option("--exclude-worst", type=click.IntRange(min=0), default=0, show_default=True,
              help="When over --max-accuracy-drop (not litert): retry leaving up to N nodes in float, the "
                   "ones that hurt most on the calibration data first.")
@click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True,
              help="qat: fine-tuning epochs with fake quantization.")
@click.option("--weight-bits", type=click.Choice(["8", "4"]), default="8", show_default=True,
              help="qat: kernel bits of the export (4: int4 kernels, uint8 activations).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handles_errors
def quantize(source: Path, mode: str, out: Path, samples: int, calibration: Path | None,
             max_accuracy_drop: float | None, exclude_worst: int, epochs: int, weight_bits: str,
             as_json: bool) -> None:
    """Quantize the model of SOURCE (a run directory, or an .onnx file) and compare it with the float model:
    file size, accuracy on the run's test split, batch-1 latency."""
    from nnspec.runtime.run_dir import is_run_dir

    if calibration is not None and (mode != "static" or is_run_dir(source)):
        raise click.BadParameter("--calibration is for static quantization of a bare .onnx file (a run "
                                 "calibrates on its own training part)", param_hint="--calibration")
    needs_run = mode in ("litert", "qat") or (mode == "static" and calibration is None)
    if needs_run and not is_run_dir(source):
        also = " or --calibration FILE.npz" if mode == "static" else ""
        raise click.BadParameter(f"{mode} quantization calibrates on a run's training data: give a RUN_DIR"
                                 f"{also} (or use --mode dynamic|fp16 on a bare .onnx file). Received: {source}",
                                 param_hint="SOURCE")
    if exclude_worst and max_accuracy_drop is None:
        raise click.BadParameter("--exclude-worst acts only when a model is over its budget: give "
                                 "--max-accuracy-drop too", param_hint="--exclude-worst")
    _quiet_tensorflow()
    import json

    from nnspec import api

    if mode == "qat":
        if max_accuracy_drop is not None or exclude_worst:
            raise click.UsageError("qat reports its accuracy against post-training static int8; use --mode "
                                   "static for an accuracy budget")
        qat = api.qat(source, out, epochs=epochs, samples=samples, weight_bits=int(weight_bits))
        if as_json:
            click.echo(json.dumps(qat.to_dict(), indent=2, default=str))
            return
        def pct(v):
            return "n/a" if v is None else f"{v:.4f}"

        click.echo(f"wrote {qat.path} (QAT, int{qat.weight_bits} kernels, {qat.epochs} epochs): "
                   f"{qat.size_bytes / 1024:.1f} KiB; test accuracy float {pct(qat.float_accuracy)}, "
                   f"post-training int{qat.weight_bits} {pct(qat.ptq_accuracy)}, QAT int{qat.weight_bits} "
                   f"{pct(qat.accuracy)}")
        return
    report = api.quantize(source, out, mode=mode, samples=samples, max_accuracy_drop=max_accuracy_drop,
                          exclude_worst=exclude_worst, calibration=calibration)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
        return
    for i, attempt in enumerate(report.attempts if len(report.attempts) > 1 else ()):
        left = ", ".join(attempt["excluded"]) or "none"
        click.echo(f"attempt {i + 1}: float nodes {left}: accuracy {attempt['accuracy']:.4f} "
                   f"(drop {attempt['accuracy_drop'] * 100:.2f} points)")
    accuracy = (f", accuracy {report.float_accuracy:.4f} -> {report.accuracy:.4f}"
                if report.accuracy is not None and report.float_accuracy is not None else "")
    excluded = f", left in float: {', '.join(report.excluded_nodes)}" if report.excluded_nodes else ""
    click.echo(f"wrote {report.path} ({mode}): {report.size_bytes / 1024:.1f} KiB, {report.ratio:.2f}x smaller"
               f"{accuracy}{excluded}, batch-1 latency {report.float_latency_ms:.3f} -> "
               f"{report.latency_ms:.3f} ms")


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for bench.json, bench.md and the variant .onnx files (kept, to deploy the one you pick).")
@click.option("--data", help="Measure accuracy on this dataset instead of the run's own test split: a name "
                             "(`digits`), KIND:PATH (`npz:more.npz`) or a YAML mapping, as for `nnspec eval`.")
@click.option("--modes", default="dynamic,static,fp16", show_default=True,
              help="Quantized variants to make and measure, comma-separated, among dynamic, static, fp16 and "
                   "litert (full-integer .tflite); empty for none.")
@click.option("--compare", "compare", multiple=True, type=click.Path(path_type=Path),
              help="Also measure this run directory (e.g. a pruned run: same rows, prefixed by its folder name), "
                   ".onnx or .tflite file (repeatable).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Intra-op threads for onnxruntime, LiteRT and TensorFlow.")
@click.option("--repeats", type=click.IntRange(min=2), default=100, show_default=True,
              help="Timing rounds at batch 1 (a fifth of them, at least 10, at batch 32).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of the table.")
@handles_errors
def bench(source: Path, out: Path, data: str | None, modes: str, compare: tuple[Path, ...], threads: int,
          repeats: int, as_json: bool) -> None:
    """Measure SOURCE (a run directory or an .onnx file) side by side with its deployable variants: Keras,
    onnxruntime fp32, each quantized file and each --compare model. Size, batch-1 p50/p90 latency, batch-32
    throughput and accuracy, written to OUT/bench.md and OUT/bench.json."""
    _quiet_tensorflow()
    import json

    from nnspec import api

    chosen = tuple(m.strip() for m in modes.split(",") if m.strip())
    bad = [m for m in chosen if m not in ("dynamic", "static", "fp16", "litert")]
    if bad:
        raise click.BadParameter(f"each mode must be dynamic, static, fp16 or litert. Received: {', '.join(bad)}",
                                 param_hint="--modes")
    result = api.bench(source, out, data=data, quantize_modes=chosen, compare=compare, threads=threads,
                       repeats=repeats, progress=None if as_json else lambda m: click.echo(f"· {m}", err=True))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    from nnspec.runtime.deploy_bench import markdown

    click.echo(markdown(result), nl=False)
    click.echo(f"wrote {result['files']['markdown']} and {result['files']['json']}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The run directory to write (spec.yaml of the pruned model, model.keras, metrics.json).")
@click.option("--channels", "ratio", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              help="Structured: remove this fraction of the channels of every prunable group.")
@click.option("--flops", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              help="Structured: remove channels until this fraction of the FLOPs is left (e.g. 0.5).")
@click.option("--norm", type=click.Choice(["l1", "l2"]), default="l1", show_default=True,
              help="Structured: channel importance.")
@click.option("--multiple", type=click.IntRange(min=1), default=16, show_default=True,
              help="Structured: keep channel counts at multiples of this (onnxruntime's fast convolution "
                   "kernels work in blocks of 8 or 16 channels; other widths can be slower than unpruned).")
@click.option("--sparsity", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              help="Unstructured: zero this fraction of the kernel weights (smallest magnitudes), pruning "
                   "gradually while fine-tuning.")
@click.option("--scope", type=click.Choice(["global", "per_layer"]), default="global", show_default=True,
              help="Unstructured: one threshold over all layers, or every layer to SPARSITY.")
@click.option("--lottery", is_flag=True, help="Unstructured: lottery ticket (prune, rewind the survivors to "
                                               "their initial values, retrain with the mask).")
@click.option("--epochs", type=click.IntRange(min=0),
              help="Fine-tuning epochs: after pruning (structured) or while pruning (unstructured, at least "
                   "1). Defaults to 10.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handles_errors
def prune(run_dir: Path, out: Path, ratio: float | None, flops: float | None, norm: str, multiple: int,
          sparsity: float | None,
          scope: str, lottery: bool, epochs: int | None, force: bool, as_json: bool) -> None:
    """Prune the model trained in RUN_DIR and fine-tune it. Structured (--channels or --flops): whole channels
    go, the model really shrinks, and OUT/spec.yaml is the smaller model. Unstructured (--sparsity): the
    smallest weights become zeros while fine-tuning, per-layer sparsity in OUT/metrics.json."""
    structured = [name for name, v in (("--channels", ratio), ("--flops", flops)) if v is not None]
    if len(structured) + (sparsity is not None) != 1:
        raise click.UsageError("give exactly one of --channels, --flops (structured) or --sparsity (unstructured)")
    if epochs is None:
        epochs = 10
    if sparsity is not None and epochs < 1:
        raise click.BadParameter("unstructured pruning happens while fine-tuning: give at least 1 epoch",
                                 param_hint="--epochs")
    _quiet_tensorflow()
    import json

    from nnspec import api

    report = api.prune(run_dir, out, ratio=ratio, flops=flops, norm=norm, multiple=multiple, sparsity=sparsity,
                       scope=scope,
                       lottery=lottery, epochs=epochs, force=force)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    if sparsity is not None:
        s = report["sparsity"]
        click.echo(f"wrote {out}: sparsity {s['total']:.1%} of kernel weights; test "
                   + ", ".join(f"{k}={v:.4f}" for k, v in report.get("test", {}).items()))
        return
    acc = report.get("accuracy") or {}
    click.echo(f"wrote {out}: FLOPs {report['flops']['before']:,} -> {report['flops']['after']:,} "
               f"({report['flops_ratio']:.2f}), params {report['params']['before']:,} -> "
               f"{report['params']['after']:,}; accuracy " + ", ".join(
                   f"{k} {v:.4f}" for k, v in acc.items() if v is not None))


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The run directory to write (a derived run: spec.yaml, model.keras, weights.npz).")
@click.option("--fold-bn", is_flag=True, help="Fold batch norms into the convolution or dense layer before them.")
@click.option("--rank", type=click.IntRange(min=1), help="Factorize large dense layers to this rank (SVD).")
@click.option("--energy", type=click.FloatRange(min=0, max=1, min_open=True),
              help="Or factorize keeping this fraction of each kernel's squared singular values.")
@click.option("--clusters", type=click.IntRange(min=2, max=256),
              help="Cluster every kernel to this many shared values (k-means).")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handles_errors
def compress(run_dir: Path, out: Path, fold_bn: bool, rank: int | None, energy: float | None,
             clusters: int | None, force: bool, as_json: bool) -> None:
    """Rewrite the model trained in RUN_DIR for deployment (fold batch norms, factorize dense layers, cluster
    weights), checking outputs and accuracy before and after; write the result as the run directory OUT."""
    if rank is not None and energy is not None:
        raise click.UsageError("give --rank or --energy, not both")
    _quiet_tensorflow()
    import json

    from nnspec import api

    report = api.compress(run_dir, out, fold_bn=fold_bn, rank=rank, energy=energy, clusters=clusters,
                          force=force)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    acc, size = report.get("accuracy") or {}, report["weights_bytes"]
    accuracy = (f"; accuracy {acc['before']:.4f} -> {acc['after']:.4f}"
                if acc.get("before") is not None and acc.get("after") is not None else "")
    click.echo(f"wrote {out} ({', '.join(report['passes'])}): params {report['params']['before']:,} -> "
               f"{report['params']['after']:,}, weights {size['before']:,} -> {size['after']:,} bytes "
               f"({size['ratio']:.2f}x){accuracy}, max |output change| {report['max_abs_diff']:.2e}")


@main.command()
@click.argument("source")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The folder to create: runs, model.onnx, quantized variants, bench.md, deploy.json.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--repeats", type=click.IntRange(min=2), default=100, show_default=True,
              help="Timing rounds of the benchmark at batch 1.")
@click.option("--json", "as_json", is_flag=True, help="Print the deploy report as JSON.")
@set_option
@handles_errors
def deploy(source: str, out: Path, force: bool, repeats: int, as_json: bool, overrides: tuple[str, ...]) -> None:
    """Run the `deploy:` chain of SOURCE (a spec, trained first, or a run directory): prune, fold, factorize,
    cluster, export ONNX, quantize within the accuracy budget, and benchmark every form side by side.
    OUT is written whole or not at all."""
    from nnspec.runtime.run_dir import is_run_dir

    if out.exists() and not force:
        raise RunDirError(f"{out} already exists; pass --force to replace it (nothing was changed)")
    path = Path(source)
    if is_run_dir(path) and overrides:
        raise click.UsageError("--set changes a spec; a run directory is deployed as it was trained")
    target = path if is_run_dir(path) else _load(source, overrides)
    _quiet_tensorflow()
    import json

    from nnspec import api

    report = api.deploy(target, out, force=force, repeats=repeats,
                        progress=None if as_json else lambda m: click.echo(f"· {m}", err=True))
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    click.echo((Path(report["out"]) / "bench.md").read_text(encoding="utf-8"), nl=False)
    click.echo(f"wrote {report['out']} (final model: {report['final_run']}; see deploy.json)")


@main.command()
@click.argument("spec")
@set_option
@handles_errors
def resolve(spec: str, overrides: tuple[str, ...]) -> None:
    """Print SPEC fully expanded (no extends, params, blocks or expressions) as canonical YAML."""
    from nnspec import api

    click.echo(api.resolve(_load(spec, overrides)), nl=False)


@main.command()
@click.argument("spec")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The drawing to write: .dot, .mmd, .html, or .svg/.png (these need Graphviz).")
@click.option("--expand", is_flag=True, help="Draw each block use as a frame around its nodes.")
@set_option
@handles_errors
def graph(spec: str, out: Path, expand: bool, overrides: tuple[str, ...]) -> None:
    """Draw SPEC's graph: each node's id, op, output shape and parameters (no TensorFlow import).

    Block uses are one box each unless --expand. The .html page is self-contained and works offline.
    """
    from nnspec import api
    from nnspec.render import FORMATS

    if out.suffix.lower() not in FORMATS:
        raise click.BadParameter(f"must end in one of {', '.join(FORMATS)}. Received: {out.name}",
                                 param_hint="--out")
    api.draw(_load(spec, overrides), out, expand=expand)
    click.echo(f"wrote {out}")


@main.group()
def zoo() -> None:
    """The zoo of paper architectures (`zoo:NAME` wherever a spec is accepted)."""


@zoo.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handles_errors
def zoo_list(as_json: bool) -> None:
    """Every zoo spec: task, input shape, parameters, FLOPs and source, computed from the specs."""
    from nnspec.zoo.catalog import catalog

    rows = catalog()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from nnspec.report import print_table

    table = [[r["name"], r["task"] or "", ", ".join(f"{k} {tuple(v)}" for k, v in r["inputs"].items()),
              f"{r['params']:,}", f"{r['flops']:,}", r["source"] or ""] for r in rows]
    print_table("nnspec zoo", ["name", "task", "inputs", "params", "FLOPs", "source"], table,
                right=frozenset({3, 4}))


@zoo.command("show")
@click.argument("name")
@handles_errors
def zoo_show(name: str) -> None:
    """Print the zoo spec NAME as written."""
    from nnspec.bundled import resolve_spec_path

    click.echo(resolve_spec_path(f"zoo:{name}").read_text(encoding="utf-8"), nl=False)


@zoo.command("copy")
@click.argument("name")
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
@handles_errors
def zoo_copy(name: str, dest: Path, force: bool) -> None:
    """Start a new spec from the zoo spec NAME: copy it to DEST."""
    from nnspec.bundled import resolve_spec_path
    from nnspec.runtime.atomic import publish, temp_beside

    text = resolve_spec_path(f"zoo:{name}").read_text(encoding="utf-8")
    if dest.exists() and not force:
        raise RunDirError(f"{dest} already exists; pass --force to replace it (nothing was changed)")
    with temp_beside(dest, suffix=".yaml") as tmp:
        tmp.write_text(text, encoding="utf-8")
        publish(tmp, dest)
    click.echo(f"wrote {dest} (from zoo:{name})")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ops(as_json: bool) -> None:
    """List every op a spec can use, with its parameters."""
    from nnspec.layers import LAYERS

    rows = []
    for op, layer in sorted(LAYERS.items()):
        fields = [f.alias or n for n, f in layer.spec.model_fields.items() if n not in ("id", "from_", "op")]
        doc = (layer.spec.__doc__ or "").strip().splitlines()[0]
        rows.append({"op": op, "keras": layer.keras.cls if layer.keras else None, "params": fields, "doc": doc})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["op"]) for r in rows)
    for r in rows:
        params = f"  [{', '.join(r['params'])}]" if r["params"] else ""
        click.echo(f"{r['op']:<{width}}  {r['doc']}{params}")


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the schema to this file (whole or not at all) instead of printing it.")
@handles_errors
def schema(out: Path | None) -> None:
    """Print the JSON Schema (Draft 07) of the spec format, for editors and CI.

    Point yaml-language-server (VS Code's YAML extension) at it with a first line
    `# yaml-language-server: $schema=nnspec.schema.json` for completion, hover docs and checks as you type.
    """
    from nnspec import api
    from nnspec.runtime.atomic import publish, temp_beside

    text = json.dumps(api.schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    with temp_beside(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
        publish(tmp, out)
    click.echo(f"wrote {out}")


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("nnspec-demo"),
              show_default=True, help="Folder for the demo's run and ONNX file (replaced on each demo run).")
@click.option("--epochs", type=click.IntRange(min=1), help="Override the demo spec's epochs.")
@handles_errors
def demo(out: Path, epochs: int | None) -> None:
    """Check, summarize, train and export the bundled digits CNN, verify the ONNX file, print a report."""
    _quiet_tensorflow()
    from nnspec.demo import run_demo

    started = time.perf_counter()
    run_demo(out, epochs=epochs)
    click.echo(f"demo finished in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":  # pragma: no cover
    main()
