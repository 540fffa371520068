"""The parameterless activation ops (`relu`, `gelu`, `sigmoid`, ...), all lowering to `keras.layers.Activation`.

One file registers this whole family because its members differ only in the function name: same shape rule
(identity), no weights, same Keras mapping. Activations with parameters have their own cards (`leaky_relu`,
`elu`, `prelu`, `softmax`). Every name here is also accepted by the `activation:` field of dense/conv layers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import create_model

from nnspec.layers._registry import Example, KerasMapping, register
from nnspec.specs.base import LayerSpec

# op → (what it computes, ONNX op it exports as; empty where tf2onnx composes it from several ops)
PLAIN_ACTIVATIONS: dict[str, tuple[str, str]] = {
    "linear": ("identity: `x`", "Identity"),
    "relu": ("rectified linear unit: `max(x, 0)`", "Relu"),
    "relu6": ("ReLU capped at 6: `min(max(x, 0), 6)` (MobileNet)", ""),
    "selu": ("scaled exponential linear unit (self-normalizing networks)", "Selu"),
    "gelu": ("Gaussian error linear unit (Transformers)", ""),
    "sigmoid": ("logistic sigmoid: `1 / (1 + exp(-x))`", "Sigmoid"),
    "hard_sigmoid": ("piecewise-linear sigmoid: `relu6(x + 3) / 6`", ""),
    "tanh": ("hyperbolic tangent", "Tanh"),
    "hard_tanh": ("piecewise-linear tanh: `clip(x, -1, 1)`", ""),
    "softplus": ("smooth ReLU: `log(1 + exp(x))`", "Softplus"),
    "swish": ("`x * sigmoid(x)` (same function as silu)", ""),
    "silu": ("sigmoid linear unit: `x * sigmoid(x)`", ""),
    "mish": ("`x * tanh(softplus(x))`", ""),
}


def _identity(spec, x):
    return x


for _name, (_what, _onnx) in PLAIN_ACTIVATIONS.items():
    _cls = create_model(
        "".join(part.capitalize() for part in _name.split("_")),
        __base__=LayerSpec,
        __doc__=f"Activation op `{_name}`: {_what}. Shape unchanged, no weights.",
        __module__=__name__,
        op=(Literal[_name], _name),
    )
    register(
        _cls,
        infer_shape=_identity,
        keras=KerasMapping("Activation", lambda s: dict(activation=s.op)),
        onnx_ops=(_onnx,) if _onnx else (),
        channels="passthrough",
        examples=(Example({}), Example({}, inputs=((5,),))),
    )
    globals()[_cls.__name__] = _cls
