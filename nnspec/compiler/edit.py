"""Small graph edits that rewriting passes share: bypass a node, add one after another, change a node's params.

Every edit returns a new `Graph` (payloads copied with `dataclasses.replace`, never mutated) that still needs
`infer_shapes` before use, since types and counts of the edited nodes are stale.
"""

from __future__ import annotations

import dataclasses

from nnspec.compiler.ir import Graph, Node


def bypass(g: Graph, node_id: str) -> Graph:
    """Remove a one-input node: its consumers read its producer instead (graph outputs too)."""
    ((src, src_port),) = g.sources(node_id)
    h = g.nx.copy()
    for _, dst, key, data in list(h.out_edges(node_id, keys=True, data=True)):
        h.add_edge(src, dst, key=key, port=data["port"], src_port=src_port)
    h.remove_node(node_id)
    outputs = tuple(src if o == node_id else o for o in g.outputs)
    return dataclasses.replace(g, nx=h, outputs=outputs)


def insert_after(g: Graph, node_id: str, new: Node) -> Graph:
    """Add `new` reading `node_id`'s first output; everything that read `node_id` reads `new` instead."""
    h = g.nx.copy()
    h.add_node(new.id, node=new)
    for _, dst, key, data in list(h.out_edges(node_id, keys=True, data=True)):
        if data.get("src_port", 0) == 0:
            h.remove_edge(node_id, dst, key=key)
            h.add_edge(new.id, dst, key=key, port=data["port"], src_port=0)
    h.add_edge(node_id, new.id, key=0, port=0, src_port=0)
    outputs = tuple(new.id if o == node_id else o for o in g.outputs)
    return dataclasses.replace(g, nx=h, outputs=outputs)


def with_params(g: Graph, node_id: str, **params) -> Graph:
    """A copy where one node's spec has some params replaced (e.g. `filters=24`), validated like a spec."""
    node = g.node(node_id)
    spec = node.spec.model_validate({**node.spec.model_dump(by_alias=True), **params})
    return g.replace_nodes({node_id: dataclasses.replace(node, spec=spec)})


def fresh_id(g: Graph, base: str) -> str:
    """`base`, or `base_2`, `base_3`, ... whichever is not a node id yet."""
    if base not in g.nx:
        return base
    n = 2
    while f"{base}_{n}" in g.nx:
        n += 1
    return f"{base}_{n}"
