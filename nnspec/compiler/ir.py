"""The IR: a `networkx.MultiDiGraph` of frozen `Node` payloads, edges carrying the consumer's input port (`port`)
and the producer's output port (`src_port`, 0 except for ops with several outputs).

Nodes are keyed by id (the Keras layer name and ONNX node prefix). Graph inputs are nodes with op `input`. A
payload never changes: passes copy the graph and put new payloads in with `dataclasses.replace`, so a copied graph
can share payloads with its original safely.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import networkx as nx

from nnspec.errors import SourceLoc
from nnspec.layers._registry import TensorType

INPUT = "input"


@dataclass(frozen=True)
class Node:
    """One op instance: its validated spec, where it came from, and what analyses learned about it."""

    id: str
    op: str
    spec: Any
    """The validated layer spec (a card's class), or the `InputSpec` for graph inputs."""
    order: int
    """Position in the spec (-1 for inputs): the tie-break that keeps iteration deterministic and readable."""
    src: SourceLoc | None = None
    path: str = ""
    """The YAML path of the node, e.g. `nodes[3]`, used in diagnostics."""
    note: str = ""
    """Where a generated node came from (block definition, repetition), appended to its diagnostics."""
    shares: str | None = None
    """The id of the node whose weights this one reuses (weight sharing, e.g. the twin towers of a Siamese
    network); its parameters are counted once, on that node."""
    scope: tuple[tuple[str, str], ...] = ()
    """The block uses this node was expanded from, outermost first, as `(use id, block name)` pairs; empty for
    nodes written directly in the spec's `nodes:`. Lets drawings collapse a block use into one box."""
    out: TensorType | None = None
    """The type of the node's first (usually only) output."""
    outs: tuple[TensorType, ...] = ()
    """The types of all its outputs, by output port (`outs[0] == out`)."""
    params: int | None = None
    trainable_params: int | None = None
    flops: int | None = None


@dataclass(frozen=True)
class Graph:
    """A model in IR form: the dataflow graph plus its ordered inputs and outputs."""

    name: str
    nx: nx.MultiDiGraph
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def node(self, node_id: str) -> Node:
        return self.nx.nodes[node_id]["node"]

    def order(self) -> list[Node]:
        """All nodes in a deterministic topological order (spec order wherever dependencies allow)."""
        key = {n: self.node(n).order for n in self.nx}
        return [self.node(n) for n in nx.lexicographical_topological_sort(self.nx, key=lambda n: (key[n], n))]

    def producers(self, node_id: str) -> list[str]:
        """The ids feeding `node_id`, ordered by input port."""
        return [src for src, _ in self.sources(node_id)]

    def sources(self, node_id: str) -> list[tuple[str, int]]:
        """`(producer id, its output port)` for each input of `node_id`, ordered by input port."""
        edges = sorted(self.nx.in_edges(node_id, data=True), key=lambda e: e[2]["port"])
        return [(src, data.get("src_port", 0)) for src, _, data in edges]

    def input_types(self, node_id: str) -> list[TensorType | None]:
        """The types of the tensors `node_id` reads, by input port (None where not inferred yet)."""
        return [(self.node(src).outs or (None,) * (port + 1))[port] for src, port in self.sources(node_id)]

    def consumers(self, node_id: str) -> list[str]:
        """The ids reading `node_id`'s output (once each, sorted)."""
        return sorted(set(self.nx.successors(node_id)))

    def replace_nodes(self, new: dict[str, Node]) -> Graph:
        """A copy of the graph with some payloads replaced (same ids, same edges)."""
        g = self.nx.copy()
        for node_id, payload in new.items():
            g.nodes[node_id]["node"] = payload
        return dataclasses.replace(self, nx=g)
