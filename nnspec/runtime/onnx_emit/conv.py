"""Convolutions: `conv1d`/`conv2d`/`conv3d` (grouped too), `depthwise_conv2d`, `separable_conv2d`,
`conv2d_transpose`, as ONNX Conv/ConvTranspose in channels-first layout, bias included, activation after.

Keras kernels are `(k..., in, out)`; ONNX weights are `(out, in, k...)`. Grouped convolutions split channels
into consecutive groups in both. Keras `same` padding is TensorFlow's: the total padding
`max((ceil(n / s) - 1) s + (k - 1) d + 1 - n, 0)`, the odd one at the end (ONNX `SAME_UPPER`).
"""

from __future__ import annotations

import math

import numpy as np

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import FIRST, Builder
from nnspec.runtime.onnx_emit._registry import emits
from nnspec.runtime.onnx_emit.activations import activation
from nnspec.specs.base import ntuple


def window_pads(sizes, kernel, strides, dilations, padding: str) -> dict:
    """ONNX `pads` (or `auto_pad` where a size is unknown) for a Keras window op's `padding`."""
    n = len(kernel)
    if padding == "valid":
        return {"pads": [0] * 2 * n}
    if padding == "causal":  # left padding only
        return {"pads": [(kernel[0] - 1) * dilations[0], 0]}
    if any(size is None for size, s in zip(sizes, strides) if s > 1):
        return {"auto_pad": "SAME_UPPER"}
    totals = []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        reach = (k - 1) * d + 1
        totals.append(reach - 1 if s == 1 else max((math.ceil(size / s) - 1) * s + reach - size, 0))
    return {"pads": [t // 2 for t in totals] + [t - t // 2 for t in totals]}


def _conv(b: Builder, x: str, weight: str, bias: str | None, *, name: str, groups: int = 1, strides=None,
          dilation=None, padding: str = "valid", sizes=()) -> str:
    """One ONNX Conv of `x` (channels-first) with initializer `weight` in ONNX layout `(out, in / groups, k...)`."""
    kernel = list(b.initializers[weight].shape[2:])
    n = len(kernel)
    strides, dilation = list(ntuple(strides or 1, n)), list(ntuple(dilation or 1, n))
    inputs = [x, weight] + ([bias] if bias else [])
    return b.add("Conv", inputs, name=name, kernel_shape=kernel, strides=strides, dilations=dilation,
                 group=groups, **window_pads(sizes, kernel, strides, dilation, padding))


def _bias(b: Builder, node: Node) -> str | None:
    return b.param(node, "bias", lambda: b.weight(node, "bias")) if node.spec.use_bias else None


def _spatial(b: Builder, node: Node) -> tuple:
    return tuple(b.graph.input_types(node.id)[0].shape[1:-1])


def _keras_to_onnx(kernel: np.ndarray) -> np.ndarray:
    """`(k..., in, out)` → `(out, in, k...)`."""
    n = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (n + 1, n, *range(n))))


@emits("conv1d", "conv2d", "conv3d")
def emit_conv(b: Builder, node: Node) -> None:
    spec = node.spec
    weight = b.param(node, "kernel", lambda: _keras_to_onnx(b.weight(node, "kernel")))
    y = _conv(b, b.read(node, 0, FIRST), weight, _bias(b, node), name=node.id, groups=spec.groups,
              strides=spec.strides, dilation=spec.dilation_rate, padding=spec.padding, sizes=_spatial(b, node))
    b.write(node, activation(b, node, y, spec.activation, FIRST, name=f"{node.id}/{spec.activation}"), FIRST)


def _depthwise_weight(kernel: np.ndarray) -> np.ndarray:
    """Keras `(kh, kw, in, m)` → ONNX `(in * m, 1, kh, kw)`: output channel `c * m + j` reads channel `c`."""
    kh, kw, channels, m = kernel.shape
    return np.ascontiguousarray(np.transpose(kernel.reshape(kh, kw, channels * m), (2, 0, 1))[:, None])


@emits("depthwise_conv2d")
def emit_depthwise(b: Builder, node: Node) -> None:
    spec = node.spec
    weight = b.param(node, "kernel", lambda: _depthwise_weight(b.weight(node, "kernel")))
    y = _conv(b, b.read(node, 0, FIRST), weight, _bias(b, node), name=node.id, groups=b.rank_channels(node),
              strides=spec.strides, dilation=spec.dilation_rate, padding=spec.padding, sizes=_spatial(b, node))
    b.write(node, activation(b, node, y, spec.activation, FIRST, name=f"{node.id}/{spec.activation}"), FIRST)


@emits("separable_conv2d")
def emit_separable(b: Builder, node: Node) -> None:
    """The depthwise step (`id/depthwise`, no bias), then the 1x1 pointwise Conv (`id`) with the bias."""
    spec = node.spec
    depthwise_weight = b.param(node, "depthwise_kernel", lambda: _depthwise_weight(b.weight(node, "depthwise_kernel")))
    depthwise = _conv(b, b.read(node, 0, FIRST), depthwise_weight, None, name=f"{node.id}/depthwise",
                      groups=b.rank_channels(node), strides=spec.strides, dilation=spec.dilation_rate,
                      padding=spec.padding, sizes=_spatial(b, node))
    pointwise = b.param(node, "pointwise_kernel", lambda: _keras_to_onnx(b.weight(node, "pointwise_kernel")))
    y = _conv(b, depthwise, pointwise, _bias(b, node), name=node.id)
    b.write(node, activation(b, node, y, spec.activation, FIRST, name=f"{node.id}/{spec.activation}"), FIRST)


def _refuse_dilated_transpose(node: Node, graph) -> str | None:
    if max(ntuple(node.spec.dilation_rate, 2)) > 1:
        return "dilated transposed convolutions are not emitted"
    return None


@emits("conv2d_transpose", refuse=_refuse_dilated_transpose)
def emit_conv_transpose(b: Builder, node: Node) -> None:
    """Keras's output size (`n s` for `same`, `n s + max(k - s, 0)` for `valid`) from ONNX's
    `(n - 1) s + k - pads + output_padding`: pads crop `k - s` (odd one at the end), output_padding adds
    `s - k` zero rows where the kernel is smaller than the stride."""
    spec = node.spec
    kernel = list(ntuple(spec.kernel_size, 2))
    strides = list(ntuple(spec.strides, 2))
    # Keras (kh, kw, out, in) → ONNX (in, out, kh, kw)
    weight = b.param(node, "kernel", lambda: np.ascontiguousarray(np.transpose(b.weight(node, "kernel"), (3, 2, 0, 1))))
    crop = [max(k - s, 0) if spec.padding == "same" else 0 for k, s in zip(kernel, strides)]
    extra = [max(s - k, 0) for k, s in zip(kernel, strides)]
    inputs = [b.read(node, 0, FIRST), weight] + ([_bias(b, node)] if spec.use_bias else [])
    y = b.add("ConvTranspose", inputs, name=node.id, kernel_shape=kernel, strides=strides,
              pads=[c // 2 for c in crop] + [c - c // 2 for c in crop], output_padding=extra)
    b.write(node, activation(b, node, y, spec.activation, FIRST, name=f"{node.id}/{spec.activation}"), FIRST)
