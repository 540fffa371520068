"""`cluster_weights`: share values within each layer by k-means over its kernel (clustering).

Each conv/dense kernel's values are grouped into n clusters (scikit-learn's `KMeans` in one
dimension, started from n values spread evenly over the kernel's range, the initialization Han et
al. 2016, "Deep Compression", Sec. 3 found best) and every value is replaced by its centroid. The
graph is unchanged. Such a layer can be stored as n float32 centroids plus a `ceil(log2 n)`-bit
index per weight, which is what the report counts (biases, batch norms and other variables stay
float32). Accuracy usually holds at 16 clusters (4-bit indices); fine-tuning can recover more.

Requires: the weights of the layers to cluster.
Ensures: each clustered kernel holds at most n distinct values; the graph is unchanged; a second
run with the same n changes nothing.
"""

from __future__ import annotations

import math

import numpy as np

from nnspec.compiler.ir import Graph
from nnspec.compiler.weights import WeightedGraph, WeightedResult, copy_weights
from nnspec.errors import InputError

KERNELS = {"dense": ("kernel",), "conv1d": ("kernel",), "conv2d": ("kernel",),
           "conv3d": ("kernel",), "conv2d_transpose": ("kernel",),
           "depthwise_conv2d": ("depthwise_kernel",),
           "separable_conv2d": ("depthwise_kernel", "pointwise_kernel")}
"""Ops whose kernels are clustered, and the variables that are their kernels."""
FIT_SAMPLE = 200_000
"""Fit the clusters on at most this many of a kernel's values (a seeded sample); assign all."""


def cluster_weights(model: WeightedGraph, *, clusters: int = 16,
                    layers: list[str] | None = None) -> WeightedResult:
    """Replace each conv/dense kernel value by the nearest of `clusters` shared values.

    Args:
        clusters: Shared values per kernel (n). Defaults to `16` (4-bit indices).
        layers: Only these node ids. Defaults to every conv/dense layer that holds weights.

    Returns:
        A `WeightedResult` whose report is `{"clusters", "layers": {id: {clusters, values, bytes,
        float_bytes}}, "bytes", "float_bytes", "ratio"}`: sizes of all the model's weights, with
        clustered kernels counted as centroids plus packed indices.

    Raises:
        InputError: `clusters` is not an integer >= 2, or `layers` names nodes without kernels.
    """
    _check_args(model.graph, clusters, layers)
    from sklearn.cluster import KMeans  # heavy: imported only when clustering
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    weights = copy_weights(model.weights)
    per_layer, changed = {}, False
    for node in model.graph.order():
        if node.op not in KERNELS or node.id not in weights:
            continue
        if layers is not None and node.id not in layers:
            continue
        entry = {"clusters": 0, "values": 0, "bytes": 0, "float_bytes": 0}
        for name in KERNELS[node.op]:
            kernel = weights[node.id][name]
            distinct = len(np.unique(kernel))
            k = min(clusters, distinct)
            if distinct > clusters:
                # NOTE: one thread: 1-D k-means is too small to gain from OpenMP, which measured 9x
                # slower than one thread on a busy 2-core machine.
                with threadpool_limits(1):
                    weights[node.id][name] = _clustered(KMeans, kernel, k)
                changed = True
            entry["clusters"] = max(entry["clusters"], k)
            entry["values"] += int(kernel.size)
            entry["bytes"] += clustered_bytes(kernel.size, k)
            entry["float_bytes"] += int(kernel.nbytes)
        per_layer[node.id] = entry
    result = WeightedGraph(model.graph, weights) if changed else model
    return WeightedResult(result, changed, _report(clusters, per_layer, model.weights))


def clustered_bytes(values: int, k: int) -> int:
    """Bytes for `values` weights as `k` float32 centroids and a packed `ceil(log2 k)`-bit index
    per weight."""
    return 4 * k + math.ceil(values * math.ceil(math.log2(max(k, 1))) / 8)


def _check_args(g: Graph, clusters, layers) -> None:
    if not isinstance(clusters, int) or isinstance(clusters, bool) or clusters < 2:
        raise InputError(f"clusters must be an integer >= 2. Received: clusters={clusters!r}")
    bad = [x for x in layers or () if x not in g.nx or g.node(x).op not in KERNELS]
    if bad:
        raise InputError(f"layers must name conv or dense nodes ({', '.join(KERNELS)}). "
                         f"Received: {', '.join(map(repr, bad))}")


def _clustered(kmeans, kernel: np.ndarray, k: int) -> np.ndarray:
    """`kernel` with each value replaced by its centroid among `k` (k-means, evenly spread
    starts)."""
    values = kernel.reshape(-1, 1).astype(np.float64)
    sample = values
    if len(values) > FIT_SAMPLE:
        sample = values[np.random.default_rng(0).choice(len(values), FIT_SAMPLE, replace=False)]
    start = np.linspace(values.min(), values.max(), k).reshape(-1, 1)
    km = kmeans(n_clusters=k, init=start, n_init=1, random_state=0).fit(sample)
    centroids = km.cluster_centers_.reshape(-1)
    return centroids[km.predict(values)].astype(kernel.dtype).reshape(kernel.shape)


def _report(clusters: int, per_layer: dict, weights: dict) -> dict:
    total = sum(int(a.nbytes) for vs in weights.values() for a in vs.values())
    size = total - sum(e["float_bytes"] - e["bytes"] for e in per_layer.values())
    return {"clusters": clusters, "layers": per_layer, "bytes": size, "float_bytes": total,
            "ratio": total / size if size else 1.0}
