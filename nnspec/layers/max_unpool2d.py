"""`max_unpool2d`: the inverse of a non-overlapping `max_pool2d_with_indices`, as in SegNet's decoder: each value
goes back to the position its pool recorded, in a zero map of the pre-pooling size.

Reads `[values, indices]`, e.g. `from: [dec4, pool4:indices]`. Lowers to nnspec's `MaxUnpooling2D`, which
compares each value's index with the positions of its own window (ONNX Equal, then a Transpose to interleave the
window slots; no scatter, so the result is exact and the same in every runtime).
"""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, TensorType, card
from nnspec.layers._shapes import fmt_shape, require_known, require_rank
from nnspec.specs.base import LayerSpec, Size2D, ntuple


def out_size(spec: MaxUnpooling2D, values: Shape) -> tuple[int, int]:
    """The pre-pooling (height, width): `output_size`, or the input times `pool_size`."""
    pool = ntuple(spec.pool_size, 2)
    if spec.output_size is None:
        return values[1] * pool[0], values[2] * pool[1]
    return ntuple(spec.output_size, 2)


def _shape(spec: MaxUnpooling2D, values: Shape, indices: Shape) -> Shape:
    require_rank(values, 4, spec.op, "Unpool images of shape (height, width, channels)")
    if tuple(values[1:]) != tuple(indices[1:]):
        raise ShapeError(f"needs values and indices of the same shape, got {fmt_shape(values)} and "
                         f"{fmt_shape(indices)}. Read the indices of the pool whose output this level mirrors")
    for axis, name in ((1, "height"), (2, "width"), (3, "number of channels")):
        require_known(values[axis], name)
    pool = ntuple(spec.pool_size, 2)
    for length, size, p, name in zip(values[1:3], out_size(spec, values), pool, ("height", "width")):
        # A stride-p pool ('valid' or 'same') of `size` gives `length` only for these sizes.
        low, high = (length - 1) * p + 1, length * p + p - 1
        if not low <= size <= high:
            raise ShapeError(f"cannot unpool a {name} of {length} to {size}: a {p}-wide pool with stride {p} "
                             f"gives {length} only from {low} to {high}. Set `output_size` to the {name} the "
                             "pool read")
    return (values[0], *out_size(spec, values), values[3])


def _index_bound(spec: MaxUnpooling2D, inputs: list[TensorType]) -> dict[int, int]:
    """Indices count positions of one example's output map: 0 to height * width * channels - 1."""
    height, width = out_size(spec, inputs[0].shape)
    return {1: height * width * inputs[0].shape[3]}


def _kwargs(spec: MaxUnpooling2D) -> dict:
    return dict(pool_size=spec.pool_size, output_size=spec.output_size)


@card(
    infer_shape=_shape,
    count_flops=lambda s, out, values, indices: 0,  # data movement only
    arity=2,
    inputs_hint="values, indices of a max_pool2d_with_indices",
    input_dtype=("float", "int"),
    index_bounds=_index_bound,
    keras=KerasMapping("nnspec.runtime.custom_layers.max_unpooling:MaxUnpooling2D", _kwargs, call="list"),
    onnx_ops=("Equal", "Transpose"),
    # The indices count the encoder's channels: pruning the values' producer alone would break them.
    channels="opaque",
    examples=(
        Example({}, inputs=((4, 4, 3), (4, 4, 3)), dtype=("float32", "int64")),
        Example({"pool_size": [2, 3], "output_size": [9, 10]}, inputs=((4, 4, 2), (4, 4, 2)),
                dtype=("float32", "int64")),
        Example({"output_size": [7, 8]}, inputs=((4, 4, 2), (4, 4, 2)), dtype=("float32", "int32")),
    ),
)
class MaxUnpooling2D(LayerSpec):
    """Put each value back where its max pool found it, zeros elsewhere (SegNet's upsampling).

    Reads `from: [values, indices]`: the values to place (the decoder's map, the pooled map's shape) and the
    indices output of the `max_pool2d_with_indices` of the same level (`pool4:indices`). The output has the
    pre-pooling height and width; position `(y, x, c)` holds the value whose index is
    `(y * width + x) * channels + c`, or 0. Only non-overlapping pools (strides equal to `pool_size`, either
    padding) can be unpooled; a value whose index lies outside its own window is dropped.

    Example:
        `{id: up4, op: max_unpool2d, from: [dec5, pool4:indices], output_size: [45, 60]}`
    """

    op: Literal["max_unpool2d"] = "max_unpool2d"
    pool_size: Size2D = 2
    """Window size of the pool being inverted, one int or `[height, width]`. Defaults to `2`."""
    output_size: Size2D | None = None
    """The pre-pooling `[height, width]`, needed when the pool's input did not divide by `pool_size` (a pool
    with padding `valid` dropped the last rows, `same` padded them): the indices count positions in a map that
    wide. `null` means the input size times `pool_size`. Defaults to `null`."""
