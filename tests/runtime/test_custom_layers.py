"""nnspec's own Keras layers: a model using them saves and loads again (after `register_all()`), and they
compute what their ops promise."""

from __future__ import annotations

import numpy as np
import pytest

import nnspec
from nnspec.specs.load import parse_spec

pytestmark = pytest.mark.keras

REFLECTION = """
name: reflect
inputs:
  x: {shape: [5, 6, 2]}
nodes:
  - {id: pad, op: reflection_pad2d, padding: [[1, 2], [3, 0]]}
"""

INSTANCE = """
name: instance
inputs:
  x: {shape: [5, 6, 3]}
nodes:
  - {id: norm, op: instance_norm, center: false, scale: false}
"""


def _roundtrip(tmp_path, text: str):
    import keras

    from nnspec.runtime.custom_layers import register_all

    model = nnspec.build_keras(parse_spec(text))
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape[1:])).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    register_all()
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)))
    return x, keras.ops.convert_to_numpy(model(x))


def test_reflection_padding_saves_loads_and_mirrors(tmp_path):
    x, y = _roundtrip(tmp_path, REFLECTION)
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (1, 2), (3, 0), (0, 0)), mode="reflect"))


def test_instance_norm_saves_loads_and_normalizes_each_channel(tmp_path):
    x, y = _roundtrip(tmp_path, INSTANCE)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), atol=1e-5)
