"""The `train:` section: everything needed to reproduce a training run from the spec alone.

Names are Keras's (optimizers, losses, metrics, callbacks), so the Keras docs explain each one; a schedule and
every epoch count are in epochs, and the trainer turns them into steps.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from nnspec.specs.base import NonNegativeInt, PositiveInt, Rate, SpecModel
from nnspec.specs.data import Augment, Dataset
from nnspec.specs.objectives import (  # noqa: F401 - re-exported: regimes and the runtime read them from here
    CROSSENTROPY,
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    Fraction,
    Loss,
    LossSection,
    MetricName,
    MetricsSection,
    NonNegativeFloat,
    OneCycle,
    Optimizer,
    PositiveFloat,
    Schedule,
    StepDecay,
)
from nnspec.specs.pruning import Prune, check_prune_fits
from nnspec.specs.regimes import Regime
from nnspec.specs.regimes.supervised import Supervised


def _name_only(value):
    """`adam` is short for `{name: adam}` (the same for losses, schedules and datasets)."""
    return {"name": value} if isinstance(value, str) else value


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


class Distribute(SpecModel):
    """Data-parallel training with a `tf.distribute` strategy. `train.batch_size` is the global batch, split
    evenly over the replicas; `learning_rate_scaling: linear` multiplies the learning rate by the number of
    replicas (Goyal et al. 2017), `none` keeps it."""

    strategy: Literal["none", "mirrored", "multi_worker"] = "none"
    """`mirrored`: one replica per device of this machine (all GPUs, or the CPU); `multi_worker`: one replica
    per device of every machine in the cluster that the `TF_CONFIG` environment variable describes (start
    `nnspec train` on each; the chief, worker 0, writes the run directory); `none`: the default device.
    Defaults to `none`."""
    devices: list[str] | None = None
    """The devices to mirror over (e.g. `["/gpu:0", "/gpu:1"]`). Defaults to every GPU, else the CPU."""
    logical_cpus: Annotated[int, Field(ge=2, le=64)] | None = None
    """Split the CPU into this many logical devices and mirror over them: distribution without GPUs, for tests
    and for checking a spec before it goes to a GPU machine. Defaults to none."""
    learning_rate_scaling: Literal["none", "linear"] = "none"
    """Scale the learning rate with the number of replicas. Defaults to `none`."""

    @model_validator(mode="after")
    def _devices_need_mirrored(self):
        if self.strategy != "mirrored" and (self.devices or self.logical_cpus):
            raise ValueError("`devices` and `logical_cpus` choose what a `mirrored` strategy spans. "
                             "Received: strategy='none'")
        if self.devices and self.logical_cpus:
            raise ValueError("give `devices` or `logical_cpus`, not both. "
                             f"Received: devices={self.devices}, logical_cpus={self.logical_cpus}")
        return self


# --- the section --------------------------------------------------------------------------------------------------


class TrainSpec(SpecModel):
    """How to train: data, loss, optimizer and schedule, metrics, callbacks, epochs and batches, and the seed."""

    data: Dataset
    """The dataset, by name with its options: embedded (`digits`, `digits_flat`, `iris`, `wine`,
    `breast_cancer`), generated (`sine_waves`, `token_copy`, `shapes`, `point_clouds`, `graphs`), the user's
    files (`npz`, `csv`, `image_folder`, `tfrecord`, paths relative to the spec), or `pairs`/`triplets` of
    another dataset's examples for metric learning."""
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
    prune: Prune | None = None
    """Magnitude pruning with a sparsity schedule (and the lottery-ticket variant). Defaults to none."""
    logs: Logs = Logs()
    """CSV, TensorBoard and learning-curve outputs. Defaults to CSV and curves."""
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"
    """Compute precision (Keras mixed-precision policy); weights stay float32. Defaults to `float32`."""
    distribute: Distribute = Distribute()
    """Data-parallel training over several devices. Defaults to one device."""
    jit_compile: bool = False
    """Compile the training step with XLA. TensorFlow's deterministic-ops mode (which makes every other run
    bit-reproducible) excludes XLA, so such a run is as reproducible as XLA's kernels are. Defaults to `false`."""
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
    def _batch_splits_over_logical_cpus(self):
        n = self.distribute.logical_cpus
        if n and self.batch_size % n:
            raise ValueError(f"the global batch is split evenly over the {n} replicas, so batch_size must be a "
                             f"multiple of {n}. Received: batch_size={self.batch_size}, logical_cpus={n}")
        return self

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

    @model_validator(mode="after")
    def _prune_fits_the_run(self):
        check_prune_fits(self.prune, self.epochs, self.early_stopping, self.swa)
        return self
