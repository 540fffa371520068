"""`matmul`: batched matrix product of two inputs, `(batch, n, k) x (batch, k, m) -> (batch, n, m)`, either side
optionally transposed. Lowers to `keras.layers.Dot` (a batched dot over one axis of each input), exports as ONNX
MatMul."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, TensorType, card
from nnspec.specs.base import LayerSpec


def _axes(spec: MatMul) -> tuple[int, int]:
    """The Keras `Dot` axes (batch axis counted) that contract `a`'s columns with `b`'s rows."""
    return (1 if spec.transpose_a else 2, 2 if spec.transpose_b else 1)


def _shape(spec: MatMul, a: Shape, b: Shape) -> Shape:
    if len(a) != 3 or len(b) != 3:
        raise ShapeError("multiplies rank-3 (batch, rows, columns) inputs. Reshape each example to a matrix first")
    axis_a, axis_b = _axes(spec)
    ka, kb = a[axis_a], b[axis_b]
    if ka is not None and kb is not None and ka != kb:
        left = "rows" if spec.transpose_a else "columns"
        right = "columns" if spec.transpose_b else "rows"
        raise ShapeError(f"needs the first matrix's {left} ({ka}) to equal the second's {right} ({kb}). "
                         "Check the order of `from`, or transpose_a/transpose_b")
    n = a[2] if spec.transpose_a else a[1]
    m = b[1] if spec.transpose_b else b[2]
    return (a[0], n, m)


def _flops(spec: MatMul, out: TensorType, a: TensorType, b: TensorType) -> int:
    k = a.shape[_axes(spec)[0]] or b.shape[_axes(spec)[1]] or 1
    return 2 * (out.shape[1] or 1) * (out.shape[2] or 1) * k  # one multiply-accumulate per (row, column, k)


@card(
    infer_shape=_shape,
    count_flops=_flops,
    arity=2,
    inputs_hint="a, b",
    keras=KerasMapping("Dot", lambda s: {"axes": _axes(s)}, call="list"),
    onnx_ops=("MatMul",),
    channels="opaque",
    examples=(
        Example({}, inputs=((16, 3), (3, 3))),                          # points x a 3x3 transform
        Example({"transpose_b": True}, inputs=((6, 4), (5, 4))),        # a b^T: (6, 5)
        Example({"transpose_a": True}, inputs=((7, 3), (7, 2))),        # a^T b: (3, 2)
        Example({"transpose_a": True, "transpose_b": True}, inputs=((4, 3), (5, 4))),
    ),
)
class MatMul(LayerSpec):
    """Batched matrix product of two inputs: for each example, `a @ b` with `a` of shape (n, k) and `b` of
    shape (k, m), giving (n, m). Has no weights. PointNet applies its learned transforms this way: the
    (points, 3) cloud times the (3, 3) matrix a T-Net regressed from it.

    Example:
        `{id: aligned, op: matmul, from: [points, input_transform]}`
    """

    op: Literal["matmul"] = "matmul"
    transpose_a: bool = False
    """Use the first input's transpose, (k, n), in the product. Defaults to `false`."""
    transpose_b: bool = False
    """Use the second input's transpose, (m, k), in the product (`a @ b^T`, e.g. a matrix times its own
    transpose). Defaults to `false`."""
