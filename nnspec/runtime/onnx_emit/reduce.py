"""`reduce`: ReduceSum, ReduceMean, ReduceMax, ReduceMin; `l2` as Keras computes it,
`sqrt(max(sum(x²), 1e-12))` (ReduceSumSquare `id/sum_squares`, Max `id/floor`, Sqrt `id`). With `keepdims` the
rank is kept, so it works in the layout its input has; otherwise channels-last."""

from __future__ import annotations

from nnspec.compiler.ir import Node
from nnspec.runtime.onnx_emit._builder import LAST, Builder, axis_in
from nnspec.runtime.onnx_emit._registry import emits
from nnspec.runtime.onnx_emit.pool import reduce

L2_FLOOR = 1e-12
"""`custom_layers.reduce.L2_FLOOR`: the floor of the squared norm (finite gradients at 0)."""

OPS = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin"}


@emits("reduce")
def emit_reduce(b: Builder, node: Node) -> None:
    spec = node.spec
    rank = b.rank(node)
    layout = b.natural(node) if spec.keepdims else LAST
    axes = sorted(
        axis_in(layout, rank, a) for a in ([spec.axis] if isinstance(spec.axis, int) else spec.axis)
    )
    x = b.read(node, 0, layout)
    if spec.reduction != "l2":
        b.write(
            node,
            reduce(b, OPS[spec.reduction], x, axes, keepdims=spec.keepdims, name=node.id),
            layout,
        )
        return
    total = reduce(
        b, "ReduceSumSquare", x, axes, keepdims=spec.keepdims, name=f"{node.id}/sum_squares"
    )
    floored = b.add(
        "Max", [total, b.scalar(f"{node.id}/floor_value", L2_FLOOR, node)], name=f"{node.id}/floor"
    )
    b.write(node, b.add("Sqrt", [floored], name=node.id), layout)
