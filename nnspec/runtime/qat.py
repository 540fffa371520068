"""Quantization-aware training (QAT): fine-tune a trained run against the rounding of its int8 export, then
export it, so the int8 model keeps more accuracy than post-training quantization of the same run.

    report = qat_run(Path("runs/digits"), Path("digits.qat.int8.onnx"), epochs=2)
    report.accuracy, report.ptq_accuracy          # QAT int8 and post-training int8, same test split

Steps:
1. `insert_fake_quant` adds a `fake_quant` node on every activation the export quantizes; the convolutions and
   dense layers (`quantized_weights`) are built as their weight-quantizing twins (`QuantConv2D`, `QuantDense`,
   nnspec.runtime.custom_layers.fake_quant), which compute with kernels rounded per output channel.
2. The run's weights are copied in; each fake-quant range starts at the min/max of the float model's tensor over
   the first `samples` training examples, what the exporter's MinMax calibration measures.
3. Fine-tuning: the spec's loss and optimizer, `learning_rate` decayed to 0 by a cosine over `epochs`, on the
   run's own training part (the split recomputed as training made it, validation part left out), in the
   trainer's batch order and augmentation.
4. Export: the fine-tuned float weights, put back into the original graph (fake-quant nodes dropped), are written
   as a derived run, exported to ONNX and quantized statically by `nnspec.runtime.quantize` exactly as
   post-training quantization does (same calibration examples, same settings). Only the weights differ, so the
   comparison is fair. With `weight_bits=4` the export quantizes kernels to int4 (onnxruntime `QInt4`, per
   channel; activations stay uint8; `quantize(weight_bits=4)`), and the post-training baseline takes the same
   path. With `per_channel=False` both exports and the fake quantization
   give each kernel one scale (onnxruntime's per-tensor weights); a batch norm that the export folds into a
   kernel rescales its channels first, which per-tensor fake quantization of the unfolded kernel does not see
   (`agreement` in the report measures how close the simulation stays).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnspec.errors import InputError

DEFAULT_EPOCHS = 2
DEFAULT_SAMPLES = 256
LEARNING_RATE_FRACTION = 0.1
"""Without `learning_rate`, fine-tuning starts at this fraction of the spec's rate (the run has converged)."""
WEIGHT_BITS = (8, 4)


class QatError(InputError):
    """Quantization-aware training cannot run with these options on this run."""


@dataclass(frozen=True)
class QatReport:
    """What QAT did and wrote, and the test accuracies it is judged by (None without a classifier output)."""

    path: Path
    """The quantized ONNX file."""
    weight_bits: int
    per_channel: bool
    """Kernels quantized with one scale per output channel (else one per kernel)."""
    epochs: int
    learning_rate: float
    calibration_samples: int
    fake_quant_nodes: int
    quantized_weights: int
    """Layers whose kernels trained through per-channel fake quantization."""
    examples: int
    """Test examples the accuracies are measured on (the run's held-out test split)."""
    float_accuracy: float | None
    """The run's float model (its ONNX export)."""
    qat_float_accuracy: float | None
    """The fine-tuned float model, before quantization."""
    simulated_accuracy: float | None
    """The fine-tuned model with its fake quantization (what training saw), at inference."""
    agreement: float | None
    """Fraction of test examples on which the fake-quantized model and the quantized export predict the same
    class: how faithfully training simulated the export."""
    accuracy: float | None
    """The QAT model's quantized export."""
    ptq_accuracy: float | None
    """Post-training static quantization of the run's float model, same quantizer and calibration; None when
    not compared."""
    size_bytes: int
    run_dir: Path | None
    """Where the fine-tuned float run was kept, if asked."""
    quantize: dict | None
    """The export's `QuantizeReport` (sizes, latency, output differences)."""

    @property
    def gain(self) -> float | None:
        """`accuracy - ptq_accuracy`: positive when QAT's export beats post-training quantization."""
        if self.accuracy is None or self.ptq_accuracy is None:
            return None
        return self.accuracy - self.ptq_accuracy

    def to_dict(self) -> dict:
        return {**self.__dict__, "path": str(self.path), "run_dir": self.run_dir and str(self.run_dir),
                "gain": self.gain}


@dataclass(frozen=True)
class _Parts:
    """A run's spec, graph and data, split as training split it."""

    spec: object
    graph: object
    train: object
    """The training part (before the validation split): calibration examples come from its start."""
    fit: object
    """The part training fitted on (training part minus validation)."""
    test: object


def qat_run(run_dir: Path, out: Path, *, epochs: int = DEFAULT_EPOCHS, learning_rate: float | None = None,
            samples: int = DEFAULT_SAMPLES, weight_bits: int = 8, per_channel: bool = True,
            compare_ptq: bool = True, run_out: Path | None = None, force: bool = False,
            verbose: int = 0) -> QatReport:
    """Fine-tune a run with fake quantization and write its statically quantized ONNX export to `out`.

    Args:
        run_dir: A trained run (supervised regime).
        out: The quantized ONNX file to write (atomically, only when every check passes).
        epochs: Fine-tuning epochs. Defaults to `2`.
        learning_rate: Starting rate of the fine-tuning, decayed to 0 by a cosine. Defaults to a tenth of the
            spec's `train.optimizer.learning_rate`.
        samples: Training examples that set the initial fake-quant ranges and calibrate the export. Defaults
            to `256`.
        weight_bits: `8` (int8 kernels, the `nnspec quantize --mode static` export) or `4` (int4 kernels,
            uint8 activations). Defaults to `8`.
        per_channel: One weight scale per output channel (`True`, what `nnspec quantize` does) or one per
            kernel (`False`), in the fake quantization and in both exports. Defaults to `True`.
        compare_ptq: Also quantize the run's own float model the same way and report its accuracy as
            `ptq_accuracy`. Defaults to `True`.
        run_out: Keep the fine-tuned float model as a derived run directory here. Defaults to not keeping it.
        force: Replace `run_out` if it exists. Defaults to `False`.
        verbose: Keras progress output while fine-tuning. Defaults to `0`.

    Returns:
        The `QatReport`.

    Raises:
        QatError: bad options, or a run that is not a supervised classifier/regressor.
        RunDirError: `run_dir` is not a run directory, or `run_out` exists and `force` is false.
        ExportError, QuantizeError: the float export or the quantization failed (nothing is written).
    """
    _check_options(epochs, learning_rate, samples, weight_bits)
    if run_out is not None and Path(run_out).exists() and not force:
        from nnspec.errors import RunDirError

        raise RunDirError(f"{run_out} already exists; pass force=True (--force) to replace it")
    parts = _parts(Path(run_dir))
    calibration = {k: v[:samples] for k, v in _feeds(parts.train.x, parts.graph).items()}
    trained = _train(parts, Path(run_dir), calibration, epochs, learning_rate, weight_bits, per_channel, verbose)
    with tempfile.TemporaryDirectory(prefix="nnspec-qat-") as folder:
        tmp = Path(folder)
        tuned_run = _write_tuned(trained, parts, Path(run_dir), Path(run_out) if run_out else tmp / "run", force,
                                 {"epochs": epochs, "weight_bits": weight_bits, "samples": samples})
        float_accuracy = ptq = None
        if compare_ptq:
            float_onnx = _export(Path(run_dir), tmp / "float.onnx")
            float_accuracy = _accuracy(_onnx_classes(float_onnx, parts), parts)
            _quantize(float_onnx, tmp / "ptq.onnx", Path(run_dir), calibration, weight_bits, per_channel)
            ptq = _accuracy(_onnx_classes(tmp / "ptq.onnx", parts), parts)
        qat_float = _export(tuned_run, tmp / "qat_float.onnx")
        quantized = _quantize(qat_float, Path(out), Path(run_dir), calibration, weight_bits, per_channel)
        exported = _onnx_classes(Path(out), parts)
        return QatReport(
            path=Path(out), weight_bits=weight_bits, per_channel=per_channel, epochs=epochs, learning_rate=trained.rate,
            calibration_samples=len(next(iter(calibration.values()))), fake_quant_nodes=trained.fake_quant_nodes,
            quantized_weights=trained.quantized_weights, examples=len(parts.test), float_accuracy=float_accuracy,
            qat_float_accuracy=_accuracy(_onnx_classes(qat_float, parts), parts),
            simulated_accuracy=_accuracy(trained.simulated, parts), agreement=_agreement(trained.simulated, exported),
            accuracy=_accuracy(exported, parts), ptq_accuracy=ptq, size_bytes=Path(out).stat().st_size,
            run_dir=Path(run_out) if run_out is not None else None,
            quantize=quantized.to_dict(),
        )  # fmt: skip


@dataclass(frozen=True)
class _Trained:
    """The outcome of fine-tuning with fake quantization."""

    weights: object
    """The fine-tuned weights of the original graph's nodes."""
    rate: float
    simulated: np.ndarray | None
    """Test-split classes the fake-quantized model predicts."""
    fake_quant_nodes: int
    quantized_weights: int


def _train(parts: _Parts, run_dir: Path, calibration: dict, epochs: int, learning_rate: float | None,
           weight_bits: int, per_channel: bool, verbose: int) -> _Trained:
    """Steps 1-3 (module docstring): build the fake-quantized model from the run, calibrate it, fine-tune it."""
    from nnspec.compiler.passes.insert_fake_quant import insert_fake_quant, quantized_weights
    from nnspec.runtime.weights_io import load_weights, read_weights

    weights = load_weights(run_dir)
    qgraph = insert_fake_quant(parts.graph).graph
    weighted = quantized_weights(parts.graph)
    model = _qat_model(qgraph, weighted, weight_bits, per_channel, weights)
    _calibrate(model, qgraph, parts.graph, weights, calibration)
    rate = _fine_tune(model, parts, epochs, learning_rate, verbose)
    simulated = _classes(lambda x: model.predict(_model_input(x, parts.graph), batch_size=256, verbose=0), parts)
    return _Trained(read_weights(model, parts.graph), rate, simulated,
                    sum(n.op == "fake_quant" for n in qgraph.order()), len(weighted))


def _write_tuned(trained: _Trained, parts: _Parts, source: Path, out: Path, force: bool, report: dict) -> Path:
    """The fine-tuned weights in the original graph (no fake-quant nodes), as a derived run directory."""
    from nnspec.compiler.weights import WeightedGraph
    from nnspec.runtime.derived_run import write_derived_run

    report = {**report, "learning_rate": trained.rate}
    return write_derived_run(WeightedGraph(parts.graph, trained.weights), parts.spec, out, source=source,
                             passes=["insert_fake_quant", "qat"], report=report, force=force)


def _check_options(epochs, learning_rate, samples, weight_bits) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise QatError(f"epochs must be a positive integer. Received: epochs={epochs!r}")
    if learning_rate is not None and not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
        raise QatError(f"learning_rate must be a positive number. Received: learning_rate={learning_rate!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise QatError(f"samples must be a positive integer. Received: samples={samples!r}")
    if weight_bits not in WEIGHT_BITS:
        raise QatError(f"weight_bits must be one of {', '.join(map(str, WEIGHT_BITS))}. "
                       f"Received: weight_bits={weight_bits!r}")


# --- the run's data -----------------------------------------------------------------------------------------------


def _parts(run_dir: Path) -> _Parts:
    """The run's spec, graph and data split exactly as `nnspec.runtime.train` split it."""
    from nnspec.runtime.data import split
    from nnspec.runtime.quantize.data import own_splits

    spec, graph, train, test = own_splits(run_dir)  # the test split as training made it, and what came before
    cfg = spec.train
    if cfg.regime.name != "supervised":
        raise QatError(f"{run_dir}: QAT fine-tunes supervised runs only. Received: regime={cfg.regime.name}")
    shared = [n.id for n in graph.order() if n.shares]
    if shared:  # NOTE: calibration reads each node's output tensor, and a shared layer has several
        raise QatError(f"{run_dir}: QAT does not handle weight sharing yet. Received: nodes {shared} share weights")
    fit, _ = split(train, cfg.validation_split, cfg.seed)  # NOTE: the order of train.py's two splits
    return _Parts(spec, graph, train, fit, test)


def _feeds(x, graph) -> dict[str, np.ndarray]:
    """Arrays by graph input name."""
    return dict(x) if isinstance(x, dict) else {graph.inputs[0]: x}


def _model_input(feeds: dict, graph):
    """What a Keras model of `graph` takes: its one input's array, or the list of them in input order."""
    return feeds[graph.inputs[0]] if len(graph.inputs) == 1 else [feeds[name] for name in graph.inputs]


# --- the fake-quantized model -------------------------------------------------------------------------------------


def _qat_model(qgraph, weighted: tuple[str, ...], weight_bits: int, per_channel: bool, weights):
    """The Keras model of `qgraph` with the `weighted` layers swapped for their weight-quantizing twins, holding
    `weights` (the fake-quant ranges keep their defaults until `_calibrate`)."""
    import keras

    from nnspec.runtime.custom_layers.fake_quant import QUANTIZED
    from nnspec.runtime.keras_build import build_keras
    from nnspec.runtime.weights_io import apply_weights

    def swap(layer):
        twin = QUANTIZED.get(type(layer)) if layer.name in weighted else None
        if twin is None:
            return layer.__class__.from_config(layer.get_config())
        return twin.from_config({**layer.get_config(), "weight_bits": weight_bits, "per_channel": per_channel})

    model = keras.models.clone_model(build_keras(qgraph), clone_function=swap)
    apply_weights(model, weights)
    return model


def _calibrate(model, qgraph, graph, weights, calibration: dict) -> None:
    """Set each fake-quant range to the min/max of the tensor it reads in the float model over `calibration`."""
    import keras

    from nnspec.compiler.ir import INPUT
    from nnspec.compiler.weights import WeightedGraph
    from nnspec.runtime.weights_io import build_weighted

    floating = build_weighted(WeightedGraph(graph, weights))
    x = calibration
    quants = [n for n in qgraph.order() if n.op == "fake_quant"]
    reads = [qgraph.producers(n.id)[0] for n in quants]
    inner = [r for r in reads if graph.node(r).op != INPUT]
    values = dict(x)
    if inner:
        probe = keras.Model(floating.inputs, [floating.get_layer(r).output for r in inner])
        outs = probe.predict(_model_input(x, graph), batch_size=256, verbose=0)
        values.update(zip(inner, outs if len(inner) > 1 else [outs]))
    for node, read in zip(quants, reads):
        layer = model.get_layer(node.id)
        layer.min.assign(min(float(np.min(values[read])), 0.0))
        layer.max.assign(max(float(np.max(values[read])), 0.0))


def _fine_tune(model, parts: _Parts, epochs: int, learning_rate: float | None, verbose: int) -> float:
    """Fit `model` for `epochs` on the run's training examples; returns the starting learning rate."""
    import keras

    from nnspec.runtime.objectives import loss_weights, make_losses, make_metrics, make_optimizer
    from nnspec.runtime.regimes.supervised import label_targets, one_or_dict
    from nnspec.runtime.train import steps_per_epoch, training_batches
    from nnspec.specs.objectives import Cosine

    cfg = parts.spec.train
    rate = float(learning_rate) if learning_rate is not None else cfg.optimizer.learning_rate * LEARNING_RATE_FRACTION
    optimizer = cfg.optimizer.model_copy(update={"learning_rate": rate, "ema": None})
    cfg = cfg.model_copy(update={"epochs": epochs, "schedule": Cosine(), "optimizer": optimizer, "prune": None,
                                 "swa": None, "early_stopping": None, "reduce_on_plateau": None})
    outputs, steps = parts.graph.outputs, steps_per_epoch(cfg, len(parts.fit))
    keras.utils.set_random_seed(cfg.seed)
    model.compile(optimizer=make_optimizer(cfg, steps), loss=one_or_dict(make_losses(cfg, outputs), outputs),
                  loss_weights=loss_weights(cfg, outputs) if len(outputs) > 1 else None,
                  metrics=one_or_dict(make_metrics(cfg, outputs), outputs))
    stream = training_batches(cfg, label_targets(cfg, outputs, parts.fit), parts.fit, 0)
    model.fit(stream, epochs=epochs, steps_per_epoch=steps, verbose=verbose, shuffle=False)
    return rate


# --- export and measurement ---------------------------------------------------------------------------------------


def _export(run_dir: Path, out: Path) -> Path:
    from nnspec.runtime.onnx_export import export_onnx

    export_onnx(run_dir, out)
    return out


def _quantize(source: Path, out: Path, run_dir: Path, calibration: dict, weight_bits: int, per_channel: bool):
    """Static QDQ quantization of `source` with int8 (or int4) kernels, calibrated on `calibration` (the run's
    first training examples): the `QuantizeReport`."""
    from nnspec.runtime.quantize import quantize

    samples = len(next(iter(calibration.values())))
    return quantize(source, out, mode="static", calibration=calibration, samples=samples, eval_data=run_dir,
                    per_channel=per_channel, weight_bits=weight_bits)


def _classes(predict, parts: _Parts) -> np.ndarray | None:
    """The classes `predict` (feeds by input name → outputs) gives the test split's examples, read from the
    first classifier output; None without one."""
    from nnspec.runtime.evaluate import classifier_outputs, predicted_classes

    names = classifier_outputs(parts.spec.train, parts.graph, parts.test)
    if not names or not len(parts.test):
        return None
    outputs = predict(_feeds(parts.test.x, parts.graph))
    output = outputs if len(parts.graph.outputs) == 1 else outputs[list(parts.graph.outputs).index(names[0])]
    return predicted_classes(parts.spec.train, names[0], output).reshape(-1)


def _onnx_classes(path: Path, parts: _Parts) -> np.ndarray | None:
    from nnspec.runtime.ort_session import cpu_session

    session = cpu_session(path)
    names = [o.name for o in session.get_outputs()]
    return _classes(lambda feeds: session.run(None, feeds)[0] if len(names) == 1 else session.run(None, feeds),
                    parts)


def _accuracy(classes: np.ndarray | None, parts: _Parts) -> float | None:
    if classes is None:
        return None
    return float(np.mean(classes == np.asarray(parts.test.y).reshape(-1)))


def _agreement(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    return None if a is None or b is None else float(np.mean(a == b))
