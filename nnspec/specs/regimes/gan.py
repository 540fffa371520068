"""`regime: gan`: the spec is a GAN's generator (latent vector in, an example of the data out), trained against a
discriminator spec on the real examples of `train.data` (Goodfellow et al. 2014).

    train:
      data: digits
      loss: binary_crossentropy          # required by `train:`, unused: the regime's `loss` is the GAN objective
      optimizer: {name: adam, learning_rate: 0.0002, beta_1: 0.5}
      regime:
        name: gan
        discriminator: dcgan_digits_discriminator.yaml     # or example:NAME / zoo:NAME
        loss: wasserstein
        lipschitz: gradient_penalty
        n_critic: 5
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from nnspec.specs.base import PositiveInt, SpecModel
from nnspec.specs.objectives import Optimizer
from nnspec.specs.regimes._registry import regime

GanLoss = Literal["minimax", "non_saturating", "least_squares", "wasserstein"]


@regime
class Gan(SpecModel):
    """Adversarial training: the discriminator learns to tell real examples from generated ones, the generator
    (the spec's model) learns to fool it. Each training step makes `n_critic` discriminator updates, each on the
    step's batch of real examples and a fresh batch of generated ones, then one generator update."""

    name: Literal["gan"] = "gan"
    """The regime's name."""
    discriminator: Annotated[str, Field(min_length=1)]
    """The discriminator spec: a path relative to this spec, or `example:NAME` / `zoo:NAME`. Its one input has
    the generator's output shape; its one output is one raw score (a logit) per example."""
    loss: GanLoss = "non_saturating"
    """The adversarial objective on the discriminator's scores: `minimax` and `non_saturating` (Goodfellow et
    al. 2014; the generator maximizes `log D(G(z))` rather than minimizing `log(1 - D(G(z)))`), `least_squares`
    (LSGAN, Mao et al. 2017, targets 1 for real and 0 for fake) or `wasserstein` (WGAN, Arjovsky et al. 2017: the
    discriminator is a critic, and needs `lipschitz`). Defaults to `non_saturating`."""
    lipschitz: Literal["clip", "gradient_penalty"] | None = None
    """`wasserstein` only: how the critic is kept 1-Lipschitz, by clipping its weights to `[-clip, clip]` after
    every update (WGAN) or with a gradient penalty (WGAN-GP, Gulrajani et al. 2017). Defaults to
    `gradient_penalty` for `wasserstein`."""
    clip: Annotated[float, Field(gt=0.0)] = 0.01
    """`lipschitz: clip` only: the bound on every critic weight. Defaults to `0.01`."""
    gp_weight: Annotated[float, Field(gt=0.0)] = 10.0
    """`lipschitz: gradient_penalty` only: the penalty's weight λ. Defaults to `10`."""
    n_critic: PositiveInt = 1
    """Discriminator updates per generator update (the WGAN papers use 5). Defaults to `1`."""
    discriminator_optimizer: Optimizer | None = None
    """The discriminator's optimizer (the learning-rate schedule of `train.schedule` applies to it too).
    Defaults to a copy of `train.optimizer`."""

    @model_validator(mode="before")
    @classmethod
    def _short_optimizer(cls, value):
        if isinstance(value, dict) and isinstance(value.get("discriminator_optimizer"), str):
            value = {**value, "discriminator_optimizer": {"name": value["discriminator_optimizer"]}}
        return value

    @model_validator(mode="after")
    def _options_fit_the_loss(self):
        wgan = self.loss == "wasserstein"
        if self.lipschitz is not None and not wgan:
            raise ValueError(f"`lipschitz` applies to the wasserstein loss only. Received: loss='{self.loss}', "
                             f"lipschitz='{self.lipschitz}'")
        lipschitz = self.lipschitz or ("gradient_penalty" if wgan else None)
        defaults = type(self).model_fields  # compared with defaults: a resolved spec restates every option
        if self.clip != defaults["clip"].default and lipschitz != "clip":
            raise ValueError(f"`clip` applies to `lipschitz: clip` only. Received: loss='{self.loss}', "
                             f"lipschitz={lipschitz!r}, clip={self.clip}")
        if self.gp_weight != defaults["gp_weight"].default and lipschitz != "gradient_penalty":
            raise ValueError(f"`gp_weight` applies to `lipschitz: gradient_penalty` only. Received: "
                             f"loss='{self.loss}', lipschitz={lipschitz!r}, gp_weight={self.gp_weight}")
        return self

    @property
    def lipschitz_method(self) -> str | None:
        """The Lipschitz constraint in force: `lipschitz`, defaulting to the gradient penalty for `wasserstein`."""
        return self.lipschitz or ("gradient_penalty" if self.loss == "wasserstein" else None)
