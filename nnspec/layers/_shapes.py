"""Shape helpers shared by the cards (the equivalent of Keras's `operation_utils`)."""

from __future__ import annotations

import math

from nnspec.layers._registry import Shape, ShapeError


def conv_out_len(length: int | None, kernel: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window along one axis (Keras's `compute_conv_output_shape`)."""
    if length is None:
        return None
    if padding == "same":
        return math.ceil(length / stride)
    effective = (kernel - 1) * dilation + 1
    out = (length - effective) // stride + 1
    if out <= 0:
        dilated = f", {kernel} taps dilated by {dilation}" if dilation > 1 else ""
        raise ShapeError(
            f"has a window {effective} wide{dilated}, larger than the input axis ({length}) with padding "
            "'valid'. Use padding 'same', a smaller kernel, or a larger input"
        )
    return out


def deconv_out_len(length: int | None, kernel: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """Output length of a transposed convolution along one axis (no output padding)."""
    if length is None:
        return None
    if padding == "same":
        return length * stride
    return length * stride + max((kernel - 1) * dilation + 1 - stride, 0)


def require_rank(shape: Shape, rank: int, what: str, hint: str = "") -> None:
    """Raise `ShapeError` unless `shape` (batch included) has exactly `rank` axes."""
    if len(shape) != rank:
        layout = {3: "(batch, steps, channels)", 4: "(batch, height, width, channels)",
                  5: "(batch, depth, height, width, channels)", 2: "(batch, features)"}.get(rank, "")
        message = f"expects a rank-{rank} input {layout} for {what}, got rank {len(shape)}"
        raise ShapeError(message + (f". {hint}" if hint else ""))


def require_known(value: int | None, what: str) -> int:
    """Raise `ShapeError` if an axis the op needs to size its weights is unknown."""
    if value is None:
        raise ShapeError(f"needs a known {what}, got an unknown (None) size")
    return value


def fmt_shape(shape: Shape) -> str:
    """`(None, 8, 8, 3)` as people read it."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def norm_axis(axis: int, x: Shape) -> int:
    """`axis` as a non-negative index into `x` (batch included); the batch axis is not allowed."""
    index = axis + len(x) if axis < 0 else axis
    if not 1 <= index < len(x):
        raise ShapeError(f"axis {axis} is not a feature axis of a rank-{len(x)} input. Use an axis "
                         f"from 1 to {len(x) - 1}, or a negative one (-1 is the last)")
    return index
