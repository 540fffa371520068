"""`insert_fake_quant` puts fake-quant nodes exactly where onnxruntime's static QDQ export quantizes activations
(after inputs and ops, not in front of a Relu nor between a linear conv and the batch norm folded into it, not
after dropout nor on graph outputs), keeps the model's types, is idempotent, and its result round-trips as a spec.
"""

from __future__ import annotations

import pytest

from nnspec.compiler.passes.insert_fake_quant import insert_fake_quant, quantized_weights
from nnspec.compiler.pipeline import compile_spec
from nnspec.compiler.to_spec import spec_data
from nnspec.compiler.verify import verify
from nnspec.specs.load import load_spec, parse_spec
from nnspec.specs.resolve import to_yaml
from tests.conftest import EXAMPLES


def _quantized(g) -> dict[str, str]:
    """fake-quant node id → the node it reads."""
    return {n.id: g.producers(n.id)[0] for n in g.order() if n.op == "fake_quant"}


@pytest.fixture(scope="module")
def digits():
    spec = load_spec(EXAMPLES / "digits_cnn.yaml")
    return spec, compile_spec(spec)


@pytest.fixture(scope="module")
def resnet():
    return compile_spec(load_spec(EXAMPLES / "residual_cnn.yaml"))


def test_digits_cnn_gets_a_fake_quant_after_every_activation_the_export_quantizes(digits):
    spec, g = digits
    result = insert_fake_quant(g)
    assert result.changed
    q = result.graph
    verify(q)
    # conv2d_1 has a relu inside, so the batch norm after it is not folded: its output is quantized. Dropouts
    # pass quantized tensors on; `probs` is the graph output.
    assert sorted(_quantized(q).values()) == sorted([
        "image", "conv2d_1", "batch_norm_1", "conv2d_2", "max_pool2d_1", "conv2d_3", "global_avg_pool2d_1",
        "dense_1"])  # fmt: skip
    for quant, read in _quantized(q).items():
        assert q.consumers(read) == [quant]  # everything that read the tensor reads its quantized form
        assert q.node(quant).out == g.node(read).out
    assert q.outputs == g.outputs and q.inputs == g.inputs
    assert q.node("probs").out == g.node("probs").out


def test_folded_batch_norms_and_relus_absorb_the_tensor_before_them(resnet):
    q = insert_fake_quant(resnet).graph
    read = set(_quantized(q).values())
    convs = [n.id for n in resnet.order() if n.op == "conv2d"]
    assert convs and not read & set(convs)  # every conv feeds a batch norm folded into it
    for n in resnet.order():
        consumers = resnet.consumers(n.id)
        if len(consumers) == 1 and resnet.node(consumers[0]).op == "relu":
            assert n.id not in read, n.id  # onnxruntime drops the QDQ pair in front of a Relu
        if n.op == "relu" and n.id not in resnet.outputs:
            assert n.id in read, n.id
    assert "b1.bn2" in read and "b1.add" not in read  # the add's input from the branch; its output feeds a relu
    assert quantized_weights(resnet) == (*convs, "logits")


def test_counts_and_types(digits):
    _, g = digits
    q = insert_fake_quant(g, bits=6, momentum=0.9).graph
    added = [n for n in q.order() if n.op == "fake_quant"]
    assert {(n.spec.num_bits, n.spec.momentum) for n in added} == {(6, 0.9)}
    assert sum(n.params for n in q.order()) == sum(n.params for n in g.order()) + 2 * len(added)
    assert sum(n.trainable_params for n in q.order()) == sum(n.trainable_params for n in g.order())


def test_running_it_twice_changes_nothing(digits):
    _, g = digits
    once = insert_fake_quant(g).graph
    twice = insert_fake_quant(once)
    assert not twice.changed
    assert sorted(twice.graph.nx.nodes) == sorted(once.nx.nodes)


def test_the_result_round_trips_as_a_spec(digits):
    spec, g = digits
    q = insert_fake_quant(g).graph
    text = to_yaml(spec_data(q, spec))
    again = compile_spec(parse_spec(text, "qat.yaml"))
    assert [(n.id, n.op, n.out) for n in again.order()] == [(n.id, n.op, n.out) for n in q.order()]
    assert sorted(again.nx.edges) == sorted(q.nx.edges)
    assert not insert_fake_quant(again).changed


def test_integer_inputs_and_outputs_are_left_alone():
    text = """
name: tokens
inputs: {ids: {shape: [5], dtype: int32}}
nodes:
  - {id: embed, op: embedding, input_dim: 20, output_dim: 4}
  - {op: flatten}
  - {id: out, op: dense, units: 3}
"""
    g = compile_spec(parse_spec(text, "tokens.yaml"))
    q = insert_fake_quant(g).graph
    assert sorted(_quantized(q).values()) == ["embed", "flatten_1"]
    assert quantized_weights(g) == ("out",)


def test_depthwise_kernels_are_fake_quantized_and_fold_their_batch_norm():
    text = """
name: mobile
inputs: {image: {shape: [8, 8, 3]}}
nodes:
  - {id: dw, op: depthwise_conv2d, kernel_size: 3, padding: same, use_bias: false}
  - {id: bn, op: batch_norm}
  - {id: act, op: relu}
  - {id: pw, op: conv2d, filters: 4, kernel_size: 1}
  - {op: global_avg_pool2d}
  - {id: out, op: dense, units: 3}
"""
    g = compile_spec(parse_spec(text, "mobile.yaml"))
    assert quantized_weights(g) == ("dw", "pw", "out")  # the export quantizes the grouped Conv's kernel too
    read = set(_quantized(insert_fake_quant(g).graph).values())
    assert "dw" not in read and "bn" not in read and "act" in read  # bn folds into dw, relu absorbs bn
