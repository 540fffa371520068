"""`prune_channels`: structured channel pruning, a rewrite that really shrinks the model.

Whole output channels are removed from convolutions and dense layers, with every weight that follows
them (the next layer's kernel input axis, batch norm statistics, depthwise kernels), so the result
is a smaller model of the same kind, not a masked one. Which channels must go together comes from
`channel_groups` (residual adds and concatenations tie producers together); within a group the same
channels go from every producer.

A channel's importance is the L1 (or L2) norm of its producer's kernel slice, taken after folding a
batch norm that directly follows the producer (times `|gamma| / sqrt(moving_variance + epsilon)`: a
small kernel that the batch norm scales back up still matters), summed over the producers of its
unit. Every group loses the same fraction of its channels (`ratio`), least important first. A FLOP
budget (`flops`) is met by the smallest such uniform fraction whose pruned graph, re-typed, counts
at most that share of the original FLOPs; only FLOPs the pruned graph has count (batch norms,
activations and pools shrink with their channels too).

A removed channel is not silent: were its kernel slice zero, it would still carry a constant (its
bias or batch norm shift, through activations), which every reader multiplies by its kernel. That
term is folded into the readers' biases (`compensate`), exactly where each kernel tap sees the
whole input (dense layers, convolutions that pad nothing), so that fine-tuning does not have to
relearn it; a reader without a bias gives it to the batch norm that alone follows it.

Requires: a typed `WeightedGraph` with the weights of every node that has some (Keras layout).
Ensures: the graph is re-typed (`infer_shapes`); graph inputs, outputs and their shapes are kept;
removing only channels whose kernel slices are zero leaves the outputs unchanged where every
reader of them is compensated exactly, and wherever every constant on their way (biases, batch
norm shifts) is zero too.
"""

from __future__ import annotations


import numpy as np

from nnspec.compiler.edit import with_params
from nnspec.compiler.ir import Graph
from nnspec.compiler.passes.channel_groups import Element, channel_groups
from nnspec.compiler.passes.compensate_pruned import compensated
from nnspec.compiler.passes.infer_shapes import infer_shapes
from nnspec.compiler.weights import WeightedGraph, WeightedResult, Weights, copy_weights
from nnspec.errors import InputError

NORMS = ("l1", "l2")
COMPENSATE = (True, False, "mean")
_CONV = {"kernel": {-2: "in", -1: "out"}, "bias": {0: "out"}}
_SLICES: dict[str, dict[str, dict[int, str]]] = {
    "conv1d": _CONV, "conv2d": _CONV, "conv3d": _CONV, "dense": _CONV,
    "conv2d_transpose": {"kernel": {-1: "in", -2: "out"}, "bias": {0: "out"}},
    "separable_conv2d": {"depthwise_kernel": {-2: "in"}, "pointwise_kernel": {-2: "mid", -1: "out"},
                         "bias": {0: "out"}},
    "depthwise_conv2d": {"kernel": {-2: "in"}, "bias": {0: "out"}},  # Keras names it `kernel`
    "batch_norm": {v: {0: "out"} for v in ("gamma", "beta", "moving_mean", "moving_variance")},
}
"""Op → variable → {axis: which channel mask slices it}: `in` (the input's channels), `out` (the
output's), or `mid` (the input's repeated `depth_multiplier` times: a separable conv's depthwise
output)."""
_OUTPUT_KERNEL = {"separable_conv2d": ("pointwise_kernel", -1), "conv2d_transpose": ("kernel", -2)}
"""Where a producer's output channels are in its kernel, where not `kernel`'s last axis."""


class PruneError(InputError):
    """Pruning options that make no sense, or a FLOP budget the model cannot reach."""


def prune_channels(model: WeightedGraph, *, ratio: float | None = None, flops: float | None = None,
                   norm: str = "l1", min_channels: int = 1, multiple: int = 1,
                   compensate: bool | str = True) -> WeightedResult:
    """Remove the least important output channels of every prunable group.

    Args:
        model: A typed graph and its weights.
        ratio: Fraction of each group's channels to remove, in [0, 1).
        flops: Instead of `ratio`: the share of the original FLOPs to reach, in (0, 1].
        norm: `l1` or `l2`, the norm of a channel's kernel slice. Defaults to `l1`.
        min_channels: Every producer keeps at least this many channels. Defaults to `1`.
        multiple: Round every group's kept channels up to a multiple of this (unless that keeps
            them all), for the widths vectorized kernels want: onnxruntime's CPU convolutions run
            channel blocks of 8 (AVX2) or 16 (AVX-512), and a width between blocks can be slower
            than the next block up. Defaults to `1`.
        compensate: Fold the constant each removed channel carries (its activated bias or batch
            norm shift, were its kernel slice zero) into the biases of the layers reading it, where
            that is exact (dense layers, convolutions that pad nothing); `"mean"` also folds it
            into padded convolutions, averaged over output positions (an approximation at the
            borders); `False` drops the constants. Defaults to `True`.

    Returns:
        A `WeightedResult`; its report gives per group the channels kept of the total, the
        params and FLOPs before and after, and under `compensation` the layers whose biases took
        removed channels' constants (`folded`: how many channels) and those that could not
        (`skipped`: why).

    Raises:
        PruneError: not exactly one of `ratio` and `flops`, either out of range, an unknown norm,
            or a FLOP budget that the most pruning these limits allow misses.
    """
    _check_options(ratio, flops, norm, min_channels, multiple, compensate)
    g = model.graph
    analysis = channel_groups(g)
    order = [_ranked_units(grp, model, norm) for grp in analysis.groups]
    sizes = [len(grp.units) for grp in analysis.groups]

    def removed_by(wants: list[int]) -> set[Element]:
        return {e for grp, ranked, want in zip(analysis.groups, order, wants)
                for unit in _removed(grp, ranked, want, min_channels) for e in unit}

    def wants_at(r: float) -> list[int]:
        return [_wanted(n, r, min_channels, multiple) for n in sizes]

    before = _totals(g)
    if flops is not None:
        ratio, wants = _fit_budget(flops, g, sizes, multiple, wants_at, removed_by)
    else:
        wants = wants_at(ratio)
    removed = removed_by(wants)
    new_graph = _shrunk_graph(g, removed)
    keep = analysis.keep_masks(removed)
    weights, compensation = model.weights, None
    if compensate is not False and removed:
        weights, compensation = compensated(g, weights, keep, compensate)
    weights = _sliced_weights(g, weights, keep)
    after = _totals(new_graph)
    report = {"norm": norm, "ratio": ratio, "flops_target": flops, "min_channels": min_channels,
              "multiple": multiple,
              "params": {"before": before["params"], "after": after["params"]},
              "flops": {"before": before["flops"], "after": after["flops"]},
              "groups": [{"producers": list(grp.producers),
                          "kept": sum(u[0] not in removed for u in grp.units),
                          "total": len(grp.units)} for grp in analysis.groups],
              "blocked": dict(analysis.blocked), "compensation": compensation}
    return WeightedResult(WeightedGraph(new_graph, weights), bool(removed), report)


def _check_options(ratio, flops, norm, min_channels, multiple, compensate) -> None:
    if (ratio is None) == (flops is None):
        raise PruneError(f"give exactly one of ratio and flops. "
                         f"Received: ratio={ratio}, flops={flops}")
    if ratio is not None and not 0 <= ratio < 1:
        raise PruneError(f"ratio is the fraction of channels to remove, from 0 up to (not "
                         f"including) 1. Received: ratio={ratio}")
    if flops is not None and not 0 < flops <= 1:
        raise PruneError(f"flops is the share of the original FLOPs to keep, above 0 and at "
                         f"most 1. Received: flops={flops}")
    if norm not in NORMS:
        raise PruneError(f"norm must be one of {', '.join(NORMS)}. Received: norm={norm!r}")
    if not isinstance(min_channels, int) or min_channels < 1:
        raise PruneError(f"min_channels must be a positive integer. "
                         f"Received: min_channels={min_channels!r}")
    if not isinstance(multiple, int) or multiple < 1:
        raise PruneError(f"multiple must be a positive integer. Received: multiple={multiple!r}")
    if not any(compensate is c or (isinstance(c, str) and compensate == c) for c in COMPENSATE):
        raise PruneError(f"compensate must be true, false or 'mean'. "
                         f"Received: compensate={compensate!r}")


def _channel_norms(model: WeightedGraph, producer: str, norm: str) -> np.ndarray:
    """Per output channel: the norm of the producer's kernel slice, after folding a batch norm
    that directly follows it."""
    node = model.graph.node(producer)
    name, axis = _OUTPUT_KERNEL.get(node.op, ("kernel", -1))
    kernel = np.moveaxis(model.of(producer)[name], axis, -1).reshape(-1, node.out.shape[-1])
    size = np.abs(kernel).sum(0) if norm == "l1" else np.sqrt(np.square(kernel).sum(0))
    for reader in model.graph.consumers(producer):
        bn = model.graph.node(reader)
        if bn.op == "batch_norm" and reader in model.weights:  # reads `producer`: axis -1
            w = model.of(reader)
            gamma = np.abs(w["gamma"]) if bn.spec.scale else 1.0
            return size * gamma / np.sqrt(w["moving_variance"] + bn.spec.epsilon)
    return size


def _ranked_units(grp, model: WeightedGraph, norm: str) -> list[tuple[Element, ...]]:
    """The group's units, least important first (ties: later channels first, deterministically)."""
    norms = {p: _channel_norms(model, p, norm) for p in grp.producers}
    score = [sum(float(norms[p][c]) for p, c in unit) for unit in grp.units]
    return [grp.units[i] for i in sorted(range(len(score)), key=lambda i: (score[i], -i))]


def _wanted(n: int, ratio: float, min_channels: int, multiple: int) -> int:
    """How many of `n` units a group loses at `ratio`: `round(ratio * n)`, fewer where the kept
    ones must be at least `min_channels` and a multiple of `multiple` (or all `n`)."""
    kept = max(n - int(round(ratio * n)), min_channels)
    return n - min(n, -(-kept // multiple) * multiple)


def _removed(grp, ranked: list[tuple[Element, ...]], want: int,
             min_channels: int) -> list[tuple[Element, ...]]:
    """The first `want` units of `ranked` that leave each producer `min_channels` (a unit that
    would take a producer below it is skipped: units of misaligned groups differ in producers)."""
    left = {p: 0 for p in grp.producers}
    for unit in grp.units:
        for p, _ in unit:
            left[p] += 1
    out = []
    for unit in ranked:
        if len(out) == want:
            break
        losses = {p: sum(q == p for q, _ in unit) for p, _ in unit}
        if all(left[p] - n >= min_channels for p, n in losses.items()):
            out.append(unit)
            for p, n in losses.items():
                left[p] -= n
    return out


def _fit_budget(share: float, g: Graph, sizes: list[int], multiple: int, wants_at,
                removed_by) -> tuple[float, list[int]]:
    """`(ratio, units each group loses)` for at most `share` of `g`'s FLOPs: the smallest uniform
    ratio that fits (bisection: FLOPs only fall as the ratio grows, each group removing a growing
    prefix of one ranking), then blocks of `multiple` units given back, group by group in graph
    order, while the budget still holds (kept widths move in blocks, so the ratio overshoots)."""
    total = _totals(g)["flops"]

    def flops_of(wants: list[int]) -> int:
        return _totals(_shrunk_graph(g, removed_by(wants)))["flops"]

    target = share * total
    if flops_of(wants_at(1.0)) > target:
        raise PruneError(f"the FLOP budget cannot be reached: the most pruning that min_channels "
                         f"and multiple allow keeps {flops_of(wants_at(1.0)) / total:.1%} of the "
                         f"FLOPs. Received: flops={share}")
    lo, hi = 0.0, 1.0
    for _ in range(20):  # 1e-6: finer than one unit of any group
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if flops_of(wants_at(mid)) <= target else (mid, hi)
    wants, grew = wants_at(hi), True
    while grew:
        grew = False
        for i, n in enumerate(sizes):
            trial = [*wants[:i], max(0, wants[i] - multiple), *wants[i + 1:]]
            if wants[i] and flops_of(trial) <= target:
                wants, grew = trial, True
    return hi, wants


def _shrunk_graph(g: Graph, removed: set[Element]) -> Graph:
    """`g` with each producer's `filters`/`units` lowered by its removed channels, re-typed."""
    lost: dict[str, int] = {}
    for p, _ in removed:
        lost[p] = lost.get(p, 0) + 1
    for p, n in lost.items():
        node = g.node(p)
        field = "units" if node.op == "dense" else "filters"
        g = with_params(g, p, **{field: getattr(node.spec, field) - n})
    return infer_shapes(g).graph


def _sliced_weights(g: Graph, weights: Weights, keep: dict[str, np.ndarray | None]) -> Weights:
    """Every node's variables with the removed channels cut out along the axes `_SLICES` names."""
    out = copy_weights(weights)
    for node_id, variables in out.items():
        node = g.node(node_id)
        sources = g.sources(node_id)
        first = keep.get(sources[0][0]) if sources and sources[0][1] == 0 else None
        masks = {"in": first, "out": keep.get(node_id)}
        if masks["in"] is not None and node.op == "separable_conv2d":
            masks["mid"] = np.repeat(masks["in"], node.spec.depth_multiplier)
        for name, axes in _SLICES.get(node.op, {}).items():
            for axis, which in axes.items():
                mask = masks.get(which)
                if name in variables and mask is not None and not mask.all():
                    variables[name] = np.compress(mask, variables[name], axis=axis)
    return out


def _totals(g: Graph) -> dict[str, int]:
    nodes = g.order()
    return {"params": sum(n.params or 0 for n in nodes), "flops": sum(n.flops or 0 for n in nodes)}
