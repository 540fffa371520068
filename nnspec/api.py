"""The Python API: one function per command-line verb, each a thin layer over the compiler or runtime.

    import nnspec
    spec = nnspec.load_spec("examples/digits_cnn.yaml")
    graph = nnspec.compile_spec(spec)            # typed IR, no TensorFlow import
    print(nnspec.summary(spec)["params"])
    model = nnspec.build_keras(spec)             # Functional keras.Model
    run = nnspec.train(spec, "runs/digits")      # trains, writes the run directory
    report = nnspec.export_onnx("runs/digits", "digits.onnx")   # verified against Keras with onnxruntime
"""

from __future__ import annotations

from pathlib import Path

from nnspec.compiler.ir import Graph
from nnspec.compiler.pipeline import compile_spec as _compile
from nnspec.compiler.summary import summarize
from nnspec.specs.model import ModelSpec

SpecLike = ModelSpec | str | Path


def load_spec(ref: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> ModelSpec:
    """Load and validate a spec file (`path.yaml` or `example:NAME`), with `extends` merged and `--set` style
    `overrides` (`"params.width=32"`) applied. Raises `SpecError` listing every mistake."""
    from nnspec.specs.load import load_spec as _load

    return _load(ref, tuple(overrides))


def resolve(spec: SpecLike) -> str:
    """The fully expanded spec as canonical YAML (what `nnspec resolve` prints)."""
    from nnspec.specs.resolve import resolved_yaml

    return resolved_yaml(_spec(spec))


def _spec(spec: SpecLike) -> ModelSpec:
    return spec if isinstance(spec, ModelSpec) else load_spec(spec)


def compile_spec(spec: SpecLike) -> Graph:
    """The typed, verified IR of a spec. Raises `SpecError`/`CompileError` listing every mistake."""
    return _compile(_spec(spec))


def summary(spec: SpecLike) -> dict:
    """Per-node shapes, parameters and FLOPs, and the totals (what `nnspec summary --json` prints)."""
    return summarize(compile_spec(spec))


def build_keras(spec: SpecLike, *, seed: int | None = None):
    """The Functional `keras.Model` of a spec (layer names are node ids). `seed` fixes the initial weights."""
    from nnspec.runtime.keras_build import build_keras as _build

    spec = _spec(spec)
    if seed is None and spec.train is not None:
        seed = spec.train.seed
    return _build(compile_spec(spec), seed=seed)


def train(spec: SpecLike, out: str | Path, *, epochs: int | None = None, force: bool = False, verbose: int = 1,
          callbacks: list | None = None, init_weights: str | Path | None = None,
          data_dir: str | Path | None = None):
    """Train from the spec's `train:` section and write a run directory; returns the `RunResult`. `callbacks`
    are extra Keras callbacks that observe the run (progress, timing); `init_weights` (a weights `.npz` or a
    run directory of the same model) starts from trained weights instead of a fresh initialization;
    `data_dir` is where relative data file paths start (default: the spec's folder)."""
    from nnspec.runtime.train import train as _train

    return _train(_spec(spec), Path(out), epochs=epochs, force=force, verbose=verbose, callbacks=callbacks,
                  init_weights=Path(init_weights) if init_weights is not None else None,
                  data_dir=Path(data_dir) if data_dir is not None else None)


def resume(out: str | Path, *, verbose: int = 1, callbacks: list | None = None):
    """Continue an interrupted `train` to `out` from its last checkpoint; returns the `RunResult`. The result
    equals that of a run that was never interrupted."""
    from nnspec.runtime.train import resume as _resume

    return _resume(Path(out), verbose=verbose, callbacks=callbacks)


def sample(run_dir: str | Path, out: str | Path, *, n: int = 64, seed: int = 0) -> list[Path]:
    """Write PNG grid(s) of what a generative run (VAE, GAN, autoencoder) makes; returns the files written."""
    from nnspec.runtime.sample import sample_run

    return sample_run(Path(run_dir), Path(out), n=n, seed=seed)


def evaluate(run_dir: str | Path, *, data: str | None = None, out: str | Path | None = None) -> dict:
    """Evaluate a trained run on its own test split (or `data`); returns the metrics (and, for classifiers,
    per-class precision/recall) and writes eval.json and a confusion-matrix PNG."""
    from nnspec.runtime.evaluate import evaluate_run

    return evaluate_run(Path(run_dir), data=data, out=Path(out) if out is not None else None)


def quantize(source: str | Path, out: str | Path, *, mode: str, samples: int = 256,
             max_accuracy_drop: float | None = None, exclude_worst: int = 0, calibration=None):
    """Quantize a run directory's model (exported to ONNX first) or an .onnx file with onnxruntime (`dynamic`,
    `static` int8 QDQ per-channel, or `fp16`), or a run's Keras model to a full-integer `.tflite` (`litert`);
    returns the `QuantizeReport`. Raises `AccuracyBudgetError` (and writes nothing) when the test accuracy drops
    by more than `max_accuracy_drop`, after leaving up to `exclude_worst` of the most harmful nodes in float.
    `calibration` (static on a bare .onnx file): an `.npz` path, an array or a dict of arrays by input name."""
    from nnspec.runtime.quantize import QuantizeInputError, quantize as _quantize, quantize_run
    from nnspec.runtime.run_dir import is_run_dir

    source, out = Path(source), Path(out)
    if mode == "litert":
        from nnspec.runtime.litert import quantize_litert

        if exclude_worst:
            raise QuantizeInputError(f"exclude_worst applies to the ONNX modes (dynamic, static, fp16), not "
                                     f"litert. Received: exclude_worst={exclude_worst}")
        return quantize_litert(source, out, samples=samples, max_accuracy_drop=max_accuracy_drop)
    if is_run_dir(source):
        return quantize_run(source, out, mode, max_accuracy_drop, samples=samples, exclude_worst=exclude_worst)
    return _quantize(source, out, mode=mode, samples=samples, max_accuracy_drop=max_accuracy_drop,
                     exclude_worst=exclude_worst, calibration=calibration)


def qat(run_dir: str | Path, out: str | Path, *, epochs: int = 2, samples: int = 256, weight_bits: int = 8,
        learning_rate: float | None = None, keep_run: str | Path | None = None, force: bool = False):
    """Quantization-aware training: fine-tune a trained run through fake quantization (per-channel symmetric
    kernels, uint8 activations, as the export rounds them), export it and quantize it statically into `out`;
    returns the `QatReport`, whose `ptq_accuracy` is post-training static quantization of the same run."""
    from nnspec.runtime.qat import qat_run

    return qat_run(Path(run_dir), Path(out), epochs=epochs, samples=samples, weight_bits=weight_bits,
                   learning_rate=learning_rate, run_out=Path(keep_run) if keep_run else None, force=force)


def bench(source: str | Path, out: str | Path, *, data: str | None = None,
          quantize_modes=("dynamic", "static", "fp16"), compare=(), threads: int = 1, repeats: int = 100,
          progress=None) -> dict:
    """Measure a run directory (or an .onnx file) and its deployable variants side by side: Keras, onnxruntime
    fp32, each quantized file (`quantize_modes`, `litert` included on request), and each run / .onnx / .tflite
    in `compare`. File size, batch-1 p50/p90 latency, batch-32 throughput and accuracy (the run's test split, or
    `data`); writes `out/bench.json`, `out/bench.md` and the variant files, and returns the JSON dict. Raises
    `InputError` for a bad source."""
    from nnspec.runtime.deploy_bench import bench_run

    return bench_run(Path(source), Path(out), data=data, quantize_modes=tuple(quantize_modes),
                     extra=[Path(p) for p in compare], threads=threads, repeats=repeats, progress=progress)


def prune(run_dir: str | Path, out: str | Path, *, ratio: float | None = None, flops: float | None = None,
          norm: str = "l1", multiple: int = 16, sparsity: float | None = None, scope: str = "global",
          lottery: bool = False, epochs: int = 10, force: bool = False, verbose: int = 0) -> dict:
    """Prune a trained run into the run directory `out`, then fine-tune `epochs` epochs; returns the report.

    Structured (`ratio` of the channels, or down to `flops` of the FLOPs): whole channels are removed, through
    residual adds, concatenations and depthwise convolutions, and `out/spec.yaml` is the smaller model.
    Unstructured (`sparsity`): the smallest weights are zeroed on a polynomial schedule while fine-tuning
    (`scope` global or per_layer; `lottery` rewinds survivors to their initial values and retrains); the report
    has per-layer `sparsity` and the test metrics."""
    if sparsity is not None:
        from nnspec.runtime.pruning import magnitude_prune_run

        run = magnitude_prune_run(Path(run_dir), Path(out), sparsity=sparsity, epochs=epochs, scope=scope,
                                  lottery=lottery, force=force, verbose=verbose)
        return {"out": str(run.run_dir), "sparsity": run.metrics.get("sparsity"),
                "test": run.metrics.get("test", {}), "epochs": epochs}
    from nnspec.runtime.channel_pruning import channel_prune_run

    return channel_prune_run(Path(run_dir), Path(out), ratio=ratio, flops=flops, norm=norm, multiple=multiple,
                             fine_tune_epochs=epochs, force=force, verbose=verbose)


def compress(run_dir: str | Path, out: str | Path, *, fold_bn: bool = False, rank: int | None = None,
             energy: float | None = None, clusters: int | None = None, force: bool = False) -> dict:
    """Fold batch norms, factorize dense layers (`rank` or `energy`) and/or cluster weights (`clusters`) of a
    trained run, checking outputs and accuracy after each pass; writes the run directory `out`, returns the
    report."""
    from nnspec.runtime.compress import compress_run

    return compress_run(Path(run_dir), Path(out), fold_bn=fold_bn, rank=rank, energy=energy, clusters=clusters,
                        force=force)


def deploy(source: SpecLike, out: str | Path, *, force: bool = False, repeats: int = 100, progress=None,
           verbose: int = 0) -> dict:
    """Run the `deploy:` chain of a spec (trained first) or a run directory into the folder `out`: pruning,
    BN folding, factorization, clustering, ONNX export, quantization within the accuracy budget, and the
    benchmark of every form (`out/bench.md`). Returns the report written to `out/deploy.json`."""
    from nnspec.runtime.deploy import deploy as _deploy
    from nnspec.runtime.run_dir import is_run_dir

    target = Path(source) if isinstance(source, (str, Path)) and is_run_dir(Path(source)) else _spec(source)
    return _deploy(target, Path(out), force=force, repeats=repeats, progress=progress, verbose=verbose)


def export_onnx(source: SpecLike, out: str | Path, *, opset: int | None = None, atol: float = 1e-4,
                via: str = "auto"):
    """Export a run directory or a spec to ONNX, verified against Keras; returns the `ExportReport`. `via`:
    `direct` emits ONNX from the IR and the weights (fast), `tf2onnx` converts through TensorFlow (any op),
    `auto` (the default) is `direct` when the emitter covers every node, else `tf2onnx`."""
    from nnspec.runtime.onnx_export import export_onnx as _export

    return _export(source, Path(out), opset=opset, atol=atol, via=via)


def draw(spec: SpecLike, out: str | Path, *, expand: bool = False) -> Path:
    """Draw the graph into `out`, in the format its extension names: `.dot`, `.mmd` (Mermaid),
    `.html` (one self-contained page), or `.svg`/`.png` (these need Graphviz's `dot`). Block uses are
    one box each unless `expand`. Returns `out`. Raises `NnspecError` for another extension, or for
    `.svg`/`.png` without Graphviz."""
    from nnspec.render import render

    out = Path(out)
    render(compile_spec(spec), out, expand=expand)
    return out


def schema() -> dict:
    """The JSON Schema (Draft 07) of the spec format as people write it (params, blocks, expressions, `extends`),
    for editors such as yaml-language-server and for CI tools such as check-jsonschema."""
    from nnspec.specs.schema import spec_schema

    return spec_schema()
