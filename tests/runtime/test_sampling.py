"""The `sampling` op's Keras layer: the reparameterization trick samples with the right statistics in training,
reproducibly under a fixed seed, returns the mean exactly at inference, and survives a save/load round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnspec.api import build_keras
from nnspec.specs.load import parse_spec

pytestmark = pytest.mark.keras

LATENT = 8


def _model(seed: int | None = 7, latent: int = LATENT):
    seed_field = "" if seed is None else f", seed: {seed}"
    text = f"""
name: sampler
inputs:
  mean: {{shape: [{latent}]}}
  log_var: {{shape: [{latent}]}}
nodes:
  - {{id: z, op: sampling, from: [mean, log_var]{seed_field}}}
"""
    return build_keras(parse_spec(text), seed=0)


def _run(model, mean, log_var, training):
    return np.asarray(model([mean, log_var], training=training))


@pytest.mark.parametrize("log_var,std", [(0.0, 1.0), (2 * math.log(3.0), 3.0)])
def test_training_samples_have_the_mean_and_std_of_the_gaussian(log_var, std):
    n = 20_000
    mean = np.full((n, LATENT), 1.5, dtype="float32")
    z = _run(_model(), mean, np.full((n, LATENT), log_var, dtype="float32"), training=True)
    assert z.shape == (n, LATENT)
    assert not np.allclose(z, mean)
    # n * LATENT = 160,000 draws: the standard error of the mean is std / 400, of the std about std / 565.
    assert abs(z.mean() - 1.5) < 0.02 * std
    assert abs(z.std() - std) < 0.02 * std
    per_axis = z.std(axis=0)  # each latent axis is its own N(mean, std^2)
    np.testing.assert_allclose(per_axis, std, rtol=0.05)


def test_a_fixed_seed_gives_the_same_samples_in_a_fresh_model():
    mean = np.zeros((16, LATENT), dtype="float32")
    log_var = np.zeros((16, LATENT), dtype="float32")
    first, second = _model(seed=11), _model(seed=11)
    a1, a2 = _run(first, mean, log_var, True), _run(first, mean, log_var, True)
    b1, b2 = _run(second, mean, log_var, True), _run(second, mean, log_var, True)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.allclose(a1, a2)  # the generator advances: successive calls draw new noise
    assert not np.allclose(a1, _run(_model(seed=12), mean, log_var, True))


def test_inference_returns_the_mean_exactly():
    rng = np.random.default_rng(0)
    mean = rng.standard_normal((5, LATENT)).astype("float32")
    log_var = rng.standard_normal((5, LATENT)).astype("float32")
    model = _model(seed=None)
    np.testing.assert_array_equal(_run(model, mean, log_var, False), mean)
    np.testing.assert_array_equal(np.asarray(model([mean, log_var])), mean)  # training unset: inference
    np.testing.assert_array_equal(model.predict([mean, log_var], verbose=0), mean)


def test_save_and_load_round_trip(tmp_path):
    import keras

    from nnspec.runtime.custom_layers import register_all

    model = _model(seed=5)
    path = tmp_path / "model.keras"
    model.save(path)
    register_all()
    loaded = keras.saving.load_model(path)
    layer = loaded.get_layer("z")
    assert type(layer).__name__ == "Sampling" and layer.get_config()["seed"] == 5
    rng = np.random.default_rng(1)
    mean = rng.standard_normal((4, LATENT)).astype("float32")
    log_var = rng.standard_normal((4, LATENT)).astype("float32")
    np.testing.assert_array_equal(_run(loaded, mean, log_var, False), mean)
    sample = _run(loaded, mean, log_var, True)
    assert sample.shape == mean.shape and not np.allclose(sample, mean)
