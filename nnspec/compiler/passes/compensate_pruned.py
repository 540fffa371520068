"""The constants that channels removed by `prune_channels` carried, folded into the layers reading them.

A removed channel whose kernel slice were zero would still carry a constant (its producer's activated bias,
through batch norms, activations, pools and residual adds); every reader multiplies it by its kernel. Folding
that term into the reader's bias keeps the pruned model's outputs where they were, exactly where each kernel tap
sees the whole input (dense layers, convolutions that pad nothing). Written by hand: no pruning library for
Keras 3 does this.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from nnspec.compiler.ir import Graph
from nnspec.compiler.passes.channel_groups import PRODUCERS
from nnspec.compiler.weights import Weights, copy_weights
from nnspec.specs.base import ntuple

_SAME_VALUE = {"dropout", "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d",
               "avg_pool3d", "global_avg_pool1d", "global_avg_pool2d", "global_avg_pool3d",
               "global_max_pool1d", "global_max_pool2d", "global_max_pool3d", "upsampling2d",
               "cropping2d", "reflection_pad2d", "linear"}
"""Channel-wise ops that map a channel holding one value everywhere to that value everywhere
(pools exclude padding in Keras; interpolating, cropping or reflecting a constant keeps it)."""
_SELU = (1.6732632423543772, 1.0507009873554805)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


_ACTIVATIONS = {
    None: lambda x: x, "linear": lambda x: x, "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6), "sigmoid": _sigmoid, "tanh": np.tanh,
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6, "hard_tanh": lambda x: np.clip(x, -1, 1),
    "softplus": lambda x: np.logaddexp(0, x), "swish": lambda x: x * _sigmoid(x),
    "silu": lambda x: x * _sigmoid(x), "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf, otypes=[float])(x / math.sqrt(2))),
    "leaky_relu": lambda x, slope=0.2: np.where(x >= 0, x, slope * x),
    "elu": lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
    "selu": lambda x: _SELU[1] * np.where(x > 0, x, _SELU[0] * np.expm1(np.minimum(x, 0))),
}
"""Keras 3's activations in numpy (the `activation:` field's defaults: leaky_relu slope 0.2, elu
alpha 1, exact gelu)."""


def compensated(g: Graph, weights: Weights, keep: dict[str, np.ndarray | None],
                 mode: bool | str) -> tuple[Weights, dict]:
    """`weights` (unsliced) with each removed channel's constant folded into the layers reading it.

    A removed channel whose kernel slice were zero would still carry a constant: its producer's
    activated bias, shifted and scaled by batch norms and activations on its way, summed at
    residual adds. Every layer that reads it adds that constant times its kernel to its output; the
    pass folds that term into the reader's bias (or, for a reader without one whose only reader is
    a batch norm, into that batch norm's moving mean). Exact wherever every kernel tap reads the
    input at every output position: dense layers, and convolutions without padding (`valid`, or
    `same` that pads nothing, as a 1x1 conv). Where a convolution pads, border positions see fewer
    taps: `mode="mean"` folds the term averaged over output positions (the least-squares constant),
    otherwise such readers are skipped. Constants that are not position-independent (through zero
    padding, a padded depthwise conv, an op not known here) are never folded."""
    consts = _constants(g, weights, keep)
    out = copy_weights(weights)
    done: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for node in g.order():
        sources = g.sources(node.id)
        if node.op not in PRODUCERS or not sources or sources[0][1] != 0:
            continue
        mask, values = keep.get(sources[0][0]), consts.get(sources[0][0])
        if mask is None or mask.all():
            continue
        if values is None or getattr(node.spec, "groups", 1) != 1:
            skipped[node.id] = "its input's constants are unknown"
            continue
        gone = np.flatnonzero(~mask & np.isfinite(values))
        if not len(gone):
            skipped[node.id] = "no removed input channel carries a position-independent constant"
            continue
        delta, why = _bias_delta(node, g.node(sources[0][0]).out.shape, out[node.id], gone,
                                 values[gone].astype(np.float64), mode)
        if why is None:
            why = _fold(g, node, out, delta)
        if why is None:
            done[node.id] = len(gone)
        else:
            skipped[node.id] = why
    return out, {"mode": mode, "folded": done, "skipped": skipped}


def _constants(g: Graph, weights: Weights,
               keep: dict[str, np.ndarray | None]) -> dict[str, np.ndarray | None]:
    """Node id → per channel position, the constant a removed channel carries there if its
    producer's kernel slice were zero (NaN: kept channels, or not position-independent)."""
    consts: dict[str, np.ndarray | None] = {}
    for node in g.order():
        ins = [consts.get(src) if port == 0 else None for src, port in g.sources(node.id)]
        mask = keep.get(node.id)
        if mask is None or any(x is None for x in ins):
            consts[node.id] = None
            continue
        if not ins:  # a graph input
            consts[node.id] = np.full(len(mask), np.nan)
            continue
        types = g.input_types(node.id)
        in_shape = types[0].shape if types[0] is not None else None
        value = _constant_of(node, ins, weights.get(node.id, {}), mask, in_shape)
        consts[node.id] = np.full(len(mask), np.nan) if value is None else value
    return consts


def _constant_of(node, ins: list[np.ndarray], w: dict, mask: np.ndarray,
                 in_shape) -> np.ndarray | None:
    """What `node` outputs per channel when its inputs hold `ins` at every position (`None`: not
    known to be position-independent)."""
    spec, op, x, width = node.spec, node.op, ins[0], len(mask)
    last = len(node.out.shape) - 1
    if op in PRODUCERS:
        bias = w.get("bias", np.zeros(width)) if getattr(spec, "use_bias", True) else 0.0
        value = np.where(mask, np.nan, bias)
        return _activate(getattr(spec, "activation", None), value)
    if op == "batch_norm":
        if spec.axis % len(node.out.shape) != last:
            return None
        scale = (w["gamma"] if spec.scale else 1.0) / np.sqrt(w["moving_variance"] + spec.epsilon)
        return (x - w["moving_mean"]) * scale + (w["beta"] if spec.center else 0.0)
    if op == "depthwise_conv2d":
        taps = _tap_factors(node, in_shape)
        if taps is None or not np.all(taps == 1):
            return None
        kernel = (w["kernel"] * taps[..., None, None]).sum((0, 1))  # (in, multiplier)
        value = (x[:, None] * kernel).reshape(-1) + (w["bias"] if spec.use_bias else 0.0)
        return _activate(spec.activation, value)
    if op == "flatten":
        return np.tile(x, width // len(x))
    if op == "concatenate" and spec.axis % len(node.out.shape) == last:
        return np.concatenate(ins)
    if any(len(i) != width for i in ins):
        return None
    if op == "concatenate":  # along another axis: constant only where every input agrees
        return np.where(np.all([i == x for i in ins], axis=0), x, np.nan)
    if op in ("add", "subtract", "multiply"):
        fn = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply}[op]
        return functools.reduce(fn, ins)
    if op in _SAME_VALUE:
        return x
    if op == "leaky_relu":
        return _ACTIVATIONS[op](x, spec.negative_slope)
    if op == "elu":
        return _ACTIVATIONS[op](x, spec.alpha)
    if op in _ACTIVATIONS:
        return _ACTIVATIONS[op](x)
    return None


def _activate(name: str | None, x: np.ndarray) -> np.ndarray:
    """`x` through a named activation; NaN for one this pass does not know."""
    fn = _ACTIVATIONS.get(name)
    return np.full_like(x, np.nan, dtype=float) if fn is None else fn(x)


def _tap_factors(node, in_shape) -> np.ndarray | None:
    """Per kernel tap (spatial), the share of output positions at which it reads inside the input
    rather than padding: all 1 when the convolution pads nothing (`None`: an unknown length)."""
    spec = node.spec
    if in_shape is None:
        return None
    n = len(in_shape) - 2
    kernel, strides, dilation = (ntuple(v, n) for v in
                                 (spec.kernel_size, spec.strides, spec.dilation_rate))
    factors = np.ones(())
    for i in range(n):
        length, size, k, s, d = in_shape[1 + i], node.out.shape[1 + i], kernel[i], strides[i], \
            dilation[i]
        if spec.padding == "valid":
            share = np.ones(k)
        elif length is None or size is None:
            return None
        else:  # TensorFlow's `same`: the smaller half of the padding before; causal: all before
            total = max((size - 1) * s + (k - 1) * d + 1 - length, 0)
            before = (k - 1) * d if spec.padding == "causal" else total // 2
            index = np.arange(size)[:, None] * s + np.arange(k)[None, :] * d - before
            share = ((index >= 0) & (index < length)).mean(0)
        factors = np.multiply.outer(factors, share)
    return factors


def _bias_delta(node, in_shape, w: dict, gone: np.ndarray, values: np.ndarray,
                mode: bool | str) -> tuple[np.ndarray | None, str | None]:
    """`(what the constants `values` at input channels `gone` add to each output channel, None)`,
    or `(None, why not)`."""
    if node.op == "dense":
        return values @ w["kernel"][gone], None
    if node.op == "conv2d_transpose":
        return None, "a transposed convolution spreads a constant unevenly over its output"
    taps = _tap_factors(node, in_shape)
    if taps is None:
        return None, "its padding depends on an unknown input size"
    if not np.all(taps == 1) and mode != "mean":
        return None, (f"its padding '{node.spec.padding}' pads, so border positions see fewer "
                      f"taps (compensate='mean' folds the average over positions)")
    if node.op == "separable_conv2d":
        m = node.spec.depth_multiplier
        depthwise = np.tensordot(taps, w["depthwise_kernel"], axes=taps.ndim)[gone]  # (gone, m)
        mids = (gone[:, None] * m + np.arange(m)).reshape(-1)
        return (values[:, None] * depthwise).reshape(-1) @ w["pointwise_kernel"][0, 0][mids], None
    return values @ np.tensordot(taps, w["kernel"], axes=taps.ndim)[gone], None


def _fold(g: Graph, node, out: Weights, delta: np.ndarray) -> str | None:
    """Add `delta` to `node`'s bias, or take it from the moving mean of the batch norm that alone
    reads a bias-free `node` (`x + delta - mean` is `x - (mean - delta)`); `None` when done, else
    why not."""
    w = out[node.id]
    if getattr(node.spec, "use_bias", True) and "bias" in w:
        w["bias"] = (w["bias"] + delta).astype(w["bias"].dtype)
        return None
    readers = g.consumers(node.id)
    bn = g.node(readers[0]) if len(readers) == 1 else None
    if (bn is not None and bn.op == "batch_norm" and bn.id in out and node.id not in g.outputs
            and getattr(node.spec, "activation", None) in (None, "linear")
            and bn.spec.axis % len(bn.out.shape) == len(bn.out.shape) - 1):
        mean = out[bn.id]["moving_mean"]
        out[bn.id]["moving_mean"] = (mean - delta).astype(mean.dtype)
        return None
    return "it has no bias, nor a batch norm reading only it, to fold the constant into"
