"""The `train:` section: everything needed to reproduce a training run from the spec alone."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from nnspec.specs.base import PositiveInt, Rate, SpecModel

PositiveFloat = Annotated[float, Field(gt=0.0)]


def _name_only(value):
    """`adam` is short for `{name: adam}` (the same for losses and datasets)."""
    return {"name": value} if isinstance(value, str) else value


# --- datasets that ship with packages or are generated (nothing is downloaded) -----------------------------------


class Digits(SpecModel):
    """scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes) as `(8, 8, 1)` images scaled to [0, 1]."""

    name: Literal["digits"] = "digits"
    """The dataset's name."""


class DigitsFlat(SpecModel):
    """scikit-learn's digits as 64-vectors scaled to [0, 1], for MLPs."""

    name: Literal["digits_flat"] = "digits_flat"
    """The dataset's name."""


class Iris(SpecModel):
    """scikit-learn's iris (150 flowers, 4 standardized features, 3 classes)."""

    name: Literal["iris"] = "iris"
    """The dataset's name."""


class SineWaves(SpecModel):
    """Synthetic sequences: noisy sine waves, the class is the frequency band. Shape `(steps, 1)`."""

    name: Literal["sine_waves"] = "sine_waves"
    """The dataset's name."""
    samples: PositiveInt = 1500
    """How many sequences to generate. Defaults to `1500`."""
    steps: PositiveInt = 32
    """Length of each sequence. Defaults to `32`."""
    classes: Annotated[int, Field(ge=2, le=10)] = 3
    """Number of frequency bands (classes). Defaults to `3`."""
    noise: Annotated[float, Field(ge=0.0)] = 0.2
    """Standard deviation of the added Gaussian noise. Defaults to `0.2`."""


Dataset = Annotated[Union[Digits, DigitsFlat, Iris, SineWaves], Field(discriminator="name")]

# --- losses and optimizers (Keras names) --------------------------------------------------------------------------

LossName = Literal[
    "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error", "huber",
]  # fmt: skip


class Loss(SpecModel):
    """A Keras loss by name. Classification losses take `from_logits` (true when the last layer has no softmax)."""

    name: LossName
    """The Keras loss, e.g. `sparse_categorical_crossentropy` (integer labels) or `mean_squared_error`."""
    from_logits: bool = False
    """The model outputs raw scores rather than probabilities. Defaults to `false`."""


class Optimizer(SpecModel):
    """A Keras optimizer by name with its main arguments."""

    name: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    """Which optimizer. Defaults to `adam`."""
    learning_rate: PositiveFloat = 1e-3
    """Step size. Defaults to `0.001`."""
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """Momentum for `sgd` and `rmsprop`. Defaults to `0.0`."""
    nesterov: bool = False
    """Nesterov momentum for `sgd`. Defaults to `false`."""
    weight_decay: Annotated[float, Field(ge=0.0)] | None = None
    """Decoupled weight decay (`adamw` defaults it to `0.004`). Defaults to none."""


class TrainSpec(SpecModel):
    """How to train: data, loss, optimizer, metrics, schedule of epochs and batches, and the seed."""

    data: Dataset
    """The dataset, by name (`digits`, `digits_flat`, `iris`, `sine_waves`) with its options."""
    loss: Loss
    """The loss to minimize, e.g. `sparse_categorical_crossentropy`."""
    optimizer: Optimizer = Optimizer()
    """The optimizer. Defaults to Adam with learning rate 0.001."""
    metrics: list[Literal["accuracy", "mae", "mse"]] = ["accuracy"]
    """Metrics reported each epoch and in metrics.json. Defaults to `[accuracy]`."""
    epochs: PositiveInt = 10
    """Passes over the training data. Defaults to `10`."""
    batch_size: PositiveInt = 32
    """Examples per step. Defaults to `32`."""
    validation_split: Rate = 0.1
    """Fraction of the training data held out for validation each epoch. Defaults to `0.1`."""
    test_split: Rate = 0.2
    """Fraction of the dataset held out, never trained on, for the final test metrics. Defaults to `0.2`."""
    seed: int = 0
    """Fixes the data split and order, weight initialization and dropout. Defaults to `0`."""

    @field_validator("data", "loss", "optimizer", mode="before")
    @classmethod
    def _short_forms(cls, value):
        return _name_only(value)
