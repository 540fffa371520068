"""`regime: vae`: train the spec's encoder-decoder as a variational autoencoder (Kingma & Welling 2014), or a
beta-VAE (Higgins et al. 2017).

The loss of a batch is the mean over its examples of

    reconstruction(x, x̂) + beta * KL(N(mean, exp(log_var)) || N(0, I))

where `reconstruction` is the spec's `loss` summed over the features of the example (every pixel), and the KL
divergence, `0.5 * sum(exp(log_var) + mean² - 1 - log_var)`, is summed over the latent dimensions. Summing over
features, not averaging as Keras losses do, is Kingma & Welling's convention: their objective is the ELBO, whose
log-likelihood term `log p(x|z)` is a sum over the (independent) pixels, and with it `beta = 1` is the true
ELBO. Averaging instead would divide the reconstruction term by the number of features (64 for digits_flat)
and so act as a beta 64 times larger, pulling the posterior onto the prior (blurry, collapsed samples).

Training runs a `keras.Model` subclass whose `train_step`/`test_step` compute both terms and report `loss`,
`reconstruction_loss` and `kl_loss` (plus mae/mse/rmse of the reconstruction when `train.metrics` asks). It
wraps Functional models that share their layers with the spec's own model, which is what `model.keras` keeps
(input → the spec's outputs), so export and evaluation read an ordinary model; its `sampling` node returns the
mean at inference. `nnspec sample` decodes latents drawn from the prior through the layers downstream of the
`sampling` node (`runtime/submodel.py`).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from nnspec.compiler.ir import Graph
from nnspec.errors import NnspecError
from nnspec.runtime.data import Dataset
from nnspec.runtime.objectives import make_loss, make_optimizer
from nnspec.runtime.regimes.autoencoder import (
    check_reconstruction,
    check_sample_size,
    reconstruction_metrics,
    reconstruction_output,
    write_reconstructions,
)  # fmt: skip
from nnspec.runtime.regimes.base import Context, Regime
from nnspec.specs.load import received
from nnspec.specs.model import ModelSpec


def kl_divergence(mean, log_var):
    """`KL(N(mean, exp(log_var)) || N(0, I))` per example, summed over all but the batch axis (Keras ops)."""
    from keras import ops

    kl = 0.5 * (ops.exp(log_var) + ops.square(mean) - 1.0 - log_var)
    return ops.sum(ops.reshape(kl, (ops.shape(kl)[0], -1)), axis=1)


def summed_reconstruction(loss, y, reconstruction):
    """The Keras loss `loss` per example, summed over the features: a Keras loss's `call` averages over the
    last axis, so multiply that back and sum over the other non-batch axes."""
    from keras import ops

    per = loss.call(y, reconstruction)  # (batch, ...all but the last axis)
    per = ops.reshape(per, (ops.shape(per)[0], -1))
    return ops.sum(per, axis=1) * ops.cast(ops.shape(reconstruction)[-1], per.dtype)


def sampling_node(graph: Graph, mean: str, log_var: str) -> str | None:
    """The `sampling` node that reads `[mean, log_var]` (the latent `z`), or None."""
    for node in graph.order():
        if node.op == "sampling" and graph.producers(node.id) == [mean, log_var]:
            return node.id
    return None


@functools.cache
def vae_model_class():
    """`VariationalAutoencoder(net, beta, loss, metrics)` (defined on first use: runtime modules import Keras
    lazily). `net` maps the input to `[reconstruction, mean, log_var]`."""
    import keras
    import tensorflow as tf
    from keras import ops

    class VariationalAutoencoder(keras.Model):
        def __init__(self, net, beta: float, loss, metrics: list, **kwargs):
            super().__init__(name=f"{net.name}_vae", **kwargs)
            self.net, self.beta, self.reconstruction = net, float(beta), loss
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_tracker = keras.metrics.Mean(name="kl_loss")
            self.extra_metrics = list(metrics)

        @property
        def metrics(self):
            return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker, *self.extra_metrics]

        def call(self, x, training=None):
            return self.net(x, training=training)[0]

        def terms(self, x, y, training: bool):
            """`(reconstruction, its loss, the KL term)`, both losses averaged over the batch, in float32."""
            reconstruction, mean, log_var = (ops.cast(t, "float32") for t in self.net(x, training=training))
            y = ops.cast(y, "float32")
            rec = ops.mean(summed_reconstruction(self.reconstruction, y, reconstruction))
            kl = ops.mean(kl_divergence(mean, log_var))
            return reconstruction, rec, kl

        def _report(self, x, y, reconstruction, rec, kl):
            batch = ops.shape(x)[0]
            self.loss_tracker.update_state(rec + self.beta * kl, sample_weight=batch)
            self.reconstruction_tracker.update_state(rec, sample_weight=batch)
            self.kl_tracker.update_state(kl, sample_weight=batch)
            for metric in self.extra_metrics:
                metric.update_state(y, reconstruction)
            return {m.name: m.result() for m in self.metrics}

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                reconstruction, rec, kl = self.terms(x, y, training=True)
                objective = rec + self.beta * kl
                if self.losses:  # weight regularizers, if any layer has one
                    objective = objective + ops.cast(ops.sum(self.losses), objective.dtype)
                # Under tf.distribute every replica's gradient is summed: each contributes its mean / replicas.
                replicas = tf.distribute.get_strategy().num_replicas_in_sync
                objective = self.optimizer.scale_loss(objective / replicas)
            gradients = tape.gradient(objective, self.trainable_variables)
            self.optimizer.apply(gradients, self.trainable_variables)
            return self._report(x, y, reconstruction, rec, kl)

        def test_step(self, data):
            x, y = data
            return self._report(x, y, *self.terms(x, y, training=False))

    return VariationalAutoencoder


class Vae(Regime):
    def check(self, spec, graph, data, base_dir):
        opts, where = spec.train.regime, spec.source_map
        problems = []
        for key in ("mean", "log_var"):
            node_id = getattr(opts, key)
            if node_id not in graph.nx:
                z = next((n.id for n in graph.order() if n.op == "sampling"), None)
                hint = (f"the `sampling` node '{z}' reads {', '.join(graph.producers(z))}" if z else
                        "the model has no `sampling` node")
                problems.append(where.diagnostic(("train", "regime", key), f"no node '{node_id}' in the model "
                                                 f"({hint}). {received(key, node_id)}"))
        if problems:
            return problems
        mean, log_var = graph.node(opts.mean).out.shape, graph.node(opts.log_var).out.shape
        if opts.mean == opts.log_var or tuple(mean) != tuple(log_var):
            problems.append(where.diagnostic(("train", "regime", "log_var"), "the mean and the log-variance are "
                                             f"two nodes of the same shape, but '{opts.mean}' has {mean[1:]} and "
                                             f"'{opts.log_var}' has {log_var[1:]}. "
                                             f"{received('log_var', opts.log_var)}"))
        elif sampling_node(graph, opts.mean, opts.log_var) is None:
            problems.append(where.diagnostic(("train", "regime"), "a VAE draws its latent with a `sampling` node "
                                             f"reading [{opts.mean}, {opts.log_var}]; the model has none. Add "
                                             f"`{{id: z, op: sampling, from: [{opts.mean}, {opts.log_var}]}}`. "
                                             f"Received: mean={opts.mean!r}, log_var={opts.log_var!r}"))
        return problems + check_reconstruction(spec, graph, data, "vae", exclude=(opts.mean, opts.log_var))

    def build(self, ctx: Context):
        import keras

        from nnspec.runtime.keras_build import build_keras

        cfg, g, opts = ctx.cfg, ctx.graph, ctx.cfg.regime
        output, loss = reconstruction_output(ctx.spec, g, exclude=(opts.mean, opts.log_var))
        ids = list(dict.fromkeys((*g.outputs, output, opts.mean, opts.log_var)))
        full = build_keras(dataclasses.replace(g, outputs=tuple(ids)), seed=cfg.seed)
        tensors = dict(zip(ids, full.outputs))
        spec_outputs = [tensors[o] for o in g.outputs]
        spec_model = keras.Model(full.input, spec_outputs[0] if len(spec_outputs) == 1 else spec_outputs,
                                 name=g.name)
        net = keras.Model(full.input, [tensors[output], tensors[opts.mean], tensors[opts.log_var]],
                          name=f"{g.name}_train")
        model = vae_model_class()(net, opts.beta, make_loss(loss), reconstruction_metrics(ctx.spec, output, loss))
        # Kept off Keras's tracking (it shares every layer with `net`): what `model.keras` saves.
        object.__setattr__(model, "_nnspec_spec_model", spec_model)
        model.compile(optimizer=make_optimizer(cfg, ctx.steps_per_epoch), jit_compile=cfg.jit_compile)
        return model

    def targets(self, ctx: Context, data: Dataset):
        return np.asarray(data.x, dtype=np.float32)

    def final_models(self, model):
        return {"model": model._nnspec_spec_model}

    def sample(self, spec: ModelSpec, models: dict, out: Path, *, n: int, seed: int) -> list[Path]:
        """`out`: `n` decodings of latents `z ~ N(0, I)` (drawn with `seed`); `<out stem>_reconstructions.png`
        beside it: `n` held-out inputs and their reconstructions."""
        from nnspec.compiler.pipeline import compile_spec
        from nnspec.runtime.image_grid import as_images, write_grid
        from nnspec.runtime.submodel import SubmodelError, submodel

        check_sample_size(n)
        out = Path(out)
        graph, opts = compile_spec(spec), spec.train.regime
        output, _ = reconstruction_output(spec, graph, exclude=(opts.mean, opts.log_var))
        z = sampling_node(graph, opts.mean, opts.log_var)
        model = models["model"]
        try:
            decoder = submodel(graph, model, [z], [output], name=f"{graph.name}_decoder")
        except SubmodelError as exc:
            raise NnspecError(f"cannot sample: the decoder must compute '{output}' from the latent '{z}' alone; "
                              f"{exc}") from None
        shape = tuple(graph.node(z).out.shape[1:])
        latents = np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)
        images = decoder.predict(latents, verbose=0)
        try:
            samples = write_grid(as_images(images, spec.train.data.name), out)
        except ValueError as exc:
            raise NnspecError(f"cannot draw the samples: {exc}") from None
        recons = write_reconstructions(spec, graph, model, output, out.with_name(f"{out.stem}_reconstructions.png"),
                                       n=n, seed=seed)
        return [samples, recons]


REGIME = Vae()
