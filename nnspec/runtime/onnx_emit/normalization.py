"""Per-example normalizations: `layer_norm`, `group_norm`, `instance_norm`, each with Keras's math
(`(x - mean) / sqrt(variance + epsilon)` over the normalized axes, then `gamma`, `beta`).

`layer_norm` over trailing axes is one LayerNormalization node from opset 17 on; otherwise (other axes, older
opsets) it and `group_norm` are written out: ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Reciprocal, Mul (named
`id`), then the scale and offset (`id/scale`, `id/offset`). `group_norm` first splits the channel axis into
(groups, channels per group) with a Reshape. `instance_norm` (Keras: GroupNormalization with one group per
channel) is ONNX InstanceNormalization on the channels-first tensor, next to the convolutions it follows.
"""

from __future__ import annotations

import numpy as np

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import FIRST, LAST, Builder
from nnspec.runtime.onnx_emit._registry import emits
from nnspec.runtime.onnx_emit.pool import reduce


def normalize(b: Builder, node: Node, x: str, axes: list[int], epsilon: float) -> str:
    """`(x - mean) / sqrt(variance + epsilon)` over `axes` of `x`; the last Mul is named `node.id`."""
    name = node.id
    mean = reduce(b, "ReduceMean", x, axes, keepdims=True, name=f"{name}/mean")
    centered = b.add("Sub", [x, mean], name=f"{name}/centered")
    square = b.add("Mul", [centered, centered], name=f"{name}/square")
    variance = reduce(b, "ReduceMean", square, axes, keepdims=True, name=f"{name}/variance")
    shifted = b.add(
        "Add", [variance, b.scalar(f"{name}/epsilon", epsilon, node)], name=f"{name}/plus_epsilon"
    )
    inverse = b.add(
        "Reciprocal", [b.add("Sqrt", [shifted], name=f"{name}/std")], name=f"{name}/inverse"
    )
    return b.add("Mul", [centered, inverse], name=name)


def affine(b: Builder, node: Node, y: str, shape: tuple[int, ...]) -> str:
    """`y * gamma + beta` (each if the layer has it), the weights reshaped to broadcast as `shape`."""
    if node.spec.scale:
        gamma = b.param(node, "gamma", lambda: b.weight(node, "gamma").reshape(shape))
        y = b.add("Mul", [y, gamma], name=f"{node.id}/scale")
    if node.spec.center:
        beta = b.param(node, "beta", lambda: b.weight(node, "beta").reshape(shape))
        y = b.add("Add", [y, beta], name=f"{node.id}/offset")
    return y


@emits("layer_norm", onnx_ops=("LayerNormalization",))
def emit_layer_norm(b: Builder, node: Node) -> None:
    spec = node.spec
    rank = len(node.out.shape)
    axes = sorted(a % rank for a in ([spec.axis] if isinstance(spec.axis, int) else spec.axis))
    x = b.read(node, 0, LAST)
    sizes = [node.out.shape[a] for a in axes]
    if b.opset >= 17 and axes == list(range(axes[0], rank)):
        gamma = (
            b.param(node, "gamma", lambda: b.weight(node, "gamma"))
            if spec.scale
            else b.const(f"{node.id}/ones", np.ones(sizes, np.float32))
        )
        beta = [b.param(node, "beta", lambda: b.weight(node, "beta"))] if spec.center else []
        y = b.add(
            "LayerNormalization",
            [x, gamma, *beta],
            name=node.id,
            axis=axes[0],
            epsilon=spec.epsilon,
        )
    else:
        shape = tuple(node.out.shape[a] if a in axes else 1 for a in range(1, rank))
        y = affine(b, node, normalize(b, node, x, axes, spec.epsilon), shape)
    b.write(node, y, LAST)


def _refuse_group_norm(node: Node, graph) -> str | None:
    rank = len(node.out.shape)
    if sum(d is None for d in node.out.shape[node.spec.axis % rank + 1 :]) > 1:
        return "group normalization with several unknown axes after the channel axis is not emitted"
    return None


@emits("group_norm", refuse=_refuse_group_norm)
def emit_group_norm(b: Builder, node: Node) -> None:
    """Keras's GroupNormalization: the channel axis split into (groups, channels per group); statistics over
    every axis but the batch and the group axis."""
    spec = node.spec
    shape = node.out.shape
    rank = len(shape)
    axis = spec.axis % rank
    channels = shape[axis]
    x = b.read(node, 0, LAST)
    after = [-1 if d is None else d for d in shape[axis + 1 :]]
    grouped = b.ints(
        f"{node.id}/grouped_shape", [0] * axis + [spec.groups, channels // spec.groups] + after
    )
    xg = b.add("Reshape", [x, grouped], name=f"{node.id}/groups")
    axes = [a for a in range(1, rank + 1) if a != axis]
    y = normalize(b, node, xg, axes, spec.epsilon)
    y = b.add(
        "Reshape", [y, b.add("Shape", [x], name=f"{node.id}/shape")], name=f"{node.id}/ungroup"
    )
    b.write(node, affine(b, node, y, (channels,) + (1,) * (rank - 1 - axis)), LAST)


@emits("instance_norm", onnx_ops=("InstanceNormalization",))
def emit_instance_norm(b: Builder, node: Node) -> None:
    spec = node.spec
    channels = node.out.shape[-1]
    gamma = (
        b.param(node, "gamma", lambda: b.weight(node, "gamma"))
        if spec.scale
        else b.const(f"{node.id}/ones", np.ones(channels, np.float32))
    )
    beta = (
        b.param(node, "beta", lambda: b.weight(node, "beta"))
        if spec.center
        else b.const(f"{node.id}/zeros", np.zeros(channels, np.float32))
    )
    y = b.add(
        "InstanceNormalization",
        [b.read(node, 0, FIRST), gamma, beta],
        name=node.id,
        epsilon=spec.epsilon,
    )
    b.write(node, y, FIRST)
