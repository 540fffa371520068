"""`conv2d_transpose`: transposed ("de-") 2-D convolution that upsamples height and width.

Lowers to `keras.layers.Conv2DTranspose`, exports as ONNX ConvTranspose.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import model_validator

from nnspec.layers._registry import Example, KerasMapping, Shape, TensorType, card, elements
from nnspec.layers._shapes import deconv_out_len, require_known, require_rank
from nnspec.specs.base import Activation, LayerSpec, Padding, PositiveInt, Size2D, ntuple


def _shape(spec: Conv2DTranspose, x: Shape) -> Shape:
    require_rank(x, 4, spec.op, "Reshape the input to (height, width, channels) first")
    require_known(x[-1], "number of input channels")
    kernel, strides, dilation = (
        ntuple(v, 2) for v in (spec.kernel_size, spec.strides, spec.dilation_rate)
    )
    spatial = tuple(
        deconv_out_len(x[1 + i], kernel[i], strides[i], spec.padding, dilation[i]) for i in range(2)
    )
    return (x[0], *spatial, spec.filters)


def _params(spec: Conv2DTranspose, x: TensorType) -> int:
    weights = math.prod(ntuple(spec.kernel_size, 2)) * x.shape[-1] * spec.filters
    return weights + (spec.filters if spec.use_bias else 0)


def _flops(spec: Conv2DTranspose, out: TensorType, x: TensorType) -> int:
    # Every input element is scattered through the whole kernel into `filters` outputs.
    return 2 * elements(x.shape) * math.prod(ntuple(spec.kernel_size, 2)) * spec.filters


def _kwargs(spec: Conv2DTranspose) -> dict:
    return dict(
        filters=spec.filters,
        kernel_size=spec.kernel_size,
        strides=spec.strides,
        padding=spec.padding,
        dilation_rate=spec.dilation_rate,
        use_bias=spec.use_bias,
        activation=spec.activation,
    )


@card(
    infer_shape=_shape,
    count_params=_params,
    count_flops=_flops,
    onnx_ops=("ConvTranspose",),
    keras=KerasMapping("Conv2DTranspose", _kwargs),
    channels="produce",
    examples=(
        Example({"filters": 8, "strides": 2, "padding": "same"}),
        Example({"filters": 4, "kernel_size": [3, 4], "strides": [2, 3]}, inputs=((5, 7, 2),)),
        Example(
            {
                "filters": 3,
                "kernel_size": 2,
                "strides": 2,
                "use_bias": False,
                "activation": "sigmoid",
            },
            inputs=((4, 4, 6),),
        ),
    ),
)
class Conv2DTranspose(LayerSpec):
    """Transposed 2-D convolution: learned upsampling, e.g. in a decoder, U-Net or GAN generator.

    With `padding: same` the output is `input * strides`; with `valid` it is
    `input * strides + max(kernel - strides, 0)`.

    Example:
        `{op: conv2d_transpose, filters: 32, kernel_size: 3, strides: 2, padding: same}`
    """

    op: Literal["conv2d_transpose"] = "conv2d_transpose"
    filters: PositiveInt
    """Number of output channels."""
    kernel_size: Size2D = 3
    """Window size, one int or `[height, width]`. Defaults to `3`."""
    strides: Size2D = 1
    """Upsampling factor along height and width. Keep it at most `kernel_size`: tf2onnx cannot
    export a kernel smaller than its stride. Defaults to `1`."""
    padding: Padding = "valid"
    """`valid` (the output also grows by the kernel overhang) or `same` (output is exactly
    `input * strides`). Defaults to `valid`."""
    dilation_rate: Size2D = 1
    """Spacing between kernel taps. Only with strides 1, and TensorFlow runs it on GPU only (its
    CPU kernel rejects dilation > 1). Defaults to `1`."""
    use_bias: bool = True
    """Add a learned bias per output channel. Defaults to `true`."""
    activation: Activation | None = None
    """Activation applied to the output. Defaults to none."""

    @model_validator(mode="after")
    def check_combination(self):
        if max(ntuple(self.strides, 2)) > 1 and max(ntuple(self.dilation_rate, 2)) > 1:
            raise ValueError(
                "strides > 1 cannot be combined with dilation_rate > 1 (Keras does not support it)"
            )
        return self
