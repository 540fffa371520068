"""`regime: supervised`: the spec's model, compiled with its losses, loss weights and metrics, learns the
dataset's labels; every output with a loss learns the same target (GoogLeNet's auxiliary heads learn the labels
of the main head)."""

from __future__ import annotations

import numpy as np

from nnspec.runtime.data import Dataset
from nnspec.runtime.objectives import loss_weights, losses_by_output, make_losses, make_metrics, make_optimizer
from nnspec.runtime.regimes.base import Context, Regime


def one_or_dict(values: dict, outputs: tuple[str, ...]):
    """Keras takes a single-output model's loss, metrics and targets bare, and a multi-output model's by name."""
    return values.get(outputs[0]) if len(outputs) == 1 else values


def label_targets(cfg, outputs: tuple[str, ...], data: Dataset):
    """The target of every output that has a loss, in the form its loss expects: integer labels for sparse
    crossentropy, one-hot for categorical crossentropy, floats otherwise."""
    targets = {}
    for name, loss in losses_by_output(cfg, outputs).items():
        if loss.name == "sparse_categorical_crossentropy":
            targets[name] = data.y
        elif loss.name == "categorical_crossentropy":
            targets[name] = np.eye(data.num_classes, dtype=np.float32)[data.y]
        else:
            targets[name] = data.y.astype(np.float32)
    return one_or_dict(targets, outputs)


class Supervised(Regime):
    def check(self, spec, graph, data, base_dir):
        from nnspec.runtime.train_checks import check_labels

        return check_labels(spec, graph, data)

    def build(self, ctx: Context):
        from nnspec.runtime.keras_build import build_keras

        cfg, outputs = ctx.cfg, ctx.graph.outputs
        model = build_keras(ctx.graph, seed=cfg.seed)
        model.compile(optimizer=make_optimizer(cfg, ctx.steps_per_epoch),
                      loss=one_or_dict(make_losses(cfg, outputs), outputs),
                      loss_weights=loss_weights(cfg, outputs) if len(outputs) > 1 else None,
                      metrics=one_or_dict(make_metrics(cfg, outputs), outputs), jit_compile=cfg.jit_compile)
        return model

    def targets(self, ctx: Context, data: Dataset):
        return label_targets(ctx.cfg, ctx.graph.outputs, data)


REGIME = Supervised()
