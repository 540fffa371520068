"""`sampling`: the VAE reparameterization trick, `z = mean + exp(0.5 * log_var) * eps` with `eps ~ N(0, I)`
(Kingma & Welling 2014). Lowers to nnspec's own `Sampling` layer. Sampling happens only in training: at inference
the layer returns the mean, so a deployed encoder is deterministic and the exported ONNX graph passes the mean
through (no random op)."""

from __future__ import annotations

from typing import Literal

from nnspec.layers._registry import Example, KerasMapping, Shape, ShapeError, card
from nnspec.specs.base import LayerSpec


def _shape(spec: Sampling, mean: Shape, log_var: Shape) -> Shape:
    """The mean and the log-variance must have the same shape (no broadcasting); the output has it."""
    if len(mean) != len(log_var) or any(
        a is not None and b is not None and a != b for a, b in zip(mean[1:], log_var[1:])
    ):
        raise ShapeError("needs the mean and the log-variance with the same shape. "
                         "Give both the same width (the latent size)")
    return (mean[0], *(a if a is not None else b for a, b in zip(mean[1:], log_var[1:])))


@card(
    infer_shape=_shape,
    count_flops=lambda s, out, mean, log_var: 0,  # the mean passes through at inference
    arity=2,
    channels="passthrough",
    keras=KerasMapping("nnspec.runtime.custom_layers.sampling:Sampling", lambda s: dict(seed=s.seed), call="list"),
    examples=(
        Example({}, inputs=((8,), (8,))),
        Example({"seed": 3}, inputs=((4, 6), (4, 6))),
    ),
)
class Sampling(LayerSpec):
    """Draw a latent sample from a diagonal Gaussian given its mean and log-variance, as a VAE encoder does:
    `z = mean + exp(0.5 * log_var) * eps`, `eps ~ N(0, I)`. Reads two inputs of the same shape, mean first;
    has no weights. Sampling happens only in training; at inference the output is the mean, so the deployed
    encoder is deterministic (and its ONNX export holds no random op).

    Example:
        `{id: z, op: sampling, from: [z_mean, z_log_var]}`
    """

    op: Literal["sampling"] = "sampling"
    seed: int | None = None
    """Seed of the noise `eps`, for reproducible training. Defaults to none (a fresh seed)."""
