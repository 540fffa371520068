"""Recurrent layers with states: `return_state: true` outputs (`enc:state_h`, `enc:state_c`) equal Keras's own
`return_state=True` layer with the same weights, a layer started from them (`from: [x, enc:state_h, enc:state_c]`)
is Keras's `initial_state`, and wrong wiring is a diagnostic at the spec line. Also the seq2seq zoo wiring."""

from __future__ import annotations

import numpy as np
import pytest

import nnspec
from nnspec.compiler.pipeline import compile_spec
from nnspec.errors import CompileError, SpecError
from nnspec.specs.load import parse_spec

ENC_DEC = """
name: enc_dec
inputs:
  source: {{shape: [7, 3]}}
  target: {{shape: [5, 2]}}
nodes:
  - {{id: enc, op: {cell}, units: {enc_units}, return_sequences: true, return_state: true, from: source}}
  - {{id: dec, op: {cell}, units: {dec_units}, return_sequences: true, from: [{dec_from}]}}
"""
STATES = {"lstm": ["enc:state_h", "enc:state_c"], "gru": ["enc:state_h"]}


def enc_dec(cell: str = "lstm", enc_units: int = 6, dec_units: int = 6, states: list[str] | None = None) -> str:
    dec_from = ", ".join(["target", *(STATES[cell] if states is None else states)])
    return ENC_DEC.format(cell=cell, enc_units=enc_units, dec_units=dec_units, dec_from=dec_from)


def _line(text: str, needle: str) -> int:
    """1-based line of the first line of `text` containing `needle` (as the parser counts lines)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((2, 7, 3)).astype("float32"), rng.standard_normal((2, 5, 2)).astype("float32")


# --- Keras: values ----------------------------------------------------------------------------------------------


@pytest.mark.keras
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_states_and_initial_states_equal_a_hand_built_keras_model(cell):
    import keras

    model = nnspec.build_keras(parse_spec(enc_dec(cell)), seed=0)
    x, y = _inputs()
    enc = model.get_layer("enc")
    got = [keras.ops.convert_to_numpy(t) for t in enc(x)]
    assert len(got) == 1 + len(STATES[cell])
    # The same layer built by hand, with the nnspec layer's weights copied in.
    keras_cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    ref_enc = keras_cls(6, return_sequences=True, return_state=True)
    ref_enc(x)
    ref_enc.set_weights(enc.get_weights())
    want = [keras.ops.convert_to_numpy(t) for t in ref_enc(x)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-6)
    np.testing.assert_allclose(got[1], got[0][:, -1], atol=1e-6)  # state_h is the last step's output
    if cell == "lstm":
        assert not np.allclose(got[1], got[2], atol=1e-3)  # the cell state is a different tensor
    # The whole model: the decoder starts from the encoder's states, in Keras's order (h, then c).
    ref_dec = keras_cls(6, return_sequences=True)
    ref_dec(y, initial_state=want[1:])
    ref_dec.set_weights(model.get_layer("dec").get_weights())
    expected = keras.ops.convert_to_numpy(ref_dec(y, initial_state=want[1:]))
    np.testing.assert_allclose(np.asarray(model([x, y])), expected, atol=1e-6)


@pytest.mark.keras
def test_decoder_started_from_the_encoder_state_differs_from_a_zero_start():
    import keras

    model = nnspec.build_keras(parse_spec(enc_dec("lstm")), seed=0)
    x, y = _inputs()
    dec = model.get_layer("dec")
    from_states = np.asarray(model([x, y]))
    zero_start = keras.ops.convert_to_numpy(dec(y))
    zeros = np.zeros((2, 6), dtype="float32")
    explicit_zeros = keras.ops.convert_to_numpy(dec(y, initial_state=[zeros, zeros]))
    np.testing.assert_allclose(zero_start, explicit_zeros, atol=1e-6)  # no state means a zero state
    assert np.abs(from_states - zero_start).max() > 1e-3
    # ... and it depends on the source sequence only through those states.
    x2, _ = _inputs(seed=1)
    assert np.abs(np.asarray(model([x2, y])) - from_states).max() > 1e-3


# --- diagnostics (no Keras) -------------------------------------------------------------------------------------


def test_state_width_must_equal_units_at_the_decoder_line():
    text = enc_dec("lstm", enc_units=6, dec_units=4)
    with pytest.raises(CompileError) as info:
        compile_spec(parse_spec(text, "enc_dec.yaml"))
    (problem,) = info.value.diagnostics
    assert problem.loc.file == "enc_dec.yaml" and problem.loc.line == _line(text, "id: dec")
    assert problem.path == "nodes[1]"
    assert "'dec' (lstm) needs its initial state_h shaped (batch, units) = (None, 4), got (None, 6)" in \
        problem.message
    assert "state width must equal `units` (4)" in problem.message


def test_a_sequence_given_as_a_state_is_refused_with_a_hint():
    text = enc_dec("lstm", states=["enc", "enc:state_c"])  # `enc` is the (N, 7, 6) output sequence
    with pytest.raises(CompileError) as info:
        compile_spec(parse_spec(text))
    (problem,) = info.value.diagnostics
    assert "initial state_h shaped (batch, units) = (None, 6), got (None, 7, 6)" in problem.message
    assert "`return_state: true`, then `id:state_h`" in problem.message


def test_state_c_of_a_gru_names_the_outputs_it_has():
    text = enc_dec("gru", states=["enc:state_c"])
    with pytest.raises(SpecError) as info:
        parse_spec(text, "enc_dec.yaml")
    (problem,) = info.value.diagnostics
    assert problem.loc.line == _line(text, "id: dec")
    assert "'enc:state_c' names no output of 'enc'" in problem.message
    assert "(gru) has the outputs output, state_h" in problem.message  # the outputs it has
    assert "no cell state state_c" in problem.message


def test_a_state_of_a_layer_without_return_state_says_how_to_get_it():
    text = enc_dec("lstm").replace(" return_state: true,", "")
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    messages = [d.message for d in info.value.diagnostics]
    assert messages and all("names no output of 'enc'" in m for m in messages)
    assert all("With `return_state: true` its final states are outputs: state_h and state_c" in m for m in messages)


def test_an_lstm_takes_the_sequence_alone_or_with_both_states():
    text = enc_dec("lstm", states=["enc:state_h"])
    with pytest.raises(SpecError, match=r"op 'lstm' takes 1 or 3 inputs \(sequence, initial state_h, "
                                        r"initial state_c\), got 2"):
        parse_spec(text)


def test_bidirectional_layers_refuse_states():
    with pytest.raises(SpecError, match="return_state is not supported on a bidirectional layer"):
        parse_spec(enc_dec("lstm").replace("return_state: true,", "return_state: true, bidirectional: true,"))
    text = enc_dec("lstm").replace("units: 6, return_sequences: true, from: [target",
                                   "units: 6, return_sequences: true, bidirectional: true, from: [target")
    with pytest.raises(CompileError, match="cannot start a bidirectional layer from given states"):
        compile_spec(parse_spec(text))


def test_state_outputs_are_typed_in_the_ir():
    g = compile_spec(parse_spec(enc_dec("lstm")))
    enc = g.node("enc")
    assert [t.shape for t in enc.outs] == [(None, 7, 6), (None, 6), (None, 6)]
    assert g.sources("dec") == [("target", 0), ("enc", 1), ("enc", 2)]


# --- the seq2seq zoo spec ---------------------------------------------------------------------------------------


def _lstm(units: int, inputs: int, gates: int = 4) -> int:
    return gates * units * (inputs + units) + gates * units  # kernels and one bias per gate


def test_seq2seq_count_is_the_papers_arithmetic():
    g = nnspec.compile_spec("zoo:seq2seq")
    embeddings = 160_000 * 1000 + 80_000 * 1000
    softmax = 1000 * 80_000 + 80_000
    assert sum(n.params for n in g.order()) == embeddings + 8 * _lstm(1000, 1000) + softmax == 384_112_000
    # The paper's "64M pure recurrent connections": the 8 layers' kernels, biases left out.
    assert 8 * 4 * 1000 * (1000 + 1000) == 64_000_000


@pytest.mark.parametrize("cell,layers", [("lstm", 4), ("lstm", 2), ("gru", 3), ("lstm", 6)])
def test_seq2seq_decoder_layer_k_starts_from_encoder_layer_k(cell, layers):
    spec = nnspec.load_spec("zoo:seq2seq", [f"params.cell={cell}", f"params.layers={layers}", "expect=null"])
    g = nnspec.compile_spec(spec)
    ports = [1, 2] if cell == "lstm" else [1]
    suffix = "" if cell == "lstm" else "_gru"
    for k in range(1, layers + 1):
        below = "target_embedding" if k == 1 else f"layer{k - 1}.decoder{suffix}"
        under = "source_embedding" if k == 1 else f"layer{k - 1}.encoder{suffix}"
        assert g.sources(f"layer{k}.decoder{suffix}") == [(below, 0),
                                                          *((f"layer{k}.encoder{suffix}", p) for p in ports)]
        assert g.sources(f"layer{k}.encoder{suffix}") == [(under, 0)]
    assert g.producers("next_word") == [f"layer{layers}.decoder{suffix}"]
    assert not any(n.id.startswith(f"layer{layers + 1}") for n in g.order())
    gates = 4 if cell == "lstm" else 3
    total = 160_000_000 + 80_000_000 + 2 * layers * _lstm(1000, 1000, gates) + 80_080_000
    assert sum(n.params for n in g.order()) == total
