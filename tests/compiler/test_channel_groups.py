"""`channel_groups`: which producers' channels are pruned together, who follows them, and what
blocks them (pure: no Keras)."""

from __future__ import annotations

import numpy as np

import nnspec
from nnspec.compiler.passes.channel_groups import channel_groups
from nnspec.compiler.pipeline import compile_spec
from nnspec.specs.load import parse_spec
from tests.conftest import EXAMPLES

CONCAT = """
nnspec: 1
name: concat_net
inputs: {image: {shape: [8, 8, 3]}}
nodes:
  - {id: stem, op: conv2d, filters: 8, padding: same}
  - {id: a, op: conv2d, from: stem, filters: 6, kernel_size: 1}
  - {id: a_bn, op: batch_norm}
  - {id: b, op: conv2d, from: stem, filters: 10, padding: same, activation: relu}
  - {id: cat, op: concatenate, from: [a_bn, b]}
  - {id: c, op: conv2d, filters: 16, kernel_size: 1}
  - {id: sum, op: add, from: [cat, c]}
  - {id: act, op: relu}
  - {id: up, op: conv2d_transpose, filters: 6, strides: 2, padding: same}
  - {id: down, op: conv2d, filters: 4, strides: 2, padding: same}
  - {id: flat, op: flatten}
  - {id: out, op: dense, units: 5}
outputs: [out]
"""

DEPTHWISE = """
nnspec: 1
name: mobile_net
inputs: {image: {shape: [8, 8, 3]}}
nodes:
  - {id: stem, op: conv2d, filters: 8, strides: 2, padding: same, use_bias: false}
  - {id: stem_bn, op: batch_norm}
  - {id: stem_act, op: relu6}
  - {id: dw1, op: depthwise_conv2d, padding: same, use_bias: false}
  - {id: dw1_bn, op: batch_norm}
  - {id: dw1_act, op: relu6}
  - {id: pw1, op: conv2d, filters: 12, kernel_size: 1, use_bias: false}
  - {id: pw1_bn, op: batch_norm}
  - {id: pw1_act, op: relu6}
  - {id: dw2, op: depthwise_conv2d, depth_multiplier: 2, padding: same}
  - {id: pw2, op: conv2d, filters: 12, kernel_size: 1}
  - {id: res, op: add, from: [pw2, pw1_act]}
  - {id: sep, op: separable_conv2d, filters: 10, padding: same, depth_multiplier: 2}
  - {id: pool, op: global_avg_pool2d}
  - {id: logits, op: dense, units: 4}
outputs: [logits]
"""


def _graph(text: str):
    return compile_spec(parse_spec(text, "test.yaml"))


def _by_producers(result) -> dict:
    return {grp.producers: grp for grp in result.groups}


def test_residual_adds_join_the_producers_of_a_stage():
    result = channel_groups(compile_spec(nnspec.load_spec(EXAMPLES / "resnet_small.yaml")))
    groups = _by_producers(result)
    stage1 = ("stem", "stage1.block1.conv2", "stage1.block2.conv2")
    stage3 = ("stage3.block1.conv2", "stage3.block1.proj", "stage3.block2.conv2")
    assert stage1 in groups and stage3 in groups
    assert ("stage2.block1.conv2", "stage2.block1.proj", "stage2.block2.conv2") in groups
    assert len(result.groups) == 9  # three residual groups and six inner convs on their own
    assert groups[stage1].units[0] == tuple((p, 0) for p in stage1)
    assert len(groups[stage1].units) == 16
    assert groups[stage1].followers == ("stem_bn", "stage1.block1.bn2", "stage1.block2.bn2")
    assert groups[stage1].consumers == ("stage1.block1.conv1", "stage1.block2.conv1",
                                        "stage2.block1.conv1", "stage2.block1.proj")
    assert groups[stage3].consumers == ("stage3.block2.conv1", "logits")  # through the global pool
    assert groups[("stage2.block1.conv1",)].followers == ("stage2.block1.bn1",)
    assert result.blocked == {"logits": "reaches the graph output 'logits'"}


def test_concatenation_lays_channels_side_by_side_and_an_add_aligns_them():
    g = _graph(CONCAT)
    result = channel_groups(g)
    groups = _by_producers(result)
    assert set(groups) == {("stem",), ("a", "b", "c"), ("up",), ("down",)}
    assert groups[("stem",)].consumers == ("a", "b")
    mixed = groups[("a", "b", "c")]
    assert len(mixed.units) == 16
    assert (("a", 0), ("c", 0)) in mixed.units and (("b", 0), ("c", 6)) in mixed.units
    assert mixed.consumers == ("c", "up") and mixed.followers == ("a_bn",)
    assert groups[("down",)].consumers == ("out",)
    keep = result.keep_masks({("b", 1), ("c", 7), ("a", 5), ("c", 5)})
    assert np.flatnonzero(~keep["cat"]).tolist() == [5, 7]
    assert np.flatnonzero(~keep["b"]).tolist() == [1]
    assert np.flatnonzero(~keep["sum"]).tolist() == [5, 7]
    flat = np.flatnonzero(~result.keep_masks({("down", 1)})["flat"])  # NHWC: at all 64 positions
    assert len(flat) == 64 and set(flat % 4) == {1}
    assert result.blocked == {"out": "reaches the graph output 'out'"}


def test_concatenated_branches_stay_separate_groups_without_an_add():
    g = _graph(CONCAT.replace("{id: sum, op: add, from: [cat, c]}", "{id: sum, op: relu}"))
    groups = _by_producers(channel_groups(g))
    assert set(groups) == {("stem",), ("a",), ("b",), ("c",), ("up",), ("down",)}
    assert groups[("a",)].consumers == groups[("b",)].consumers == ("c",)
    assert len(groups[("b",)].units) == 10


def test_depthwise_convolutions_carry_channels_and_repeat_them_by_the_multiplier():
    result = channel_groups(_graph(DEPTHWISE))
    groups = _by_producers(result)
    assert set(groups) == {("stem",), ("pw1", "pw2"), ("sep",)}
    assert groups[("stem",)].followers == ("stem_bn", "dw1", "dw1_bn")
    assert groups[("stem",)].consumers == ("pw1",)
    assert groups[("pw1", "pw2")].followers == ("pw1_bn", "dw2")
    assert groups[("pw1", "pw2")].consumers == ("pw2", "sep")
    keep = result.keep_masks({("pw1", 3), ("pw2", 3)})
    assert np.flatnonzero(~keep["dw2"]).tolist() == [6, 7]
    assert np.flatnonzero(~keep["res"]).tolist() == [3]


def test_channels_reaching_an_op_that_mixes_them_are_blocked():
    g = _graph("""
nnspec: 1
name: blocked
inputs: {x: {shape: [6, 6, 2]}}
nodes:
  - {id: a, op: conv2d, filters: 4}
  - {id: r, op: reshape, target_shape: [16, 4]}
  - {id: b, op: dense, units: 3, activation: softmax}
  - {id: c, op: dense, units: 2}
outputs: [c]
""")
    result = channel_groups(g)
    assert "reshape" in result.blocked["a"]
    assert "softmax" in result.blocked["b"]
    assert [grp.producers for grp in result.groups] == []


def test_every_producer_channel_is_in_one_unit_or_blocked():
    for name in ("resnet_small", "digits_cnn", "residual_cnn", "resnet_small_wide"):
        g = compile_spec(nnspec.load_spec(EXAMPLES / f"{name}.yaml"))
        result = channel_groups(g)
        seen = [e for grp in result.groups for unit in grp.units for e in unit]
        assert len(seen) == len(set(seen))
        for node in g.order():
            if node.op in ("conv2d", "dense") and node.id not in result.blocked:
                assert {(node.id, c) for c in range(node.out.shape[-1])} <= set(seen)
