"""Trained weights beside the IR, so passes that change weights (BN folding, pruning, SVD, clustering) stay pure
functions over data that can be checked before and after.

`Weights` maps a node id to its variables by name, in Keras's own layout and names (`kernel` (kh, kw, in, out)
for a convolution, `kernel` (in, out) and `bias` for a dense layer, `gamma`/`beta`/`moving_mean`/
`moving_variance` for batch norm, `kernel` (kh, kw, in, multiplier) for a depthwise convolution,
`depthwise_kernel`/`pointwise_kernel` for a separable one). Nodes without weights, and nodes that reuse another
node's weights (`shares`), have no entry. The runtime reads them from a Keras model (`nnspec.runtime.weights_io.read_weights`) and puts them
back into a freshly built one (`apply_weights`), so the compiler never imports Keras.

A weight-changing transform takes a `WeightedGraph` and returns a `WeightedResult`; its graph is re-typed with
`infer_shapes` (layer sizes may change), and its tests build Keras models from both sides and compare outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnspec.compiler.ir import Graph

Weights = dict[str, dict[str, np.ndarray]]


@dataclass(frozen=True)
class WeightedGraph:
    """A typed graph and the weights of its nodes."""

    graph: Graph
    weights: Weights

    def of(self, node_id: str) -> dict[str, np.ndarray]:
        """The variables of one node (empty for nodes without weights)."""
        return self.weights.get(node_id, {})

    def count(self) -> int:
        """Number of weight values held."""
        return sum(int(a.size) for vs in self.weights.values() for a in vs.values())


@dataclass(frozen=True)
class WeightedResult:
    """What a weight-changing transform returns: the new graph and weights, and whether anything changed."""

    model: WeightedGraph
    changed: bool
    report: dict | None = None
    """What the pass did, for people (per-layer ranks, sparsity, removed nodes); JSON-serializable."""


def copy_weights(weights: Weights) -> Weights:
    """A deep copy (arrays copied), so a pass can edit its result without touching its input."""
    return {node: {name: np.array(a, copy=True) for name, a in vs.items()} for node, vs in weights.items()}


def flatten(weights: Weights) -> dict[str, np.ndarray]:
    """`{"node/variable": array}`: the layout of a weights `.npz` file."""
    return {f"{node}/{name}": a for node, vs in weights.items() for name, a in vs.items()}


def unflatten(arrays: dict[str, np.ndarray]) -> Weights:
    """The inverse of `flatten`."""
    weights: Weights = {}
    for key, a in arrays.items():
        node, _, name = key.partition("/")
        weights.setdefault(node, {})[name] = np.asarray(a)
    return weights
