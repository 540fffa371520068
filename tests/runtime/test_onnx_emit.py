"""The direct IR → ONNX emitter: parity with Keras for every card example it claims, node names, layouts, the
choice between direct and tf2onnx, and pinned IR/opset versions.

Weights are randomized before emission (biases, batch-norm statistics, PReLU slopes are all non-trivial), so a
wrong transpose, a dropped bias or a mis-broadcast scale shows up as a parity failure.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from nnspec.api import compile_spec, load_spec, summary
from nnspec.cli import main
from nnspec.errors import ExportError
from nnspec.layers import LAYERS
from nnspec.runtime.keras_build import build_keras
from nnspec.runtime.onnx_emit import EMITTERS, emit_model, refusals
from nnspec.runtime.onnx_export import (
    MAX_IR_VERSION,
    check_parity,
    direct_refusals,
    export_onnx,
    finish_model,
    onnx_ops,
    save_checked,
)
from nnspec.runtime.weights_io import read_weights
from nnspec.specs.load import parse_spec
from tests.layers.test_conformance import example_spec

pytestmark = [pytest.mark.onnx, pytest.mark.keras]

CLAIMED = [(op, i) for op in sorted(EMITTERS) for i in range(len(LAYERS[op].examples))]

UNCOVERED = """
name: with_rnn
inputs: {x: {shape: [5, 6]}}
nodes:
  - {id: hidden, op: dense, units: 4}
  - {id: rnn, op: simple_rnn, units: 3}
outputs: [rnn]
"""


def _randomize(model, seed: int = 1) -> None:
    """Non-trivial values for the variables Keras initializes to constants (biases, batch-norm statistics and
    scales, PReLU slopes), so each one reaches the output; kernels keep their random initialization. Scales stay
    near 1 so deep models keep outputs near 1 and `atol` means what it says."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        name = v.path.rsplit("/", 1)[-1]
        if name.endswith("kernel"):
            continue
        shape = tuple(v.shape)
        near_one = name in ("gamma", "moving_variance")
        value = rng.uniform(0.5, 1.5, shape) if near_one else rng.normal(0.0, 0.3 if name == "alpha" else 0.1, shape)
        v.assign(value.astype(v.dtype))


def _emit_with_parity(text: str, path, opset: int = 18):
    """Emit the spec's model with random weights; check it with the export's parity gate; return the proto."""
    spec = parse_spec(text)
    graph = compile_spec(spec)
    model = build_keras(graph, seed=0)
    _randomize(model)
    proto = finish_model(emit_model(graph, read_weights(model, graph), opset=opset), spec, graph, opset,
                         check=False)
    save_checked(proto, path)
    return graph, proto, check_parity(path, model, graph, atol=1e-4)


def _assert_named_by_spec_ids(proto, graph) -> None:
    """Every ONNX node is named by a spec node id, or `id/suffix` for helpers."""
    ids = set(graph.nx)
    bad = [n.name for n in proto.graph.node if n.name.split("/")[0] not in ids]
    assert not bad, f"ONNX nodes not named after spec ids: {bad}"
    main_ids = {n.name for n in proto.graph.node}
    missing = [n.id for n in graph.order() if n.op not in ("input", "dropout") and n.id not in main_ids]
    assert not missing, f"spec nodes without an ONNX node of their own name: {missing}"


@pytest.mark.parametrize("op,i", CLAIMED, ids=[f"{op}-{i}" for op, i in CLAIMED])
def test_every_claimed_card_example_matches_keras(tmp_path, op, i):
    graph, proto, diff = _emit_with_parity(example_spec(op, i), tmp_path / "m.onnx")
    assert diff <= 1e-4
    _assert_named_by_spec_ids(proto, graph)
    got = onnx_ops(tmp_path / "m.onnx")
    # The card lists tf2onnx's ops; an emitter may write its own fused form instead (rule.ops).
    missing = set(LAYERS[op].onnx_ops) - got
    fused = EMITTERS[op].ops is not None and set(EMITTERS[op].ops) <= got
    assert not missing or fused, f"card '{op}' promises ONNX ops {sorted(missing)}"


@pytest.mark.parametrize("name", ["digits_cnn", "resnet_small", "residual_cnn", "iris_mlp"])
def test_examples_emit_directly_with_trained_like_weights(tmp_path, name):
    from tests.conftest import EXAMPLES

    graph, proto, diff = _emit_with_parity((EXAMPLES / f"{name}.yaml").read_text(), tmp_path / f"{name}.onnx")
    assert diff <= 1e-4
    _assert_named_by_spec_ids(proto, graph)
    assert proto.producer_name == "nnspec"


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v1", "mobilenet_v2", "siamese",  # siamese: shared weights
                                  "vit_b16", "cyclegan_generator"])  # attention, class token; instance norm
def test_zoo_models_export_directly_under_auto(tmp_path, name):
    spec = load_spec(f"zoo:{name}")
    spec = load_spec(f"zoo:{name}", spec.expect.small)
    report = export_onnx(spec, tmp_path / f"{name}.onnx", via="auto")
    assert report.via == "direct" and report.fallback == ()
    assert report.max_abs_diff <= 1e-4
    model = onnx.load(str(report.path))
    _assert_named_by_spec_ids(model, compile_spec(spec))
    if name == "siamese":  # no batch norm: the initializers are exactly the weights, twins' stored once
        assert sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == 1) == summary(spec)["params"]


def _signature(path) -> list:
    model = onnx.load(str(path))
    return [[(v.name, v.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim])
             for v in values] for values in (model.graph.input, model.graph.output)]  # fmt: skip


def test_graph_inputs_and_outputs_are_those_tf2onnx_gives(tmp_path):
    direct = export_onnx("example:digits_cnn", tmp_path / "direct.onnx", via="direct")
    converted = export_onnx("example:digits_cnn", tmp_path / "tf2onnx.onnx", via="tf2onnx")
    assert (direct.via, converted.via) == ("direct", "tf2onnx")
    assert _signature(direct.path) == _signature(converted.path)
    assert direct.inputs == converted.inputs == {"image": ["batch", 8, 8, 1]}
    assert direct.outputs == converted.outputs == {"probs": ["batch", 10]}


SEQUENCE = """
name: sequence
inputs: {x: {shape: [null, 8]}}
nodes:
  - {id: scaled, op: positional_encoding, scale_input: true}
  - {id: learned, op: positional_encoding, kind: learned, max_length: 9}
  - {id: attention, op: multi_head_attention, num_heads: 2, key_dim: 4, use_causal_mask: true,
     from: [learned, learned]}
  - {id: norm, op: layer_norm, epsilon: 1.0e-6}
  - {id: token, op: class_token}
  - {id: first, op: take, axis: 1, index: 0}
outputs: [norm, first]
"""


def test_sequence_of_unknown_length_builds_positions_and_masks_at_run_time(tmp_path):
    graph, proto, diff = _emit_with_parity(SEQUENCE, tmp_path / "m.onnx")
    assert diff <= 1e-4
    _assert_named_by_spec_ids(proto, graph)
    ops = onnx_ops(tmp_path / "m.onnx")
    assert {"Range", "Sin", "Cos", "Slice", "GreaterOrEqual", "LayerNormalization"} <= ops


@pytest.mark.parametrize("op,i", [("layer_norm", i) for i in range(len(LAYERS["layer_norm"].examples))])
def test_layer_norm_is_written_out_before_opset_17(tmp_path, op, i):
    graph, proto, diff = _emit_with_parity(example_spec(op, i), tmp_path / "m.onnx", opset=16)
    assert diff <= 1e-4
    ops = onnx_ops(tmp_path / "m.onnx")
    assert "LayerNormalization" not in ops and {"Sqrt", "Reciprocal"} <= ops


def test_token_ids_input_is_what_tf2onnx_gives(tmp_path):
    text = """
name: tokens
inputs: {ids: {shape: [7], dtype: int32}}
nodes:
  - {id: embed, op: embedding, input_dim: 12, output_dim: 4}
  - {id: pool, op: global_avg_pool1d}
outputs: [pool]
"""
    direct = export_onnx(parse_spec(text), tmp_path / "direct.onnx", via="direct")
    converted = export_onnx(parse_spec(text), tmp_path / "tf2onnx.onnx", via="tf2onnx")
    assert direct.max_abs_diff <= 1e-4
    assert _signature(direct.path) == _signature(converted.path)
    assert direct.inputs == {"ids": ["batch", 7]}


def test_padding_masks_reaching_attention_or_pooling_are_left_to_tf2onnx():
    text = """
name: masked
inputs: {ids: {shape: [7], dtype: int32}}
nodes:
  - {id: embed, op: embedding, input_dim: 12, output_dim: 4, mask_zero: MASK}
  - {id: norm, op: layer_norm}
  - {id: attention, op: multi_head_attention, num_heads: 2, key_dim: 2, from: [norm, norm]}
  - {id: pool, op: global_avg_pool1d}
outputs: [pool]
"""
    assert refusals(compile_spec(parse_spec(text.replace("MASK", "false")))) == []
    found = refusals(compile_spec(parse_spec(text.replace("MASK", "true"))))
    assert [f.split(":")[0] for f in found] == ["node 'attention' (multi_head_attention)",
                                                "node 'pool' (global_avg_pool1d)"]
    assert "padding mask of 'embed'" in found[0]


def test_channels_last_output_of_a_conv_is_transposed_back(tmp_path):
    text = """
name: conv_out
inputs: {image: {shape: [6, 5, 2]}}
nodes:
  - {id: features, op: conv2d, filters: 3, padding: same}
  - {id: flat, op: flatten, from: [features]}
outputs: [features, flat]
"""
    graph, proto, diff = _emit_with_parity(text, tmp_path / "m.onnx")
    assert diff <= 1e-4
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in proto.graph.output]
    assert dims == [["batch", 6, 5, 3], ["batch", 90]]
    # One transpose in (the input), one back, shared by the output and the flatten.
    assert [n.name for n in proto.graph.node if n.op_type == "Transpose"] == ["image/channels_first",
                                                                              "features/channels_last"]


@pytest.mark.parametrize("opset", [13, 18])
def test_ir_and_opset_are_pinned(tmp_path, opset):
    report = export_onnx("example:digits_cnn", tmp_path / "d.onnx", opset=opset, via="direct")
    model = onnx.load(str(report.path))
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    assert model.ir_version == report.ir_version <= MAX_IR_VERSION
    assert report.opset == opset and report.max_abs_diff <= 1e-4
    assert {p.key for p in model.metadata_props} >= {"nnspec.spec_name", "nnspec.spec_sha256", "nnspec.version"}


def test_uncovered_op_falls_back_to_tf2onnx_under_auto(tmp_path):
    spec = parse_spec(UNCOVERED)
    assert refusals(compile_spec(spec)) == ["node 'rnn' (simple_rnn): no ONNX emitter for this op"]
    report = export_onnx(spec, tmp_path / "m.onnx")
    assert report.via == "tf2onnx"
    assert report.fallback == ("node 'rnn' (simple_rnn): no ONNX emitter for this op",)
    assert report.max_abs_diff <= 1e-4
    assert onnx.load(str(report.path)).producer_name == "tf2onnx"


@pytest.mark.parametrize("inputs,node,why", [
    ("x: {shape: [6, 6, 1]}", "{id: up, op: conv2d_transpose, filters: 2, dilation_rate: 2}",
     "node 'up' (conv2d_transpose): dilated transposed convolutions are not emitted"),
    ("x: {shape: [3], dtype: float16}", "{id: d, op: dense, units: 2}", "input 'x': dtype float16"),
])
def test_refusals_name_the_node_and_the_reason(inputs, node, why):
    graph = compile_spec(parse_spec(f"name: r\ninputs: {{{inputs}}}\nnodes:\n  - {node}\n"))
    (found,) = refusals(graph)
    assert found.startswith(why)


def test_uncovered_op_is_a_clear_error_under_direct(tmp_path):
    with pytest.raises(ExportError, match=r"via='direct': node 'rnn' \(simple_rnn\): no ONNX emitter.*via='tf2onnx'"):
        export_onnx(parse_spec(UNCOVERED), tmp_path / "m.onnx", via="direct")
    assert list(tmp_path.iterdir()) == []


def test_unknown_via_is_refused(tmp_path):
    with pytest.raises(ExportError, match="Received: via='fast'"):
        export_onnx("example:iris_mlp", tmp_path / "m.onnx", via="fast")


def test_mixed_precision_model_is_left_to_tf2onnx():
    import keras

    graph = compile_spec(load_spec("example:iris_mlp"))
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build_keras(graph, seed=0)
    finally:
        keras.config.set_dtype_policy(before)
    assert direct_refusals(graph) == []
    assert any("computes in float16" in r for r in direct_refusals(graph, model))


def test_emitter_parity_failure_names_the_way_around_it(tmp_path, monkeypatch):
    from nnspec.runtime import onnx_export

    real = onnx_export._run_keras
    monkeypatch.setattr(onnx_export, "_run_keras", lambda model, xs: [y + 0.01 for y in real(model, xs)])
    with pytest.raises(ExportError, match=r"disagree.*emitted directly from the IR; via='tf2onnx'"):
        export_onnx("example:iris_mlp", tmp_path / "m.onnx", via="direct")
    assert list(tmp_path.iterdir()) == []


def test_cli_export_via(tmp_path):
    out = tmp_path / "iris.onnx"
    result = CliRunner().invoke(main, ["export", "example:iris_mlp", "--out", str(out), "--via", "direct"])
    assert result.exit_code == 0, result.output
    assert "via direct" in result.output and out.is_file()
    result = CliRunner().invoke(main, ["export", "example:iris_mlp", "--out", str(out), "--via", "sideways"])
    assert result.exit_code == 2
