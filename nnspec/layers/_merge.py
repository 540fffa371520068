"""Shared rules of the elementwise merge cards (`add`, `subtract`, `multiply`): inputs of the same rank whose axes
agree or are 1 (NumPy broadcasting, as Keras's merge layers accept it); the output has the broadcast shape."""

from __future__ import annotations

from nnspec.layers._registry import KerasMapping, Shape, ShapeError


def _broadcast_axis(dims: tuple[int | None, ...]) -> int | None:
    """One axis of the broadcast shape: the size other than 1 if every input has it or 1, else an error.
    As in Keras, an unknown axis against 1 stays unknown, and unknown against a size takes the size."""
    sizes = {d for d in dims if d is not None and d != 1}
    if len(sizes) > 1:
        raise ShapeError
    if sizes:
        return sizes.pop()
    return None if None in dims else 1


def same_shape(spec, *xs: Shape) -> Shape:
    """All inputs must have the same rank, and on each axis the same size or 1 (size-1 axes broadcast, e.g. a
    `(N, H, W, C)` feature map times a `(N, 1, 1, C)` gate); unknown axes match anything. The output has the
    broadcast shape."""
    try:
        if any(len(x) != len(xs[0]) for x in xs[1:]):
            raise ShapeError
        return tuple(_broadcast_axis(axis) for axis in zip(*xs))
    except ShapeError:
        raise ShapeError("needs inputs of the same shape. "
                         "Project one branch (e.g. a 1x1 conv or a dense) to match the other") from None


def merge_rules(keras_cls: str) -> dict:
    """The `register(...)` rules every elementwise merge card shares."""
    return dict(infer_shape=same_shape, keras=KerasMapping(keras_cls, lambda s: {}, call="list"), arity=None,
                channels="passthrough")
