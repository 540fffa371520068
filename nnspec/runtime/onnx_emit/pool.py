"""Pools: windowed (`max_pool1d` ... `avg_pool3d`) as MaxPool/AveragePool in channels-first layout, and global
(`global_max_pool1d` ... `global_avg_pool3d`) as ReduceMax/ReduceMean over the spatial axes of any layout.

Keras `same` pooling pads like `same` convolution; its averages leave the padding out (`count_include_pad=0`).
"""

from __future__ import annotations

from nnspec.compiler.ir import Node
from nnspec.layers._pool import pool_rank
from nnspec.runtime.onnx_emit._builder import FIRST, Builder, axis_in
from nnspec.runtime.onnx_emit._registry import emits
from nnspec.runtime.onnx_emit.conv import window_pads
from nnspec.specs.base import ntuple

WINDOWED = {f"{kind}_pool{n}d": op for kind, op in (("max", "MaxPool"), ("avg", "AveragePool")) for n in (1, 2, 3)}
GLOBAL = {f"global_{kind}_pool{n}d": op for kind, op in (("max", "ReduceMax"), ("avg", "ReduceMean"))
          for n in (1, 2, 3)}  # fmt: skip


@emits(*WINDOWED)
def emit_pool(b: Builder, node: Node) -> None:
    spec = node.spec
    n = pool_rank(spec)
    kernel = list(ntuple(spec.pool_size, n))
    strides = kernel if spec.strides is None else list(ntuple(spec.strides, n))
    sizes = b.graph.input_types(node.id)[0].shape[1:-1]
    pads = window_pads(sizes, kernel, strides, [1] * n, spec.padding)
    y = b.add(WINDOWED[node.op], [b.read(node, 0, FIRST)], name=node.id, kernel_shape=kernel, strides=strides,
              **pads)
    b.write(node, y, FIRST)


def reduce(b: Builder, op: str, x: str, axes: list[int], *, keepdims: bool, name: str) -> str:
    """A Reduce* node: `axes` is an input from opset 18 on (ReduceSum: 13), an attribute before."""
    if b.opset >= (13 if op == "ReduceSum" else 18):
        return b.add(op, [x, b.ints(f"{name}/axes", axes)], name=name, keepdims=int(keepdims))
    return b.add(op, [x], name=name, axes=axes, keepdims=int(keepdims))


@emits(*GLOBAL)
def emit_global_pool(b: Builder, node: Node) -> None:
    layout = b.natural(node)
    rank = b.rank(node)
    axes = sorted(axis_in(layout, rank, a) for a in range(1, rank - 1))
    y = reduce(b, GLOBAL[node.op], b.read(node, 0, layout), axes, keepdims=node.spec.keepdims, name=node.id)
    b.write(node, y, layout)
