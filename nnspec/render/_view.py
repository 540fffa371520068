"""What a drawing shows: the boxes, the block clusters around them and the edges between them.

Every renderer (DOT, Mermaid, HTML) draws the same `View`, so they agree on what exists. A node
expanded from a block records its block uses in `Node.scope`. Collapsed (the default), each
outermost block use is one box labelled `<use id>: <block name>` with the block's output shape and
summed parameters. Expanded, every node is a box, and each block use is a cluster around its nodes,
nested as the blocks nest.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from nnspec.compiler.ir import INPUT, Graph, Node


@dataclass(frozen=True)
class Box:
    """One drawn box: a node, or a whole block use when collapsed."""

    id: str
    """The node id, or the block use's id path for a collapsed block."""
    title: str
    """The first label line: the node id (local to its frame when expanded), or `<use>: <block>`."""
    op: str
    """The node's op; `block` for a collapsed block use."""
    shape: str
    """The output shape as `(N,8,8,32)`; for a block with several outputs, their shapes."""
    params: int | None
    kind: str
    """`input`, `node` or `block`."""
    is_output: bool
    cluster: tuple[str, ...]
    """Keys of the clusters around the box, outermost first; empty at the top level."""
    nodes: int = 1
    """How many IR nodes the box stands for."""
    path: str = ""
    """The YAML path of a node (`nodes[3]`), for tooltips."""


@dataclass(frozen=True)
class Cluster:
    """An expanded block use drawn as a frame around its nodes."""

    key: str
    label: str
    parent: tuple[str, ...]
    """Keys of the clusters around this one, outermost first."""


@dataclass(frozen=True)
class View:
    """Boxes in topological order, clusters outer before inner, and the edges between boxes."""

    name: str
    boxes: tuple[Box, ...]
    clusters: tuple[Cluster, ...]
    edges: tuple[tuple[str, str], ...]
    params: int | None

    def tree(self) -> dict[tuple[str, ...], list[Box | Cluster]]:
        """The children of each cluster path (`()` is the top level), in first-appearance order."""
        by_key = {c.key: c for c in self.clusters}
        out: dict[tuple[str, ...], list[Box | Cluster]] = {(): []}
        for b in self.boxes:
            for depth, key in enumerate(b.cluster):
                if b.cluster[: depth + 1] not in out:
                    out[b.cluster[: depth + 1]] = []
                    out[b.cluster[:depth]].append(by_key[key])
            out[b.cluster].append(b)
        return out


def scope_keys(scope: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The id path of each enclosing block use (`stage3`, `stage3.block2`), outermost first.

    Accepts use ids that are local (`block2`) or already prefixed (`stage3.block2`).
    """
    keys: list[str] = []
    for use, _ in scope:
        keys.append(use if not keys or use.startswith(keys[-1] + ".") else f"{keys[-1]}.{use}")
    return tuple(keys)


def _node_box(g: Graph, n: Node, cluster: tuple[str, ...]) -> Box:
    """A node's box. Inside a frame the title is the id local to the block (`conv1` in
    `stage1.block2`'s frame): the frame's label carries the prefix, and the shorter boxes keep large
    models readable."""
    kind = "input" if n.op == INPUT else "node"
    shape = str(n.out) if n.out else ""
    prefix = f"{cluster[-1]}." if cluster else ""
    title = n.id[len(prefix) :] if prefix and n.id.startswith(prefix) else n.id
    return Box(n.id, title, n.op, shape, n.params, kind, n.id in g.outputs, cluster, 1, n.path)


def _block_box(g: Graph, key: str, label: str, members: list[Node]) -> Box:
    inside = {n.id for n in members}
    exits = [
        n for n in members if n.id in g.outputs or any(c not in inside for c in g.consumers(n.id))
    ]
    shapes = list(dict.fromkeys(str(n.out) for n in exits or members[-1:] if n.out))
    params = None if any(n.params is None for n in members) else sum(n.params for n in members)
    is_output = any(n.id in g.outputs for n in members)
    return Box(key, label, "block", " ".join(shapes), params, "block", is_output, (), len(members))


def _boxes(g: Graph, expand: bool) -> tuple[dict[str, str], list[Box], list[Cluster]]:
    """Which box each node is drawn in, the boxes (first-appearance order) and the clusters."""
    box_of: dict[str, str] = {}
    boxes: dict[str, Box] = {}
    clusters: dict[str, Cluster] = {}
    groups: dict[str, list[Node]] = {}
    for n in g.order():
        keys = scope_keys(n.scope)
        if expand or not keys:
            for depth, key in enumerate(keys):
                label = f"{n.scope[depth][0]}: {n.scope[depth][1]}"
                clusters.setdefault(key, Cluster(key, label, keys[:depth]))
            box_of[n.id] = n.id
            boxes[n.id] = _node_box(g, n, keys)
            continue
        box_of[n.id] = keys[0]
        groups.setdefault(keys[0], []).append(n)
        boxes.setdefault(keys[0], None)  # keeps the block's place: where its first node appears
    for key, members in groups.items():
        boxes[key] = _block_box(
            g, key, f"{members[0].scope[0][0]}: {members[0].scope[0][1]}", members
        )
    return box_of, list(boxes.values()), list(clusters.values())


def build_view(g: Graph, *, expand: bool = False) -> View:
    """The view of `g`: each block use one box, or (`expand=True`) a cluster around its nodes."""
    box_of, boxes, clusters = _boxes(g, expand)
    edges: dict[tuple[str, str], None] = {}
    for n in g.order():
        for src in g.producers(n.id):
            if box_of[src] != box_of[n.id]:
                edges[(box_of[src], box_of[n.id])] = None
    boxes = _topological(boxes, list(edges))
    layers = [n for n in g.order() if n.op != INPUT]
    params = None if any(n.params is None for n in layers) else sum(n.params for n in layers)
    return View(g.name, tuple(boxes), tuple(clusters), tuple(edges), params)


def _topological(boxes: list[Box], edges: list[tuple[str, str]]) -> list[Box]:
    """Boxes in a topological order of the box graph (first appearance breaks ties).

    Collapsing can order a block before a node that feeds it, or even close a cycle through a block
    with several inputs; a cycle keeps the first-appearance order.
    """
    rank = {b.id: i for i, b in enumerate(boxes)}
    bg = nx.DiGraph(edges)
    bg.add_nodes_from(rank)
    if not nx.is_directed_acyclic_graph(bg):
        return boxes
    by_id = {b.id: b for b in boxes}
    return [by_id[i] for i in nx.lexicographical_topological_sort(bg, key=rank.__getitem__)]
