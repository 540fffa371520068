"""Fake quantization for quantization-aware training: `FakeQuant` (the `fake_quant` op's lowering) rounds
activations to an unsigned integer grid over a tracked range, and `QuantConv1D/2D/3D` and `QuantDense` are the
Keras layers with their kernel rounded to a signed, symmetric, per-output-channel grid on every call.

Both grids are onnxruntime's static QDQ quantization (`quantize_static`, `per_channel=True`), so a model trained
through them has learned the rounding its int8 export will do:
- activations (QUInt8): `scale = (max - min) / (2^bits - 1)` over a range that contains 0, zero point
  `round(-min / scale)` (TensorFlow's nudged `fake_quant_with_min_max_vars` is exactly this grid);
- weights (QInt8, symmetric): per output channel `scale = 2 * absmax / (qmax - qmin)`, zero point 0,
  `q = clip(round(w / scale), qmin, qmax)`, with `[qmin, qmax] = [-127, 127]` for 8 bits (onnxruntime's
  narrow symmetric range) and the full `[-2^(b-1), 2^(b-1) - 1]` otherwise (its int4 range is `[-8, 7]`);
  with `per_channel=False` (`quantize_static(per_channel=False)`) one scale over the whole kernel.
Gradients pass straight through the rounding (the straight-through estimator; Bengio et al. 2013).
"""

from __future__ import annotations

import keras
from keras import ops

KERNEL_CHANNEL_AXIS = -1
"""Keras convolution kernels are `(*window, in, out)` and dense kernels `(in, out)`: the output channel is last,
as onnxruntime's per-channel axis (Conv weight axis 0, MatMul/Gemm weight's output axis) after export."""


def weight_range(bits: int) -> tuple[int, int]:
    """`(qmin, qmax)` of onnxruntime's symmetric signed grid of this width."""
    if bits in (8, 16):
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def fake_quant_weight(w, bits: int = 8, *, per_channel: bool = True, channel_dims: int = 1):
    """`w` rounded to the symmetric per-output-channel grid of `bits` (see the module docstring), with an
    identity gradient. The output channels are the last `channel_dims` axes (2 for a depthwise kernel
    `(kh, kw, in, multiplier)`, which exports as a grouped Conv with `in * multiplier` output channels); with
    `per_channel=False` the whole kernel shares one scale. A channel of zeros keeps scale 1, as onnxruntime does."""
    qmin, qmax = weight_range(bits)
    axes = tuple(range(len(w.shape) - channel_dims)) if per_channel else tuple(range(len(w.shape)))
    # NOTE: computed as onnxruntime computes it (numpy): the scale in float64 rounded to float32, then a float32
    # division. |w| = absmax lands within an ulp of ±(qmax - qmin) / 2, a tie for int4 (7.5), so one ulp decides
    # between -8 and -7; float64 keeps TensorFlow's graph optimizer (which folds `2 / 15` into one constant) from
    # moving that ulp.
    w64 = ops.cast(ops.stop_gradient(w), "float64")
    absmax = ops.max(ops.abs(w64), axis=axes, keepdims=True)
    scale = ops.cast(ops.where(absmax > 0, (absmax + absmax) / (qmax - qmin), ops.ones_like(absmax)), "float32")
    ratio = ops.cast(w64 / ops.cast(scale, "float64"), "float32")
    q = ops.cast(ops.clip(ops.round(ratio), qmin, qmax) * scale, w.dtype)
    return w + ops.stop_gradient(q - w)


@keras.saving.register_keras_serializable(package="nnspec")
class FakeQuant(keras.layers.Layer):
    """Quantize-dequantize its input on an unsigned `num_bits` grid over `[min, max]`.

    While training, `min`/`max` (non-trainable weights) move towards each batch's range, widened to contain 0:
    `min <- momentum * min + (1 - momentum) * min(0, batch min)`; at inference they stay fixed. They start at
    TensorFlow's QAT defaults `[-6, 6]`; `nnspec.runtime.qat` sets them from calibration data first.
    """

    def __init__(self, num_bits: int = 8, momentum: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        if not 2 <= int(num_bits) <= 16:
            raise ValueError(f"num_bits must be in [2, 16]. Received: num_bits={num_bits!r}")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(f"momentum must be in [0, 1). Received: momentum={momentum!r}")
        self.num_bits, self.momentum = int(num_bits), float(momentum)
        self.supports_masking = True

    def build(self, input_shape):
        self.min = self.add_weight(shape=(), name="min", initializer=keras.initializers.Constant(-6.0),
                                   trainable=False)
        self.max = self.add_weight(shape=(), name="max", initializer=keras.initializers.Constant(6.0),
                                   trainable=False)

    def call(self, inputs, training=None):
        x = ops.cast(inputs, "float32")
        if training:
            m = self.momentum
            low = ops.minimum(ops.stop_gradient(ops.min(x)), 0.0)
            high = ops.maximum(ops.stop_gradient(ops.max(x)), 0.0)
            self.min.assign(m * self.min + (1.0 - m) * low)
            self.max.assign(m * self.max + (1.0 - m) * high)
        low, high = ops.minimum(self.min, 0.0), ops.maximum(self.max, 0.0)
        y = keras.quantizers.fake_quant_with_min_max_vars(x, low, high, num_bits=self.num_bits)
        return ops.cast(y, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "num_bits": self.num_bits, "momentum": self.momentum}


class _WeightBits:
    """The `weight_bits` and `per_channel` arguments the quantizing layers add to their Keras base class."""

    def __init__(self, *args, weight_bits: int = 8, per_channel: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not 2 <= int(weight_bits) <= 16:
            raise ValueError(f"weight_bits must be in [2, 16]. Received: weight_bits={weight_bits!r}")
        self.weight_bits, self.per_channel = int(weight_bits), bool(per_channel)

    def quantized(self, kernel, channel_dims: int = 1):
        return fake_quant_weight(kernel, self.weight_bits, per_channel=self.per_channel, channel_dims=channel_dims)

    def get_config(self):
        return {**super().get_config(), "weight_bits": self.weight_bits, "per_channel": self.per_channel}


class _QuantConv(_WeightBits):
    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, self.quantized(kernel))


@keras.saving.register_keras_serializable(package="nnspec")
class QuantConv1D(_QuantConv, keras.layers.Conv1D):
    """`keras.layers.Conv1D` computing with its kernel fake-quantized per output channel."""


@keras.saving.register_keras_serializable(package="nnspec")
class QuantConv2D(_QuantConv, keras.layers.Conv2D):
    """`keras.layers.Conv2D` computing with its kernel fake-quantized per output channel."""


@keras.saving.register_keras_serializable(package="nnspec")
class QuantConv3D(_QuantConv, keras.layers.Conv3D):
    """`keras.layers.Conv3D` computing with its kernel fake-quantized per output channel."""


@keras.saving.register_keras_serializable(package="nnspec")
class QuantDense(_WeightBits, keras.layers.Dense):
    """`keras.layers.Dense` computing with its kernel fake-quantized per output unit."""

    def call(self, inputs, training=None):
        x = ops.matmul(inputs, self.quantized(self.kernel))
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x) if self.activation is not None else x


@keras.saving.register_keras_serializable(package="nnspec")
class QuantDepthwiseConv2D(_WeightBits, keras.layers.DepthwiseConv2D):
    """`keras.layers.DepthwiseConv2D` computing with its kernel fake-quantized per output channel (each
    `(input channel, multiplier)` pair: the grouped ONNX Conv's output channels)."""

    def call(self, inputs):
        x = ops.depthwise_conv(inputs, self.quantized(self.kernel, channel_dims=2), strides=self.strides,
                               padding=self.padding, dilation_rate=self.dilation_rate,
                               data_format=self.data_format)
        if self.use_bias:
            x = ops.add(x, self.bias)  # NOTE: channels_last, as nnspec builds every model
        return self.activation(x) if self.activation is not None else x


QUANTIZED = {keras.layers.Conv1D: QuantConv1D, keras.layers.Conv2D: QuantConv2D, keras.layers.Conv3D: QuantConv3D,
             keras.layers.Dense: QuantDense, keras.layers.DepthwiseConv2D: QuantDepthwiseConv2D}
"""Keras layer class → its weight-quantizing twin (same variables, same config plus `weight_bits`)."""
