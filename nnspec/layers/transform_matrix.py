"""`transform_matrix`: regress a k x k matrix from a feature vector, initialised to the identity, as the last layer
of PointNet's T-Nets: `reshape(x @ kernel + bias, (k, k)) + I` with kernel and bias starting at zero (Qi et al.
2017, Sec. 4.2; charlesq34/pointnet models/transform_nets.py). Lowers to nnspec's own `TransformMatrix` layer
(Keras has none), exports as ONNX MatMul, Add and Reshape."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, TensorType, card
from nnspec.layers._shapes import require_known, require_rank
from nnspec.specs.base import LayerSpec, PositiveInt


def _shape(spec: TransformMatrix, x: Shape) -> Shape:
    require_rank(x, 2, "the feature vector the matrix is regressed from", "Add a global pool or a flatten first")
    require_known(x[1], "number of input features")
    return (x[0], spec.k, spec.k)


def _params(spec: TransformMatrix, x: TensorType) -> int:
    return x.shape[1] * spec.k**2 + spec.k**2  # kernel (units, k*k) and bias (k*k); the identity is a constant


def _flops(spec: TransformMatrix, out: TensorType, x: TensorType) -> int:
    return 2 * x.shape[1] * spec.k**2 + spec.k**2  # the product, and adding the identity (bias uncounted, as dense)


@card(
    infer_shape=_shape,
    count_params=_params,
    count_flops=_flops,
    keras=KerasMapping("nnspec.runtime.custom_layers.transform_matrix:TransformMatrix", lambda s: {"k": s.k}),
    onnx_ops=("MatMul", "Add", "Reshape"),
    channels="consume",
    examples=(
        Example({"k": 3}, inputs=((16,),)),
        Example({"k": 8}, inputs=((5,),)),
    ),
)
class TransformMatrix(LayerSpec):
    """Regress a k x k matrix from a (batch, features) vector: a dense layer to k*k values, reshaped to
    (k, k), plus the identity. Its kernel and bias start at zero, so a fresh layer outputs exactly the
    identity whatever its input, and training learns a correction to it. Weights: features * k*k + k*k.

    This is the last layer of a PointNet T-Net (the mini-network that predicts an input or feature
    transform); `matmul` then applies the matrix to the points.

    Example:
        `{id: transform, op: transform_matrix, k: 3}` after a `dense` of 256 units.
    """

    op: Literal["transform_matrix"] = "transform_matrix"
    k: PositiveInt
    """Side of the square matrix: 3 for PointNet's input (xyz) transform, 64 for its feature transform."""
