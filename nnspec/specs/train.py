"""The `train:` section: everything needed to reproduce a training run from the spec alone.

Names are Keras's (optimizers, losses, metrics, callbacks), so the Keras docs explain each one; a schedule and
every epoch count are in epochs, and the trainer turns them into steps.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from nnspec.specs.base import Identifier, NonNegativeInt, PositiveInt, Rate, SpecModel
from nnspec.specs.data import Augment, Dataset
from nnspec.specs.regimes import Regime
from nnspec.specs.regimes.supervised import Supervised

PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


def _name_only(value):
    """`adam` is short for `{name: adam}` (the same for losses, schedules and datasets)."""
    return {"name": value} if isinstance(value, str) else value


# --- losses -------------------------------------------------------------------------------------------------------

CROSSENTROPY = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy")
LossName = Literal[
    "sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "mean_absolute_error", "huber", "hinge", "squared_hinge",
    "kl_divergence", "cosine_similarity", "contrastive",
]  # fmt: skip


class Loss(SpecModel):
    """A loss by its Keras name, with the options that name takes, and its weight among several outputs' losses.

    `contrastive` is Hadsell et al. 2006's loss for Siamese networks on a predicted distance `d` and a label `y`
    (1 = same class): `y·d² + (1 - y)·max(margin - d, 0)²`.
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
    """`contrastive` only: the distance beyond which different pairs cost nothing. Defaults to `1.0`."""
    weight: NonNegativeFloat = 1.0
    """This loss's weight in the total when the model has several outputs. Defaults to `1.0`."""

    @model_validator(mode="after")
    def _options_fit_the_loss(self):
        owners = {"from_logits": CROSSENTROPY, "label_smoothing": CROSSENTROPY, "delta": ("huber",),
                  "margin": ("contrastive",)}
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

# --- callbacks ----------------------------------------------------------------------------------------------------


class ReduceOnPlateau(SpecModel):
    """Divide the learning rate when a monitored metric stops improving (Keras `ReduceLROnPlateau`)."""

    monitor: str = "val_loss"
    """The metric to watch (a history key, e.g. `val_loss`, `val_accuracy`). Defaults to `val_loss`."""
    factor: Fraction = 0.1
    """Multiply the learning rate by this. Defaults to `0.1`."""
    patience: NonNegativeInt = 5
    """Epochs without improvement before reducing. Defaults to `5`."""
    min_delta: NonNegativeFloat = 1e-4
    """The smallest change that counts as improvement. Defaults to `0.0001`."""
    min_learning_rate: NonNegativeFloat = 0.0
    """Never go below this. Defaults to `0`."""


class EarlyStopping(SpecModel):
    """Stop when a monitored metric stops improving (Keras `EarlyStopping`)."""

    monitor: str = "val_loss"
    """The metric to watch (a history key). Defaults to `val_loss`."""
    patience: NonNegativeInt = 5
    """Epochs without improvement before stopping. Defaults to `5`."""
    min_delta: NonNegativeFloat = 0.0
    """The smallest change that counts as improvement. Defaults to `0`."""
    restore_best_weights: bool = True
    """End with the weights of the best epoch. Defaults to `true`."""


class StochasticWeightAveraging(SpecModel):
    """SWA (Izmailov et al. 2018): average the weights at the end of every `every_epochs`-th epoch from
    `start_epoch` on, and finish with the average (batch-norm statistics re-estimated on the training data).
    Pairs with a cyclical schedule such as `cosine_restarts`."""

    start_epoch: PositiveInt = 1
    """The first epoch (counting from 1) whose weights enter the average. Defaults to `1`."""
    every_epochs: PositiveInt = 1
    """Average every this many epochs (the cycle length for a cyclical schedule). Defaults to `1`."""


class Logs(SpecModel):
    """Logs the run directory keeps besides history.json."""

    csv: bool = True
    """`history.csv`, one row per epoch (Keras `CSVLogger`). Defaults to `true`."""
    tensorboard: bool = False
    """TensorBoard event files under `tensorboard/`. Defaults to `false`."""
    curves: bool = True
    """`curves.png`: loss and metrics per epoch, training and validation. Defaults to `true`."""


# --- the section --------------------------------------------------------------------------------------------------


class TrainSpec(SpecModel):
    """How to train: data, loss, optimizer and schedule, metrics, callbacks, epochs and batches, and the seed."""

    data: Dataset
    """The dataset, by name with its options: embedded (`digits`, `digits_flat`, `iris`, `wine`,
    `breast_cancer`), generated (`sine_waves`, `token_copy`, `shapes`, `point_clouds`, `graphs`), or the user's
    files (`npz`, `csv`, `image_folder`, `tfrecord`, paths relative to the spec)."""
    augment: Augment = Augment()
    """Augmentation of the training batches (flip, crop, noise, mixup). Defaults to none."""
    regime: Regime = Supervised()
    """How the model is trained: `supervised` (the default), or a special regime with its options."""
    loss: LossSection
    """The loss to minimize, e.g. `sparse_categorical_crossentropy`; or one per output id, each with its
    `weight` (outputs left out get no loss). One loss for a model with several outputs applies to each."""
    optimizer: Optimizer = Optimizer()
    """The optimizer. Defaults to Adam with learning rate 0.001."""
    schedule: Schedule = Constant()
    """How the learning rate changes over training (`constant`, `step`, `exponential`, `cosine`,
    `cosine_restarts`, `one_cycle`), with optional linear warmup. Defaults to `constant`."""
    metrics: MetricsSection = ["accuracy"]
    """Metrics reported each epoch and in metrics.json, for every output or per output id. Defaults to
    `[accuracy]`."""
    epochs: PositiveInt = 10
    """Passes over the training data. Defaults to `10`."""
    batch_size: PositiveInt = 32
    """Examples per step. Defaults to `32`."""
    validation_split: Rate = 0.1
    """Fraction of the training data held out for validation each epoch. Defaults to `0.1`."""
    test_split: Rate = 0.2
    """Fraction of the dataset held out, never trained on, for the final test metrics. Defaults to `0.2`."""
    early_stopping: EarlyStopping | None = None
    """Stop early when a metric stops improving. Defaults to none."""
    reduce_on_plateau: ReduceOnPlateau | None = None
    """Lower the learning rate when a metric stops improving (with the `constant` schedule only). Defaults to
    none."""
    swa: StochasticWeightAveraging | None = None
    """Stochastic weight averaging. Defaults to none."""
    logs: Logs = Logs()
    """CSV, TensorBoard and learning-curve outputs. Defaults to CSV and curves."""
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"
    """Compute precision (Keras mixed-precision policy); weights stay float32. Defaults to `float32`."""
    jit_compile: bool = False
    """Compile the training step with XLA. Defaults to `false`."""
    seed: int = 0
    """Fixes the data split and order, weight initialization, dropout and augmentation. Defaults to `0`."""

    @field_validator("data", "optimizer", "schedule", "regime", mode="before")
    @classmethod
    def _short_forms(cls, value):
        return _name_only(value)

    @field_validator("loss", mode="before")
    @classmethod
    def _short_loss(cls, value):
        if isinstance(value, dict) and "name" not in value:
            return {k: _name_only(v) for k, v in value.items()}
        return _name_only(value)

    @field_validator("early_stopping", "reduce_on_plateau", "swa", mode="before")
    @classmethod
    def _on_means_defaults(cls, value):
        """`early_stopping: true` turns a callback on with its defaults."""
        return {} if value is True else (None if value is False else value)

    @model_validator(mode="after")
    def _mixup_needs_soft_targets(self):
        losses = [self.loss] if isinstance(self.loss, Loss) else list(self.loss.values())
        if self.augment.mixup and any(loss.name != "categorical_crossentropy" for loss in losses):
            raise ValueError("mixup blends one-hot labels, so it needs `categorical_crossentropy` (the trainer "
                             "one-hot encodes integer labels for it). Received: loss="
                             f"{[loss.name for loss in losses]}")
        return self

    @model_validator(mode="after")
    def _plateau_needs_a_constant_schedule(self):
        if self.reduce_on_plateau is not None and self.schedule.name != "constant":
            raise ValueError("reduce_on_plateau changes the learning rate itself, so it needs the `constant` "
                             f"schedule. Received: schedule='{self.schedule.name}'")
        if self.swa is not None and self.swa.start_epoch > self.epochs:
            raise ValueError(f"swa.start_epoch is after the last epoch. Received: swa.start_epoch="
                             f"{self.swa.start_epoch}, epochs={self.epochs}")
        return self
