"""Lower a validated `ModelSpec` into the IR: one node per input and per spec node, one edge per `from` entry."""

from __future__ import annotations

import networkx as nx

from nnspec.compiler.ir import INPUT, Graph, Node
from nnspec.specs.model import ModelSpec
from nnspec.specs.wiring import output_ids, wire


def build_graph(spec: ModelSpec) -> Graph:
    """The IR of `spec`. Assumes the spec passed `run_checks` (references exist, no cycles)."""
    source = spec.source_map
    g = nx.MultiDiGraph()
    for name, input_spec in spec.inputs.items():
        path = ("inputs", name)
        g.add_node(name, node=Node(name, INPUT, input_spec, -1, source.locate(path), source.display(path)))
    for w, layer in zip(wire(spec), spec.nodes):
        path = ("nodes", w.index)
        node = Node(w.id, layer.op, layer, w.index, source.locate(path), source.display(path),
                    scope=spec.scopes.get(w.index, ()), note=source.note(path), shares=spec.shares.get(w.index))
        g.add_node(w.id, node=node)
        for port, src in enumerate(w.inputs):
            g.add_edge(src, w.id, key=port, port=port)
    return Graph(spec.name, g, tuple(spec.inputs), tuple(output_ids(spec)))
