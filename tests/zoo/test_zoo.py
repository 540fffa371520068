"""Every zoo spec reproduces its paper: `expect:` facts hold, the Keras model has the same parameter count
(equal to `keras.applications` where Keras ships the architecture), a forward pass runs, and the ONNX export
agrees with Keras. Slow checks use the spec's own `expect.small` variant; full-size counts are asserted on the IR."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import nnspec
from nnspec.bundled import bundled_names
from nnspec.cli import main

ZOO = bundled_names("zoo")
# zoo name → keras.applications constructor with the same architecture (and the same count, exactly).
KERAS_APPLICATIONS = {
    "vgg16": "VGG16", "vgg19": "VGG19", "resnet50": "ResNet50", "resnet101": "ResNet101",
    "resnet152": "ResNet152", "resnet50_v2": "ResNet50V2", "densenet121": "DenseNet121",
    "mobilenet_v1": "MobileNet", "mobilenet_v2": "MobileNetV2", "inception_v3": "InceptionV3",
    "xception": "Xception",
}  # fmt: skip


def small(name: str):
    spec = nnspec.load_spec(f"zoo:{name}")
    return nnspec.load_spec(f"zoo:{name}", spec.expect.small) if spec.expect.small else spec


@pytest.mark.parametrize("name", ZOO)
def test_zoo_spec_states_and_meets_its_reference_count(name):
    spec = nnspec.load_spec(f"zoo:{name}")
    assert spec.expect is not None and spec.expect.params is not None and spec.expect.source, name
    assert spec.task, name
    assert nnspec.summary(spec)["params"] == spec.expect.params  # compile_spec enforces it too


def test_zoo_list_is_computed_from_the_specs():
    import json

    result = CliRunner().invoke(main, ["zoo", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert sorted(rows) == ZOO
    for name in ZOO:
        assert rows[name]["params"] == nnspec.summary(f"zoo:{name}")["params"]


def test_zoo_show_and_copy(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(main, ["zoo", "show", "lenet5"])
    assert shown.exit_code == 0 and "name: lenet5" in shown.stdout
    dest = tmp_path / "mine.yaml"
    assert runner.invoke(main, ["zoo", "copy", "lenet5", str(dest)]).exit_code == 0
    assert nnspec.summary(dest)["params"] == 61706
    again = runner.invoke(main, ["zoo", "copy", "lenet5", str(dest)])
    assert again.exit_code == 2 and "--force" in again.stderr
    missing = runner.invoke(main, ["zoo", "show", "lenet6"])
    assert missing.exit_code == 2 and "Did you mean 'zoo:lenet5'?" in missing.stderr


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(set(KERAS_APPLICATIONS) & set(ZOO)))
def test_count_and_shapes_equal_keras_applications(name):
    import keras

    reference = getattr(keras.applications, KERAS_APPLICATIONS[name])(weights=None)
    model = nnspec.build_keras(f"zoo:{name}")
    assert model.count_params() == reference.count_params()
    assert tuple(model.input_shape) == tuple(reference.input_shape)
    assert tuple(model.output_shape) == tuple(reference.output_shape)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == sum(int(np.prod(w.shape)) for w in reference.trainable_weights)


def _random_inputs(spec, batch: int = 2) -> list[np.ndarray]:
    """Seeded random inputs; integer inputs (token ids, edge endpoints) below the bounds their readers give."""
    from nnspec.runtime.onnx_export import parity_inputs

    graph = nnspec.compile_spec(spec)
    feeds = parity_inputs(graph, batch=batch)
    return [feeds[name] for name in graph.inputs]


@pytest.mark.keras
@pytest.mark.parametrize("name", ZOO)
def test_builds_with_its_count_and_runs_forward(name):
    import keras

    spec = small(name)
    info = nnspec.summary(spec)
    model = nnspec.build_keras(spec, seed=0)
    assert model.count_params() == info["params"]
    xs = _random_inputs(spec)
    ys = model(xs if len(xs) > 1 else xs[0], training=False)
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    for y, (out_name, out) in zip(ys, info["outputs"].items()):
        y = keras.ops.convert_to_numpy(y)
        assert y.shape[1:] == tuple(d if d is not None else y.shape[i + 1] for i, d in enumerate(out["shape"][1:]))
        assert np.isfinite(y).all(), out_name


@pytest.mark.onnx
@pytest.mark.parametrize("name", ZOO)
def test_exports_to_onnx_with_parity(name, tmp_path):
    report = nnspec.export_onnx(small(name), tmp_path / f"{name}.onnx")
    assert report.max_abs_diff <= 1e-4


@pytest.mark.keras
def test_siamese_towers_share_one_set_of_weights():
    spec = small("siamese")
    model = nnspec.build_keras(spec, seed=0)
    assert model.count_params() == nnspec.summary(spec)["params"]
    left, right = _random_inputs(spec)
    assert float(np.max(model([left, left]))) == float(np.max(model([left, left])))
    same = model([left, left], training=False)
    swapped = model([right, left], training=False)
    flipped = model([left, right], training=False)
    # L1 distance of shared towers: symmetric in its inputs, and the same image twice gives the bias alone.
    np.testing.assert_allclose(np.asarray(swapped), np.asarray(flipped), atol=1e-6)
    assert np.asarray(same).std() < 1e-6
