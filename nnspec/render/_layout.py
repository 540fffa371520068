"""A layered (Sugiyama-style) layout of a `View`, computed in plain Python for the self-contained
HTML drawing.

The steps are the classic ones, each kept simple:

1. layers: longest path from the sources (a plain chain from a source sits just above its consumer);
2. long edges get a chain of zero-size "dummy" points, one per layer they cross, so they route
   around boxes;
3. order within layers: barycenter sweeps down and up, keeping each block cluster's members
   together;
4. x: each sweep pulls a box toward the median of its neighbours in the layer before, then the layer
   is made non-overlapping with the least total movement (pool-adjacent-violators);
5. y: layers stacked with room for the frames and labels of clusters that start or end there.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from nnspec.render._view import View

GAP_X = 18.0  # between neighbouring boxes
GAP_Y = 30.0  # between layers
PAD = 10.0  # a cluster frame's padding
LABEL_H = 16.0  # the height of a cluster frame's label
DUMMY_W = 6.0
SWEEPS = 6


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Layout:
    """Where everything goes: box and frame rectangles, and each edge as a polyline."""

    boxes: dict[str, Rect]
    clusters: dict[str, Rect]
    edges: list[tuple[str, str, list[tuple[float, float]]]]
    width: float
    height: float


@dataclass
class _Item:
    """A box or dummy point during layout."""

    id: str
    w: float
    h: float
    layer: int
    cluster: tuple[str, ...]
    dummy: bool = False
    x: float = 0.0
    ups: list[str] = field(default_factory=list)
    downs: list[str] = field(default_factory=list)
    align_up: str | None = None
    align_down: str | None = None
    weight: float = 1.0


def _assign_layers(view: View) -> tuple[dict[str, int], list[tuple[str, str, bool]]]:
    """Each box's layer, and the edges pointing downward (flagged where reversed to get there)."""
    rank = {b.id: i for i, b in enumerate(view.boxes)}
    edges = [(a, b, False) if rank[a] < rank[b] else (b, a, True) for a, b in view.edges]
    preds: dict[str, list[str]] = {b.id: [] for b in view.boxes}
    succs: dict[str, list[str]] = {b.id: [] for b in view.boxes}
    for a, b, _ in edges:
        preds[b].append(a)
        succs[a].append(b)
    layer: dict[str, int] = {}
    for b in view.boxes:
        layer[b.id] = max((layer[p] + 1 for p in preds[b.id]), default=0)
    # A plain chain from a source (a second input and its encoder) moves down next to its consumer.
    chain = set()
    for b in view.boxes:
        if all(p in chain and len(succs[p]) == 1 for p in preds[b.id]):
            chain.add(b.id)
    for b in reversed(view.boxes):
        if b.id in chain and succs[b.id]:
            layer[b.id] = min(layer[s] for s in succs[b.id]) - 1
    return layer, edges


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _build_items(view: View, size: Callable, layer: dict, edges: list) -> tuple[dict, list]:
    """The items (boxes and dummies, linked layer to layer) and each edge's chain of item ids."""
    items = {}
    for b in view.boxes:
        w, h = size(b)
        items[b.id] = _Item(b.id, w, h, layer[b.id], b.cluster)
    chains = []
    for a, b, flipped in edges:
        chain = [a]
        for k in range(layer[a] + 1, layer[b]):
            d = f"\0{len(items)}"
            items[d] = _Item(d, DUMMY_W, 0.0, k, _common(items[a].cluster, items[b].cluster), True)
            chain.append(d)
        chain.append(b)
        for u, v in zip(chain, chain[1:], strict=False):
            items[u].downs.append(v)
            items[v].ups.append(u)
        chains.append((a, b, flipped, chain))
    return items, chains


def _arrange(ids: list[str], items: dict, key: dict[str, float], depth: int = 0) -> list[str]:
    """`ids` sorted by `key`, the members of each cluster (and inner cluster) kept together."""
    groups: dict[object, list[str]] = {}
    for i in ids:
        path = items[i].cluster
        groups.setdefault(path[depth] if len(path) > depth else ("", i), []).append(i)
    ordered = sorted(groups.items(), key=lambda kv: statistics.fmean(key[i] for i in kv[1]))
    out: list[str] = []
    for group, members in ordered:
        out += _arrange(members, items, key, depth + 1) if isinstance(group, str) else members
    return out


def _order(layers: list[list[str]], items: dict) -> None:
    """Barycenter sweeps, down then up, to cut crossings; each layer list is reordered in place."""
    for sweep in range(2 * SWEEPS):
        down = sweep % 2 == 0
        pos = {i: k for layer in layers for k, i in enumerate(layer)}
        for layer in layers[1:] if down else layers[-2::-1]:
            key = {}
            for i in layer:
                near = items[i].ups if down else items[i].downs
                key[i] = statistics.fmean(pos[n] for n in near) if near else pos[i]
            layer[:] = _arrange(layer, items, key)
            pos.update({i: k for k, i in enumerate(layer)})


def _pava(targets: list[float], weights: list[float]) -> list[float]:
    """The non-decreasing sequence nearest `targets` in weighted least squares (PAVA)."""
    blocks: list[list[float]] = []  # [value, weight, count]
    for t, w in zip(targets, weights, strict=False):
        blocks.append([t, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return [v for v, _, n in blocks for _ in range(n)]


def _separation(a: _Item, b: _Item) -> float:
    """The least distance between the centres of neighbours `a` and `b`, frames between included."""
    shared = len(_common(a.cluster, b.cluster))
    frames = len(a.cluster) + len(b.cluster) - 2 * shared
    return (a.w + b.w) / 2 + GAP_X + PAD * frames


def _place_layer(layer: list[str], items: dict, desired: dict[str, tuple[float, float]]) -> None:
    """Move a layer's items as little as possible from their `(x, weight)` wishes, keeping gaps."""
    offsets = [0.0]
    for a, b in zip(layer, layer[1:], strict=False):
        offsets.append(offsets[-1] + _separation(items[a], items[b]))
    targets = [desired[i][0] - o for i, o in zip(layer, offsets, strict=True)]
    ys = _pava(targets, [desired[i][1] for i in layer])
    for i, y, o in zip(layer, ys, offsets, strict=False):
        items[i].x = y + o


def _desired(item: _Item, items: dict, down: bool) -> tuple[float, float]:
    """Where the item would like to be, and how strongly: in line with the item it is aligned with,
    else at the median of its neighbours in the layer the sweep comes from. Longer runs weigh more,
    so the main path stays straight and side branches move around it."""
    partner = item.align_up if down else item.align_down
    if partner is not None:
        return items[partner].x, item.weight
    near = [items[n].x for n in (item.ups if down else item.downs)]
    return (statistics.median(near) if near else item.x), item.weight


def _align(items: dict) -> None:
    """Pair each item with its first input (edge order is port order) unless that input already has
    a partner. The pairs form vertical runs (a model's main path, a long edge); each item weighs its
    run's length squared."""
    for item in items.values():  # real boxes in view order, then dummies
        if item.ups and items[item.ups[0]].align_down is None:
            item.align_up = item.ups[0]
            items[item.ups[0]].align_down = item.id
    for item in items.values():
        if item.align_up is None:
            run = [item]
            while run[-1].align_down is not None:
                run.append(items[run[-1].align_down])
            for member in run:
                member.weight = float(len(run)) ** 2


def _position_x(layers: list[list[str]], items: dict, chains: list) -> None:
    _align(items)
    for layer in layers:
        _place_layer(layer, items, {i: (0.0, 1.0) for i in layer})
    for sweep in range(2 * SWEEPS + 1):
        down = sweep % 2 == 0
        for layer in layers[1:] if down else layers[-2::-1]:
            _place_layer(layer, items, {i: _desired(items[i], items, down) for i in layer})
    _straighten(layers, items, chains)


def _straighten(layers: list[list[str]], items: dict, chains: list) -> None:
    """Move each long edge's dummies onto one vertical line (the rightmost of them) where nothing is
    in the way, so wide boxes beside the edge do not leave kinks in it."""
    right = {a: b for layer in layers for a, b in zip(layer, layer[1:], strict=False)}
    for *_, chain in chains:
        dummies = [items[d] for d in chain[1:-1]]
        if not dummies:
            continue
        x = max(d.x for d in dummies)
        if all(
            d.id not in right or items[right[d.id]].x - x >= _separation(d, items[right[d.id]])
            for d in dummies
        ):
            for d in dummies:
                d.x = x


def _layer_tops(layers: list[list[str]], items: dict) -> tuple[list[float], list[float]]:
    """Each layer's top and height, with room above and below for frames that start or end there."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for k, layer in enumerate(layers):
        for i in layer:
            for key in items[i].cluster if not items[i].dummy else ():
                first.setdefault(key, k)
                last[key] = k
    tops, heights, y = [], [], PAD
    for k, layer in enumerate(layers):
        real = [items[i] for i in layer if not items[i].dummy]
        opening = max((sum(first[c] == k for c in it.cluster) for it in real), default=0)
        closing = max((sum(last[c] == k for c in it.cluster) for it in real), default=0)
        y += opening * (PAD + LABEL_H)
        tops.append(y)
        heights.append(max((it.h for it in real), default=0.0))
        y += heights[-1] + closing * PAD + GAP_Y
    return tops, heights


def _cluster_rects(view: View, boxes: dict[str, Rect]) -> dict[str, Rect]:
    """Each cluster's frame: around its boxes and inner frames, with room for its label on top."""
    spans: dict[str, list[Rect]] = {c.key: [] for c in view.clusters}
    for b in view.boxes:
        if b.cluster:
            spans[b.cluster[-1]].append(boxes[b.id])
    rects: dict[str, Rect] = {}
    for c in sorted(view.clusters, key=lambda c: -len(c.parent)):  # inner frames first
        inner = spans[c.key]
        x0, y0 = min(r.x for r in inner) - PAD, min(r.y for r in inner) - PAD - LABEL_H
        x1, y1 = max(r.x + r.w for r in inner) + PAD, max(r.y + r.h for r in inner) + PAD
        rects[c.key] = Rect(x0, y0, x1 - x0, y1 - y0)
        if c.parent:
            spans[c.parent[-1]].append(rects[c.key])
    return rects


def _ports(chains: list, items: dict) -> dict[tuple[int, str], float]:
    """Where each edge leaves its source and enters its target: an aligned edge in the middle of the
    side, the others spread beside it toward the side they go to or come from."""
    port: dict[tuple[int, str], float] = {}
    ends: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for n, (*_, chain) in enumerate(chains):
        for side, box, near in (("out", chain[0], chain[1]), ("in", chain[-1], chain[-2])):
            aligned = items[box].align_down if side == "out" else items[box].align_up
            if aligned == near:
                port[(n, side)] = items[box].x
            else:
                ends.setdefault((box, side), []).append((items[near].x, n))
    for (box, side), found in ends.items():
        it = items[box]
        centre_taken = (it.align_down if side == "out" else it.align_up) is not None
        step = min(12.0, it.w / (len(found) + 2))
        left = sorted(e for e in found if e[0] < it.x)
        right = sorted(e for e in found if e[0] >= it.x)
        for k, (_, n) in enumerate(reversed(left)):
            port[(n, side)] = it.x - (k + 1) * step
        for k, (_, n) in enumerate(right):
            port[(n, side)] = it.x + (k + centre_taken) * step
    return port


def _route(chains: list, items: dict, boxes: dict[str, Rect], tops: list, heights: list) -> list:
    """Each edge as points from its source's bottom, through its dummies, to its target's top."""
    port = _ports(chains, items)
    edges = []
    for n, (a, b, flipped, chain) in enumerate(chains):
        src, dst = boxes[chain[0]], boxes[chain[-1]]
        points = [(port[(n, "out")], src.y + src.h)]
        for d in chain[1:-1]:
            k = items[d].layer
            points += [(items[d].x, tops[k]), (items[d].x, tops[k] + heights[k])]
        points.append((port[(n, "in")], dst.y))
        edges.append((b, a, points[::-1]) if flipped else (a, b, points))
    return edges


def layout(view: View, size: Callable) -> Layout:
    """Lay out `view`, given `size(box) -> (width, height)` for each box."""
    layer_of, edges = _assign_layers(view)
    items, chains = _build_items(view, size, layer_of, edges)
    layers: list[list[str]] = [[] for _ in range(max(layer_of.values(), default=-1) + 1)]
    for it in sorted(items.values(), key=lambda it: it.dummy):  # real boxes first, in view order
        layers[it.layer].append(it.id)
    _order(layers, items)
    _position_x(layers, items, chains)
    tops, heights = _layer_tops(layers, items)
    boxes = {}
    for b in view.boxes:
        it = items[b.id]
        boxes[b.id] = Rect(
            it.x - it.w / 2, tops[it.layer] + (heights[it.layer] - it.h) / 2, it.w, it.h
        )
    clusters = _cluster_rects(view, boxes)
    routes = _route(chains, items, boxes, tops, heights)
    return _shifted(boxes, clusters, routes)


def _shifted(boxes: dict, clusters: dict, routes: list) -> Layout:
    """The layout moved so its left and top edges sit a margin away from 0, with its total size."""
    rects = [*boxes.values(), *clusters.values()]
    if not rects:
        return Layout({}, {}, [], 2 * PAD, 2 * PAD)
    dx = PAD - min(r.x for r in rects)
    dy = PAD - min(r.y for r in rects)
    move = lambda r: Rect(r.x + dx, r.y + dy, r.w, r.h)  # noqa: E731
    routes = [(a, b, [(x + dx, y + dy) for x, y in pts]) for a, b, pts in routes]
    width = max(r.x + r.w for r in rects) + dx + PAD
    height = max(r.y + r.h for r in rects) + dy + PAD
    return Layout(
        {k: move(r) for k, r in boxes.items()},
        {k: move(r) for k, r in clusters.items()},
        routes,
        width,
        height,
    )
