"""Shared rules of the convolution cards (`conv1d`, `conv2d`, `conv3d`): one shape rule, one count, one mapping.

Each card file declares its own spec class (its size types differ by rank) and registers these rules.
"""

from __future__ import annotations

import math

from nnspec.layers._registry import KerasMapping, Shape, ShapeError, TensorType, elements
from nnspec.layers._shapes import conv_out_len, require_known, require_rank
from nnspec.specs.base import ntuple


def spatial_rank(spec) -> int:
    """1, 2 or 3: how many spatial axes the conv slides over."""
    return {"conv1d": 1, "conv2d": 2, "conv3d": 3}[spec.op]


def check_conv_args(spec) -> None:
    """Cross-field rules Keras enforces at construction (raised as validation errors at the spec line)."""
    n = spatial_rank(spec)
    if max(ntuple(spec.strides, n)) > 1 and max(ntuple(spec.dilation_rate, n)) > 1:
        raise ValueError("strides > 1 cannot be combined with dilation_rate > 1 (Keras does not support it). "
                         f"Received: strides={spec.strides}, dilation_rate={spec.dilation_rate}")
    if spec.filters % spec.groups:
        raise ValueError(f"filters must be divisible by groups. Received: filters={spec.filters}, "
                         f"groups={spec.groups}")


def conv_shape(spec, x: Shape) -> Shape:
    n = spatial_rank(spec)
    require_rank(x, n + 2, spec.op, "Reshape the input or use the conv op of matching rank")
    channels = require_known(x[-1], "number of input channels")
    if channels % spec.groups:
        raise ShapeError(f"input channels ({channels}) must be divisible by groups ({spec.groups})")
    kernel, strides, dilation = (ntuple(v, n) for v in (spec.kernel_size, spec.strides, spec.dilation_rate))
    padding = "same" if spec.padding == "causal" else spec.padding
    spatial = tuple(conv_out_len(x[1 + i], kernel[i], strides[i], padding, dilation[i]) for i in range(n))
    return (x[0], *spatial, spec.filters)


def conv_params(spec, x: TensorType) -> int:
    kernel = math.prod(ntuple(spec.kernel_size, spatial_rank(spec)))
    weights = kernel * (x.shape[-1] // spec.groups) * spec.filters
    return weights + (spec.filters if spec.use_bias else 0)


def conv_flops(spec, out: TensorType, x: TensorType) -> int:
    kernel = math.prod(ntuple(spec.kernel_size, spatial_rank(spec)))
    return 2 * elements(out.shape) * kernel * (x.shape[-1] // spec.groups)


def _kwargs(spec) -> dict:
    return dict(
        filters=spec.filters, kernel_size=spec.kernel_size, strides=spec.strides, padding=spec.padding,
        dilation_rate=spec.dilation_rate, groups=spec.groups, use_bias=spec.use_bias, activation=spec.activation,
    )


def conv_rules(keras_cls: str, onnx_op: str = "Conv") -> dict:
    """The `register(...)` rules every conv card shares."""
    return dict(infer_shape=conv_shape, count_params=conv_params, count_flops=conv_flops,
                keras=KerasMapping(keras_cls, _kwargs), onnx_ops=(onnx_op,), channels="produce")
