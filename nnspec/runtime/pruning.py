"""Magnitude pruning of a spec's model: the callback a `train.prune:` section asks for, how sparse
weights are, and fine-tuning a trained run with pruning.

    report = sparsity_report(model, graph)  # {"total": 0.8, "layers": {"conv2d_1": 0.7}, ...}
    run = magnitude_prune_run("runs/digits", "runs/digits_sparse", sparsity=0.8, epochs=10)

The same fine-tuning from the command line: `nnspec train SPEC --init-weights RUN --epochs 10
--set train.prune.sparsity=0.8 --out RUN2`. The masks live in `nnspec.runtime.keras_ext.pruning`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nnspec.compiler.ir import INPUT, Graph
from nnspec.compiler.weights import Weights
from nnspec.errors import RunDirError, SpecError
from nnspec.specs.model import ModelSpec
from nnspec.specs.train import TrainSpec

PRUNABLE = ("kernel", "depthwise_kernel", "pointwise_kernel")
"""Variables that pruning prunes and `sparsity_report` counts: convolution and dense kernels."""


def fit_epochs(cfg: TrainSpec) -> int:
    """Epochs the trainer fits: `epochs`, twice for a lottery ticket (prune, rewind, retrain)."""
    return cfg.epochs * 2 if cfg.prune is not None and cfg.prune.lottery else cfg.epochs


def pruning_callback(spec: ModelSpec, graph: Graph, model, steps_per_epoch: int,
                     optimizers=None):
    """The `MagnitudePruning` callback for `spec.train.prune` on a built `model`.

    Raises:
        SpecError: a node in `train.prune.layers` is not in the model or has no kernel to prune.
    """
    from nnspec.runtime.keras_ext.pruning import MagnitudePruning, SparsitySchedule

    prune, epochs = spec.train.prune, spec.train.epochs
    kernels = _kernels(spec, graph, model, prune.layers)
    frequency = prune.frequency or max(1, steps_per_epoch // 10)
    schedule = SparsitySchedule(final=prune.sparsity, initial=prune.initial_sparsity,
                                begin=prune.begin_epoch * steps_per_epoch,
                                end=prune.end(epochs) * steps_per_epoch, frequency=frequency,
                                power=prune.power, constant=prune.schedule == "constant")
    return MagnitudePruning(kernels, schedule, prune.scope, steps_per_epoch,
                            rewind_epoch=epochs if prune.lottery else None, optimizers=optimizers)


def _kernels(spec: ModelSpec, graph: Graph, model, layers: list[str] | None) -> dict:
    """`{"node/variable": keras variable}`: the kernels of `layers`, or of every node."""
    from nnspec.runtime.weights_io import layers_by_name, variables_of

    found = layers_by_name(model)
    kernels, problems = {}, []
    nodes = {n.id: n for n in graph.order() if n.op != INPUT and not n.shares}
    for i, node_id in enumerate(layers if layers is not None else list(nodes)):
        layer = found.get(node_id) if node_id in nodes else None
        variables = {n: v for n, v in variables_of(layer).items() if n in PRUNABLE} if layer else {}
        if not variables and layers is not None:
            what = "has no convolution or dense kernel" if node_id in nodes else "is not a node"
            problems.append(spec.source_map.diagnostic(
                ("train", "prune", "layers", i),
                f"'{node_id}' {what} to prune. Received: layers[{i}]='{node_id}'"))
        kernels.update({f"{node_id}/{name}": v for name, v in variables.items()})
    if not kernels and not problems:
        problems.append(spec.source_map.diagnostic(
            ("train", "prune"), "the model has no convolution or dense kernel to prune."))
    if problems:
        raise SpecError(problems)
    return kernels


def sparsity_report(weights_or_model, graph: Graph | None = None) -> dict:
    """The share of exact zeros in the convolution and dense kernels: `{"total": x, "layers":
    {id: x}, "all_weights": x}` (`total` over every kernel counted, `all_weights` over every weight,
    biases and normalization included).

    Args:
        weights_or_model: `Weights` (`{node_id: {variable: array}}`), or a Keras model of `graph`.
        graph: The model's graph; needed only for a Keras model.
    """
    weights: Weights = (weights_or_model if isinstance(weights_or_model, dict)
                        else _read(weights_or_model, graph))
    layers, zeros, size = {}, 0, 0
    for node_id, variables in weights.items():
        kernels = [np.asarray(a) for name, a in variables.items() if name in PRUNABLE]
        if kernels:
            z = sum(int(np.count_nonzero(k == 0)) for k in kernels)
            n = sum(k.size for k in kernels)
            layers[node_id] = round(z / n, 6)
            zeros, size = zeros + z, size + n
    every = [np.asarray(a) for variables in weights.values() for a in variables.values()]
    all_zeros = sum(int(np.count_nonzero(a == 0)) for a in every)
    all_size = sum(a.size for a in every)
    return {"total": round(zeros / size, 6) if size else 0.0, "layers": layers,
            "all_weights": round(all_zeros / all_size, 6) if all_size else 0.0}


def _read(model, graph: Graph | None) -> Weights:
    from nnspec.runtime.weights_io import read_weights

    if graph is None:
        raise TypeError("sparsity_report of a Keras model needs its graph")
    return read_weights(model, graph)


def magnitude_prune_run(run_dir: str | Path, out: str | Path, *, sparsity: float,
                        epochs: int | None = None, scope: str = "global",
                        schedule: str = "polynomial", power: float = 3.0, begin_epoch: int = 0,
                        end_epoch: int | None = None, frequency: int | None = None,
                        layers: list[str] | None = None, lottery: bool = False,
                        learning_rate: float | None = None, spec: str | Path | None = None,
                        force: bool = False, verbose: int = 0):
    """Fine-tune the trained run `run_dir` with magnitude pruning to `sparsity`, into run `out`.

    The run's spec.yaml (or `spec`, e.g. the original file, so relative data paths resolve) is
    trained again from the run's weights, with `train.prune` set from the arguments (each one is the
    field of that name in `nnspec.specs.pruning.Prune`), for `epochs` epochs. metrics.json of `out`
    holds the test metrics and the `"sparsity"` of every layer.

    Args:
        epochs: Fine-tuning epochs. Defaults to the spec's `train.epochs`.
        learning_rate: The fine-tuning learning rate (the spec's schedule still applies).
            Defaults to the spec's.
        verbose: Keras progress output. Defaults to `0`.

    Returns:
        The `RunResult` of the fine-tuning run.

    Raises:
        RunDirError: `run_dir` is not a run directory, or `out` exists and `force` is false.
        SpecError: the pruning options are invalid (located at the `--set` override carrying them).
    """
    from nnspec.runtime.run_dir import data_dirs, is_run_dir
    from nnspec.runtime.train import train
    from nnspec.specs.load import load_spec

    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise RunDirError(f"{run_dir} is not a run directory (no model.keras and spec.yaml)")
    source = spec if spec is not None else run_dir / "spec.yaml"
    prune = {"sparsity": sparsity, "scope": scope, "schedule": schedule, "power": power,
             "begin_epoch": begin_epoch, "end_epoch": end_epoch, "frequency": frequency,
             "layers": layers, "lottery": lottery}
    overrides = [f"train.prune={json.dumps({k: v for k, v in prune.items() if v is not None})}"]
    base = load_spec(source)
    if learning_rate is not None and base.train is not None:
        optimizer = base.train.optimizer
        data = {**optimizer.model_dump(mode="json", exclude_defaults=True), "name": optimizer.name,
                "learning_rate": learning_rate}
        overrides.append(f"train.optimizer={json.dumps(data)}")
    return train(load_spec(source, overrides), Path(out), epochs=epochs, force=force,
                 verbose=verbose, init_weights=run_dir,
                 data_dir=None if spec is not None else data_dirs(run_dir)[0])
