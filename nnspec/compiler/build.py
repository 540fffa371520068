"""Lower a validated `ModelSpec` into the IR: one node per input and per spec node, one edge per `from` entry."""

from __future__ import annotations

import networkx as nx

from nnspec.compiler.ir import INPUT, Graph, Node
from nnspec.specs.model import ModelSpec
from nnspec.layers._registry import LAYERS
from nnspec.specs.wiring import output_ids, split_ref, wire


def build_graph(spec: ModelSpec) -> Graph:
    """The IR of `spec`. Assumes the spec passed `run_checks` (references and output names exist, no cycles).
    """
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
    for w in wire(spec):
        for port, ref in enumerate(w.inputs):
            src, name = split_ref(ref)
            producer = g.nodes[src]["node"]
            out = 0 if name is None else LAYERS[producer.op].output_names(producer.spec).index(name)
            g.add_edge(src, w.id, key=port, port=port, src_port=out)
    return Graph(spec.name, g, tuple(spec.inputs), tuple(output_ids(spec)))
