"""`regime: autoencoder`: the model's one output learns to reproduce its input through the spec's `loss`; with
`noise`, a denoising autoencoder (Vincent et al. 2008) whose training inputs are corrupted with Gaussian noise
while its targets stay clean.

The noise of training batch `i` (counted over the whole run: the optimizer's step) is drawn by a stateless op
from `(train.seed, i)` alone, so it is the same in every run of the spec, and a resumed run, whose optimizer step
comes back from the checkpoint, corrupts its batches exactly as an uninterrupted run does. Evaluation, prediction
and the saved `model.keras` (the spec's own Functional model) never see noise.

The helpers below (which output reconstructs, which losses and metrics apply, held-out inputs for a grid) are
shared with `regime: vae`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from nnspec.compiler.ir import Graph
from nnspec.errors import Diagnostic, NnspecError
from nnspec.runtime.data import Dataset
from nnspec.runtime.objectives import losses_by_output, make_loss, make_metric, make_optimizer
from nnspec.runtime.regimes.base import Context, Regime
from nnspec.specs.load import received
from nnspec.specs.model import ModelSpec
from nnspec.specs.train import Loss

RECONSTRUCTION_LOSSES = ("binary_crossentropy", "mean_squared_error", "mean_absolute_error", "huber")
"""Losses that compare a reconstruction with its input feature by feature."""
RECONSTRUCTION_METRICS = ("mae", "mse", "rmse")
"""Metrics that make sense for a reconstruction (the others score class labels)."""


# --- shared with regime: vae ---------------------------------------------------------------------------------------


def reconstruction_output(spec: ModelSpec, graph: Graph, exclude: tuple[str, ...] = ()) -> tuple[str, Loss] | None:
    """The output that reconstructs the input, with its loss: the one output with a loss, outputs in `exclude`
    (a VAE's mean and log-variance) left out. None when there is not exactly one."""
    candidates = [(name, loss) for name, loss in losses_by_output(spec.train, graph.outputs).items()
                  if name not in exclude]
    return candidates[0] if len(candidates) == 1 else None


def _loss_path(spec: ModelSpec, output: str) -> tuple:
    return ("train", "loss") if isinstance(spec.train.loss, Loss) else ("train", "loss", output)


def check_reconstruction(spec: ModelSpec, graph: Graph, data: Dataset, regime: str,
                         exclude: tuple[str, ...] = ()) -> list[Diagnostic]:
    """Everything a regime that reconstructs its input needs: one input fed one float array, one output with a
    loss whose shape is the input's, a loss that compares feature by feature (binary crossentropy only for
    data in [0, 1]), and no classification metric asked for."""
    where = spec.source_map
    problems = []
    if data.input_names or len(graph.inputs) != 1:
        return [where.diagnostic(("train", "data"), f"the {regime} regime reconstructs one input from one array of "
                                 f"data, but the model has inputs {', '.join(graph.inputs)}. "
                                 f"{received('data', data.name)}")]
    if np.asarray(data.x).dtype.kind != "f":
        problems.append(where.diagnostic(("train", "data"), f"the {regime} regime reconstructs float features, "
                                         f"but dataset '{data.name}' gives {np.asarray(data.x).dtype} values. "
                                         f"{received('data', data.name)}"))
    found = reconstruction_output(spec, graph, exclude)
    if found is None:
        names = [n for n in losses_by_output(spec.train, graph.outputs) if n not in exclude]
        rest = f" ({', '.join(exclude)} excluded)" if exclude else ""
        problems.append(where.diagnostic(("train", "loss"), f"the {regime} regime trains one reconstruction "
                                         f"output, but the outputs with a loss{rest} are {names or 'none'}; give "
                                         "the loss to the reconstruction only, e.g. `loss: {reconstruction: "
                                         f"binary_crossentropy}}`. {received('outputs', list(graph.outputs))}"))
        return problems
    output, loss = found
    if loss.name not in RECONSTRUCTION_LOSSES:
        problems.append(where.diagnostic(_loss_path(spec, output), f"the {regime} regime compares the "
                                         f"reconstruction with the input feature by feature: use "
                                         f"{', '.join(RECONSTRUCTION_LOSSES)}. {received('loss', loss.name)}"))
    elif loss.name == "binary_crossentropy" and not loss.from_logits and len(data):
        lo, hi = float(np.min(data.x)), float(np.max(data.x))
        if lo < 0.0 or hi > 1.0:
            problems.append(where.diagnostic(_loss_path(spec, output), "binary_crossentropy reconstructs values "
                                             f"in [0, 1], but dataset '{data.name}' ranges over [{lo:.3g}, "
                                             f"{hi:.3g}]; use mean_squared_error. "
                                             f"{received('loss', loss.name)}"))
    got = tuple(graph.node(output).out.shape[1:])
    want = data.feature_shape
    if len(got) != len(want) or any(g is not None and g != w for g, w in zip(got, want)):
        problems.append(where.diagnostic(("train", "regime"), f"the {regime} regime's targets are the inputs, so "
                                         f"output '{output}' must have the input's shape {want}, but it has "
                                         f"{got}. Reshape the output (e.g. a final `reshape` or `dense` of "
                                         f"{int(np.prod(want))} units). Received: output {output} of shape {got}"))
    metrics = spec.train.metrics
    if "metrics" in spec.train.model_fields_set:
        asked = metrics.get(output, []) if isinstance(metrics, dict) else metrics
        wrong = [m for m in asked if m not in RECONSTRUCTION_METRICS]
        if wrong:
            problems.append(where.diagnostic(("train", "metrics"), f"{', '.join(wrong)} score class labels; a "
                                             f"reconstruction is scored by {', '.join(RECONSTRUCTION_METRICS)}. "
                                             f"{received('metrics', list(asked))}"))
    return problems


def reconstruction_metrics(spec: ModelSpec, output: str, loss: Loss) -> list:
    """Keras metrics for the reconstruction: those of `train.metrics` that score one (mae, mse, rmse); the
    default `[accuracy]` is left out."""
    metrics = spec.train.metrics
    asked = metrics.get(output, []) if isinstance(metrics, dict) else metrics
    return [make_metric(m, loss) for m in asked if m in RECONSTRUCTION_METRICS]


def held_out_inputs(spec: ModelSpec, graph: Graph, n: int, seed: int) -> tuple[np.ndarray, str]:
    """Up to `n` inputs the run never trained on, `(inputs, dataset name)`: drawn with `seed` from the test
    split the trainer made (the validation split if there is no test split, the training data if neither),
    preprocessed as in training."""
    from nnspec.runtime.data import DataError, load_dataset, split

    cfg = spec.train
    try:
        data = load_dataset(cfg.data, seed=cfg.seed, base_dir=Path(spec.source_map.file).parent)
    except DataError as exc:
        raise NnspecError(f"cannot load the run's data for reconstructions: {exc.message}") from None
    if data.input_names:
        data = dataclasses.replace(data, x=data.x[graph.inputs[0]])
    train_part, test = split(data, cfg.test_split, cfg.seed)
    train_part, val = split(train_part, cfg.validation_split, cfg.seed)
    pool = next(part for part in (test, val, train_part) if len(part))
    pick = np.sort(np.random.default_rng(seed).choice(len(pool), size=min(n, len(pool)), replace=False))
    return np.asarray(pool.x[pick], dtype=np.float32), data.name


def write_reconstructions(spec: ModelSpec, graph: Graph, model, output: str, out: Path, *, n: int,
                          seed: int) -> Path:
    """A PNG at `out` of `n` held-out inputs, each beside the model's reconstruction of it (inference mode)."""
    from nnspec.runtime.image_grid import as_images, write_pairs

    x, dataset = held_out_inputs(spec, graph, n, seed)
    predicted = model.predict(x, verbose=0)
    if isinstance(predicted, (list, tuple)):
        predicted = predicted[graph.outputs.index(output)]
    elif isinstance(predicted, dict):
        predicted = predicted[output]
    try:
        return write_pairs(as_images(x, dataset), as_images(predicted, dataset), out)
    except ValueError as exc:
        raise NnspecError(f"cannot draw the reconstructions: {exc}") from None


def check_sample_size(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise NnspecError(f"the number of images must be a positive integer. Received: n={n!r}")


# --- the regime ----------------------------------------------------------------------------------------------------


@functools.cache
def denoising_model_class():
    """`Denoising(net, std, seed)`: a Keras model that trains `net` on noisy inputs and evaluates it on clean
    ones (defined on first use: runtime modules import Keras lazily)."""
    import keras
    import tensorflow as tf

    class Denoising(keras.Model):
        """Wraps the spec's Functional model `net`; `train_step` adds `std * N(0, 1)` noise, drawn from
        `(seed, optimizer step)`, to the inputs and then trains as Keras does (compiled loss and metrics)."""

        def __init__(self, net, std: float, seed: int, **kwargs):
            super().__init__(name=f"{net.name}_denoising", **kwargs)
            self.net, self.std, self.noise_seed = net, float(std), int(seed)

        def call(self, x, training=None):
            return self.net(x, training=training)

        def corrupt(self, x, step):
            """`x` plus the Gaussian noise of training step `step` (deterministic given the seed and step)."""
            seed = tf.stack([tf.constant(self.noise_seed, tf.int64), tf.cast(step, tf.int64)])
            noise = tf.random.stateless_normal(tf.shape(x), seed=seed, dtype=x.dtype)
            return x + tf.cast(self.std, x.dtype) * noise

        def train_step(self, data):
            x, y = data
            return super().train_step((self.corrupt(x, self.optimizer.iterations), y))

    return Denoising


class Autoencoder(Regime):
    def check(self, spec, graph, data, base_dir):
        problems = check_reconstruction(spec, graph, data, "autoencoder")
        if len(graph.outputs) != 1:
            problems.append(spec.source_map.diagnostic(("outputs",), "the autoencoder regime trains a model with "
                                                       "one output, its reconstruction of the input. "
                                                       f"{received('outputs', list(graph.outputs))}"))
        return problems

    def build(self, ctx: Context):
        from nnspec.runtime.keras_build import build_keras

        cfg = ctx.cfg
        output, loss = reconstruction_output(ctx.spec, ctx.graph)
        net = build_keras(ctx.graph, seed=cfg.seed)
        model = net if not cfg.regime.noise else denoising_model_class()(net, cfg.regime.noise, cfg.seed)
        model.compile(optimizer=make_optimizer(cfg, ctx.steps_per_epoch), loss=make_loss(loss),
                      metrics=reconstruction_metrics(ctx.spec, output, loss), jit_compile=cfg.jit_compile)
        return model

    def targets(self, ctx: Context, data: Dataset):
        return np.asarray(data.x, dtype=np.float32)

    def final_models(self, model):
        return {"model": getattr(model, "net", model)}

    def sample(self, spec, models, out, *, n, seed):
        """Only the reconstructions: an autoencoder has no prior to sample from. Written to `out` itself."""
        from nnspec.compiler.pipeline import compile_spec

        check_sample_size(n)
        graph = compile_spec(spec)
        output, _ = reconstruction_output(spec, graph)
        return [write_reconstructions(spec, graph, models["model"], output, Path(out), n=n, seed=seed)]


REGIME = Autoencoder()
