"""Quantization-aware training: the fake-quant grids are onnxruntime's own (checked against its QuantizeLinear /
DequantizeLinear and its quantized weights, eager and inside `tf.function`), gradients pass straight through, and
a QAT run's int8/int4 export is at least as accurate as post-training quantization of the same run."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.onnx]

MLP = """
nnspec: 1
name: digits_mlp
inputs:
  pixels: {shape: [64]}
nodes:
  - {op: dense, units: 24, activation: relu}
  - {op: dense, units: 24, activation: relu}
  - {id: logits, op: dense, units: 10}
train:
  data: digits_flat
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.003}
  schedule: cosine
  epochs: 12
  batch_size: 32
  test_split: 0.2
  seed: 0
"""


def _session(proto):
    import onnxruntime as ort

    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _qdq_model(scale: float, zero_point: int, n: int):
    """x → QuantizeLinear(uint8) → DequantizeLinear, onnxruntime's activation quantization."""
    from onnx import TensorProto, helper

    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [scale]),
             helper.make_tensor("z", TensorProto.UINT8, [], [zero_point])]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@pytest.mark.parametrize("low,high", [(-2.5, 4.0), (0.5, 3.0), (-7.0, -1.0)])
def test_fake_quant_is_onnxruntimes_uint8_quantize_dequantize(low, high):
    from onnxruntime.quantization.quant_utils import compute_scale_zp

    from nnspec.runtime.custom_layers.fake_quant import FakeQuant

    x = np.random.default_rng(0).uniform(-9, 9, 5000).astype(np.float32)
    layer = FakeQuant()
    layer.build(x.shape)
    layer.min.assign(low)
    layer.max.assign(high)
    got = np.asarray(layer(x))
    zero_point, scale = compute_scale_zp(np.float32(low), np.float32(high), np.uint8(0), np.uint8(255))
    want = _session(_qdq_model(float(scale), int(zero_point), len(x))).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-5)
    levels = np.unique(got)
    assert 100 < len(levels) <= 256 and levels.min() <= 0.0 <= levels.max()  # the range always holds 0


def test_fake_quant_tracks_a_moving_range_in_training_only():
    from nnspec.runtime.custom_layers.fake_quant import FakeQuant

    layer = FakeQuant(momentum=0.5)
    x = np.linspace(1.0, 10.0, 32, dtype=np.float32)
    layer(x)
    assert (float(layer.min.numpy()), float(layer.max.numpy())) == (-6.0, 6.0)  # inference: frozen
    layer(x, training=True)
    assert float(layer.min.numpy()) == pytest.approx(0.5 * -6.0 + 0.5 * 0.0)  # widened to hold 0
    assert float(layer.max.numpy()) == pytest.approx(0.5 * 6.0 + 0.5 * 10.0)


def test_gradients_pass_straight_through():
    import tensorflow as tf

    from nnspec.runtime.custom_layers.fake_quant import FakeQuant, fake_quant_weight

    layer = FakeQuant()
    x = tf.Variable(np.linspace(-8.0, 8.0, 101, dtype=np.float32))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer(x) * 3.0)
    grad = tape.gradient(y, x).numpy()
    inside = np.abs(x.numpy()) < 5.9
    assert np.all(grad[inside] == 3.0) and np.all(grad[np.abs(x.numpy()) > 6.1] == 0.0)  # clipped: no gradient
    w = tf.Variable(np.random.default_rng(1).standard_normal((3, 3, 2, 4)).astype(np.float32))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(fake_quant_weight(w, 4) * 2.0)
    np.testing.assert_array_equal(tape.gradient(y, w).numpy(), 2.0)


def test_a_fake_quantized_model_saves_and_loads(tmp_path):
    import keras

    from nnspec.runtime.custom_layers import register_all
    from nnspec.runtime.custom_layers.fake_quant import FakeQuant, QuantConv2D, QuantDense, QuantDepthwiseConv2D

    inputs = keras.Input((6, 6, 2))
    x = FakeQuant(momentum=0.9, name="q_in")(inputs)
    x = QuantDepthwiseConv2D(3, padding="same", per_channel=False, name="depthwise")(x)
    x = QuantConv2D(4, 3, weight_bits=4, activation="relu", name="conv")(x)
    x = FakeQuant(name="q_conv")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, QuantDense(3, weight_bits=8, name="dense")(x))
    model.get_layer("q_conv").max.assign(2.5)
    data = np.random.default_rng(0).uniform(-1, 1, (4, 6, 6, 2)).astype(np.float32)
    model.save(tmp_path / "model.keras")
    register_all()
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(np.asarray(loaded(data)), np.asarray(model(data)))
    assert type(loaded.get_layer("conv")) is QuantConv2D and loaded.get_layer("conv").weight_bits == 4
    assert type(loaded.get_layer("depthwise")) is QuantDepthwiseConv2D and not loaded.get_layer("depthwise").per_channel
    assert float(loaded.get_layer("q_conv").max.numpy()) == 2.5 and loaded.get_layer("q_in").momentum == 0.9


def _conv_model(kernel: np.ndarray, group: int = 1):
    """An ONNX Conv holding `kernel` (Keras layout (kh, kw, in, out)), for onnxruntime to quantize; with
    `group` = channels, the kernel is a depthwise one (kh, kw, channels, 1), as tf2onnx exports it."""
    from onnx import TensorProto, helper, numpy_helper

    kh, kw, c, o = kernel.shape
    weight = kernel.transpose(3, 2, 0, 1) if group == 1 else kernel.transpose(2, 3, 0, 1)
    if group > 1:
        c, o = c * o, c * o
    inits = [numpy_helper.from_array(weight.copy(), "w"), numpy_helper.from_array(np.zeros(o, np.float32), "b")]
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], group=group)
    graph = helper.make_graph([node], "conv",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, o, 6, 6])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@pytest.mark.parametrize("bits,per_channel,depthwise", [(8, True, False), (4, True, False), (8, False, False),
                                                      (8, True, True), (8, False, True)])
def test_weight_fake_quant_is_onnxruntimes_weight_quantization(tmp_path, bits, per_channel, depthwise):
    import onnx
    import tensorflow as tf
    from onnx import numpy_helper
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from nnspec.runtime.custom_layers.fake_quant import fake_quant_weight

    rng = np.random.default_rng(bits)
    kernel = rng.standard_normal((3, 3, 1 if depthwise else 4, 16)).astype(np.float32)
    kernel[..., 3] *= 1e-3  # a tiny channel, and channels whose largest magnitude is negative (int4's -8)
    kernel[1, 1, 0, ::2] = -4.0
    if depthwise:  # 16 channels, multiplier 1
        kernel = kernel.transpose(0, 1, 3, 2).copy()
    onnx.save(_conv_model(kernel, group=16 if depthwise else 1), str(tmp_path / "conv.onnx"))
    data = iter([{"x": rng.standard_normal((1, 16 if depthwise else 4, 6, 6)).astype(np.float32)}])

    class Reader:
        def get_next(self):
            return next(data, None)

    quantize_static(str(tmp_path / "conv.onnx"), str(tmp_path / "q.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=per_channel, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8 if bits == 8 else QuantType.QInt4,
                    calibrate_method=CalibrationMethod.MinMax)
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "q.onnx")).graph.initializer}
    q, scale = inits["w_quantized"].astype(np.float32), inits["w_scale"]
    assert scale.size == (16 if per_channel else 1)
    dequantized = q * np.reshape(scale, (-1, 1, 1, 1))
    want = dequantized.transpose(2, 3, 0, 1) if depthwise else dequantized.transpose(2, 3, 1, 0)
    variable = tf.Variable(kernel)
    kwargs = {"per_channel": per_channel, "channel_dims": 2 if depthwise else 1}
    np.testing.assert_array_equal(np.asarray(fake_quant_weight(variable, bits, **kwargs)), want)
    np.testing.assert_array_equal(tf.function(lambda: fake_quant_weight(variable, bits, **kwargs))().numpy(), want)


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    from nnspec.runtime.train import train
    from nnspec.specs.load import parse_spec

    root = tmp_path_factory.mktemp("qat")
    spec = parse_spec(MLP, str(root / "mlp.yaml"))
    return train(spec, root / "run", verbose=0).run_dir


@pytest.mark.parametrize("bits", [8, 4])
def test_qat_export_is_at_least_as_accurate_as_post_training_quantization(mlp_run, tmp_path, bits):
    import onnx

    from nnspec.runtime.onnx_export import onnx_ops
    from nnspec.runtime.qat import qat_run

    out = tmp_path / f"mlp.int{bits}.onnx"
    report = qat_run(mlp_run, out, epochs=2, weight_bits=bits, run_out=tmp_path / "tuned")
    assert report.path == out and out.is_file()
    assert {"QuantizeLinear", "DequantizeLinear"} <= onnx_ops(out)
    types = {t.data_type for t in onnx.load(str(out)).graph.initializer}
    assert (onnx.TensorProto.INT8 if bits == 8 else onnx.TensorProto.INT4) in types
    assert report.fake_quant_nodes == 3 and report.quantized_weights == 3 and report.examples == 360
    assert report.accuracy >= report.ptq_accuracy, report.to_dict()
    if bits == 4:  # here post-training quantization loses accuracy (measured: 93.9% float, 91.9% PTQ), and QAT
        assert report.ptq_accuracy < report.float_accuracy, report.to_dict()  # wins it back (94.2%)
        assert report.accuracy > report.ptq_accuracy, report.to_dict()
    assert report.agreement >= 0.98, report.to_dict()  # training simulated what the export computes
    assert report.float_accuracy > 0.9


def test_the_tuned_run_is_a_plain_float_run(mlp_run, tmp_path):
    from nnspec.runtime.qat import qat_run
    from nnspec.runtime.run_dir import load_run

    qat_run(mlp_run, tmp_path / "m.onnx", epochs=1, compare_ptq=False, run_out=tmp_path / "tuned")
    spec, model = load_run(tmp_path / "tuned")
    assert [n.op for n in spec.nodes] == ["dense", "dense", "dense"]
    assert [type(layer).__name__ for layer in model.layers[1:]] == ["Dense"] * 3


def test_bad_options_are_input_errors(mlp_run, tmp_path):
    from nnspec.errors import InputError, RunDirError
    from nnspec.runtime.qat import QatError, qat_run

    for kwargs, match in [({"weight_bits": 3}, "weight_bits"), ({"epochs": 0}, "epochs"),
                          ({"samples": 0}, "samples"), ({"learning_rate": -1.0}, "learning_rate")]:
        with pytest.raises(QatError, match=match):
            qat_run(mlp_run, tmp_path / "x.onnx", **kwargs)
    with pytest.raises(RunDirError):
        qat_run(tmp_path, tmp_path / "x.onnx")
    assert issubclass(QatError, InputError)
    assert not (tmp_path / "x.onnx").exists()


WINE_RAW = """
nnspec: 1
name: wine_raw
inputs:
  features: {shape: [13]}
nodes:
  - {op: dense, units: 32, activation: relu}
  - {op: dense, units: 32, activation: relu}
  - {id: cultivar, op: dense, units: 3}
train:
  data: {name: csv, path: @CSV@, label: cultivar, standardize: false}
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.003}
  epochs: 100
  batch_size: 16
  test_split: 0.2
  seed: 0
"""


def test_int8_qat_beats_post_training_quantization_on_unstandardized_features(tmp_path):
    """Wine's raw measurements span 0.13 to 1680; the int8 export gives the graph input one uint8 scale (~6.6),
    which crushes most features. Post-training int8 loses accuracy (measured, seed 0: 77.8% float, 58.3% PTQ),
    and QAT, trained through that rounding, wins a clear part back (77.8%; bench/results/qat_vs_ptq.md: seeds
    0-2 gain 19.4 / 2.8 / 8.3 points). The test split is 36 wines: one wine is 2.8 points."""
    import csv

    from sklearn.datasets import load_wine

    from nnspec import api
    from nnspec.runtime.qat import qat_run

    raw = load_wine()
    with open(tmp_path / "wine.csv", "w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow([n.replace("/", "_") for n in raw.feature_names] + ["cultivar"])
        rows.writerows([*map(repr, map(float, x)), int(y)] for x, y in zip(raw.data, raw.target))
    # NOTE: absolute: a run keeps its spec, and QAT resolves relative data paths from the run directory
    (tmp_path / "wine.yaml").write_text(WINE_RAW.replace("@CSV@", str(tmp_path / "wine.csv")))
    api.train(api.load_spec(tmp_path / "wine.yaml"), tmp_path / "run", verbose=0)
    report = qat_run(tmp_path / "run", tmp_path / "wine.qat.int8.onnx")
    assert report.ptq_accuracy <= report.float_accuracy - 0.1, report.to_dict()  # PTQ loses 4+ wines
    assert report.accuracy >= report.ptq_accuracy + 0.1, report.to_dict()  # QAT wins 4+ of them back
