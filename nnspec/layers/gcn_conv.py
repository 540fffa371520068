"""`gcn_conv`: graph convolution of Kipf & Welling 2017, `H' = activation(Â H W + b)`, with the normalized
adjacency Â given as an input (lowers to nnspec's own `GraphConvolution`, ONNX MatMul)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import (
    Example,
    KerasMapping,
    Shape,
    ShapeError,
    TensorType,
    card,
    elements,
)
from nnspec.layers._shapes import require_known
from nnspec.specs.base import Activation, LayerSpec, PositiveInt


def _shape(spec: GraphConvolution, features: Shape, adjacency: Shape) -> Shape:
    if len(features) != 3:
        raise ShapeError("expects node features of shape (batch, nodes, features) as input 1. "
                         "Give the feature input a `shape: [nodes, features]`")
    if len(adjacency) != 3 or adjacency[1] != adjacency[2]:
        raise ShapeError("expects a square adjacency of shape (batch, nodes, nodes) as input 2. "
                         "Give the adjacency input a `shape: [nodes, nodes]`")
    if None not in (features[1], adjacency[1]) and features[1] != adjacency[1]:
        raise ShapeError(f"needs one adjacency row per node: {features[1]} nodes but a {adjacency[1]}x"
                         f"{adjacency[2]} adjacency. Use the adjacency of the same graph")
    require_known(features[2], "number of node features")
    return (features[0], features[1], spec.units)


def _params(spec: GraphConvolution, features: TensorType, adjacency: TensorType) -> int:
    return features.shape[-1] * spec.units + (spec.units if spec.use_bias else 0)


def _flops(spec: GraphConvolution, out: TensorType, features: TensorType, adjacency: TensorType) -> int:
    n, f = features.shape[1] or 1, features.shape[2]
    # H W (N·F·units multiply-adds), then Â (H W) (N·N·units), then bias and activation per output element.
    extra = elements(out.shape) * ((1 if spec.use_bias else 0) + (1 if spec.activation not in (None, "linear")
                                                                   else 0))
    return 2 * n * f * spec.units + 2 * n * n * spec.units + extra


def _kwargs(spec: GraphConvolution) -> dict:
    return {"units": spec.units, "activation": spec.activation, "use_bias": spec.use_bias}


@card(
    infer_shape=_shape,
    count_params=_params,
    count_flops=_flops,
    keras=KerasMapping("nnspec.runtime.custom_layers.graph_convolution:GraphConvolution", _kwargs, call="list"),
    arity=2,
    inputs_hint="node features, normalized adjacency",
    channels="produce",
    onnx_ops=("MatMul",),
    examples=(
        Example({"units": 4}, inputs=((6, 5), (6, 6))),
        Example({"units": 3, "activation": "relu", "use_bias": True}, inputs=((5, 8), (5, 5))),
    ),
)
class GraphConvolution(LayerSpec):
    """Graph convolution (Kipf & Welling 2017, Eq. 2): `H' = activation(Â H W + b)` on node features `H`
    `(batch, N, F)`, giving `(batch, N, units)`.

    The second input is the renormalized adjacency `Â = D̃^-1/2 (A + I) D̃^-1/2` (`D̃` the degree matrix of
    `A + I`), `(batch, N, N)`, given as data: compute it once per graph outside the model (it is a dense
    matrix, O(N²) memory per graph). `W` is `(F, units)`; `H W` is taken first, as the reference does.

    Example:
        `{id: gc1, op: gcn_conv, units: 16, activation: relu, from: [features, adjacency]}`
    """

    op: Literal["gcn_conv"] = "gcn_conv"
    units: PositiveInt
    """Number of output features per node."""
    activation: Activation | None = None
    """Activation applied to the output. Defaults to none (linear)."""
    use_bias: bool = False
    """Add a learned bias per output feature. Defaults to `false`, as in the paper's Eq. 9 and the reference
    implementation (github.com/tkipf/gcn, `GraphConvolution(bias=False)`)."""
