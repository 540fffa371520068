"""Token sequences `(batch, length, features)`: `positional_encoding` (Add of a position table, constant when the
length is known, else built at run time: Range, Sin/Cos or a Slice of the learned table) and `class_token`
(the learned token Expanded to the batch, Concat in front). Both work channels-last, as the Keras layers."""

from __future__ import annotations

import math

import numpy as np

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import LAST, Builder
from nnspec.runtime.onnx_emit._registry import emits


def _rates(features: int) -> np.ndarray:
    """The sinusoid's angular rates, as `custom_layers.positional_encoding.sinusoid_rates` (no Keras import)."""
    j = np.arange(features)
    return (1.0 / np.power(10000.0, 2 * (j // 2) / features)).astype(np.float32)


def _sinusoids(length: int, features: int) -> np.ndarray:
    angles = np.arange(length, dtype=np.float32)[:, None] * _rates(features)
    return np.where(np.arange(features) % 2 == 0, np.sin(angles), np.cos(angles)).astype(np.float32)


def _runtime_table(b: Builder, node: Node, x: str, features: int) -> str:
    """The position table of the run-time length of `x`."""
    shape = b.add("Shape", [x], name=f"{node.id}/shape")
    if node.spec.kind == "learned":
        length = b.add(
            "Slice",
            [shape, b.ints(f"{node.id}/one", [1]), b.ints(f"{node.id}/two", [2])],
            name=f"{node.id}/length",
        )
        table = b.param(node, "embeddings", lambda: b.weight(node, "embeddings"))
        return b.add(
            "Slice",
            [table, b.ints(f"{node.id}/zero", [0]), length, b.ints(f"{node.id}/axis0", [0])],
            name=f"{node.id}/table",
        )
    length = b.add(
        "Gather",
        [shape, b.const(f"{node.id}/length_axis", np.int64(1))],
        name=f"{node.id}/length",
        axis=0,
    )
    steps = b.add(
        "Range",
        [
            b.const(f"{node.id}/start", np.int64(0)),
            length,
            b.const(f"{node.id}/delta", np.int64(1)),
        ],
        name=f"{node.id}/steps",
    )
    steps = b.add("Cast", [steps], name=f"{node.id}/positions", to=1)  # TensorProto.FLOAT
    column = b.add("Unsqueeze", [steps, b.ints(f"{node.id}/column", [1])], name=f"{node.id}/column")
    angles = b.add(
        "Mul", [column, b.const(f"{node.id}/rates", _rates(features))], name=f"{node.id}/angles"
    )
    even = b.const(f"{node.id}/even", np.arange(features) % 2 == 0)
    return b.add(
        "Where",
        [
            even,
            b.add("Sin", [angles], name=f"{node.id}/sin"),
            b.add("Cos", [angles], name=f"{node.id}/cos"),
        ],
        name=f"{node.id}/table",
    )


@emits("positional_encoding")
def emit_positional_encoding(b: Builder, node: Node) -> None:
    spec = node.spec
    _, length, features = node.out.shape
    x = b.read(node, 0, LAST)
    if spec.scale_input:
        factor = b.const(f"{node.id}/sqrt_features", np.float32(math.sqrt(features)))
        x = b.add("Mul", [x, factor], name=f"{node.id}/scale_input")
    if length is None:
        table = _runtime_table(b, node, x, features)
    elif spec.kind == "learned":
        table = b.param(node, f"table_{length}", lambda: b.weight(node, "embeddings")[:length])
    else:
        table = b.const(f"{node.id}/table", _sinusoids(length, features))
    b.write(node, b.add("Add", [x, table], name=node.id), LAST)


@emits("class_token")
def emit_class_token(b: Builder, node: Node) -> None:
    features = node.out.shape[2]
    x = b.read(node, 0, LAST)
    token = b.param(node, "token", lambda: b.weight(node, "token").reshape(1, 1, features))
    batch = b.add(
        "Slice",
        [
            b.add("Shape", [x], name=f"{node.id}/shape"),
            b.ints(f"{node.id}/zero", [0]),
            b.ints(f"{node.id}/one", [1]),
        ],
        name=f"{node.id}/batch",
    )
    shape = b.add(
        "Concat",
        [batch, b.ints(f"{node.id}/token_dims", [1, features])],
        name=f"{node.id}/token_shape",
        axis=0,
    )
    tokens = b.add("Expand", [token, shape], name=f"{node.id}/tokens")
    b.write(node, b.add("Concat", [tokens, x], name=node.id, axis=1), LAST)
