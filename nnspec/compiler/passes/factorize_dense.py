"""`factorize_dense`: replace large dense layers by two thin ones, by a truncated SVD of the kernel.

A dense kernel `W` (in, out) with singular values `s_1 >= s_2 >= ...` is, to rank t,
`W ≈ A @ B` with `A = U_t sqrt(S_t)` (in, t) and `B = sqrt(S_t) V_t` (t, out): the best rank-t
approximation (Eckart-Young), with relative Frobenius error `sqrt(sum_{i>t} s_i^2 / sum s_i^2)`,
and for any input row `x`, `|x @ W - x @ A @ B| <= |x| * s_{t+1}` (2-norms). So dense `d` becomes
`d_svd` (units t, no bias, no activation) followed by `d` itself (units out, its bias and
activation): consumers and outputs keep reading `d`, and the layer holds `t * (in + out)` weights
instead of `in * out` (a layer is factorized only when that is fewer).

The rank is `rank` (capped at the kernel's full rank), or the smallest that keeps a fraction
`energy` of `sum s_i^2`. Splitting `sqrt(S)` between the factors keeps both on the same scale,
which suits fine-tuning afterwards.

Requires: a typed graph and the dense layers' weights.
Ensures: the graph is re-typed; each factorized layer's report gives its error bound; outputs
equal the original's when a kernel's rank is at most t.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nnspec.compiler.edit import fresh_id
from nnspec.compiler.ir import Graph
from nnspec.compiler.passes.infer_shapes import infer_shapes
from nnspec.compiler.weights import WeightedGraph, WeightedResult, copy_weights
from nnspec.errors import InputError

DEFAULT_MIN_PARAMS = 4096
"""Smaller kernels are left alone unless named in `layers`: the saving would be tiny."""


def factorize_dense(model: WeightedGraph, *, rank: int | None = None, energy: float | None = None,
                    min_params: int = DEFAULT_MIN_PARAMS, layers: list[str] | None = None,
                    only_smaller: bool = True) -> WeightedResult:
    """Factorize the large dense layers of `model` to a truncated SVD.

    Args:
        rank: Keep this many singular values per layer (at most the kernel's full rank).
        energy: Or keep the fewest singular values whose squares sum to at least this fraction
            (0 < energy <= 1) of the total. Exactly one of `rank` and `energy` must be given.
        min_params: Factorize only kernels with at least this many weights. Defaults to `4096`.
        layers: Only these dense node ids (then `min_params` does not apply). Defaults to every
            dense layer.
        only_smaller: Skip a layer when the two factors would hold as many weights as its kernel.
            Defaults to `true`; `false` is for checks at full rank.

    Returns:
        A `WeightedResult` whose report is `{"layers": {id: {rank, full_rank, first,
        params_before, params_after, relative_error, largest_dropped}}, "skipped": {id: reason},
        "params_before", "params_after"}` (per layer, kernel weights; in total, all parameters).

    Raises:
        InputError: neither or both of `rank` and `energy`, a value out of range, or `layers`
            naming nodes that are not dense.
    """
    _check_args(model.graph, rank, energy, layers)
    g, weights = model.graph, copy_weights(model.weights)
    done, skipped = {}, {}
    shared = {n.shares for n in g.order() if n.shares}
    for node in [n for n in g.order() if n.op == "dense"]:
        if layers is not None and node.id not in layers:
            continue
        kernel = weights[node.id]["kernel"]
        if node.shares or node.id in shared:
            skipped[node.id] = "its weights are shared with another node"
            continue
        if layers is None and kernel.size < min_params:
            skipped[node.id] = f"{kernel.size} weights, fewer than min_params={min_params}"
            continue
        u, s, vt = np.linalg.svd(kernel.astype(np.float64), full_matrices=False)
        t = _rank(s, rank, energy)
        n_in, n_out = kernel.shape
        if only_smaller and t * (n_in + n_out) >= n_in * n_out:
            skipped[node.id] = f"rank {t} would not make its {n_in}x{n_out} kernel smaller"
            continue
        root = np.sqrt(s[:t])
        first = fresh_id(g, f"{node.id}_svd")
        g = _insert_before(g, node.id, first, t)
        weights[first] = {"kernel": (u[:, :t] * root).astype(kernel.dtype)}
        second = (root[:, None] * vt[:t]).astype(kernel.dtype)
        weights[node.id] = {**weights[node.id], "kernel": second}
        done[node.id] = _layer_report(s, t, n_in, n_out, first)
    if not done:
        return WeightedResult(model, False, _report(done, skipped, model.graph, model.graph))
    g = infer_shapes(g).graph
    return WeightedResult(WeightedGraph(g, weights), True, _report(done, skipped, model.graph, g))


def _check_args(g: Graph, rank, energy, layers) -> None:
    if (rank is None) == (energy is None):
        raise InputError(f"give exactly one of rank and energy. Received: rank={rank}, "
                         f"energy={energy}")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool) or rank < 1):
        raise InputError(f"rank must be a positive integer. Received: rank={rank!r}")
    if energy is not None and not (isinstance(energy, (int, float)) and 0 < energy <= 1):
        raise InputError(f"energy must be a fraction in (0, 1]. Received: energy={energy!r}")
    bad = [x for x in layers or () if x not in g.nx or g.node(x).op != "dense"]
    if bad:
        raise InputError(f"layers must name dense nodes. Received: {', '.join(map(repr, bad))}")


def _rank(s: np.ndarray, rank: int | None, energy: float | None) -> int:
    if rank is not None:
        return min(rank, len(s))
    kept = np.cumsum(s**2) / max(float(np.sum(s**2)), np.finfo(np.float64).tiny)
    return int(min(np.searchsorted(kept, energy - 1e-12) + 1, len(s)))


def _insert_before(g: Graph, node_id: str, new_id: str, units: int) -> Graph:
    """Put a bias-free, linear dense layer of `units` between `node_id` and its input."""
    node = g.node(node_id)
    data = {"op": "dense", "id": new_id, "units": units, "use_bias": False}
    new = dataclasses.replace(node, id=new_id, spec=type(node.spec).model_validate(data),
                              shares=None, note=f"factorized from '{node_id}'", out=None, outs=(),
                              params=None, trainable_params=None, flops=None)
    h = g.nx.copy()
    (src, _, key, edge), = h.in_edges(node_id, keys=True, data=True)
    h.remove_edge(src, node_id, key=key)
    h.add_node(new_id, node=new)
    h.add_edge(src, new_id, key=0, port=0, src_port=edge.get("src_port", 0))
    h.add_edge(new_id, node_id, key=0, port=0, src_port=0)
    return dataclasses.replace(g, nx=h)


def _layer_report(s: np.ndarray, t: int, n_in: int, n_out: int, first: str) -> dict:
    total, dropped = float(np.sum(s**2)), float(np.sum(s[t:] ** 2))
    return {"rank": t, "full_rank": len(s), "first": first, "params_before": n_in * n_out,
            "params_after": t * (n_in + n_out),
            "relative_error": float(np.sqrt(dropped / total)) if total > 0 else 0.0,
            "largest_dropped": float(s[t]) if t < len(s) else 0.0}


def _report(done: dict, skipped: dict, before: Graph, after: Graph) -> dict:
    return {"layers": done, "skipped": skipped,
            "params_before": sum(n.params or 0 for n in before.order()),
            "params_after": sum(n.params or 0 for n in after.order())}
