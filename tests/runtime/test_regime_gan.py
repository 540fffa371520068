"""`regime: gan`: the four objectives against their formulas, the WGAN-GP penalty against an analytic gradient,
weight clipping, n_critic, the diagnostics of a discriminator that is missing or does not fit, and a tiny run that
writes the generator, the discriminator and sample grids, and resumes to the weights of an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnspec.errors import SpecError
from nnspec.specs.load import load_spec, parse_spec

pytestmark = pytest.mark.keras

GENERATOR = """\
name: tiny_generator
inputs:
  z: {shape: [4]}
nodes:
  - {op: dense, units: 16, activation: relu}
  - {op: batch_norm}
  - {op: dense, units: 64, activation: sigmoid}
  - {id: image, op: reshape, target_shape: [8, 8, 1]}
train:
  data: digits
  loss: binary_crossentropy
  regime: {name: gan, discriminator: critic.yaml}
  optimizer: {name: adam, learning_rate: 0.001, beta_1: 0.5}
  metrics: []
  epochs: 2
  batch_size: 256
  validation_split: 0.0
  test_split: 0.5
  logs: {curves: false}
  seed: 3
"""

CRITIC = """\
name: critic
inputs:
  image: {shape: [8, 8, 1]}
nodes:
  - {op: conv2d, filters: 4, kernel_size: 3, strides: 2, padding: same}
  - {op: leaky_relu, negative_slope: 0.2}
  - {op: flatten}
  - {op: dropout, rate: 0.2}
  - {id: score, op: dense, units: 1}
"""


def _spec(folder: Path, *overrides: str, critic: str = CRITIC):
    (folder / "critic.yaml").write_text(critic, encoding="utf-8")
    (folder / "gen.yaml").write_text(GENERATOR, encoding="utf-8")
    return load_spec(folder / "gen.yaml", list(overrides))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --- the objectives, on fixed scores ----------------------------------------------------------------------------

REAL = np.array([[2.0], [-0.5], [0.3], [4.0], [-3.0]], np.float32)
FAKE = np.array([[-1.0], [0.7], [-2.5], [1.5], [0.0]], np.float32)


@pytest.mark.parametrize("loss, d_formula, g_formula", [
    ("minimax",
     lambda r, f: -np.mean(np.log(_sigmoid(r))) - np.mean(np.log(1 - _sigmoid(f))),
     lambda f: np.mean(np.log(1 - _sigmoid(f)))),
    ("non_saturating",
     lambda r, f: -np.mean(np.log(_sigmoid(r))) - np.mean(np.log(1 - _sigmoid(f))),
     lambda f: -np.mean(np.log(_sigmoid(f)))),
    ("least_squares",
     lambda r, f: 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f ** 2),
     lambda f: 0.5 * np.mean((f - 1) ** 2)),
    ("wasserstein",
     lambda r, f: np.mean(f) - np.mean(r),
     lambda f: -np.mean(f)),
])  # fmt: skip
def test_losses_follow_their_formulas(loss, d_formula, g_formula):
    from nnspec.runtime.regimes.gan import discriminator_loss, generator_loss

    r, f = REAL.astype(np.float64), FAKE.astype(np.float64)
    np.testing.assert_allclose(float(discriminator_loss(loss, REAL, FAKE)), d_formula(r, f), rtol=1e-5)
    np.testing.assert_allclose(float(generator_loss(loss, FAKE)), g_formula(f), rtol=1e-5)
    # scores of shape (batch,) are the same scores
    np.testing.assert_allclose(float(generator_loss(loss, FAKE[:, 0])), g_formula(f), rtol=1e-5)


def test_gradient_penalty_equals_the_analytic_gradient():
    """D(x) = v · tanh(A flatten(x)): ∇D = Aᵀ (v ⊙ (1 - tanh²(A x))), at x̂ = ε·real + (1 - ε)·fake."""
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.keras_build import build_keras
    from nnspec.runtime.regimes.gan import gradient_penalty

    tiny = parse_spec("""\
name: tiny
inputs: {x: {shape: [2, 2, 1]}}
nodes:
  - {op: flatten}
  - {op: dense, units: 3, activation: tanh, use_bias: false}
  - {op: dense, units: 1, use_bias: false}
""")
    model = build_keras(compile_spec(tiny), seed=0)
    a, v = (w.astype(np.float64) for w in model.get_weights())  # a: (4, 3), v: (3, 1)
    rng = np.random.default_rng(0)
    real = rng.normal(size=(6, 2, 2, 1)).astype(np.float32)
    fake = rng.normal(size=(6, 2, 2, 1)).astype(np.float32)
    eps = rng.uniform(size=6).astype(np.float32)
    mixed = (eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake).reshape(6, 4)
    grads = (v[:, 0] * (1 - np.tanh(mixed @ a) ** 2)) @ a.T
    want = np.mean((np.linalg.norm(grads, axis=1) - 1) ** 2)
    np.testing.assert_allclose(float(gradient_penalty(model, real, fake, eps)), want, rtol=1e-4)


# --- training steps ---------------------------------------------------------------------------------------------


def _gan(tmp_path, *overrides):
    """The regime's compiled GAN for the tiny specs, and a batch of real digits."""
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.data import load_dataset
    from nnspec.runtime.regimes import Context
    from nnspec.runtime.regimes.gan import REGIME

    spec = _spec(tmp_path, *overrides)
    graph = compile_spec(spec)
    data = load_dataset(spec.train.data)
    stage = tmp_path / "stage"
    stage.mkdir()
    ctx = Context(spec, graph, data, data.take(np.arange(0)), data.take(np.arange(0)), 4, stage, tmp_path)
    assert REGIME.check(spec, graph, data, tmp_path) == []
    return REGIME.build(ctx), data.x[:32]


def test_weight_clipping_keeps_every_critic_weight_within_the_bound(tmp_path):
    gan, real = _gan(tmp_path, "train.regime.loss=wasserstein", "train.regime.lipschitz=clip",
                     "train.regime.clip=0.02")
    before = [np.asarray(w) for w in gan.discriminator.trainable_weights]
    assert max(np.abs(w).max() for w in before) > 0.02  # so clipping has something to do
    logs = gan.train_step(real)
    assert set(logs) == {"d_loss", "g_loss"}
    after = [np.asarray(w) for w in gan.discriminator.trainable_weights]
    assert all(np.abs(w).max() <= 0.02 + 1e-7 for w in after)
    assert any(np.isclose(np.abs(w).max(), 0.02) for w in after)


def test_n_critic_makes_that_many_discriminator_steps_per_generator_step(tmp_path):
    gan, real = _gan(tmp_path, "train.regime.n_critic=3", "train.regime.loss=least_squares")
    for _ in range(2):
        gan.train_step(real)
    assert int(gan.d_optimizer.iterations) == 6
    assert int(gan.g_optimizer.iterations) == 2
    from nnspec.runtime.regimes.gan import REGIME

    assert REGIME.optimizers(gan) == [gan.g_optimizer, gan.d_optimizer]


def test_gradient_penalty_is_reported_and_trains_the_critic(tmp_path):
    gan, real = _gan(tmp_path, "train.regime.loss=wasserstein", "train.regime.gp_weight=5")
    assert gan.lipschitz == "gradient_penalty"  # the default for wasserstein
    before = [np.asarray(w) for w in gan.discriminator.trainable_weights]
    logs = gan.train_step(real)
    assert set(logs) == {"d_loss", "g_loss", "gp"} and float(logs["gp"]) > 0
    assert any(not np.array_equal(b, np.asarray(a)) for b, a in zip(before, gan.discriminator.trainable_weights))


# --- diagnostics ------------------------------------------------------------------------------------------------


def _check(spec, folder):
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.data import load_dataset
    from nnspec.runtime.regimes.gan import REGIME

    return REGIME.check(spec, compile_spec(spec), load_dataset(spec.train.data), folder)


def _line_of(text: str, key: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if key in line)


def test_a_missing_discriminator_file_is_a_located_diagnostic(tmp_path):
    spec = _spec(tmp_path, "train.regime.discriminator=nowhere/critic.yaml")
    (problem,) = _check(spec, tmp_path)
    assert problem.path == "train.regime.discriminator"
    assert problem.loc.line == _line_of(GENERATOR, "regime:")
    assert "does not exist" in problem.message and "Received: discriminator='nowhere/critic.yaml'" in \
        problem.message


def test_an_unknown_bundled_discriminator_is_a_located_diagnostic(tmp_path):
    spec = _spec(tmp_path, "train.regime.discriminator=example:dcgan_digits_discriminatr")
    (problem,) = _check(spec, tmp_path)
    assert problem.path == "train.regime.discriminator" and "dcgan_digits_discriminator" in problem.message


def test_a_discriminator_that_does_not_fit_the_generator_is_diagnosed(tmp_path):
    wrong = CRITIC.replace("[8, 8, 1]", "[28, 28, 1]").replace("units: 1}", "units: 10}")
    spec = _spec(tmp_path, critic=wrong)
    problems = _check(spec, tmp_path)
    messages = " | ".join(p.message for p in problems)
    assert len(problems) == 2 and {p.path for p in problems} == {"train.regime.discriminator"}
    assert "input 'image' has shape (28, 28, 1), but the generator's output 'image' has shape (8, 8, 1)" in \
        messages
    assert "one score per example" in messages and "(10,)" in messages


def test_data_that_the_generator_cannot_make_and_broken_discriminators_are_diagnosed(tmp_path):
    spec = _spec(tmp_path, "train.data=digits_flat", critic=CRITIC.replace("op: conv2d", "op: conv2dd"))
    problems = _check(spec, tmp_path)
    data = next(p for p in problems if p.path == "train.data")
    assert "shape (8, 8, 1)" in data.message and "shape (64,)" in data.message
    inside = [p for p in problems if p.loc and p.loc.file.endswith("critic.yaml")]
    assert inside and "conv2dd" in inside[0].message  # the discriminator's own mistake, at its own line


def test_options_of_another_loss_are_rejected():
    text = GENERATOR.replace("discriminator: critic.yaml}", "discriminator: critic.yaml, lipschitz: clip}")
    with pytest.raises(SpecError, match="`lipschitz` applies to the wasserstein loss only"):
        parse_spec(text)


# --- a whole run ------------------------------------------------------------------------------------------------


def test_a_tiny_run_writes_both_networks_and_samples_and_resumes_exactly(tmp_path):
    """2 epochs uninterrupted vs. stopped after epoch 1 and resumed: the same weights (the noise is part of the
    checkpointed state), both networks saved, a sample grid per epoch, and `sample` draws a PNG."""
    import keras
    from PIL import Image

    from nnspec.runtime.regimes.gan import REGIME
    from nnspec.runtime.train import resume, train

    spec = _spec(tmp_path, "train.regime.n_critic=2")
    reference = train(spec, tmp_path / "reference", verbose=0)
    out = reference.run_dir
    for name in ("model.keras", "discriminator.keras", "discriminator.yaml", "samples/epoch_001.png",
                 "samples/epoch_002.png"):
        assert (out / name).is_file(), name
    assert (out / "discriminator.yaml").read_text() == CRITIC
    history = json.loads((out / "history.json").read_text())
    assert set(history) == {"d_loss", "g_loss"} and len(history["g_loss"]) == 2
    generator = keras.saving.load_model(out / "model.keras", compile=False)
    critic = keras.saving.load_model(out / "discriminator.keras", compile=False)
    assert generator.input_shape == (None, 4) and critic.output_shape == (None, 1)

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:  # the checkpoint of epoch 1 is written by now
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec, tmp_path / "run", verbose=0, callbacks=[StopAfterFirstEpoch()])
    (tmp_path / "critic.yaml").unlink()  # the interrupted run resumes with its own copy of the discriminator
    resumed = resume(tmp_path / "run", verbose=0)
    again = keras.saving.load_model(resumed.run_dir / "model.keras", compile=False)
    for a, b in zip(generator.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    critic_again = keras.saving.load_model(resumed.run_dir / "discriminator.keras", compile=False)
    for a, b in zip(critic.get_weights(), critic_again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert json.loads((resumed.run_dir / "history.json").read_text()) == history

    paths = REGIME.sample(spec, {"model": generator}, tmp_path / "grid.png", n=10, seed=1)
    assert paths == [tmp_path / "grid.png"]
    with Image.open(paths[0]) as image:
        assert image.format == "PNG" and image.width > 4 * 8 and image.height > 3 * 8
    assert list(tmp_path.glob(".grid.png*")) == []  # the temporary file was renamed away


def test_callbacks_must_watch_what_a_gan_reports(tmp_path):
    spec = _spec(tmp_path, "train.early_stopping={monitor: val_loss}", "train.swa=true")
    problems = {p.path: p.message for p in _check(spec, tmp_path)}
    assert set(problems) == {"train.early_stopping.monitor", "train.swa"}
    assert "d_loss, g_loss" in problems["train.early_stopping.monitor"]
    assert _check(_spec(tmp_path, "train.early_stopping={monitor: val_g_loss}"), tmp_path) == []
