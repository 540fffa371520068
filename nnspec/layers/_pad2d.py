"""Shared argument form of `zero_padding2d` and `cropping2d`: one int, `[height, width]`, or
`[[top, bottom], [left, right]]`, as Keras accepts them."""

from __future__ import annotations

from nnspec.specs.base import NonNegativeInt

Pair = tuple[NonNegativeInt, NonNegativeInt]
Margins2D = NonNegativeInt | Pair | tuple[Pair, Pair]
"""Rows/columns added or removed at each edge of height and width."""


def margins(value: Margins2D) -> tuple[tuple[int, int], tuple[int, int]]:
    """Any accepted form as `((top, bottom), (left, right))`, the form Keras keeps in its config."""
    if isinstance(value, int):
        return ((value, value), (value, value))
    return tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)
