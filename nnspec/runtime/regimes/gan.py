"""`regime: gan`: the spec's model is a generator, trained against a discriminator spec on the real examples of
`train.data` (their labels are ignored).

One Keras model holds both networks and trains them with its own `train_step`. Every step takes one batch of
real examples and makes `n_critic` discriminator updates, each on that batch and a fresh batch of generated
examples (the convention of Keras's WGAN-GP example; the WGAN papers draw a new real batch per critic update),
then one generator update on a fresh batch of noise. The latent noise is a standard normal drawn from a
`keras.random.SeedGenerator` that is a variable of the model, so it follows from `train.seed` and the steps taken,
and the checkpoint keeps it: a resumed run draws the noise an uninterrupted one would have.

Losses on the discriminator's raw scores `s` (`r` real, `f` generated; means over the batch, `softplus(x) =
log(1 + e^x) = -log sigmoid(-x)`):

    minimax          d = softplus(-r) + softplus(f)     g = -softplus(f)  (= log(1 - D(G(z))), Goodfellow 2014)
    non_saturating   d = softplus(-r) + softplus(f)     g = softplus(-f)  (= -log D(G(z)))
    least_squares    d = ((r - 1)² + f²) / 2            g = (f - 1)² / 2  (LSGAN, Mao et al. 2017, a=0 b=c=1)
    wasserstein      d = f - r [+ gp_weight · gp]       g = -f            (WGAN, Arjovsky et al. 2017)

with the gradient penalty `gp = mean((‖∇ D(x̂)‖₂ - 1)²)` at `x̂ = ε·real + (1 - ε)·fake`, `ε ~ U[0, 1]` per
example (WGAN-GP, Gulrajani et al. 2017), or weight clipping to `[-clip, clip]` after every critic update. The
reported `d_loss` is what the discriminator minimizes (the penalty term included), `gp` the penalty alone.

The run directory keeps `model.keras` (the generator: what `export`, `eval` and `sample` read),
`discriminator.keras`, `discriminator.yaml` (the discriminator's spec, so the run depends on no other file) and
`samples/epoch_NNN.png`, a grid of what the generator makes of one fixed batch of noise after every epoch.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from nnspec.compiler.ir import Graph
from nnspec.errors import Diagnostic, DiagnosticError, NnspecError
from nnspec.runtime.data import Dataset
from nnspec.runtime.regimes.base import Context, Regime
from nnspec.specs.load import received
from nnspec.specs.model import ModelSpec
from nnspec.specs.source import format_path

DISCRIMINATOR_SPEC = "discriminator.yaml"
"""The copy of the discriminator's spec a run directory keeps (and an interrupted run resumes with)."""
SAMPLES = "samples"
GRID_SIZE = 64
"""Examples in each per-epoch sample grid (8 x 8)."""
_EVAL_NOISE_SEED = 1_000_003
"""Evaluation draws the same noise every time (stateless), so held-out losses of different epochs compare."""


# --- the objectives -------------------------------------------------------------------------------------------


def _scores(s):
    import keras

    return keras.ops.reshape(keras.ops.cast(s, "float32"), (-1,))


def discriminator_loss(loss: str, real, fake):
    """The discriminator's loss (without any gradient penalty) on its scores of real and generated examples."""
    import keras

    ops = keras.ops
    real, fake = _scores(real), _scores(fake)
    if loss in ("minimax", "non_saturating"):
        return ops.mean(ops.softplus(-real)) + ops.mean(ops.softplus(fake))
    if loss == "least_squares":
        return 0.5 * ops.mean(ops.square(real - 1.0)) + 0.5 * ops.mean(ops.square(fake))
    if loss == "wasserstein":
        return ops.mean(fake) - ops.mean(real)
    raise ValueError(f"unknown GAN loss. Received: loss={loss!r}")


def generator_loss(loss: str, fake):
    """The generator's loss on the discriminator's scores of generated examples."""
    import keras

    ops = keras.ops
    fake = _scores(fake)
    if loss == "minimax":
        return -ops.mean(ops.softplus(fake))
    if loss == "non_saturating":
        return ops.mean(ops.softplus(-fake))
    if loss == "least_squares":
        return 0.5 * ops.mean(ops.square(fake - 1.0))
    if loss == "wasserstein":
        return -ops.mean(fake)
    raise ValueError(f"unknown GAN loss. Received: loss={loss!r}")


def gradient_penalty(discriminator, real, fake, epsilon, *, training: bool = True):
    """WGAN-GP's penalty `mean((‖∇ₓ D(x̂)‖₂ - 1)²)` at `x̂ = ε·real + (1 - ε)·fake`, one `ε` per example
    (`epsilon` of shape `(batch,)`). Differentiable, so an outer tape can train the discriminator on it.
    `training=False` (evaluation) leaves batch-norm statistics alone."""
    import tensorflow as tf

    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    eps = tf.reshape(tf.cast(epsilon, tf.float32), [-1] + [1] * (len(real.shape) - 1))
    mixed = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = tf.cast(discriminator(mixed, training=training), tf.float32)
    grads = tape.gradient(scores, mixed)  # the examples are independent: row i is ∇ D(x̂ᵢ)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=list(range(1, len(real.shape)))) + 1e-12)
    return tf.reduce_mean(tf.square(norms - 1.0))


# --- the Keras model ------------------------------------------------------------------------------------------


@functools.cache
def gan_model_class():
    """The `keras.Model` subclass that trains a generator against a discriminator (defined on first use: this
    module imports Keras only inside functions)."""
    import keras
    import tensorflow as tf

    class GAN(keras.Model):
        """A generator and a discriminator with their two optimizers. `model(z)` generates."""

        def __init__(self, generator, discriminator, *, loss: str, lipschitz: str | None, clip: float,
                     gp_weight: float, n_critic: int, seed: int, **kwargs):
            super().__init__(name=kwargs.pop("name", "gan"), **kwargs)
            self.generator, self.discriminator = generator, discriminator
            self.loss_name, self.lipschitz, self.clip, self.gp_weight = loss, lipschitz, clip, gp_weight
            self.n_critic = n_critic
            self.latent_shape = tuple(generator.inputs[0].shape[1:])
            self.noise = keras.random.SeedGenerator(seed, name="gan_noise")  # a model variable: checkpointed
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
            self.gp_tracker = keras.metrics.Mean(name="gp") if lipschitz == "gradient_penalty" else None
            self.g_optimizer = self.d_optimizer = None
            self.built = True  # both networks are built Functional models

        def call(self, z, training=False):
            return self.generator(z, training=training)

        @property
        def metrics(self):
            return [m for m in (self.d_loss_tracker, self.g_loss_tracker, self.gp_tracker) if m is not None]

        def set_optimizers(self, g_optimizer, d_optimizer) -> None:
            """Attach both optimizers, built on their networks' weights (a checkpoint then restores them)."""
            g_optimizer.build(self.generator.trainable_variables)
            d_optimizer.build(self.discriminator.trainable_variables)
            self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer

        def _latent(self, batch, seed):
            return keras.random.normal((batch, *self.latent_shape), seed=seed)

        def _discriminator_objective(self, real, fake, epsilon):
            """`(loss to minimize, adversarial loss, gradient penalty or None)`."""
            real_scores = self.discriminator(real, training=True)
            fake_scores = self.discriminator(fake, training=True)
            d_loss = discriminator_loss(self.loss_name, real_scores, fake_scores)
            if self.lipschitz != "gradient_penalty":
                return d_loss, d_loss, None
            gp = gradient_penalty(self.discriminator, real, fake, epsilon)
            return d_loss + self.gp_weight * gp, d_loss, gp

        def _real(self, data):
            real = data[0] if isinstance(data, (tuple, list)) else data
            return tf.cast(real, tf.float32)

        def train_step(self, data):
            real = self._real(data)
            batch = tf.shape(real)[0]
            d_weights = self.discriminator.trainable_variables
            for _ in range(self.n_critic):
                fake = self.generator(self._latent(batch, self.noise), training=True)
                epsilon = keras.random.uniform((batch,), seed=self.noise) if self.gp_tracker is not None else None
                with tf.GradientTape() as tape:
                    total, _, gp = self._discriminator_objective(real, tf.stop_gradient(fake), epsilon)
                self.d_optimizer.apply_gradients(zip(tape.gradient(total, d_weights), d_weights))
                if self.lipschitz == "clip":
                    for weight in d_weights:
                        weight.assign(tf.clip_by_value(weight, -self.clip, self.clip))
                self.d_loss_tracker.update_state(total)
                if gp is not None:
                    self.gp_tracker.update_state(gp)
            g_weights = self.generator.trainable_variables
            z = self._latent(batch, self.noise)
            with tf.GradientTape() as tape:
                fake_scores = self.discriminator(self.generator(z, training=True), training=True)
                g_loss = generator_loss(self.loss_name, fake_scores)
            self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_weights), g_weights))
            self.g_loss_tracker.update_state(g_loss)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            real = self._real(data)
            batch = tf.shape(real)[0]
            fake = self.generator(self._latent(batch, _EVAL_NOISE_SEED), training=False)
            real_scores = self.discriminator(real, training=False)
            fake_scores = self.discriminator(fake, training=False)
            d_loss = discriminator_loss(self.loss_name, real_scores, fake_scores)
            if self.gp_tracker is not None:
                epsilon = keras.random.uniform((batch,), seed=_EVAL_NOISE_SEED + 1)
                gp = gradient_penalty(self.discriminator, real, fake, epsilon, training=False)
                d_loss = d_loss + self.gp_weight * gp
                self.gp_tracker.update_state(gp)
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(generator_loss(self.loss_name, fake_scores))
            return {m.name: m.result() for m in self.metrics}

    return GAN


def fixed_latent(shape: tuple, n: int, seed: int) -> np.ndarray:
    """`n` standard-normal latent vectors of `shape`, the same for the same seed (sample grids)."""
    return np.random.default_rng([seed, 7_919]).standard_normal((n, *shape)).astype(np.float32)


def sample_grid_callback(generator, latent: np.ndarray, folder: Path, value_range):
    """A Keras callback writing `folder/epoch_NNN.png` (epochs counted from 1): the generator's images of the
    fixed `latent` batch after every epoch."""
    import keras

    from nnspec.runtime.gan_images import save_grid

    class SampleGrid(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            images = generator.predict_on_batch(latent)
            save_grid(images, Path(folder) / f"epoch_{epoch + 1:03d}.png", value_range=value_range)

    return SampleGrid()


# --- the regime -----------------------------------------------------------------------------------------------


def _where(spec: ModelSpec, *path) -> tuple:
    return spec.source_map.locate(path), format_path(path)


def discriminator_file(ref: str, base_dir: Path) -> Path:
    """Where the discriminator spec `ref` is: a bundled `example:`/`zoo:` spec, or a path relative to the
    generator's spec. An interrupted run being resumed (its `.NAME.partial` folder holds `checkpoint/`) reads
    the copy it keeps, so it needs no file outside its folder."""
    from nnspec.bundled import resolve_spec_path

    base_dir = Path(base_dir)
    kept = base_dir / DISCRIMINATOR_SPEC
    if base_dir.name.endswith(".partial") and (base_dir / "checkpoint").is_dir() and kept.is_file():
        return kept
    path = resolve_spec_path(ref)
    return path if ref.startswith(("example:", "zoo:")) or path.is_absolute() else base_dir / path


def load_discriminator(spec: ModelSpec, base_dir: Path) -> tuple[ModelSpec | None, Graph | None, list]:
    """`(discriminator spec, its graph, problems)`: the spec `train.regime.discriminator` names, compiled, with
    every problem as a diagnostic (at the `discriminator` key, or in the discriminator's own file)."""
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.specs.load import load_spec

    ref = spec.train.regime.discriminator
    where, path = _where(spec, "train", "regime", "discriminator")
    try:
        file = discriminator_file(ref, base_dir)
    except DiagnosticError as exc:  # an unknown bundled name
        return None, None, [Diagnostic(where, path, f"{d.message} {received('discriminator', ref)}")
                            for d in exc.diagnostics]
    if not file.is_file():
        message = (f"the discriminator spec does not exist (looked for {file}; a relative path starts at the "
                   f"generator's spec). {received('discriminator', ref)}")
        return None, None, [Diagnostic(where, path, message)]
    try:
        dspec = load_spec(file)
        return dspec, compile_spec(dspec), []
    except DiagnosticError as exc:
        note = Diagnostic(where, path, f"the discriminator spec has {len(exc.diagnostics)} problem(s), listed at "
                                       f"{file}. {received('discriminator', ref)}")
        return None, None, [note, *exc.diagnostics]


def _shape(shape) -> str:
    return str(tuple(shape))


class Gan(Regime):
    data_are_inputs = False
    """The data are what the generator makes, not what it reads (its input is noise)."""

    def check(self, spec, graph, data, base_dir):
        r, cfg = spec.train.regime, spec.train
        problems = []
        if len(graph.inputs) != 1 or len(graph.outputs) != 1:
            problems.append(Diagnostic(*_where(spec, "inputs"),
                                       "a GAN generator has one input (the latent vector) and one output (an "
                                       f"example). Received: inputs={list(graph.inputs)}, "
                                       f"outputs={list(graph.outputs)}"))
            return problems
        z = graph.node(graph.inputs[0])
        if not str(z.spec.dtype).startswith("float"):
            problems.append(Diagnostic(*_where(spec, "inputs", z.id, "dtype"),
                                       "the generator's input is the latent noise, so it is float. "
                                       f"{received('dtype', z.spec.dtype)}"))
        out = graph.node(graph.outputs[0])
        made = tuple(out.out.shape[1:])
        if data.input_names:
            problems.append(Diagnostic(*_where(spec, "train", "data"),
                                       f"a GAN learns one kind of example, but dataset '{data.name}' gives several "
                                       f"arrays ({', '.join(data.input_names)}). {received('data', data.name)}"))
        elif tuple(data.feature_shape) != made:
            problems.append(Diagnostic(*_where(spec, "train", "data"),
                                       f"the generator makes examples of shape {_shape(made)} (output "
                                       f"'{out.id}'), but dataset '{data.name}' has examples of shape "
                                       f"{_shape(data.feature_shape)}; they must be equal. "
                                       f"{received('data', data.name)}"))
        for at, optimizer in ((("train", "optimizer"), cfg.optimizer),
                              (("train", "regime", "discriminator_optimizer"), r.discriminator_optimizer)):
            if optimizer is not None and optimizer.ema is not None:
                problems.append(Diagnostic(*_where(spec, *at, "ema"), "regime gan does not average weights "
                                                                       f"(ema). {received('ema', optimizer.ema)}"))
        if cfg.swa is not None:
            problems.append(Diagnostic(*_where(spec, "train", "swa"),
                                       "regime gan does not average weights (swa). Received: swa=on"))
        logs = {"d_loss", "g_loss", *(["gp"] if r.lipschitz_method == "gradient_penalty" else [])}
        for key in ("early_stopping", "reduce_on_plateau"):
            watch = getattr(cfg, key)
            if watch is not None and watch.monitor.removeprefix("val_") not in logs:
                problems.append(Diagnostic(*_where(spec, "train", key, "monitor"),
                                           f"regime gan reports {', '.join(sorted(logs))} (and their val_ "
                                           f"versions). {received('monitor', watch.monitor)}"))
        if cfg.precision == "mixed_float16":
            problems.append(Diagnostic(*_where(spec, "train", "precision"),
                                       "regime gan trains without loss scaling; use mixed_bfloat16 or float32. "
                                       f"{received('precision', cfg.precision)}"))
        _, dgraph, found = load_discriminator(spec, base_dir)
        problems += found
        if dgraph is None:
            return problems
        where = _where(spec, "train", "regime", "discriminator")
        ref = received("discriminator", r.discriminator)
        if len(dgraph.inputs) != 1:
            problems.append(Diagnostic(*where, f"the discriminator must have one input (an example), but "
                                               f"'{dgraph.name}' has {len(dgraph.inputs)}: "
                                               f"{', '.join(dgraph.inputs)}. {ref}"))
        else:
            reads = tuple(dgraph.node(dgraph.inputs[0]).spec.shape)
            if reads != made:
                problems.append(Diagnostic(*where, f"the discriminator's input '{dgraph.inputs[0]}' has shape "
                                                   f"{_shape(reads)}, but the generator's output '{out.id}' has "
                                                   f"shape {_shape(made)}; they must be equal. {ref}"))
        if len(dgraph.outputs) != 1:
            problems.append(Diagnostic(*where, f"the discriminator must have one output (a score per example), "
                                               f"but '{dgraph.name}' has {len(dgraph.outputs)}: "
                                               f"{', '.join(dgraph.outputs)}. {ref}"))
        else:
            scores = dgraph.node(dgraph.outputs[0]).out.shape[1:]
            if tuple(scores) not in ((), (1,)):
                problems.append(Diagnostic(*where, f"the discriminator's output '{dgraph.outputs[0]}' must be one "
                                                   f"score per example (shape (1,)), but it has shape "
                                                   f"{_shape(scores)}. {ref}"))
        return problems

    def targets(self, ctx: Context, data: Dataset):
        return None  # the batches are the real examples alone

    def build(self, ctx: Context):
        from nnspec.runtime.atomic import publish, temp_beside
        from nnspec.runtime.keras_build import build_keras
        from nnspec.runtime.objectives import make_optimizer

        cfg, r = ctx.cfg, ctx.cfg.regime
        dspec, dgraph, problems = load_discriminator(ctx.spec, ctx.base_dir)
        if problems:  # `check` has reported them already, unless the file changed since
            from nnspec.errors import SpecError

            raise SpecError(problems)
        kept = ctx.stage / DISCRIMINATOR_SPEC
        text = _standalone_text(dspec)
        if not kept.is_file() or kept.read_text(encoding="utf-8") != text:
            with temp_beside(kept) as tmp:
                tmp.write_text(text, encoding="utf-8")
                publish(tmp, kept)
        generator = build_keras(ctx.graph, seed=cfg.seed)
        discriminator = build_keras(dgraph, seed=cfg.seed + 1)
        model = gan_model_class()(generator, discriminator, loss=r.loss, lipschitz=r.lipschitz_method,
                                  clip=r.clip, gp_weight=r.gp_weight, n_critic=r.n_critic, seed=cfg.seed)
        # The discriminator's optimizer steps n_critic times per training step: its schedule spans those steps.
        d_optimizer = make_optimizer(cfg, ctx.steps_per_epoch * r.n_critic, spec=r.discriminator_optimizer)
        model.set_optimizers(make_optimizer(cfg, ctx.steps_per_epoch), d_optimizer)
        model.compile(optimizer=model.g_optimizer, jit_compile=cfg.jit_compile, auto_scale_loss=False)
        return model

    def optimizers(self, model) -> list:
        return [model.g_optimizer, model.d_optimizer]

    def callbacks(self, ctx: Context, model) -> list:
        from nnspec.runtime.gan_images import drawable

        if not drawable(model.generator.outputs[0].shape[1:]):
            return []
        x = ctx.train.x
        value_range = (float(np.min(x)), float(np.max(x))) if len(ctx.train) else None
        latent = fixed_latent(model.latent_shape, GRID_SIZE, ctx.cfg.seed)
        return [sample_grid_callback(model.generator, latent, ctx.stage / SAMPLES, value_range)]

    def final_models(self, model) -> dict:
        return {"model": model.generator, "discriminator": model.discriminator}

    def sample(self, spec, models, out, *, n, seed):
        from nnspec.runtime.gan_images import save_grid

        generator = models["model"]
        if n < 1:
            raise NnspecError(f"the number of samples must be positive. Received: n={n}")
        latent = fixed_latent(tuple(generator.inputs[0].shape[1:]), n, seed)
        images = generator.predict(latent, verbose=0, batch_size=256)
        return [save_grid(images, Path(out))]


def _standalone_text(spec: ModelSpec) -> str:
    """A spec's text as one file: verbatim when it stands alone, else resolved (no `extends`, overrides applied)."""
    if spec.standalone and spec.text:
        return spec.text
    from nnspec.specs.resolve import resolved_yaml

    return resolved_yaml(spec)


REGIME = Gan()
