"""The compiler without TensorFlow: lowering, shape inference, verification, printing, summaries."""

from __future__ import annotations

import dataclasses

import pytest

from nnspec.compiler.build import build_graph
from nnspec.compiler.passes import PassResult, fixed_point
from nnspec.compiler.passes.infer_shapes import infer_shapes
from nnspec.compiler.pipeline import compile_spec
from nnspec.compiler.printer import print_graph
from nnspec.compiler.summary import summarize
from nnspec.compiler.verify import VerifyError, verify
from nnspec.errors import CompileError
from nnspec.specs.load import parse_spec

from ..conftest import EXAMPLES, ROOT

GOLDEN = ROOT / "tests" / "golden"
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))

DAG = """
name: dag
inputs:
  a: {shape: [6]}
  b: {shape: [6]}
nodes:
  - {id: left, op: dense, units: 4, from: a}
  - {id: right, op: dense, units: 4, from: b}
  - {id: both, op: add, from: [left, right]}
  - {op: relu}
  - {id: head, op: dense, units: 2}
outputs: [head, left]
"""


def test_lowering_keeps_ids_ports_and_outputs():
    g = build_graph(parse_spec(DAG))
    assert g.inputs == ("a", "b") and g.outputs == ("head", "left")
    assert g.producers("both") == ["left", "right"]
    assert g.producers("relu_1") == ["both"]
    assert [n.id for n in g.order()] == ["a", "b", "left", "right", "both", "relu_1", "head"]
    verify(g, typed=False)


def test_shapes_counts_and_flops_are_inferred():
    g = compile_spec(parse_spec(DAG))
    head = g.node("head")
    assert head.out.shape == (None, 2)
    assert head.params == 4 * 2 + 2
    assert head.flops == 2 * 4 * 2
    info = summarize(g)
    assert info["params"] == 2 * (6 * 4 + 4) + 10
    assert info["params"] == sum(n["params"] for n in info["nodes"])
    assert set(info["outputs"]) == {"head", "left"}


def test_infer_shapes_is_idempotent_and_reports_no_change_the_second_time():
    g = compile_spec(parse_spec(DAG))
    again = infer_shapes(g)
    assert isinstance(again, PassResult) and again.changed is False
    assert print_graph(again.graph) == print_graph(g)


def test_passes_do_not_mutate_their_input():
    g = build_graph(parse_spec(DAG))
    before = print_graph(g)
    result = infer_shapes(g)
    assert result.changed is True
    assert print_graph(g) == before
    assert g.node("head").out is None and result.graph.node("head").out is not None


def test_every_shape_error_is_reported_and_downstream_nodes_are_skipped():
    text = DAG.replace("{id: right, op: dense, units: 4, from: b}", "{id: right, op: dense, units: 5, from: b}")
    with pytest.raises(CompileError) as info:
        compile_spec(parse_spec(text, "dag.yaml"))
    (problem,) = info.value.diagnostics
    assert problem.path == "nodes[2]" and problem.loc.line == 9
    assert "'both' (add)" in problem.message and "(None, 4), (None, 5)" in problem.message


def test_verify_catches_broken_invariants():
    g = compile_spec(parse_spec(DAG))
    broken = g.nx.copy()
    broken.remove_edge("right", "both")
    with pytest.raises(VerifyError, match="'both'"):
        verify(dataclasses.replace(g, nx=broken))
    untyped = g.replace_nodes({"head": dataclasses.replace(g.node("head"), out=None)})
    with pytest.raises(VerifyError, match="no inferred type"):
        verify(untyped)


def test_fixed_point_runs_until_nothing_changes():
    calls = []

    def shrink(g, **_):
        calls.append(1)
        return PassResult(g, changed=len(calls) < 3)

    g = build_graph(parse_spec(DAG))
    result = fixed_point(shrink)(g)
    assert result.changed is True and len(calls) == 3

    def never_done(g, **_):
        return PassResult(g, changed=True)

    with pytest.raises(RuntimeError, match="did not converge"):
        fixed_point(never_done, max_iters=4)(g)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_ir_matches_golden(name, golden, monkeypatch):
    monkeypatch.chdir(ROOT)
    g = compile_spec(parse_spec((EXAMPLES / f"{name}.yaml").read_text(), f"examples/{name}.yaml"))
    golden(GOLDEN / f"{name}.ir", print_graph(g))


def test_generated_ids_skip_names_users_took():
    text = """
name: ids
inputs: {x: {shape: [3]}}
nodes:
  - {op: dense, units: 3}
  - {id: dense_2, op: dense, units: 3}
  - {op: dense, units: 3}
"""
    g = compile_spec(parse_spec(text))
    assert [n.id for n in g.order()] == ["x", "dense_1", "dense_2", "dense_3"]
