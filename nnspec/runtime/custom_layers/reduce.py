"""`Reduce`: sum, mean, max, min or L2 norm over axes (the `reduce` op's lowering), with `keras.ops`; exports as
ONNX ReduceSum / ReduceMean / ReduceMax / ReduceMin (`l2`: ReduceSum of squares, Max, Sqrt)."""

from __future__ import annotations

import keras
from keras import ops

L2_FLOOR = 1e-12
"""`l2` is `sqrt(max(sum(x²), L2_FLOOR))`: its gradient stays finite where every entry is 0."""


@keras.saving.register_keras_serializable(package="nnspec")
class Reduce(keras.layers.Layer):
    """`reduction` (`sum`, `mean`, `max`, `min` or `l2`) of the input over `axis` (an int or a list; never the
    batch axis), dropping the reduced axes unless `keepdims`."""

    def __init__(self, reduction: str = "sum", axis: int | list[int] = -1, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        if reduction not in ("sum", "mean", "max", "min", "l2"):
            raise ValueError(f"reduction must be sum, mean, max, min or l2. Received: reduction={reduction!r}")
        self.reduction = reduction
        self.axis = int(axis) if isinstance(axis, int) else [int(a) for a in axis]
        self.keepdims = bool(keepdims)

    def _axes(self, rank: int) -> tuple[int, ...]:
        given = [self.axis] if isinstance(self.axis, int) else self.axis
        return tuple(sorted(a % rank for a in given))

    def call(self, inputs):
        axes = self._axes(len(inputs.shape))
        if self.reduction == "l2":
            total = ops.sum(ops.square(inputs), axis=axes, keepdims=self.keepdims)
            return ops.sqrt(ops.maximum(total, ops.cast(L2_FLOOR, total.dtype)))
        reduce = {"sum": ops.sum, "mean": ops.mean, "max": ops.max, "min": ops.min}[self.reduction]
        return reduce(inputs, axis=axes, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        axes = self._axes(len(input_shape))
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "axis": self.axis, "keepdims": self.keepdims}
