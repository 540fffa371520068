"""Train a spec from its `train:` section and write a run directory (see `run_dir.py` for its layout).

The spec is checked against its data before anything heavy happens (one input and one output, the dataset's
example shape equals the input's, the output has one unit per class), and every mistake is a `SpecError` at the
YAML line of `train.data`. Training is reproducible from the spec alone: `train.seed` fixes the data split, the
initial weights, the batch order and dropout, and TensorFlow ops run deterministically. The run directory is
written whole or not at all, and an existing one is only replaced with `force`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnspec.compiler.ir import Graph
from nnspec.compiler.pipeline import compile_spec
from nnspec.errors import Diagnostic, NnspecError, SpecError
from nnspec.runtime.data import DATASETS, Dataset, feature_shape, load_dataset, split
from nnspec.runtime.run_dir import staged_run_dir
from nnspec.specs.load import received
from nnspec.specs.model import ModelSpec
from nnspec.specs.source import format_path
from nnspec.specs.train import TrainSpec

# Losses whose targets are class labels: the model's last axis must have one unit per class (binary: one unit).
CLASSIFICATION = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")


@dataclass(frozen=True)
class RunResult:
    """What a training run produced: where it was written, its final metrics and history, and the model."""

    run_dir: Path
    metrics: dict
    history: dict
    model: Any
    """The trained `keras.Model`."""


def train(spec: ModelSpec, out: Path, *, epochs: int | None = None, force: bool = False,
          verbose: int = 1) -> RunResult:
    """Train `spec` as its `train:` section says and write the run directory `out`.

    Args:
        spec: A validated spec with a `train:` section.
        out: The run directory to create.
        epochs: Train this many epochs instead of `train.epochs` (recorded in the run's spec.yaml).
            Defaults to the spec's value.
        force: Replace `out` if it exists. Defaults to `False`.
        verbose: Keras progress output (0 silent, 1 progress bar, 2 one line per epoch). Defaults to `1`.

    Returns:
        The `RunResult`.

    Raises:
        SpecError: no `train:` section, or the data does not fit the model (all problems at once).
        RunDirError: `out` exists and `force` is false (raised before any training; nothing is changed).
    """
    start = time.perf_counter()
    cfg = _require_train(spec)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise NnspecError(f"epochs must be a positive integer. Received: epochs={epochs!r}")
    graph = compile_spec(spec)
    data = load_dataset(cfg.data, seed=cfg.seed)
    _check_data(spec, graph, data)
    epochs = epochs or cfg.epochs
    with staged_run_dir(Path(out), force=force) as stage:
        model, history, metrics = _train_and_evaluate(graph, cfg, data, epochs, verbose)
        text = _spec_text(spec, epochs)
        metrics.update(epochs=epochs, seed=cfg.seed, params=int(model.count_params()),
                       spec_sha256=_sha256(text), nnspec_version=_version(),
                       seconds=round(time.perf_counter() - start, 3))
        _write_run(stage, model, text, history, metrics)
    return RunResult(Path(out), metrics, history, model)


def _require_train(spec: ModelSpec) -> TrainSpec:
    if spec.train is None:
        where = spec.source_map.locate(())
        message = "the spec has no `train:` section; add one (data, loss, ...)."
        raise SpecError([Diagnostic(where, "train", message)])
    return spec.train


# --- checks: does the data fit the model? -------------------------------------------------------------------------


def _check_data(spec: ModelSpec, graph: Graph, data: Dataset) -> None:
    """Raise a `SpecError` listing every way the dataset does not fit the model's input and output."""
    problems = []
    for key, ids in (("inputs", graph.inputs), ("outputs", graph.outputs)):
        if len(ids) != 1:
            message = (f"training needs a model with one input and one output; this one has {len(ids)} {key}. "
                       f"{received(key, list(ids))}")
            problems.append(Diagnostic(spec.source_map.locate((key,)), key, message))
    if not problems:
        problems += _check_input(spec, graph, data) + _check_output(spec, graph, data)
    if problems:
        raise SpecError(problems)


def _data_diagnostic(spec: ModelSpec, message: str) -> Diagnostic:
    path = ("train", "data")
    return Diagnostic(spec.source_map.locate(path), format_path(path),
                      f"{message} {received('data', spec.train.data.name)}")


def _check_input(spec: ModelSpec, graph: Graph, data: Dataset) -> list[Diagnostic]:
    name = graph.inputs[0]
    want = tuple(graph.node(name).spec.shape)
    got = data.feature_shape
    if len(want) == len(got) and all(w is None or w == g for w, g in zip(want, got)):
        return []
    fits = [n for n in _datasets_of_shape(want) if n != data.name]
    fix = f"Use {' or '.join(fits)}, or change the input shape." if fits else "Change the input shape."
    message = (f"dataset '{data.name}' gives inputs of shape {got} but input '{name}' has shape "
               f"{_shape_str(want)}. {fix}")
    return [_data_diagnostic(spec, message)]


def _check_output(spec: ModelSpec, graph: Graph, data: Dataset) -> list[Diagnostic]:
    loss = spec.train.loss.name
    if loss not in CLASSIFICATION:
        return []
    out = graph.node(graph.outputs[0])
    units = out.out.shape[-1]
    if loss == "binary_crossentropy":
        if data.num_classes == 2 and units == 1:
            return []
        want = "2 classes and an output with 1 unit"
    elif units == data.num_classes:
        return []
    else:
        want = f"an output with {data.num_classes} units, one per class"
    message = (f"dataset '{data.name}' has {data.num_classes} classes; {loss} needs {want}, but output "
               f"'{out.id}' has shape {_shape_str(out.out.shape[1:])}.")
    return [_data_diagnostic(spec, message)]


def _datasets_of_shape(shape: tuple) -> list[str]:
    """Registered datasets whose examples (with default options) have `shape`, `None` matching any size."""
    from pydantic import TypeAdapter

    from nnspec.specs.train import Dataset as DataSpec

    adapter = TypeAdapter(DataSpec)
    names = []
    for name in DATASETS:
        got = feature_shape(adapter.validate_python({"name": name}))
        if len(got) == len(shape) and all(w is None or w == g for w, g in zip(shape, got)):
            names.append(name)
    return names


def _shape_str(shape) -> str:
    return str(tuple(shape))


# --- training -----------------------------------------------------------------------------------------------------


def _seed_everything(seed: int) -> None:
    """Fix Python's, numpy's, TensorFlow's and Keras's random state, and make TensorFlow ops deterministic."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # NOTE: process-wide; cheap on CPU


def _optimizer(cfg):
    """The Keras optimizer a spec's `optimizer:` names."""
    import keras

    o = cfg.optimizer
    if o.name == "sgd":
        return keras.optimizers.SGD(o.learning_rate, momentum=o.momentum, nesterov=o.nesterov,
                                    weight_decay=o.weight_decay)
    if o.name == "rmsprop":
        return keras.optimizers.RMSprop(o.learning_rate, momentum=o.momentum, weight_decay=o.weight_decay)
    if o.name == "adamw":
        decay = 0.004 if o.weight_decay is None else o.weight_decay
        return keras.optimizers.AdamW(o.learning_rate, weight_decay=decay)
    return keras.optimizers.Adam(o.learning_rate, weight_decay=o.weight_decay)


def _loss(cfg):
    """The Keras loss a spec's `loss:` names (`from_logits` for the classification losses)."""
    import keras

    classes = {
        "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
        "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
        "mean_squared_error": keras.losses.MeanSquaredError,
        "mean_absolute_error": keras.losses.MeanAbsoluteError,
        "huber": keras.losses.Huber,
    }
    cls = classes[cfg.loss.name]
    return cls(from_logits=cfg.loss.from_logits) if cfg.loss.name in CLASSIFICATION else cls()


def _targets(cfg, data: Dataset) -> np.ndarray:
    """Labels in the form the loss expects: one-hot for categorical crossentropy, floats for the others."""
    if cfg.loss.name == "sparse_categorical_crossentropy":
        return data.y
    if cfg.loss.name == "categorical_crossentropy":
        return np.eye(data.num_classes, dtype=np.float32)[data.y]
    return data.y.astype(np.float32)


def _batches(cfg: TrainSpec, data: Dataset, *, shuffle: bool = False):
    """A `tf.data` pipeline of `(x, target)` batches, reshuffled every epoch in an order fixed by the seed.

    NOTE: built once and handed to Keras: numpy arrays make Keras rebuild a pipeline every epoch and every
    `evaluate`, which costs more than a whole epoch of a small model.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((data.x, _targets(cfg, data)))
    if shuffle:
        ds = ds.shuffle(len(data), seed=cfg.seed, reshuffle_each_iteration=True)
    return ds.batch(cfg.batch_size)


def _train_and_evaluate(graph: Graph, cfg: TrainSpec, data: Dataset, epochs: int, verbose: int):
    """Split the data, build and fit the model, and evaluate it on every split: `(model, history, metrics)`."""
    from nnspec.runtime.keras_build import build_keras

    train, test = split(data, cfg.test_split, cfg.seed)  # NOTE: preprocessing is fitted here, on train only
    train, val = split(train, cfg.validation_split, cfg.seed)
    _seed_everything(cfg.seed)
    model = build_keras(graph, seed=cfg.seed)
    model.compile(optimizer=_optimizer(cfg), loss=_loss(cfg), metrics=list(cfg.metrics))
    fitted = model.fit(_batches(cfg, train, shuffle=True), epochs=epochs, verbose=verbose, shuffle=False,
                       validation_data=_batches(cfg, val) if len(val) else None)
    history = {k: [float(v) for v in vs] for k, vs in fitted.history.items()}
    metrics = {part: _evaluate(model, cfg, d) for part, d in (("train", train), ("validation", val), ("test", test))}
    metrics["data"] = {"name": data.name, "train": len(train), "validation": len(val), "test": len(test),
                       "preprocessing": train.preprocessing}
    return model, history, metrics


def _evaluate(model, cfg: TrainSpec, data: Dataset) -> dict:
    """Loss and metrics on one split (`{}` for an empty split)."""
    if not len(data):
        return {}
    logs = model.evaluate(_batches(cfg, data), verbose=0, return_dict=True)
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


def _write_run(stage: Path, model, text: str, history: dict, metrics: dict) -> None:
    model.save(stage / "model.keras")
    (stage / "spec.yaml").write_text(text, encoding="utf-8")
    (stage / "history.json").write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    (stage / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _version() -> str:
    import nnspec

    return nnspec.__version__
