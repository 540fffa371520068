"""`regime: autoencoder`: the model learns to reproduce its input; with `noise`, a denoising autoencoder."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from nnspec.specs.base import SpecModel
from nnspec.specs.regimes._registry import regime


@regime
class Autoencoder(SpecModel):
    """The target of the model's (one) output is its input: the spec's `loss` (e.g. `binary_crossentropy` for
    inputs in [0, 1], or `mean_squared_error`) compares the reconstruction with the input, so the output must
    have the input's shape. With `noise`, a denoising autoencoder (Vincent et al. 2008): each training batch is
    corrupted with Gaussian noise, drawn from `(train.seed, step)` alone, and the model learns to give back the
    clean input. Validation, test and inference see clean inputs.

    Example:
        `regime: {name: autoencoder, noise: 0.2}`
    """

    name: Literal["autoencoder"] = "autoencoder"
    """The regime's name."""
    noise: Annotated[float, Field(ge=0.0)] = 0.0
    """Standard deviation of the Gaussian noise added to the training inputs (0: a plain autoencoder).
    Defaults to `0`."""
