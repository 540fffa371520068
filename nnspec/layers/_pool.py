"""Shared rules of the pooling cards: windowed (`max_pool1d` ... `avg_pool3d`) and global
(`global_max_pool1d` ... `global_avg_pool3d`).

Each card file declares its own spec class (its size types differ by rank) and registers these
rules. The spatial rank is the digit in the op tag (`max_pool2d` pools over 2 axes).
"""

from __future__ import annotations

import math

from nnspec.layers._registry import KerasMapping, Shape, ShapeError, TensorType, elements
from nnspec.layers._shapes import require_rank
from nnspec.specs.base import ntuple

AXIS_NAMES = {1: ("steps",), 2: ("height", "width"), 3: ("depth", "height", "width")}


def pool_rank(spec) -> int:
    """1, 2 or 3: how many spatial axes the pool reduces (`max_pool2d` → 2)."""
    return int(spec.op[-2])


def pool_out_len(length: int | None, pool: int, stride: int, padding: str, axis: str) -> int | None:
    """Output length of a pooling window along one axis (Keras's `compute_pooling_output_shape`)."""
    if length is None:
        return None
    if padding == "same":
        return math.ceil(length / stride)
    if length < pool:
        raise ShapeError(
            f"has a pooling window ({pool}) larger than the input {axis} ({length}) with padding "
            "'valid'. Use padding 'same', a smaller pool_size, or pool less often earlier on"
        )
    return (length - pool) // stride + 1


def pool_shape(spec, x: Shape) -> Shape:
    n = pool_rank(spec)
    require_rank(x, n + 2, spec.op, "Reshape the input or use the pool op of matching rank")
    pool = ntuple(spec.pool_size, n)
    strides = pool if spec.strides is None else ntuple(spec.strides, n)
    names = AXIS_NAMES[n]
    spatial = tuple(
        pool_out_len(x[1 + i], pool[i], strides[i], spec.padding, names[i]) for i in range(n)
    )
    return (x[0], *spatial, x[-1])


def pool_flops(spec, out: TensorType, x: TensorType) -> int:
    """One comparison (max) or addition (average) per window tap of every output element."""
    return elements(out.shape) * math.prod(ntuple(spec.pool_size, pool_rank(spec)))


def _pool_kwargs(spec) -> dict:
    return dict(pool_size=spec.pool_size, strides=spec.strides, padding=spec.padding)


def pool_rules(keras_cls: str, onnx_op: str) -> dict:
    """The `register(...)` rules every windowed pooling card shares."""
    return dict(
        infer_shape=pool_shape,
        count_flops=pool_flops,
        keras=KerasMapping(keras_cls, _pool_kwargs),
        onnx_ops=(onnx_op,),
        channels="passthrough",
    )


def global_pool_shape(spec, x: Shape) -> Shape:
    n = pool_rank(spec)
    require_rank(x, n + 2, spec.op, "Use the global pool op of matching rank")
    return (x[0], *(1,) * n, x[-1]) if spec.keepdims else (x[0], x[-1])


def global_pool_flops(spec, out: TensorType, x: TensorType) -> int:
    """One comparison or addition per input element."""
    return elements(x.shape)


def global_pool_rules(keras_cls: str, onnx_op: str) -> dict:
    """The `register(...)` rules every global pooling card shares."""
    return dict(
        infer_shape=global_pool_shape,
        count_flops=global_pool_flops,
        keras=KerasMapping(keras_cls, lambda s: dict(keepdims=s.keepdims)),
        onnx_ops=(onnx_op,),
        channels="passthrough",
    )
