"""`regime: vae` and `regime: autoencoder`: the VAE's loss terms against their formulas, beta at work, the spec
diagnostics, the denoising noise (training only, repeatable), a short run of the VAE example with its sample
grids, and resuming an interrupted VAE run to exactly the weights of an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnspec.errors import SpecError
from nnspec.specs.load import load_spec, parse_spec

pytestmark = pytest.mark.keras

VAE = """\
name: tiny_vae
inputs:
  pixels: {shape: [64]}
nodes:
  - {id: h, op: dense, units: 32, activation: relu}
  - {id: mu, op: dense, units: 2, from: [h]}
  - {id: lv, op: dense, units: 2, from: [h]}
  - {id: z, op: sampling, from: [mu, lv]}
  - {id: d, op: dense, units: 32, activation: relu}
  - {id: out, op: dense, units: 64, activation: sigmoid}
train:
  data: digits_flat
  regime: {name: vae, mean: mu, log_var: lv, beta: 0.5}
  loss: binary_crossentropy
  optimizer: {name: adam, learning_rate: 0.01}
  epochs: 2
  batch_size: 64
  seed: 1
"""

AUTOENCODER = """\
name: tiny_ae
params: {features: 64, units: 64}
inputs:
  pixels: {shape: ["${features}"]}
nodes:
  - {id: out, op: dense, units: "${units}", use_bias: false}
train:
  data: digits_flat
  regime: {name: autoencoder, noise: 0.5}
  loss: mean_squared_error
  optimizer: {name: sgd, learning_rate: 1.0e-9}
  batch_size: 100
  seed: 3
"""


def _built(text: str, *overrides: str):
    """The regime's compiled training model for a spec, with the digits (as the trainer builds it)."""
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.data import load_dataset
    from nnspec.runtime.regimes import Context, regime_for

    spec = parse_spec(text, "spec.yaml", list(overrides))
    graph = compile_spec(spec)
    data = load_dataset(spec.train.data, seed=0)
    ctx = Context(spec, graph, data, data, data, 10, Path("."), Path("."))
    regime = regime_for(spec.train.regime.name)
    return regime, regime.build(ctx), data


def _train(spec, out: Path, **kwargs):
    from nnspec.runtime.train import train

    return train(spec, out, verbose=0, **kwargs)


def _numpy_kl(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """KL(N(mean, exp(log_var)) || N(0, I)) per example, from the Gaussian formula."""
    var = np.exp(log_var.astype(np.float64))
    return 0.5 * np.sum(var + mean.astype(np.float64) ** 2 - 1.0 - np.log(var), axis=1)


# --- the loss ---------------------------------------------------------------------------------------------------


def test_kl_divergence_matches_the_gaussian_formula():
    from nnspec.runtime.regimes.vae import kl_divergence

    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(kl_divergence(mean, log_var)), _numpy_kl(mean, log_var), rtol=1e-5)
    assert np.allclose(np.asarray(kl_divergence(np.zeros((2, 3)), np.zeros((2, 3)))), 0.0)  # the prior itself


def test_reported_losses_are_summed_crossentropy_plus_beta_kl():
    _, model, data = _built(VAE)
    x = data.x[:50]
    logs = model.evaluate(x, x, batch_size=50, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "reconstruction_loss", "kl_loss"}

    reconstruction, mean, log_var = (np.asarray(t, np.float64) for t in model.net(x, training=False))
    p = np.clip(reconstruction, 1e-7, 1 - 1e-7)  # Keras's epsilon
    crossentropy = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)  # summed over the 64 pixels
    np.testing.assert_allclose(logs["reconstruction_loss"], crossentropy.mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["kl_loss"], _numpy_kl(mean, log_var).mean(), rtol=1e-4)
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + 0.5 * logs["kl_loss"], rtol=1e-5)
    assert logs["kl_loss"] > 0.0
    # The model the run keeps is the spec's own (input → reconstruction), sharing the trained layers.
    from nnspec.runtime.regimes.vae import REGIME

    kept = REGIME.final_models(model)["model"]
    assert [t.name for t in kept.inputs] == ["pixels"] and kept.output.shape == (None, 64)
    np.testing.assert_allclose(np.asarray(kept(x)), reconstruction, atol=1e-6)


def test_beta_pulls_the_latents_onto_the_prior():
    kls = {}
    for beta in (0, 4):
        _, model, data = _built(VAE, f"train.regime.beta={beta}")
        x = data.x[:600]
        model.fit(x, x, epochs=2, batch_size=64, verbose=0)
        _, mean, log_var = (np.asarray(t) for t in model.net(x, training=False))
        kls[beta] = _numpy_kl(mean, log_var).mean()
    assert kls[4] < 0.25 * kls[0], kls  # beta 0 leaves the latents free; beta 4 keeps them near N(0, I)


# --- diagnostics ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, overrides, message", [
    (VAE, ["train.regime.mean=nope"],
     (r"spec.yaml:\d+:\d+: train.regime.mean: no node 'nope' in the model \(the `sampling` node 'z' reads mu, lv\)"
      r"\. Received: mean='nope'")),
    (VAE, ["train.regime.log_var=h"],
     r"train.regime.log_var: .*'mu' has \(2,\) and 'h' has \(32,\)\. Received: log_var='h'"),
    (VAE, ["train.regime.mean=lv", "train.regime.log_var=mu"],
     r"spec.yaml:\d+:\d+: train.regime: a VAE draws its latent with a `sampling` node reading \[lv, mu\]"),
    (VAE, ["train.loss=sparse_categorical_crossentropy"],
     r"train.loss: the vae regime compares .*Received: loss='sparse_categorical_crossentropy'"),
    (AUTOENCODER, ["params.units=10"],
     (r"spec.yaml:\d+:\d+: train.regime: the autoencoder regime's targets are the inputs, so output 'out' must "
      r"have the input's shape \(64,\), but it has \(10,\)\..*Received: output out of shape \(10,\)")),
    (AUTOENCODER, ["train.metrics=[accuracy]"], r"train.metrics: accuracy score class labels"),
    (AUTOENCODER, ["train.loss=binary_crossentropy", "train.data=iris", "params.features=4",
                   "params.units=4"], r"train.loss: binary_crossentropy reconstructs values in \[0, 1\]"),
])  # fmt: skip
def test_mistakes_are_located_diagnostics(text, overrides, message, tmp_path):
    spec = parse_spec(text, "spec.yaml", overrides)
    with pytest.raises(SpecError, match=message):
        _train(spec, tmp_path / "run")
    assert not (tmp_path / "run").exists()


# --- the denoising autoencoder ---------------------------------------------------------------------------------


def test_denoising_noise_is_drawn_in_training_only_and_repeatably():
    """An identity model: its clean error is 0, so the training loss is the noise's mean square (0.5² = 0.25)."""
    losses = []
    for _ in range(2):
        _, model, data = _built(AUTOENCODER)
        model.net.get_layer("out").set_weights([np.eye(64, dtype=np.float32)])
        x = data.x[:100]
        history = model.fit(x, x, epochs=2, batch_size=100, verbose=0).history
        losses.append(history["loss"])
        assert abs(history["loss"][0] - 0.25) < 0.02  # noisy inputs in training
        assert model.evaluate(x, x, verbose=0) < 1e-6  # clean inputs in evaluation...
        np.testing.assert_allclose(model.predict(x, verbose=0), x, atol=1e-4)  # ...and prediction
    assert losses[0] == losses[1]  # the same noise in every run of the spec
    assert losses[0][0] != losses[0][1]  # a new draw every step


def test_autoencoder_sample_draws_held_out_inputs_beside_their_reconstructions(tmp_path):
    from matplotlib.image import imread

    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.regimes.autoencoder import held_out_inputs

    regime, model, _ = _built(AUTOENCODER)
    spec = parse_spec(AUTOENCODER, str(tmp_path / "spec.yaml"))
    net = model.net
    net.get_layer("out").set_weights([np.eye(64, dtype=np.float32)[:, ::-1]])  # mirrors each 8x8 digit
    assert regime.sample(spec, {"model": net}, tmp_path / "recons.png", n=4, seed=0) == [tmp_path / "recons.png"]
    png = imread(tmp_path / "recons.png")[..., 0]  # gray: R = G = B
    assert png.shape == (2 * 34 + 2, 2 + 4 * 32 + 2 * 2 + 6 + 2)  # 2 rows of 2 pairs of 32 px tiles
    x, _ = held_out_inputs(spec, compile_spec(spec), 4, 0)
    first_input, first_output = png[2:34, 2:34], png[2:34, 36:68]
    digit = x[0].reshape(8, 8)
    np.testing.assert_allclose(first_input, np.kron(digit, np.ones((4, 4))), atol=1 / 255)
    np.testing.assert_allclose(first_output, np.kron(digit[::-1, ::-1], np.ones((4, 4))), atol=1 / 255)


def test_without_noise_the_autoencoder_trains_the_spec_model_itself():
    regime, model, _ = _built(AUTOENCODER, "train.regime=autoencoder")
    assert regime.final_models(model)["model"] is model


# --- the VAE example, its samples, and resume --------------------------------------------------------------------


def test_vae_example_trains_and_samples_digit_grids(tmp_path):
    from matplotlib.image import imread

    from nnspec.runtime.sample import sample_run

    run = _train(load_spec("example:vae_digits", ["train.epochs=3"]), tmp_path / "run")
    history = json.loads((run.run_dir / "history.json").read_text())
    assert history["loss"][-1] < history["loss"][0] and history["val_loss"][-1] < history["val_loss"][0]
    assert set(run.metrics["test"]) == {"loss", "reconstruction_loss", "kl_loss", "mse"}

    paths = sample_run(run.run_dir, tmp_path / "grid.png", n=16, seed=0)
    assert paths == [tmp_path / "grid.png", tmp_path / "grid_reconstructions.png"]
    samples, pairs = imread(paths[0]), imread(paths[1])
    # 16 images of 8x8 enlarged 4 times: 4 columns of 32 px tiles, 2 px apart and around.
    assert samples.shape[:2] == (4 * 34 + 2, 4 * 34 + 2)
    # 4 pairs per row: 8 tiles, 2 px inside a pair, 6 px between pairs.
    assert pairs.shape[:2] == (4 * 34 + 2, 2 + 8 * 32 + 4 * 2 + 3 * 6 + 2)
    tiles = [samples[2 + r * 34:r * 34 + 34, 2 + c * 34:c * 34 + 34] for r in range(4) for c in range(4)]
    assert len({t.tobytes() for t in tiles}) == 16  # 16 different decodings
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
    other = sample_run(run.run_dir, tmp_path / "other.png", n=16, seed=1)
    assert not np.array_equal(imread(other[0]), samples)  # the seed draws the latents


def test_an_interrupted_vae_run_resumes_to_the_uninterrupted_weights(tmp_path):
    import keras

    import nnspec
    from nnspec.runtime.run_dir import partial_dir

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:  # epoch 0 is done and checkpointed
                raise KeyboardInterrupt

    spec = parse_spec(VAE, str(tmp_path / "spec.yaml"))
    whole = _train(spec, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        _train(spec, tmp_path / "cut", callbacks=[Interrupt()])
    assert (partial_dir(tmp_path / "cut") / "checkpoint").is_dir() and not (tmp_path / "cut").exists()

    resumed = nnspec.resume(tmp_path / "cut", verbose=0)
    assert resumed.metrics["resumed"]
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert whole.history == resumed.history
    assert whole.metrics["test"] == resumed.metrics["test"]
