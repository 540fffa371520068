"""`verify`: the IR's internal invariants (torch.fx `lint`). A failure here is a bug in nnspec, not in the spec."""

from __future__ import annotations

import networkx as nx

from nnspec.compiler.ir import INPUT, Graph
from nnspec.layers._registry import LAYERS, arities


class VerifyError(AssertionError):
    """The IR broke an invariant; the message names the node."""


def verify(g: Graph, *, typed: bool = True) -> None:
    """Check the graph: acyclic, ports contiguous, arity, inputs/outputs present, and (if `typed`) annotations."""
    if not nx.is_directed_acyclic_graph(g.nx):
        raise VerifyError(f"{g.name}: the graph has a cycle")
    for name in (*g.inputs, *g.outputs):
        if name not in g.nx:
            raise VerifyError(f"{g.name}: input/output '{name}' is not a node")
    for node in g.order():
        ports = sorted(p for _, _, p in g.nx.in_edges(node.id, data="port"))
        if node.id != g.nx.nodes[node.id]["node"].id:
            raise VerifyError(f"node key '{node.id}' holds payload '{g.nx.nodes[node.id]['node'].id}'")
        if node.op == INPUT:
            if ports or node.id not in g.inputs:
                raise VerifyError(f"input '{node.id}' has producers or is not a graph input")
        else:
            if ports != list(range(len(ports))):
                raise VerifyError(f"node '{node.id}' has input ports {ports}, expected 0..{len(ports) - 1}")
            arity = LAYERS[node.op].arity
            if (arity is None and len(ports) < 2) or (arity is not None and len(ports) not in arities(arity)):
                raise VerifyError(f"node '{node.id}' ({node.op}) has {len(ports)} inputs")
            for src, port in g.sources(node.id):
                producer = g.node(src)
                n_out = 1 if producer.op == INPUT else len(LAYERS[producer.op].output_names(producer.spec))
                if not 0 <= port < n_out:
                    raise VerifyError(f"node '{node.id}' reads output {port} of '{src}', which has {n_out}")
        if typed and (node.out is None or node.params is None or node.flops is None):
            raise VerifyError(f"node '{node.id}' has no inferred type or counts")
        if typed and (not node.outs or node.outs[0] != node.out):
            raise VerifyError(f"node '{node.id}' has outputs {node.outs} that do not start with its type {node.out}")
