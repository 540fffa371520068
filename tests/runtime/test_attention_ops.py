"""The attention-model ops compute what their cards promise: sinusoidal and learned positions, causal and padding
masks in attention, the class token, `take`, the tied embedding (one matrix for lookups and logits, counted once,
saved and loaded), and the Transformer and ViT zoo specs' small variants."""

from __future__ import annotations

import numpy as np
import pytest

import nnspec
from nnspec.specs.load import parse_spec

pytestmark = pytest.mark.keras


def _model(text: str):
    return nnspec.build_keras(parse_spec(text), seed=0)


def _np(y):
    import keras

    return keras.ops.convert_to_numpy(y)


def paper_sinusoids(length: int, d: int) -> np.ndarray:
    """Vaswani et al. 2017, Sec. 3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same)."""
    pe = np.zeros((length, d))
    for pos in range(length):
        for i in range((d + 1) // 2):
            angle = pos / 10000 ** (2 * i / d)
            pe[pos, 2 * i] = np.sin(angle)
            if 2 * i + 1 < d:
                pe[pos, 2 * i + 1] = np.cos(angle)
    return pe


SINUSOIDAL = """
name: sinusoidal
inputs:
  x: {shape: [null, DIM]}
nodes:
  - {id: pe, op: positional_encoding, scale_input: SCALE}
"""


@pytest.mark.parametrize("d,scale", [(10, False), (9, True)])
def test_sinusoidal_encoding_is_the_papers_formula_at_any_length(d, scale):
    model = _model(SINUSOIDAL.replace("DIM", str(d)).replace("SCALE", str(scale).lower()))
    rng = np.random.default_rng(0)
    for length in (6, 40):
        x = rng.standard_normal((2, length, d)).astype("float32")
        want = x * (np.sqrt(d) if scale else 1.0) + paper_sinusoids(length, d)
        np.testing.assert_allclose(_np(model(x)), want, atol=2e-5)


def test_learned_positions_add_the_first_rows_of_their_table():
    model = _model("""
name: learned
inputs:
  x: {shape: [null, 4]}
nodes:
  - {id: pe, op: positional_encoding, kind: learned, max_length: 9}
""")
    layer = model.get_layer("pe")
    table = np.random.default_rng(1).standard_normal((9, 4)).astype("float32")
    layer.set_weights([table])
    x = np.random.default_rng(2).standard_normal((3, 5, 4)).astype("float32")
    np.testing.assert_allclose(_np(model(x)), x + table[:5], atol=1e-6)
    assert model.count_params() == 36


ATTENTION = """
name: attention
inputs:
  x: {shape: [7, 8]}
nodes:
  - {id: attention, op: multi_head_attention, num_heads: 2, key_dim: 4, use_causal_mask: CAUSAL, from: [x, x]}
"""


def test_causal_attention_output_at_t_ignores_later_steps():
    causal = _model(ATTENTION.replace("CAUSAL", "true"))
    full = _model(ATTENTION.replace("CAUSAL", "false"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 8)).astype("float32")
    for t in (0, 3, 5):
        changed = x.copy()
        changed[:, t + 1:] = rng.standard_normal(changed[:, t + 1:].shape)
        np.testing.assert_allclose(_np(causal(changed))[:, :t + 1], _np(causal(x))[:, :t + 1], atol=1e-6)
        # Without the mask, step t sees the change (so the check above can fail).
        assert not np.allclose(_np(full(changed))[:, :t + 1], _np(full(x))[:, :t + 1], atol=1e-3)
    # The flag is config, so a saved layer keeps it.
    assert causal.get_layer("attention").get_config()["use_causal_mask"] is True


PADDED = """
name: padded
inputs:
  ids: {shape: [null], dtype: int32}
nodes:
  - {id: embed, op: embedding, input_dim: 20, output_dim: 8, mask_zero: MASK}
  - {id: pe, op: positional_encoding}
  - {id: attention1, op: multi_head_attention, num_heads: 2, key_dim: 4, from: [pe, pe]}
  - {id: res, op: add, from: [pe, attention1]}
  - {id: norm, op: layer_norm}
  - {id: proj, op: dense, units: 8}
  - {id: attention2, op: multi_head_attention, num_heads: 2, key_dim: 4, from: [proj, proj]}
"""


def test_padding_mask_from_embedding_reaches_attention():
    """Padded steps (id 0) do not change the outputs at the real steps, however many there are; the mask survives
    a residual add around the first attention (Keras's own layer clears its inputs' masks) into the second."""
    masked = _model(PADDED.replace("MASK", "true"))
    unmasked = _model(PADDED.replace("MASK", "false"))
    tokens = np.array([[5, 3, 7, 2], [9, 1, 4, 4]], dtype="int32")
    padded = np.concatenate([tokens, np.zeros((2, 3), dtype="int32")], axis=1)
    np.testing.assert_allclose(_np(masked(padded))[:, :4], _np(masked(tokens)), atol=1e-5)
    assert not np.allclose(_np(unmasked(padded))[:, :4], _np(unmasked(tokens)), atol=1e-3)


def test_class_token_prepends_exactly_its_weight():
    model = _model("""
name: cls
inputs:
  x: {shape: [5, 6]}
nodes:
  - {id: cls, op: class_token}
""")
    token = np.random.default_rng(3).standard_normal(6).astype("float32")
    model.get_layer("cls").set_weights([token])
    x = np.random.default_rng(4).standard_normal((3, 5, 6)).astype("float32")
    y = _np(model(x))
    assert y.shape == (3, 6, 6)
    np.testing.assert_array_equal(y[:, 0], np.broadcast_to(token, (3, 6)))
    np.testing.assert_array_equal(y[:, 1:], x)


@pytest.mark.parametrize("axis,index", [(1, 0), (1, -1), (-1, [3, 0, 3]), (2, [1])])
def test_take_is_numpy_take(axis, index):
    model = _model(f"""
name: take
inputs:
  x: {{shape: [5, 4]}}
nodes:
  - {{id: pick, op: take, axis: {axis}, index: {index}}}
""")
    x = np.random.default_rng(5).standard_normal((2, 5, 4)).astype("float32")
    np.testing.assert_array_equal(_np(model(x)), np.take(x, index, axis=axis))


TIED = """
name: tied
inputs:
  ids: {shape: [null], dtype: int32}
blocks:
  vocabulary:
    nodes:
      - {id: matrix, op: tied_embedding, input_dim: 11, output_dim: 6, mask_zero: true}
nodes:
  - {id: embed, block: vocabulary, from: ids}
  - {id: hidden, op: dense, units: 6}
  - {id: logits, block: vocabulary, share: embed}
outputs: [embed, logits]
"""


def test_tied_embedding_uses_one_matrix_for_lookups_and_logits(tmp_path):
    import keras

    from nnspec.runtime.custom_layers import register_all

    spec = parse_spec(TIED)
    model = nnspec.build_keras(spec, seed=0)
    assert model.count_params() == nnspec.summary(spec)["params"] == 11 * 6 + 6 * 6 + 6
    matrix = _np(model.get_layer("embed.matrix").embeddings)  # (output_dim, input_dim): column i is token i
    ids = np.array([[1, 4, 10, 0]], dtype="int32")
    vectors, logits = (_np(y) for y in model(ids))
    np.testing.assert_allclose(vectors, matrix.T[ids], atol=1e-6)
    kernel, bias = model.get_layer("hidden").get_weights()
    np.testing.assert_allclose(logits, (vectors @ kernel + bias) @ matrix, atol=1e-5)
    path = tmp_path / "tied.keras"
    model.save(path)
    register_all()
    loaded = keras.saving.load_model(path)
    for got, want in zip(loaded(ids), model(ids)):
        np.testing.assert_array_equal(_np(got), _np(want))


def _small(name: str):
    return nnspec.load_spec(f"zoo:{name}", nnspec.load_spec(f"zoo:{name}").expect.small)


def test_small_transformer_masks_source_padding_and_future_targets(tmp_path):
    import keras

    from nnspec.runtime.custom_layers import register_all

    spec = _small("transformer")
    model = nnspec.build_keras(spec, seed=0)
    rng = np.random.default_rng(6)
    source = rng.integers(1, 40, (2, 5)).astype("int32")
    target = rng.integers(1, 40, (2, 4)).astype("int32")
    logits = _np(model([source, target], training=False))
    assert logits.shape == (2, 4, 40)
    padded_source = np.concatenate([source, np.zeros((2, 3), "int32")], axis=1)
    np.testing.assert_allclose(_np(model([padded_source, target], training=False)), logits, atol=1e-5)
    later = target.copy()
    later[:, 2:] = rng.integers(1, 40, (2, 2))
    np.testing.assert_allclose(_np(model([source, later], training=False))[:, :2], logits[:, :2], atol=1e-5)
    assert not np.allclose(_np(model([source, later], training=False))[:, 2:], logits[:, 2:], atol=1e-4)
    # Saved and loaded: the same logits, the causal flag only on the decoder's self-attention.
    model.save(tmp_path / "transformer.keras")
    register_all()
    loaded = keras.saving.load_model(tmp_path / "transformer.keras")
    np.testing.assert_array_equal(_np(loaded([source, target], training=False)), logits)
    causal = {layer.name: layer.use_causal_mask for layer in loaded.layers if hasattr(layer, "use_causal_mask")}
    assert causal == {"encoder1.self_attention": False, "decoder1.self_attention": True,
                      "decoder1.cross_attention": False}


def test_small_vit_runs_forward_on_its_class_token():
    spec = _small("vit_b16")
    model = nnspec.build_keras(spec, seed=0)
    images = np.random.default_rng(7).standard_normal((3, 32, 32, 3)).astype("float32")
    y = _np(model(images, training=False))
    assert y.shape == (3, 10) and np.isfinite(y).all()
    assert not np.allclose(y[0], y[1])
    # The head reads the normalized class token: position 0 of the final layer norm's output.
    tokens = keras_submodel(model, "encoder_norm")(images, training=False)
    head = model.get_layer("head")
    np.testing.assert_allclose(y, _np(head(_np(tokens)[:, 0])), atol=1e-5)


def keras_submodel(model, layer: str):
    import keras

    return keras.Model(model.input, model.get_layer(layer).output)
