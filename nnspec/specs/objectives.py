"""What training optimizes, and with what: losses, metrics, optimizers and learning-rate schedules (the parts of
`train:` that regimes share; `train.py` assembles the section)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Discriminator, Field, Tag, model_validator

from nnspec.specs.base import Identifier, PositiveInt, Rate, SpecModel

PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


# --- losses -------------------------------------------------------------------------------------------------------

CROSSENTROPY = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")
LossName = Literal[
    "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error", "huber", "hinge", "squared_hinge",
    "kl_divergence", "cosine_similarity", "contrastive", "triplet",
]  # fmt: skip


class Loss(SpecModel):
    """A loss by its Keras name, with the options that name takes, and its weight among several outputs' losses.

    `contrastive` is Hadsell et al. 2006's loss for Siamese networks on a predicted distance `d` and a label `y`
    (1 = same class): `y·d² + (1 - y)·max(margin - d, 0)²` (the `pairs` dataset gives such labels).

    `triplet` is Schroff et al. 2015's (FaceNet) loss on an output of shape `(batch, 3, d)` stacking the anchor,
    positive and negative embeddings: `max(‖a - p‖² - ‖a - n‖² + margin, 0)`; the labels are ignored (the
    `triplets` dataset gives zeros).
    """

    name: LossName
    """The loss, e.g. `sparse_categorical_crossentropy` (integer labels) or `mean_squared_error`."""
    from_logits: bool = False
    """Crossentropies only: the output is raw scores rather than probabilities. Defaults to `false`."""
    label_smoothing: Rate = 0.0
    """Crossentropies only: mix the targets with the uniform distribution by this much. Defaults to `0`."""
    delta: PositiveFloat = 1.0
    """`huber` only: where the loss turns from quadratic to linear. Defaults to `1.0`."""
    margin: PositiveFloat = 1.0
    """`contrastive` and `triplet` only: the distance beyond which different pairs cost nothing (`contrastive`),
    or how much farther than the positive the negative must be, in squared distance (`triplet`). Defaults to
    `1.0`."""
    weight: NonNegativeFloat = 1.0
    """This loss's weight in the total when the model has several outputs. Defaults to `1.0`."""

    @model_validator(mode="after")
    def _options_fit_the_loss(self):
        owners = {"from_logits": CROSSENTROPY, "label_smoothing": CROSSENTROPY, "delta": ("huber",),
                  "margin": ("contrastive", "triplet")}
        for option, names in owners.items():
            if getattr(self, option) != type(self).model_fields[option].default and self.name not in names:
                raise ValueError(f"`{option}` applies to {', '.join(names)} only. Received: name='{self.name}', "
                                 f"{option}={getattr(self, option)!r}")
        if self.label_smoothing and self.name == "sparse_categorical_crossentropy":
            raise ValueError("label smoothing needs one-hot targets: use categorical_crossentropy (the trainer "
                             "one-hot encodes integer labels for it). Received: name='sparse_categorical_"
                             f"crossentropy', label_smoothing={self.label_smoothing}")
        return self


MetricName = Literal["accuracy", "top5_accuracy", "auc", "precision", "recall", "mae", "mse", "rmse"]

# One loss, or one per output id: told apart before validation so a mistake gets one message, not one per form.
LossSection = Annotated[
    Union[Annotated[Loss, Tag("one")], Annotated[dict[Identifier, Loss], Tag("per_output")]],
    Discriminator(lambda v: "per_output" if isinstance(v, dict) and "name" not in v else "one"),
]
MetricsSection = Annotated[
    Union[Annotated[list[MetricName], Tag("all")], Annotated[dict[Identifier, list[MetricName]], Tag("per_output")]],
    Discriminator(lambda v: "per_output" if isinstance(v, dict) else "all"),
]

# --- optimizers and learning-rate schedules ----------------------------------------------------------------------


class Optimizer(SpecModel):
    """A Keras optimizer by name with its main arguments, gradient clipping and an optional EMA of the weights."""

    name: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "nadam", "lion"] = "adam"
    """Which optimizer. Defaults to `adam`."""
    learning_rate: PositiveFloat = 1e-3
    """The base step size; a `schedule` scales it over training. Defaults to `0.001`."""
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """Momentum for `sgd` and `rmsprop`. Defaults to `0.0`."""
    nesterov: bool = False
    """Nesterov momentum for `sgd`. Defaults to `false`."""
    weight_decay: NonNegativeFloat | None = None
    """Decoupled weight decay (`adamw` defaults it to `0.004`). Defaults to none."""
    beta_1: Fraction | None = None
    """First-moment decay of `adam`, `adamw`, `nadam` and `lion` (GANs use `0.5`). Defaults to Keras's."""
    beta_2: Fraction | None = None
    """Second-moment decay of `adam`, `adamw`, `nadam` and `lion`. Defaults to Keras's."""
    clipnorm: PositiveFloat | None = None
    """Clip each weight's gradient to this L2 norm. Defaults to none."""
    global_clipnorm: PositiveFloat | None = None
    """Clip all gradients together to this global L2 norm (not with `clipnorm`). Defaults to none."""
    clipvalue: PositiveFloat | None = None
    """Clip every gradient element to `[-clipvalue, clipvalue]`. Defaults to none."""
    ema: Fraction | None = None
    """Keep an exponential moving average of the weights with this momentum (e.g. `0.999`, the "mean teacher")
    and finish with the averaged weights. Defaults to none."""

    @model_validator(mode="after")
    def _options_fit_the_optimizer(self):
        if self.momentum and self.name not in ("sgd", "rmsprop"):
            raise ValueError(f"`momentum` applies to sgd and rmsprop only. Received: name='{self.name}', "
                             f"momentum={self.momentum}")
        betas = {k: getattr(self, k) for k in ("beta_1", "beta_2") if getattr(self, k) is not None}
        if betas and self.name not in ("adam", "adamw", "nadam", "lion"):
            raise ValueError(f"`{next(iter(betas))}` applies to adam, adamw, nadam and lion only. "
                             f"Received: name='{self.name}'")
        if self.nesterov and self.name != "sgd":
            raise ValueError(f"`nesterov` applies to sgd only. Received: name='{self.name}'")
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError("give `clipnorm` or `global_clipnorm`, not both. "
                             f"Received: clipnorm={self.clipnorm}, global_clipnorm={self.global_clipnorm}")
        return self


class _Schedule(SpecModel):
    warmup_epochs: NonNegativeFloat = 0.0
    """Ramp the learning rate linearly from 0 over this many epochs before the schedule starts. Defaults to `0`."""


class Constant(_Schedule):
    """The base learning rate throughout."""

    name: Literal["constant"] = "constant"
    """The schedule's name."""


class StepDecay(_Schedule):
    """Multiply the learning rate by `factor` every `every_epochs` epochs."""

    name: Literal["step"] = "step"
    """The schedule's name."""
    every_epochs: PositiveInt = 10
    """Epochs between drops. Defaults to `10`."""
    factor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    """The drop. Defaults to `0.1`."""


class Exponential(_Schedule):
    """Multiply the learning rate by `decay_rate` every epoch, smoothly."""

    name: Literal["exponential"] = "exponential"
    """The schedule's name."""
    decay_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    """Factor per epoch. Defaults to `0.9`."""


class Cosine(_Schedule):
    """Cosine decay from the base learning rate to `min_learning_rate` over the training (Loshchilov & Hutter)."""

    name: Literal["cosine"] = "cosine"
    """The schedule's name."""
    min_learning_rate: NonNegativeFloat = 0.0
    """The final learning rate. Defaults to `0`."""


class CosineRestarts(_Schedule):
    """SGDR: cosine decay restarted every cycle, each cycle `cycle_mult` times longer (Loshchilov & Hutter 2017)."""

    name: Literal["cosine_restarts"] = "cosine_restarts"
    """The schedule's name."""
    first_cycle_epochs: PositiveFloat = 10.0
    """Length of the first cycle. Defaults to `10`."""
    cycle_mult: Annotated[float, Field(ge=1.0)] = 2.0
    """Each cycle is this many times longer than the one before. Defaults to `2`."""
    peak_mult: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    """Each restart starts at this fraction of the previous peak. Defaults to `1`."""
    min_learning_rate: NonNegativeFloat = 0.0
    """The learning rate at the end of each cycle. Defaults to `0`."""


class OneCycle(_Schedule):
    """Smith's one-cycle policy: up from `learning_rate / div_factor` to `learning_rate` over the first
    `pct_start` of training, then down to `learning_rate / final_div_factor`, both halves cosine-shaped."""

    name: Literal["one_cycle"] = "one_cycle"
    """The schedule's name."""
    pct_start: Fraction = 0.3
    """Fraction of training spent rising. Defaults to `0.3`."""
    div_factor: Annotated[float, Field(ge=1.0)] = 25.0
    """The start is the peak over this. Defaults to `25`."""
    final_div_factor: Annotated[float, Field(ge=1.0)] = 1e4
    """The end is the peak over this. Defaults to `10000`."""


Schedule = Annotated[Union[Constant, StepDecay, Exponential, Cosine, CosineRestarts, OneCycle],
                     Field(discriminator="name")]
