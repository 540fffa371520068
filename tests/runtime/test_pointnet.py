"""PointNet's ops and model: `matmul` equals numpy's batched product, `transform_matrix` starts as the identity and
computes `reshape(x @ W + b) + I` with the weight count Keras has, and the PointNet classifier (its `expect.small`
variant) gives the same output for any order of the input points, the paper's key property."""

from __future__ import annotations

import numpy as np
import pytest

import nnspec
from nnspec.api import build_keras, compile_spec
from nnspec.errors import CompileError
from nnspec.specs.load import parse_spec

pytestmark = pytest.mark.keras


def _matmul_spec(a: tuple, b: tuple, **flags) -> str:
    extra = "".join(f", {k}: {str(v).lower()}" for k, v in flags.items())
    return f"""
name: product
inputs:
  a: {{shape: {list(a)}}}
  b: {{shape: {list(b)}}}
nodes:
  - {{id: y, op: matmul, from: [a, b]{extra}}}
"""


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_matmul_equals_numpy(transpose_a, transpose_b):
    n, k, m = 5, 4, 3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, n, k)).astype("float32")
    b = rng.standard_normal((2, k, m)).astype("float32")
    a_in = a.transpose(0, 2, 1).copy() if transpose_a else a
    b_in = b.transpose(0, 2, 1).copy() if transpose_b else b
    text = _matmul_spec(a_in.shape[1:], b_in.shape[1:], transpose_a=transpose_a, transpose_b=transpose_b)
    spec = parse_spec(text)
    assert compile_spec(spec).node("y").out.shape == (None, n, m)
    y = np.asarray(build_keras(spec)([a_in, b_in]))
    np.testing.assert_allclose(y, np.matmul(a, b), rtol=1e-5, atol=1e-5)


def test_matmul_refuses_mismatched_inner_sizes():
    with pytest.raises(CompileError, match=r"first matrix's columns \(4\) to equal the second's rows \(3\)"):
        compile_spec(parse_spec(_matmul_spec((5, 4), (3, 2))))


TRANSFORM = """
name: tnet_head
inputs:
  features: {shape: [16]}
  points: {shape: [10, 3]}
nodes:
  - {id: transform, op: transform_matrix, k: 3, from: features}
  - {id: aligned, op: matmul, from: [points, transform]}
outputs: [transform, aligned]
"""


def test_transform_matrix_starts_as_the_identity_and_counts_like_keras():
    spec = parse_spec(TRANSFORM)
    g, model = compile_spec(spec), build_keras(spec, seed=0)
    layer = model.get_layer("transform")
    assert layer.count_params() == g.node("transform").params == 16 * 9 + 9
    rng = np.random.default_rng(0)
    points = rng.standard_normal((4, 10, 3)).astype("float32")
    for features in (np.zeros((4, 16), "float32"), rng.standard_normal((4, 16)).astype("float32")):
        transform, aligned = (np.asarray(y) for y in model([features, points]))
        np.testing.assert_array_equal(transform, np.broadcast_to(np.eye(3, dtype="float32"), (4, 3, 3)))
        np.testing.assert_allclose(aligned, points, atol=1e-6)


def _random_tnet_head(tmp_path):
    """The T-Net head model with random (non-identity) weights, saved as a run directory."""
    model = build_keras(parse_spec(TRANSFORM), seed=0)
    layer = model.get_layer("transform")
    rng = np.random.default_rng(1)
    kernel, bias = (rng.standard_normal(w.shape).astype("float32") * 0.3 for w in layer.weights)
    layer.set_weights([kernel, bias])
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text(TRANSFORM)
    model.save(run / "model.keras")
    return model, kernel, bias, run


@pytest.mark.onnx
def test_transform_matrix_computes_dense_reshape_plus_identity_and_exports(tmp_path):
    from nnspec.runtime.onnx_export import run_onnx

    model, kernel, bias, run = _random_tnet_head(tmp_path)
    rng = np.random.default_rng(2)
    features = rng.standard_normal((3, 16)).astype("float32")
    points = rng.standard_normal((3, 10, 3)).astype("float32")
    want = (features @ kernel + bias).reshape(3, 3, 3) + np.eye(3)
    transform, aligned = (np.asarray(y) for y in model([features, points]))
    np.testing.assert_allclose(transform, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(aligned, points @ want, rtol=1e-5, atol=1e-5)
    # The saved model reloads (the layer is serializable) and exports with its learned weights.
    report = nnspec.export_onnx(run, tmp_path / "tnet.onnx")
    assert report.max_abs_diff <= 1e-4
    onnx_transform, _ = run_onnx(tmp_path / "tnet.onnx", {"features": features, "points": points})
    np.testing.assert_allclose(onnx_transform, want, rtol=1e-5, atol=1e-5)


def _small_pointnet():
    small = nnspec.load_spec("zoo:pointnet").expect.small
    return build_keras(nnspec.load_spec("zoo:pointnet", small), seed=0)


def _randomize(model, seed: int = 0) -> None:
    """Random weights everywhere, the transform heads' included (so the transforms depend on the points): He-scaled
    kernels (smaller in the heads, so the transforms stay near the identity), batch norm scales and variances
    near 1, small offsets."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if w.name == "kernel":
            gain = 0.3 if w.path.endswith("transform/kernel") else 2.0
            value = rng.normal(0, np.sqrt(gain / np.prod(w.shape[:-1])), w.shape)
        elif w.name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, w.shape)
        else:  # bias, beta, moving_mean
            value = rng.normal(0, 0.1, w.shape)
        w.assign(value.astype("float32"))


def test_pointnet_transforms_start_as_the_identity():
    import keras

    model = _small_pointnet()
    heads = ["input_transform.transform", "feature_transform.transform"]
    probe = keras.Model(model.input, [model.get_layer(h).output for h in heads])
    points = np.random.default_rng(0).standard_normal((2, 32, 3)).astype("float32")
    for transform, k in zip(probe(points, training=False), (3, 8)):
        np.testing.assert_array_equal(np.asarray(transform), np.broadcast_to(np.eye(k, dtype="float32"), (2, k, k)))


def test_pointnet_output_does_not_depend_on_the_order_of_the_points():
    import keras

    model = _small_pointnet()
    _randomize(model)
    probe = keras.Model(model.input, [model.output, model.get_layer("input_transform.transform").output])
    rng = np.random.default_rng(0)
    points = rng.standard_normal((2, 32, 3)).astype("float32")
    permuted = [points[:, rng.permutation(32)] for _ in range(3)]
    other = rng.standard_normal((2, 32, 3)).astype("float32")
    moved = points.copy()
    moved[:, 0] += 2.0  # one point moved
    # One forward pass (batch norm at inference treats each example on its own).
    logits, transforms = (np.asarray(y) for y in probe(np.concatenate([points, *permuted, other, moved]),
                                                        training=False))
    logits, transforms = logits.reshape(6, 2, 5), transforms.reshape(6, 2, 3, 3)
    for i in (1, 2, 3):
        np.testing.assert_allclose(logits[i], logits[0], rtol=1e-5, atol=1e-5)
    # The check has teeth: the learned input transform is far from the identity and depends on the cloud, and
    # other clouds, or moving one point, change the logits.
    assert np.abs(transforms[0] - np.eye(3)).max() > 0.1
    assert np.abs(transforms[4] - transforms[0]).max() > 1e-2
    assert np.abs(logits[4] - logits[0]).max() > 1e-2
    assert np.abs(logits[5] - logits[0]).max() > 1e-3
