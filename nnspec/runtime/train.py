"""Train a spec from its `train:` section and write a run directory (see `run_dir.py` for its layout).

The spec is checked against its data before anything heavy happens (`train_checks.py`), and every mistake is a
`SpecError` at its YAML line. Training is reproducible from the spec alone: `train.seed` fixes the data split, the
initial weights, dropout and the order of the batches, which is drawn afresh for every epoch from `(seed, epoch)`
rather than from a stream, and TensorFlow ops run deterministically. So the state after any epoch, saved in the
run's checkpoint, is all a resumed run needs to end with exactly the weights of an uninterrupted one.

    run = train(load_spec("digits_cnn.yaml"), Path("runs/digits"))
    run = resume(Path("runs/digits"))        # after an interruption
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnspec.compiler.ir import Graph
from nnspec.compiler.pipeline import compile_spec
from nnspec.compiler.weights import Weights
from nnspec.errors import Diagnostic, NnspecError, RunDirError, SpecError
from nnspec.runtime import loop
from nnspec.runtime.data import DataError, Dataset, load_dataset, split
from nnspec.runtime.distribute import is_chief, prepare_devices
from nnspec.runtime.run_dir import training_dir
from nnspec.runtime.weights_io import apply_weights, load_weights
from nnspec.runtime.train_checks import check_data, data_diagnostic
from nnspec.specs.model import ModelSpec
from nnspec.specs.train import TrainSpec

CHECKPOINT_DIR = "checkpoint"


@dataclass(frozen=True)
class RunResult:
    """What a training run produced: where it was written, its final metrics and history, and the model."""

    run_dir: Path
    metrics: dict
    history: dict
    model: Any
    """The trained `keras.Model`."""


def train(spec: ModelSpec, out: Path, *, epochs: int | None = None, force: bool = False,
          verbose: int = 1, callbacks: list | None = None, init_weights: Path | None = None,
          data_dir: Path | None = None) -> RunResult:
    """Train `spec` as its `train:` section says and write the run directory `out`.

    Args:
        spec: A validated spec with a `train:` section.
        out: The run directory to create.
        epochs: Train this many epochs instead of `train.epochs` (recorded in the run's spec.yaml).
            Defaults to the spec's value.
        force: Replace `out` (and discard an interrupted run waiting there). Defaults to `False`.
        verbose: Keras progress output (0 silent, 1 progress bar, 2 one line per epoch). Defaults to `1`.
        callbacks: Extra Keras callbacks (progress hooks, timing); they observe the run, the spec still
            defines it. Defaults to none.
        init_weights: Start from these weights instead of a fresh initialization (fine-tuning): a weights
            `.npz` (`nnspec.runtime.weights_io.save_weights`, what pruning writes beside its spec) or a run
            directory of the same model. Every weight of the model must be given. Defaults to none.
        data_dir: Where relative data file paths start, instead of the spec's folder (fine-tuning a spec that
            was written into a run directory: `nnspec.runtime.run_dir.data_dirs`). Defaults to the spec's folder.

    Returns:
        The `RunResult`.

    Raises:
        SpecError: no `train:` section, or the data does not fit the model (all problems at once).
        RunDirError: `out` or an interrupted run to it exists and `force` is false (raised before any
            training; nothing is changed).
    """
    _require_train(spec)
    prepare_devices(spec.train.distribute)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise NnspecError(f"epochs must be a positive integer. Received: epochs={epochs!r}")
    epochs = epochs or spec.train.epochs
    text = _spec_text(spec, epochs)
    if epochs != spec.train.epochs:  # the run trains what its spec.yaml says
        from nnspec.specs.load import parse_spec

        spec = parse_spec(text, str(spec.source_map.file))
    graph = compile_spec(spec)
    init = Initial(Path(init_weights), load_weights(init_weights)) if init_weights is not None else None
    data = _load_data(spec, graph, data_dir)
    if not is_chief(spec.train.distribute):  # a non-chief worker trains in step with the chief, writes nothing
        with tempfile.TemporaryDirectory(prefix="nnspec-worker-") as scratch:
            return _train_into(spec, graph, data, Path(scratch) / "run", text, False, verbose, callbacks, init,
                               data_dir)
    return _train_into(spec, graph, data, Path(out), text, force, verbose, callbacks, init, data_dir)


@dataclass(frozen=True)
class Initial:
    """Weights a fine-tuning run starts from, and where they came from (recorded in metrics.json)."""

    source: Path
    weights: Weights


def _train_into(spec, graph, data, out: Path, text: str, force: bool, verbose: int, callbacks,
                init: Initial | None, data_dir: Path | None = None) -> RunResult:
    with training_dir(out, force=force) as stage:
        (stage / "spec.yaml").write_text(text, encoding="utf-8")
        (stage / SPEC_DIR).write_text(str(Path(data_dir).resolve() if data_dir else _spec_dir(spec)),
                                      encoding="utf-8")
        return _run(spec, graph, data, stage, out, text, resume=None, verbose=verbose, extra=callbacks,
                    init=init)


def resume(out: Path, *, verbose: int = 1, callbacks: list | None = None) -> RunResult:
    """Continue an interrupted run to `out` from its last checkpoint, and finish it as `train` would have.

    Raises:
        RunDirError: there is no interrupted run waiting at `out`.
    """
    from nnspec.runtime.keras_ext.callbacks import read_checkpoint
    from nnspec.specs.load import load_spec

    out = Path(out)
    with training_dir(out, resume=True) as stage:
        checkpoint = read_checkpoint(stage / CHECKPOINT_DIR)
        if checkpoint is None:
            raise RunDirError(f"the interrupted run at {stage} ended before its first checkpoint; start it "
                              "again with --force")
        _truncate_csv(stage / "history.csv", checkpoint["meta"]["epochs_done"])
        spec = load_spec(stage / "spec.yaml")
        prepare_devices(spec.train.distribute)
        text = (stage / "spec.yaml").read_text(encoding="utf-8")
        graph = compile_spec(spec)
        marker = stage / SPEC_DIR
        data = _load_data(spec, graph, Path(marker.read_text(encoding="utf-8")) if marker.is_file() else None)
        return _run(spec, graph, data, stage, out, text, resume=checkpoint, verbose=verbose, extra=callbacks)


def _truncate_csv(path: Path, epochs: int) -> None:
    """Drop CSV rows of epochs after the checkpoint (a kill can land between the row and the checkpoint)."""
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(lines[:epochs + 1]), encoding="utf-8")


def _require_train(spec: ModelSpec) -> TrainSpec:
    if spec.train is None:
        where = spec.source_map.locate(())
        message = "the spec has no `train:` section; add one (data, loss, ...)."
        raise SpecError([Diagnostic(where, "train", message)])
    return spec.train


SPEC_DIR = "spec_dir.txt"
"""In a partial run folder: the directory of the spec the run was started from, where relative data file paths
start; a resumed run, whose spec is the folder's copy, reads its data from there too. (Regimes that read other
files keep what they need in the run folder: a GAN's discriminator spec, a distilled run's teacher.json.) A
finished run records it as `data_dir` in metrics.json instead."""


def _spec_dir(spec: ModelSpec) -> Path:
    return Path(spec.source_map.file).resolve().parent


def _load_data(spec: ModelSpec, graph: Graph, data_dir: Path | None = None) -> Dataset:
    """The spec's dataset (file paths relative to `data_dir`, the original spec's directory), checked against the
    model and the regime (whose own paths start at the spec's directory)."""
    try:
        data = load_dataset(spec.train.data, seed=spec.train.seed, base_dir=data_dir or _spec_dir(spec))
    except DataError as exc:
        raise data_diagnostic(spec, exc) from None
    check_data(spec, graph, data, _spec_dir(spec))
    if data.input_names:  # named arrays: keep those the model reads, by input name
        data = dataclasses.replace(data, x={name: data.x[name] for name in graph.inputs})
    return data


def _run(spec: ModelSpec, graph: Graph, data: Dataset, stage: Path, out: Path, text: str, *,
         resume: dict | None, verbose: int, extra: list | None, init: Initial | None = None) -> RunResult:
    start = time.perf_counter()
    cfg = spec.train
    models, history, metrics = _train_and_evaluate(spec, graph, data, stage, resume, verbose, extra or [], init)
    marker = stage / SPEC_DIR
    if marker.is_file():  # relative data paths of the run's spec.yaml start there (run_dir.data_dirs)
        metrics["data_dir"] = marker.read_text(encoding="utf-8")
    model = models["model"]
    metrics.update(epochs=cfg.epochs, epochs_run=len(next(iter(history.values()), [])), seed=cfg.seed,
                   params=int(model.count_params()), spec_sha256=_sha256(text), nnspec_version=_version(),
                   seconds=round(time.perf_counter() - start, 3), resumed=resume is not None)
    _write_run(stage, models, history, metrics, cfg)
    return RunResult(out, metrics, history, model)


# --- data pipelines -----------------------------------------------------------------------------------------------


def steps_per_epoch(cfg: TrainSpec, n: int) -> int:
    return max(math.ceil(n / cfg.batch_size), 1)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the training examples in `epoch`: a permutation drawn from `(seed, epoch)` alone, so a run
    resumed at any epoch sees the same batches as one that never stopped."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def training_batches(cfg: TrainSpec, targets, data: Dataset, first_epoch: int):
    """Batches for epochs `first_epoch .. cfg.epochs - 1`, one permutation per epoch, as one `tf.data` stream
    (Keras keeps one iterator across epochs when given `steps_per_epoch`)."""
    import tensorflow as tf

    from nnspec.runtime.augment import augment_batches
    from nnspec.runtime.pruning import fit_epochs

    orders = np.stack([epoch_order(cfg.seed, e, len(data)) for e in range(first_epoch, fit_epochs(cfg))])
    x = tf.nest.map_structure(tf.constant, data.x)
    pairs = (x, tf.nest.map_structure(tf.constant, targets)) if targets is not None else x
    batch = cfg.batch_size
    ds = tf.data.Dataset.from_tensor_slices(orders).flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch))
    gather = lambda index: tf.nest.map_structure(lambda v: tf.gather(v, index), pairs)  # noqa: E731
    ds = ds.map(gather, num_parallel_calls=1, deterministic=True)
    first_batch = first_epoch * steps_per_epoch(cfg, len(data))
    ds = augment_batches(ds, cfg.augment, cfg.seed, data.num_classes or None, first_batch=first_batch)
    return ds.prefetch(2)


def batches(cfg: TrainSpec, targets, data: Dataset):
    """Batches of a split, in order (held-out data, or training data for evaluation)."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((data.x, targets) if targets is not None else data.x)
    return ds.batch(cfg.batch_size).prefetch(2)


# --- training -----------------------------------------------------------------------------------------------------


def _seed_everything(seed: int, deterministic: bool) -> None:
    """Fix Python's, numpy's, TensorFlow's and Keras's random state, and make TensorFlow ops deterministic
    unless the run asks for XLA: Keras quietly compiles nothing while op determinism is on (not every XLA op has a
    deterministic form), so a `jit_compile` run turns it off and is as reproducible as XLA's kernels are."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()  # NOTE: process-wide; cheap on CPU
    else:
        from tensorflow.python.framework.config import disable_op_determinism  # no public form

        disable_op_determinism()


@contextlib.contextmanager
def _precision(policy: str):
    """Build and train under a Keras mixed-precision policy, restoring the previous one afterwards."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def _callbacks(cfg: TrainSpec, stage: Path, history: dict, resume: dict | None, train_batches,
               optimizers, prune=None) -> list:
    """The Keras callbacks the spec asks for, with the checkpoint last (it restores the others' state)."""
    import keras

    from nnspec.runtime.keras_ext.callbacks import Checkpoint, StochasticWeightAveraging

    stateful = []
    if cfg.early_stopping is not None:
        e = cfg.early_stopping
        stateful.append(keras.callbacks.EarlyStopping(monitor=e.monitor, patience=e.patience,
                                                      min_delta=e.min_delta,
                                                      restore_best_weights=e.restore_best_weights))
    if cfg.reduce_on_plateau is not None:
        r = cfg.reduce_on_plateau
        stateful.append(keras.callbacks.ReduceLROnPlateau(monitor=r.monitor, factor=r.factor, patience=r.patience,
                                                          min_delta=r.min_delta, min_lr=r.min_learning_rate))
    if cfg.swa is not None:
        stateful.append(StochasticWeightAveraging(cfg.swa.start_epoch, cfg.swa.every_epochs, train_batches))
    if prune is not None:  # NOTE: after SWA, so its on_train_end masks the averaged weights
        stateful.append(prune)
    logs = []
    if cfg.logs.csv:
        logs.append(keras.callbacks.CSVLogger(str(stage / "history.csv"), append=resume is not None))
    if cfg.logs.tensorboard:
        logs.append(keras.callbacks.TensorBoard(log_dir=str(stage / "tensorboard")))
    checkpoint = Checkpoint(stage / CHECKPOINT_DIR, stateful, history, resume, optimizers)
    return [*logs, *stateful, checkpoint]


def _train_and_evaluate(spec: ModelSpec, graph: Graph, data: Dataset, stage: Path, resume: dict | None,
                        verbose: int, extra: list, init: Initial | None = None):
    """Split the data, build, fit (from the checkpoint's next epoch when resuming) and evaluate the model on
    every split, as the spec's regime says: `(model, history, metrics)`."""
    from nnspec.runtime.distribute import scaled_spec, strategy_for
    from nnspec.runtime.pruning import fit_epochs, pruning_callback, sparsity_report
    from nnspec.runtime.regimes import Context, regime_for

    strategy = strategy_for(spec.train.distribute)
    replicas = strategy.num_replicas_in_sync
    spec = scaled_spec(spec, replicas)
    cfg = spec.train
    if cfg.batch_size % replicas:
        path = ("train", "batch_size")
        raise SpecError([Diagnostic(spec.source_map.locate(path), "train.batch_size",
                                    f"the global batch is split evenly over the {replicas} replicas, so it must be "
                                    f"a multiple of {replicas}. Received: batch_size={cfg.batch_size}")])
    regime = regime_for(cfg.regime.name)
    train_part, test = split(data, cfg.test_split, cfg.seed)  # NOTE: preprocessing is fitted on train only
    train_part, val = split(train_part, cfg.validation_split, cfg.seed)
    ctx = Context(spec, graph, train_part, val, test, steps_per_epoch(cfg, len(train_part)), stage,
                  _spec_dir(spec))
    first_epoch = resume["meta"]["epochs_done"] if resume else 0
    history = {k: list(v) for k, v in resume["meta"]["history"].items()} if resume else {}
    targets = {name: regime.targets(ctx, part) for name, part in (("train", train_part), ("validation", val),
                                                                  ("test", test))}
    try:
        stream = training_batches(cfg, targets["train"], train_part, first_epoch)
    except DataError as exc:  # augmentation that does not fit the data
        raise data_diagnostic(spec, exc) from None
    _seed_everything(cfg.seed, deterministic=not cfg.jit_compile)
    with _precision(cfg.precision), strategy.scope():
        model = regime.build(ctx)
        if init is not None and resume is None:  # NOTE: a resumed run's checkpoint already holds its weights
            apply_weights(model, init.weights, require=[n.id for n in graph.order() if n.params and not n.shares])
        prune = None if cfg.prune is None else pruning_callback(spec, graph, model, ctx.steps_per_epoch,
                                                                lambda: regime.optimizers(model))
        callbacks = [*extra, *regime.callbacks(ctx, model),
                     *_callbacks(cfg, stage, history, resume, batches(cfg, targets["train"], train_part),
                                 lambda: regime.optimizers(model), prune)]
        validation = batches(cfg, targets["validation"], val) if len(val) else None
        epochs = fit_epochs(cfg)  # NOTE: a lottery-ticket run trains twice (pruning.py)
        if first_epoch < epochs:
            own_loop = cfg.distribute.strategy == "multi_worker"  # NOTE: Keras's fit fails there (loop.py)
            if own_loop:
                loop.fit(model, strategy, stream, epochs=epochs, initial_epoch=first_epoch,
                         steps_per_epoch=ctx.steps_per_epoch, callbacks=callbacks, validation=validation,
                         verbose=verbose)
            else:
                model.fit(stream, epochs=epochs, initial_epoch=first_epoch,
                          steps_per_epoch=ctx.steps_per_epoch, verbose=verbose, callbacks=callbacks, shuffle=False,
                          validation_data=validation)
        # NOTE: with `optimizer.ema`, fit (and loop.fit) end by giving the model the averaged weights.
        metrics = {part: _evaluate(model, cfg, targets[part], d, strategy)
                   for part, d in (("train", train_part), ("validation", val), ("test", test))}
        regime.finish(ctx, model, history)
    metrics["data"] = {"name": data.name, "train": len(train_part), "validation": len(val), "test": len(test),
                       "preprocessing": train_part.preprocessing}
    metrics["replicas"] = replicas
    metrics["jit_compiled"] = bool(getattr(model, "jit_compile", False))
    metrics["chief"] = is_chief(cfg.distribute)
    metrics["weights_sha256"] = _weights_sha256(model)
    metrics["learning_rate"] = cfg.optimizer.learning_rate
    if prune is not None:
        metrics["sparsity"] = sparsity_report(model, graph)
    if init is not None:
        metrics["initial_weights"] = str(init.source)
    return regime.final_models(model), history, metrics


def _evaluate(model, cfg: TrainSpec, targets, data: Dataset, strategy) -> dict:
    """Loss and metrics on one split (`{}` for an empty split)."""
    if not len(data):
        return {}
    if cfg.distribute.strategy == "multi_worker":
        return loop.evaluate(model, strategy, batches(cfg, targets, data))
    logs = model.evaluate(batches(cfg, targets, data), verbose=0, return_dict=True)
    return {k: float(v) for k, v in logs.items()}


# --- the run directory --------------------------------------------------------------------------------------------


def _spec_text(spec: ModelSpec, epochs: int) -> str:
    """The spec as trained: its text verbatim when that alone reproduces the run, else the resolved spec (no
    `extends` to follow, overrides and the epochs applied), so a run directory never depends on other files."""
    from nnspec.specs.resolve import resolved_data, to_yaml

    if spec.text and spec.standalone and epochs == spec.train.epochs:
        return spec.text
    data = resolved_data(spec)
    data["train"]["epochs"] = epochs
    return to_yaml(data, f"Generated by nnspec train: {spec.source_map.file} resolved, train.epochs = {epochs}.")


def _write_run(stage: Path, models: dict, history: dict, metrics: dict, cfg: TrainSpec) -> None:
    """The run's files (spec.yaml is already there). The checkpoint goes: a finished run needs none."""
    import shutil

    for stem, model in models.items():
        model.save(stage / f"{stem}.keras")
    (stage / "history.json").write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    (stage / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    if cfg.logs.curves and history:
        from nnspec.runtime.plots import plot_history

        plot_history(history, stage / "curves.png")
    shutil.rmtree(stage / CHECKPOINT_DIR, ignore_errors=True)
    (stage / SPEC_DIR).unlink(missing_ok=True)


def _weights_sha256(model) -> str:
    """A fingerprint of every weight's bytes: equal runs (same spec, seed and machine) print equal ones."""
    import hashlib

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version() -> str:
    import nnspec

    return nnspec.__version__
