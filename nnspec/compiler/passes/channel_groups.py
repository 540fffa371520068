"""`channel_groups`: which output channels of which layers can be removed together (an analysis).

Structured pruning removes whole output channels (a conv's filters, a dense layer's units). A
channel cannot always go alone: the two inputs of a residual `add` must keep the same channels, a
`concatenate` lays its inputs' channels side by side, and every layer that reads a channel (the next
conv's kernel, a batch norm's statistics, a depthwise kernel) must drop it too. This analysis walks
the graph once, in order, and tracks which producer channel each position of every tensor's last
(channel) axis carries:

- *producers* (`PRODUCERS`: convolutions, dense, separable and transposed convolutions) start new
  channels and consume their input's channels through a kernel axis;
- *passthrough* ops (the card's `channels` fact) carry them: per channel (activations, pools,
  dropout, batch norm, global pools), repeated (`depthwise_conv2d`, each channel `depth_multiplier`
  times), tiled (`flatten` of an NHWC map: channel `c` at every spatial position), side by side
  (`concatenate` on the channel axis), or merged (`add`, `subtract`, `multiply`: their inputs'
  channels are unified position by position, so the producers behind them are pruned together);
- anything else (reshape, attention, layers with weights this analysis cannot slice, weight
  sharing), and the graph's outputs, *block* the channels that reach them: those are never removed.

A *unit* is a set of `(producer, channel)` pairs that must be removed together; a *group* is a set
of producers linked by units (a residual stage), with the nodes whose weights follow its channels.

Requires: a typed graph (`infer_shapes`).
Ensures: pure; every producer channel is in exactly one unit or blocked; `keep_masks` gives, for any
set of removed units, which channels of every node's output remain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nnspec.compiler.ir import INPUT, Graph, Node
from nnspec.layers._registry import LAYERS

PRODUCERS = ("conv1d", "conv2d", "conv3d", "dense", "separable_conv2d", "conv2d_transpose")
"""Ops whose output channels pruning removes (`filters`/`units`) and whose input axis it slices."""
_CHANNEL_DEPENDENT = ("positional_encoding", "max_pool2d_with_indices")
"""Passthrough ops without weights whose result still depends on the channel count or index."""

Element = tuple[str, int]
"""`(producer id, output channel)`."""


@dataclass(frozen=True)
class ChannelGroup:
    """Producers whose output channels are pruned together, and the nodes whose weights follow."""

    producers: tuple[str, ...]
    units: tuple[tuple[Element, ...], ...]
    """The removable channels: each unit lists the `(producer, channel)` pairs that go together."""
    consumers: tuple[str, ...]
    """Producers reading some of these channels through their kernel's input axis (sliced there)."""
    followers: tuple[str, ...]
    """Passthrough nodes with per-channel weights on the way (batch norms, depthwise convs)."""


@dataclass(frozen=True)
class ChannelGroups:
    """The groups, why the other producers' channels stay, and every tensor's channel map."""

    groups: tuple[ChannelGroup, ...]
    blocked: dict[str, str]
    """Producer id → why (some of) its channels can never be removed."""
    elements: tuple[Element | None, ...]
    """Element id → `(producer, channel)`; id 0 is `None`, the channels nothing may remove."""
    carried: dict[str, np.ndarray | None] = field(repr=False)
    """Node id → the element id carried at each position of its output's channel axis (`None` when
    the node's output has no tracked channels, e.g. an unknown channel count)."""

    def keep_masks(self, removed: set[Element]) -> dict[str, np.ndarray | None]:
        """For each node, which positions of its output's channel axis remain without `removed`."""
        gone = np.zeros(len(self.elements), dtype=bool)
        index = {e: i for i, e in enumerate(self.elements) if e is not None}
        gone[[index[e] for e in removed]] = True
        return {n: None if ids is None else ~gone[ids] for n, ids in self.carried.items()}


def channel_groups(g: Graph) -> ChannelGroups:
    """Find the channel dependency groups of a typed graph (see the module's docs)."""
    walk = _Walk(g)
    for node in g.order():
        walk.carried[node.id] = walk.visit(node)
    for out in g.outputs:
        walk.block(walk.carried[out], f"reaches the graph output '{out}'")
    return walk.result()


class _Walk:
    """The state of one walk: elements, their union-find, blocked elements and who reads what."""

    def __init__(self, g: Graph):
        self.g = g
        self.elements: list[Element | None] = [None]
        self.parent: list[int] = [0]
        self.blocks: list[tuple[np.ndarray, str]] = []
        self.reads: list[tuple[str, str, np.ndarray]] = []  # (node, consumer|follower, elements)
        self.carried: dict[str, np.ndarray | None] = {}
        self.shared = {n.shares for n in g.order() if n.shares}

    def visit(self, node: Node) -> np.ndarray | None:
        if node.op == INPUT:
            return _untracked(node)
        ins = [self.carried[src] if port == 0 else None for src, port in self.g.sources(node.id)]
        kind = self.kind(node, ins)
        if kind == "produce":
            for x in ins:
                self.reads.append((node.id, "consumer", x))
            return self.new(node)
        if kind in ("identity", "repeat", "tile"):
            x = ins[0]
            if node.op in ("batch_norm", "depthwise_conv2d"):
                self.reads.append((node.id, "follower", x))
            if kind == "repeat":
                return np.repeat(x, node.spec.depth_multiplier)
            return np.tile(x, node.out.shape[-1] // len(x)) if kind == "tile" else x
        if kind == "concat":
            return np.concatenate(ins)
        if kind == "merge":
            return self.merge(node, ins)
        for x in ins:
            self.block(x, f"feeds '{node.id}' ({node.op}), which does not keep channels apart")
        return _untracked(node)

    def kind(self, node: Node, ins: list[np.ndarray | None]) -> str:
        """How `node` maps its inputs' channels to its output's (`opaque`: it does not)."""
        spec, out = node.spec, node.out
        if (node.shares or node.id in self.shared or len(node.outs) != 1 or out is None
                or not out.shape or out.shape[-1] is None or any(x is None for x in ins)):
            return "opaque"
        if node.op in PRODUCERS:
            return "produce" if getattr(spec, "groups", 1) == 1 else "opaque"
        if node.op == "batch_norm":
            return "identity" if spec.axis % len(out.shape) == len(out.shape) - 1 else "opaque"
        if node.op == "depthwise_conv2d":
            return "repeat"
        if node.op == "flatten":
            return "tile" if out.shape[-1] % max(len(ins[0]), 1) == 0 else "opaque"
        if node.op == "concatenate":
            return "concat" if spec.axis % len(out.shape) == len(out.shape) - 1 else "merge"
        if (LAYERS[node.op].channels != "passthrough" or node.params
                or node.op in _CHANNEL_DEPENDENT):
            return "opaque"
        if len(ins) > 1:
            return "merge"
        if node.op == "softmax" and spec.axis % len(out.shape) == len(out.shape) - 1:
            return "opaque"
        return "identity" if len(ins[0]) == out.shape[-1] else "opaque"

    def new(self, node: Node) -> np.ndarray:
        """Fresh elements for a producer's output channels (blocked if its activation mixes)."""
        start = len(self.elements)
        n = node.out.shape[-1]
        self.elements += [(node.id, c) for c in range(n)]
        self.parent += list(range(start, start + n))
        ids = np.arange(start, start + n)
        if getattr(node.spec, "activation", None) == "softmax":
            self.block(ids, "its softmax activation mixes its channels")
        return ids

    def merge(self, node: Node, ins: list[np.ndarray]) -> np.ndarray:
        """Elementwise merge: inputs of the output's width are unified position by position; inputs
        broadcast along the channel axis (width 1) keep their channels."""
        width = node.out.shape[-1]
        full = [x for x in ins if len(x) == width]
        for x in ins:
            if len(x) != width:
                self.block(x, f"is broadcast across the channels of '{node.id}' ({node.op})")
        first = full[0]
        for x in full[1:]:
            for a, b in zip(first, x):
                if a == 0 or b == 0:
                    reason = f"meets unprunable channels at '{node.id}' ({node.op})"
                    self.block(np.array([a, b]), reason)
                else:
                    self.parent[self.find(a)] = self.find(b)
        return first  # NOTE: a position that met a blocked one is blocked, whichever id it keeps

    def find(self, e: int) -> int:
        while self.parent[e] != e:
            self.parent[e] = self.parent[self.parent[e]]
            e = self.parent[e]
        return e

    def block(self, ids: np.ndarray | None, reason: str) -> None:
        if ids is not None and np.any(ids):
            self.blocks.append((ids[ids != 0], reason))

    def result(self) -> ChannelGroups:
        roots = np.array([self.find(e) for e in range(len(self.elements))])
        why: dict[int, str] = {}
        for ids, reason in self.blocks:
            for r in roots[ids]:
                why.setdefault(int(r), reason)
        blocked: dict[str, str] = {}
        units: dict[int, list[int]] = {}
        for e in range(1, len(self.elements)):
            root = int(roots[e])
            if root in why:
                blocked.setdefault(self.elements[e][0], why[root])
            else:
                units.setdefault(root, []).append(e)
        return ChannelGroups(self.groups(units, roots), blocked, tuple(self.elements), self.carried)

    def groups(self, units: dict[int, list[int]], roots: np.ndarray) -> tuple[ChannelGroup, ...]:
        """Units joined into groups by the producers they share, in graph order."""
        owner: dict[str, str] = {}  # producer → a representative producer of its group (union-find)

        def top(p: str) -> str:
            while owner.setdefault(p, p) != p:
                p = owner[p]
            return p

        for members in units.values():
            first = top(self.elements[members[0]][0])
            for e in members[1:]:
                owner[top(self.elements[e][0])] = first
        rank = {n.id: i for i, n in enumerate(self.g.order())}
        by_group: dict[str, list[list[int]]] = {}
        for members in sorted(units.values()):
            by_group.setdefault(top(self.elements[members[0]][0]), []).append(members)
        reads = [(n, kind, set(roots[x].tolist())) for n, kind, x in self.reads]
        result = []
        for members in by_group.values():
            ids = {e for m in members for e in m}
            reached = set(roots[sorted(ids)].tolist())
            producers = sorted({self.elements[e][0] for e in ids}, key=rank.get)
            readers = {kind: sorted({n for n, k, seen in reads if k == kind and reached & seen},
                                    key=rank.get) for kind in ("consumer", "follower")}
            pairs = tuple(tuple(self.elements[e] for e in m) for m in members)
            result.append(ChannelGroup(tuple(producers), pairs, tuple(readers["consumer"]),
                                       tuple(readers["follower"])))
        return tuple(sorted(result, key=lambda grp: rank[grp.producers[0]]))


def _untracked(node: Node) -> np.ndarray | None:
    """A tensor whose channels nothing may remove (all element 0); `None` for an unknown count."""
    out = node.out
    if out is None or not out.shape or out.shape[-1] is None:
        return None
    return np.zeros(out.shape[-1], dtype=np.int64)
