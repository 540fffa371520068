"""`regime: vae`: a variational autoencoder (Kingma & Welling 2014), or a beta-VAE (Higgins et al. 2017)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from nnspec.specs.base import Identifier, SpecModel
from nnspec.specs.regimes._registry import regime


@regime
class Vae(SpecModel):
    """Train an encoder-decoder model as a VAE: the loss is the spec's reconstruction `loss` between the input
    and the model's reconstruction output, summed over the features of each example (the log-likelihood of the
    ELBO, as in Kingma & Welling 2014), plus `beta` times the KL divergence of the encoder's Gaussian
    `N(mean, exp(log_var))` from the prior `N(0, I)`, summed over the latent dimensions; both are averaged over
    the batch. `mean` and `log_var` name the nodes that a `sampling` node reads. Training reports `loss`,
    `reconstruction_loss` and `kl_loss`; `nnspec sample` decodes latents drawn from the prior.

    Example:
        `regime: {name: vae, mean: z_mean, log_var: z_log_var, beta: 1.0}`
    """

    name: Literal["vae"] = "vae"
    """The regime's name."""
    mean: Identifier = "z_mean"
    """The id of the node giving the mean of the latent Gaussian. Defaults to `z_mean`."""
    log_var: Identifier = "z_log_var"
    """The id of the node giving its log-variance (same shape as `mean`). Defaults to `z_log_var`."""
    beta: Annotated[float, Field(ge=0.0)] = 1.0
    """Weight of the KL term: `1` is the VAE's ELBO, above 1 a beta-VAE (more disentangled, blurrier), `0` a
    plain autoencoder with a noisy bottleneck. Defaults to `1`."""
