"""`id:output` references: reading one output of a node, and the diagnostics when the output does not exist."""

from __future__ import annotations

import pytest

from nnspec.errors import SpecError
from nnspec.specs.load import parse_spec

BASE = """
name: ports
inputs:
  image: {shape: [8, 8, 3]}
nodes:
  - {id: conv, op: conv2d, filters: 4, kernel_size: 3}
  - {id: head, op: flatten, from: [%s]}
outputs: [%s]
"""


def _messages(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "ports.yaml")
    return [str(d) for d in info.value.diagnostics]


def test_a_port_on_a_single_output_op_says_how_to_read_it():
    (message,) = _messages(BASE % ("conv:indices", "head"))
    assert message.startswith("ports.yaml:7:")
    assert "'conv:indices' names no output of 'conv': 'conv' (conv2d) has one output; read it as 'conv'" in message


def test_a_port_on_an_input_says_it_is_one_tensor():
    (message,) = _messages(BASE.replace("from: [%s]", "from: [image:x]") % "head")
    assert "input 'image' is one tensor; read it as 'image'" in message


def test_outputs_name_whole_nodes():
    (message,) = _messages(BASE % ("conv", "conv:output"))
    assert "outputs name whole nodes" in message and "Received: outputs=['conv:output']" in message


def test_a_malformed_reference_is_a_validation_error():
    messages = _messages(BASE % ("conv:in dices", "head"))
    assert any("nodes[1].from" in m for m in messages)


def test_an_unknown_node_with_a_port_reports_the_node():
    (message,) = _messages(BASE % ("conc:output", "head"))
    assert "'conc' is not an input or a node id" in message and "Did you mean 'conv'?" in message
