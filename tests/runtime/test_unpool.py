"""SegNet's pooling indices: `max_pool2d_with_indices` records where each window max is, `max_unpool2d` puts it
back there (zeros elsewhere), checked against a numpy reference; a spec wires them with `pool:indices`, builds,
saves and loads, and exports to ONNX with parity; a reference to an output the pool does not have is a clear
diagnostic."""

from __future__ import annotations

import numpy as np
import pytest

import nnspec
from nnspec.errors import DiagnosticError
from nnspec.specs.load import parse_spec

pytestmark = pytest.mark.keras


def _windows(height: int, width: int, pool: tuple[int, int], padding: str):
    """(rows, cols) of every window of a stride-`pool` max pool, TensorFlow's split of 'same' padding."""
    (ph, pw), out = pool, []
    for length, p in ((height, ph), (width, pw)):
        n = -(-length // p) if padding == "same" else length // p
        start = (n * p - length) // 2 if padding == "same" else 0
        out.append([range(max(i * p - start, 0), min(i * p - start + p, length)) for i in range(n)])
    return out


def reference(x: np.ndarray, pool: tuple[int, int], padding: str):
    """numpy: pooled values, their flat indices `(y * W + x) * C + c`, and the unpooled map."""
    n, height, width, channels = x.shape
    rows, cols = _windows(height, width, pool, padding)
    values = np.zeros((n, len(rows), len(cols), channels), x.dtype)
    indices = np.zeros(values.shape, np.int64)
    unpooled = np.zeros_like(x)
    for b in range(n):
        for i, ys in enumerate(rows):
            for j, xs in enumerate(cols):
                for c in range(channels):
                    window = x[b, ys.start:ys.stop, xs.start:xs.stop, c]
                    dy, dx = np.unravel_index(np.argmax(window), window.shape)
                    y, xx = ys.start + dy, xs.start + dx
                    values[b, i, j, c] = x[b, y, xx, c]
                    indices[b, i, j, c] = (y * width + xx) * channels + c
                    unpooled[b, y, xx, c] = x[b, y, xx, c]
    return values, indices, unpooled


CASES = [  # (input height, width, channels), pool, padding
    ((8, 8, 3), (2, 2), "valid"),
    ((9, 11, 2), (2, 2), "valid"),   # the last row and column are never read
    ((9, 11, 2), (2, 2), "same"),    # the last windows are half padding
    ((7, 10, 2), (3, 3), "same"),    # 'same' pads before the first window too
    ((6, 9, 1), (2, 3), "valid"),
]


@pytest.mark.parametrize("shape,pool,padding", CASES)
def test_unpool_of_pool_puts_each_window_max_back_at_its_argmax(shape, pool, padding):
    from nnspec.runtime.custom_layers.max_pooling_with_indices import MaxPooling2DWithIndices
    from nnspec.runtime.custom_layers.max_unpooling import MaxUnpooling2D

    x = np.random.default_rng(0).standard_normal((2, *shape)).astype("float32")
    want_values, want_indices, want_unpooled = reference(x, pool, padding)
    values, indices = MaxPooling2DWithIndices(pool, padding=padding)(x)
    np.testing.assert_array_equal(np.asarray(values), want_values)
    np.testing.assert_array_equal(np.asarray(indices), want_indices)
    unpooled = np.asarray(MaxUnpooling2D(pool, output_size=shape[:2])([values, indices]))
    np.testing.assert_array_equal(unpooled, want_unpooled)
    # Every window max is somewhere in the output, and nothing else is.
    assert np.count_nonzero(unpooled) == want_values.size


def test_values_are_placed_by_the_indices_not_by_the_pooled_map():
    """The decoder's values (here: new numbers) land where the encoder's indices say; a misplaced index
    (outside its own window or channel) is dropped."""
    from nnspec.runtime.custom_layers.max_unpooling import MaxUnpooling2D

    values = np.array([[[[1.0], [2.0]], [[3.0], [4.0]]]], dtype="float32")    # 1x2x2x1, pooled from 4x4
    indices = np.array([[[[5], [2]], [[12], [0]]]], dtype="int64")            # (1,1) (0,2) (3,0) and a stray 0
    out = np.asarray(MaxUnpooling2D(2)([values, indices]))[0, :, :, 0]
    want = np.zeros((4, 4), "float32")
    want[1, 1], want[0, 2], want[3, 0] = 1.0, 2.0, 3.0                          # 4.0's index is in window (0, 0)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("shape,pool,padding", CASES[1:])
def test_indices_near_their_window_are_kept_inside_it_and_dropped_outside(shape, pool, padding):
    """Indices one step around each window (other rows, columns, channels): only those in the value's own window
    and channel place it, as a numpy loop over the values says."""
    from nnspec.runtime.custom_layers.max_unpooling import MaxUnpooling2D

    height, width, channels = shape
    rows, cols = _windows(height, width, pool, padding)
    rng = np.random.default_rng(4)
    values = rng.standard_normal((2, len(rows), len(cols), channels)).astype("float32")
    indices = np.zeros(values.shape, np.int64)
    want = np.zeros((2, *shape), "float32")
    for (b, i, j, c), value in np.ndenumerate(values):
        y = int(np.clip(rng.integers(rows[i].start - 1, rows[i].stop + 1), 0, height - 1))
        x = int(np.clip(rng.integers(cols[j].start - 1, cols[j].stop + 1), 0, width - 1))
        ch = c if rng.random() < 0.8 else int(rng.integers(channels))
        indices[b, i, j, c] = (y * width + x) * channels + ch
        if y in rows[i] and x in cols[j] and ch == c:
            want[b, y, x, c] = value
    got = np.asarray(MaxUnpooling2D(pool, output_size=shape[:2])([values, indices]))
    np.testing.assert_array_equal(got, want)
    assert 0 < np.count_nonzero(want) < values.size  # both kinds of index were drawn


SEGNET_LEVEL = """
name: unpool_roundtrip
inputs:
  image: {shape: [9, 11, 2]}
nodes:
  - {id: pool, op: max_pool2d_with_indices, pool_size: 2, padding: same}
  - {id: up, op: max_unpool2d, from: [pool, "pool:indices"], output_size: [9, 11]}
"""

SEGNET_CONV = """
name: unpool_conv
inputs:
  image: {shape: [8, 12, 3]}
nodes:
  - {id: enc, op: conv2d, filters: 4, kernel_size: 3, padding: same}
  - {id: pool, op: max_pool2d_with_indices}
  - {id: dec, op: conv2d, filters: 4, kernel_size: 3, padding: same}
  - {id: up, op: max_unpool2d, from: [dec, "pool:indices"]}
  - {id: out, op: conv2d, filters: 2, kernel_size: 1}
"""


def test_spec_round_trip_through_build_keras_matches_numpy():
    g = nnspec.compile_spec(parse_spec(SEGNET_LEVEL))
    assert [t.dtype for t in g.node("pool").outs] == ["float32", "int64"]
    assert g.sources("up") == [("pool", 0), ("pool", 1)]
    assert g.node("up").out.shape == (None, 9, 11, 2)
    model = nnspec.build_keras(parse_spec(SEGNET_LEVEL), seed=0)
    x = np.random.default_rng(1).standard_normal((3, 9, 11, 2)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)), reference(x, (2, 2), "same")[2])


def test_decoder_values_land_at_the_encoder_argmax_and_the_model_saves_and_loads(tmp_path):
    import keras

    from nnspec.runtime.custom_layers import register_all

    model = nnspec.build_keras(parse_spec(SEGNET_CONV), seed=0)
    assert model.count_params() == nnspec.summary(parse_spec(SEGNET_CONV))["params"]
    x = np.random.default_rng(2).standard_normal((2, 8, 12, 3)).astype("float32")
    enc = np.asarray(model.get_layer("enc")(x))
    dec = np.asarray(model.get_layer("dec")(model.get_layer("pool")(enc)[0]))
    up = np.asarray(keras.Model(model.input, model.get_layer("up").output)(x))
    _, _, mask = reference(enc, (2, 2), "valid")
    placed = mask != 0
    np.testing.assert_allclose(up[placed], np.repeat(np.repeat(dec, 2, axis=1), 2, axis=2)[placed], atol=1e-6)
    assert not up[~placed].any()
    path = tmp_path / "model.keras"
    model.save(path)
    register_all()
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


@pytest.mark.onnx
def test_indices_survive_onnx_export(tmp_path):
    """tf2onnx turns MaxPoolWithArgmax into MaxPool's NCHW indices and back; the unpooled map must match."""
    from nnspec.runtime.onnx_export import onnx_ops, run_onnx

    out = tmp_path / "unpool.onnx"
    report = nnspec.export_onnx(parse_spec(SEGNET_LEVEL), out)
    assert report.max_abs_diff <= 1e-4
    assert {"MaxPool", "Equal"} <= onnx_ops(out)
    x = np.random.default_rng(3).standard_normal((2, 9, 11, 2)).astype("float32")
    (y,) = run_onnx(out, {"image": x})
    np.testing.assert_array_equal(y, reference(x, (2, 2), "same")[2])


def test_unknown_output_name_is_a_located_diagnostic():
    text = SEGNET_LEVEL.replace('"pool:indices"', '"pool:idx"')
    with pytest.raises(DiagnosticError) as caught:
        nnspec.compile_spec(parse_spec(text, file="seg.yaml"))
    message = str(caught.value)
    assert "'pool:idx' names no output of 'pool'" in message
    assert "(max_pool2d_with_indices) has the outputs output, indices" in message
    assert message.startswith("seg.yaml:7:32: nodes[1].from:")


def test_pooled_values_as_indices_are_a_dtype_diagnostic():
    """`from: [pool, pool]` (forgetting `:indices`) feeds float values where indices belong."""
    text = SEGNET_LEVEL.replace('"pool:indices"', "pool")
    with pytest.raises(DiagnosticError, match=r"seg.yaml:7:5: .*expects int input as input 2, got float32"):
        nnspec.compile_spec(parse_spec(text, file="seg.yaml"))


def test_unpool_rejects_a_size_the_pool_cannot_have_read():
    text = SEGNET_LEVEL.replace("output_size: [9, 11]", "output_size: [12, 11]")
    with pytest.raises(DiagnosticError, match=r"cannot unpool a height of 5 to 12.*from 9 to 11"):
        nnspec.compile_spec(parse_spec(text, file="seg.yaml"))
