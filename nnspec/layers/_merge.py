"""Shared rules of the elementwise merge cards (`add`, `subtract`, `multiply`): same-shaped inputs, same output."""

from __future__ import annotations

from nnspec.layers._registry import KerasMapping, Shape, ShapeError



def same_shape(spec, *xs: Shape) -> Shape:
    """All inputs must have the same shape (unknown axes match anything); the output has it too."""
    first = xs[0]
    for x in xs[1:]:
        if len(x) != len(first) or any(a is not None and b is not None and a != b for a, b in zip(x, first)):
            raise ShapeError("needs inputs of the same shape. "
                             "Project one branch (e.g. a 1x1 conv or a dense) to match the other")
    return tuple(next((d for d in axis if d is not None), None) for axis in zip(*xs))


def merge_rules(keras_cls: str) -> dict:
    """The `register(...)` rules every elementwise merge card shares."""
    return dict(infer_shape=same_shape, keras=KerasMapping(keras_cls, lambda s: {}, call="list"), arity=None,
                channels="passthrough")
