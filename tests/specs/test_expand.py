"""Blocks, repeat, when and params expand into the graph a person would have written by hand."""

from __future__ import annotations

import pytest

from nnspec.compiler.pipeline import compile_spec
from nnspec.errors import CompileError, SpecError
from nnspec.specs.load import parse_spec
from nnspec.specs.wiring import wire

HEADER = """
name: t
params: {width: 8}
inputs: {x: {shape: [8, 8, 3]}}
"""

BLOCKS = HEADER + """
blocks:
  unit:
    params: {filters: ~, stride: 1}
    inputs: [inp]
    nodes:
      - {id: conv, op: conv2d, filters: "${filters}", strides: "${stride}", padding: same}
      - {id: proj, op: conv2d, from: inp, filters: "${filters}", kernel_size: 1, strides: "${stride}",
         when: "${stride != 1}"}
      - {id: sum, op: add, from: [conv, proj]}
  pair:
    params: {filters: ~}
    nodes:
      - {id: u, block: unit, filters: "${filters}", stride: "${2 if index == 0 else 1}", repeat: 2}
"""


def edges(text: str) -> dict[str, tuple[str, ...]]:
    spec = parse_spec(text)
    return {w.id: w.inputs for w in wire(spec)}


def test_a_block_use_expands_with_prefixed_ids_and_its_input_wired():
    got = edges(BLOCKS + "nodes:\n  - {id: a, block: unit, filters: 4}\n")
    # stride 1: no projection, so the add reads the block input directly (a skipped node passes its input on).
    assert got == {"a.conv": ("x",), "a.sum": ("a.conv", "x")}


def test_repeat_chains_copies_and_index_reaches_expressions():
    spec = parse_spec(BLOCKS + "nodes:\n  - {id: s, block: pair, filters: 4}\n  - {op: flatten}\n")
    got = {w.id: w.inputs for w in wire(spec)}
    assert got["s.u1.conv"] == ("x",) and got["s.u1.proj"] == ("x",)
    assert got["s.u2.conv"] == ("s.u1.sum",) and "s.u2.proj" not in got
    assert got["flatten_1"] == ("s.u2.sum",)  # the block use's name means its last copy's output
    strides = {n.id: n.strides for n in spec.nodes if n.op == "conv2d"}
    assert strides == {"s.u1.conv": 2, "s.u1.proj": 2, "s.u2.conv": 1}


def test_scopes_record_the_block_uses_each_node_came_from():
    spec = parse_spec(BLOCKS + "nodes:\n  - {id: s, block: pair, filters: 4}\n")
    g = compile_spec(spec)
    assert g.node("s.u2.conv").scope == (("s", "pair"), ("s.u2", "unit"))
    assert g.node("x").scope == ()


def test_params_reach_nodes_and_later_params_see_earlier_ones():
    text = HEADER.replace("{width: 8}", "{width: 8, double: '${width * 2}'}") + """
nodes:
  - {op: conv2d, filters: "${double}", kernel_size: "${width // 4}"}
  - {op: flatten}
  - {id: out, op: dense, units: "${max(width, 3)}"}
"""
    spec = parse_spec(text)
    assert spec.nodes[0].filters == 16 and spec.nodes[0].kernel_size == 2 and spec.nodes[2].units == 8


def test_when_false_skips_a_top_level_node_and_unnamed_repeats_get_fresh_ids():
    text = HEADER + """
nodes:
  - {op: conv2d, filters: 4, padding: same, repeat: 3}
  - {id: maybe, op: dropout, rate: 0.5, when: "${width > 100}"}
  - {op: flatten}
"""
    got = edges(text)
    assert list(got) == ["conv2d_1", "conv2d_2", "conv2d_3", "flatten_1"]
    assert got["flatten_1"] == ("conv2d_3",)


def test_named_repeat_ids_and_outputs_of_inner_nodes():
    text = BLOCKS + """
nodes:
  - {id: a, block: unit, filters: 4, stride: 2}
  - {id: head, op: flatten, from: a.proj}
  - {id: c2, op: conv2d, filters: 4, padding: same, from: a, repeat: 2}
outputs: [head, c2]
"""
    got = edges(text)
    assert got["head"] == ("a.proj",)
    assert got["c2_1"] == ("a.sum",) and got["c2_2"] == ("c2_1",)  # ids ending in a digit get `_k`
    assert parse_spec(text).outputs == ["head", "c2_2"]


def test_block_with_two_inputs_maps_from_positionally():
    text = HEADER + """
blocks:
  diff:
    inputs: [a, b]
    nodes:
      - {op: subtract, from: [a, b]}
nodes:
  - {id: p, op: conv2d, filters: 3, padding: same}
  - {id: d, block: diff, from: [x, p]}
"""
    assert edges(text)["d.subtract_1"] == ("x", "p")


@pytest.mark.parametrize("nodes,fragment", [
    ("- {block: unit}", "needs param 'filters'"),
    ("- {block: unit, filters: 4, filtres: 3}", "has no param 'filtres'. Did you mean 'filters'?"),
    ("- {block: unti, filters: 4}", "unknown block 'unti'. Did you mean 'unit'?"),
    ("- {block: unit, filters: 4, stride: two}", "param 'stride' of block 'unit' must be int"),
    ("- {block: unit, filters: 4, repeat: 0}", "`repeat` must be a whole number"),
    ("- {op: flatten, when: '${width}'}", "`when` must be true or false"),
    ("- {op: dense, units: '${widht}'}", "unknown name 'widht'. Did you mean 'width'?"),
    ("- {block: unit, filters: 4, from: [x, x]}", "takes 1 input(s)"),
])
def test_block_and_expression_mistakes_are_diagnostics_at_their_line(nodes, fragment):
    text = BLOCKS + "nodes:\n  " + nodes + "\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, "m.yaml")
    message = str(info.value)
    assert fragment in message, message
    assert message.startswith("m.yaml:")


def test_a_shape_error_inside_a_block_names_the_use_site_block_and_repetition():
    bad = BLOCKS.replace('filters: "${filters}", strides: "${stride}", padding: same}',
                         'filters: "${filters}", strides: "${stride}", kernel_size: 9}') + \
        "nodes:\n  - {op: conv2d, filters: 2}\n  - {id: s, block: pair, filters: 4}\n"
    with pytest.raises(CompileError) as info:
        compile_spec(parse_spec(bad, "m.yaml"))
    (first, *_) = info.value.diagnostics
    text = str(first)
    assert text.startswith("m.yaml:21:5: nodes[1]/s.u1.conv:"), text  # the use site in the top-level list
    assert "in block 'unit' defined at m.yaml:7:3, repetition 1 of 2" in text
    assert "in block 'pair' defined at m.yaml:15:3" in text


def test_a_block_that_uses_itself_is_refused():
    text = HEADER + """
blocks:
  loop:
    nodes:
      - {block: loop}
nodes:
  - {block: loop}
"""
    with pytest.raises(SpecError, match="block 'loop' uses itself"):
        parse_spec(text)


def test_block_definitions_are_checked_once_with_unknown_keys_as_errors():
    text = HEADER + """
blocks:
  b:
    param: {f: 1}
    inputs: x
    nodes:
      - {op: relu}
nodes:
  - {block: b}
  - {block: b}
"""
    with pytest.raises(SpecError) as info:
        parse_spec(text, "m.yaml")
    problems = [str(d) for d in info.value.diagnostics]
    assert len(problems) == 2, problems  # the two uses add nothing: the definition is what is wrong
    assert "m.yaml:8:5: blocks.b.param: unknown key 'param' in block 'b'. Did you mean 'params'?" in problems[0]
    assert "blocks.b.inputs: `inputs` must be a list of names" in problems[1]


SIAMESE = HEADER.replace("inputs: {x: {shape: [8, 8, 3]}}", "inputs: {a: {shape: [6]}, b: {shape: [6]}}") + """
blocks:
  tower:
    params: {units: 4}
    nodes:
      - {id: h, op: dense, units: "${units}", activation: relu}
      - {id: out, op: dense, units: 3}
nodes:
  - {id: one, block: tower, from: a}
  - {id: two, block: tower, from: b, share: one}
  - {id: d, op: subtract, from: [one, two]}
"""


def test_share_reuses_the_twin_use_weights_and_counts_them_once():
    spec = parse_spec(SIAMESE)
    g = compile_spec(spec)
    assert g.node("two.h").shares == "one.h" and g.node("two.out").shares == "one.out"
    assert g.node("two.h").params == 0 and g.node("one.h").params == 6 * 4 + 4
    assert sum(n.params for n in g.order()) == (6 * 4 + 4) + (4 * 3 + 3)


@pytest.mark.parametrize("change,fragment", [
    ("share: one}", "share: oen}"),
    ("{id: two, block: tower, from: b, share: one}", "{id: two, block: tower, from: b, share: one, units: 5}"),
])
def test_share_needs_a_twin_with_the_same_params(change, fragment):
    with pytest.raises(SpecError, match="cannot share weights"):
        parse_spec(SIAMESE.replace(change, fragment))


def test_share_with_inputs_of_another_shape_is_a_shape_error():
    text = SIAMESE.replace("b: {shape: [6]}", "b: {shape: [7]}")
    with pytest.raises(CompileError, match="shares weights with 'one.h'"):
        compile_spec(parse_spec(text))


def test_a_repeated_op_with_several_inputs_keeps_the_later_ones():
    text = HEADER.replace("{x: {shape: [8, 8, 3]}}", "{x: {shape: [4]}, bias: {shape: [4]}}") + """
nodes:
  - {id: acc, op: add, from: [x, bias], repeat: 3}
"""
    assert edges(text) == {"acc1": ("x", "bias"), "acc2": ("acc1", "bias"), "acc3": ("acc2", "bias")}


def test_a_repeated_block_passes_all_its_outputs_on_and_keeps_the_fixed_inputs():
    text = HEADER.replace("{x: {shape: [8, 8, 3]}}", "{nodes: {shape: [4]}, edges: {shape: [4]}, fixed: {shape: [4]}}") + """
blocks:
  step:
    inputs: [v, e, k]
    outputs: [v2, e2]
    nodes:
      - {id: e2, op: add, from: [e, v, k]}
      - {id: v2, op: add, from: [v, e2]}
nodes:
  - {id: gn, block: step, from: [nodes, edges, fixed], repeat: 3}
  - {id: out, op: concatenate, from: [gn, gn3.e2]}
"""
    got = edges(text)
    assert got["gn1.e2"] == ("edges", "nodes", "fixed")
    assert got["gn2.e2"] == ("gn1.e2", "gn1.v2", "fixed") and got["gn2.v2"] == ("gn1.v2", "gn2.e2")
    assert got["gn3.e2"] == ("gn2.e2", "gn2.v2", "fixed")
    assert got["out"] == ("gn3.v2", "gn3.e2")
    assert compile_spec(parse_spec(text)).node("out").out.shape == (None, 8)
