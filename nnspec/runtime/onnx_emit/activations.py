"""Activations, as ops (`relu`, `softmax`, `leaky_relu`, `prelu`, ...) and as the `activation:` of dense/conv.

Each follows `keras.activations` exactly (constants included), composed from ONNX ops where opset ≤ 18 has no
single op: exact GELU (`0.5 x (1 + erf(x / √2))`, Keras's default), swish/silu, mish, relu6, hard_tanh.
They work in any layout; softmax's axis follows the layout.
"""

from __future__ import annotations

import math

import numpy as np

from nnspec.compiler.ir import Node
from nnspec.layers.activations import PLAIN_ACTIVATIONS
from nnspec.runtime.onnx_emit._builder import Builder, axis_in
from nnspec.runtime.onnx_emit._registry import emits

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def activation(b: Builder, node: Node, x: str, fn: str | None, layout: str, *, name: str) -> str:
    """Apply activation `fn` (a `keras.activations` name, or None) to `x`, the main node named `name`."""
    if fn is None or (fn == "linear" and name != node.id):
        return x
    simple = {"linear": "Identity", "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh",
              "softplus": "Softplus"}  # fmt: skip
    if fn in simple:
        return b.add(simple[fn], [x], name=name)
    if fn in ("relu6", "hard_tanh"):
        low, high = (0.0, 6.0) if fn == "relu6" else (-1.0, 1.0)
        return b.add("Clip", [x, b.scalar(f"{name}/min", low, node), b.scalar(f"{name}/max", high, node)],
                     name=name)
    if fn == "selu":
        return b.add("Selu", [x], name=name, alpha=SELU_ALPHA, gamma=SELU_SCALE)
    if fn == "hard_sigmoid":  # keras: relu6(x + 3) / 6
        return b.add("HardSigmoid", [x], name=name, alpha=1 / 6, beta=0.5)
    if fn == "leaky_relu":
        return b.add("LeakyRelu", [x], name=name, alpha=0.2)
    if fn == "elu":
        return b.add("Elu", [x], name=name, alpha=1.0)
    if fn == "softmax":
        return b.add("Softmax", [x], name=name, axis=axis_in(layout, len(node.out.shape), -1))
    if fn in ("swish", "silu"):
        return b.add("Mul", [x, b.add("Sigmoid", [x], name=f"{name}/sigmoid")], name=name)
    if fn == "mish":
        soft = b.add("Softplus", [x], name=f"{name}/softplus")
        return b.add("Mul", [x, b.add("Tanh", [soft], name=f"{name}/tanh")], name=name)
    if fn == "gelu":
        scaled = b.add("Mul", [x, b.scalar(f"{name}/rsqrt2", 1 / math.sqrt(2), node)], name=f"{name}/scale")
        erf = b.add("Erf", [scaled], name=f"{name}/erf")
        one = b.add("Add", [erf, b.scalar(f"{name}/one", 1.0, node)], name=f"{name}/plus_one")
        half = b.add("Mul", [x, b.scalar(f"{name}/half", 0.5, node)], name=f"{name}/half_x")
        return b.add("Mul", [half, one], name=name)
    raise KeyError(f"no ONNX form for activation {fn!r}")


@emits(*PLAIN_ACTIVATIONS)
def emit_plain(b: Builder, node: Node) -> None:
    layout = b.natural(node)
    b.write(node, activation(b, node, b.read(node, 0, layout), node.op, layout, name=node.id), layout)


@emits("softmax")
def emit_softmax(b: Builder, node: Node) -> None:
    layout = b.natural(node)
    axis = axis_in(layout, len(node.out.shape), node.spec.axis)
    b.write(node, b.add("Softmax", [b.read(node, 0, layout)], name=node.id, axis=axis), layout)


@emits("leaky_relu")
def emit_leaky_relu(b: Builder, node: Node) -> None:
    layout = b.natural(node)
    x = b.read(node, 0, layout)
    b.write(node, b.add("LeakyRelu", [x], name=node.id, alpha=float(node.spec.negative_slope)), layout)


@emits("elu")
def emit_elu(b: Builder, node: Node) -> None:
    layout = b.natural(node)
    b.write(node, b.add("Elu", [b.read(node, 0, layout)], name=node.id, alpha=float(node.spec.alpha)), layout)


@emits("prelu")
def emit_prelu(b: Builder, node: Node) -> None:
    """Keras's `relu(x) - alpha * relu(-x)`, written as `relu(x) + alpha * min(x, 0)`."""
    from nnspec.runtime.onnx_emit._builder import to_layout

    layout = b.natural(node)
    x = b.read(node, 0, layout)
    rank = len(node.out.shape)
    alpha = b.param(node, f"alpha_{layout}",
                    lambda: np.transpose(b.weight(node, "alpha")[None], to_layout(rank, layout))[0])
    negative = b.add("Min", [x, b.scalar(f"{node.id}/zero", 0.0, node)], name=f"{node.id}/negative")
    scaled = b.add("Mul", [negative, alpha], name=f"{node.id}/scale")
    b.write(node, b.add("Add", [b.add("Relu", [x], name=node.id), scaled], name=f"{node.id}/sum"), layout)
