"""Learning-rate schedules from a spec's `train.schedule`, as Keras `LearningRateSchedule`s over optimizer steps.

Keras ships step/exponential decay, cosine decay and SGDR, so those are Keras's own classes with epochs turned
into steps. Keras has no one-cycle policy and its warmup exists only inside `CosineDecay`, so `OneCycle` and
`LinearWarmup` (which puts a linear ramp in front of any schedule) are written here; both serialize with the
optimizer in `model.keras`.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from nnspec.specs.train import TrainSpec


@keras.saving.register_keras_serializable(package="nnspec")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """`target * step / warmup_steps` for the first `warmup_steps` steps, then `after(step - warmup_steps)`."""

    def __init__(self, after, warmup_steps: int, target: float):
        self.after = after
        self.warmup_steps = int(warmup_steps)
        self.target = float(target)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        ramp = self.target * step / max(self.warmup_steps, 1)
        rest = self.after(ops.maximum(step - self.warmup_steps, 0.0))
        return ops.where(step < self.warmup_steps, ramp, rest)

    def get_config(self):
        return {"after": keras.saving.serialize_keras_object(self.after), "warmup_steps": self.warmup_steps,
                "target": self.target}

    @classmethod
    def from_config(cls, config):
        config = dict(config, after=keras.saving.deserialize_keras_object(config["after"]))
        return cls(**config)


@keras.saving.register_keras_serializable(package="nnspec")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith & Topin's one-cycle policy, cosine-shaped: from `peak / div_factor` up to `peak` over the first
    `pct_start` of `total_steps`, then down to `peak / final_div_factor`."""

    def __init__(self, peak: float, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4):
        self.peak, self.total_steps, self.pct_start = float(peak), int(total_steps), float(pct_start)
        self.div_factor, self.final_div_factor = float(div_factor), float(final_div_factor)

    def __call__(self, step):
        p = ops.minimum(ops.cast(step, "float32") / max(self.total_steps, 1), 1.0)
        start, end = self.peak / self.div_factor, self.peak / self.final_div_factor
        up = start + (self.peak - start) * 0.5 * (1.0 - ops.cos(math.pi * p / self.pct_start))
        down_p = (p - self.pct_start) / (1.0 - self.pct_start)
        down = end + (self.peak - end) * 0.5 * (1.0 + ops.cos(math.pi * down_p))
        return ops.where(p < self.pct_start, up, down)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor}


def learning_rate(cfg: TrainSpec, steps_per_epoch: int, base: float | None = None):
    """The optimizer's `learning_rate` argument: a float for a constant rate, else a schedule over steps.
    `base` is the rate the schedule scales (default: `train.optimizer.learning_rate`)."""
    s, base = cfg.schedule, cfg.optimizer.learning_rate if base is None else base
    warmup = round(s.warmup_epochs * steps_per_epoch)
    steps = max(cfg.epochs * steps_per_epoch - warmup, 1)  # the schedule's own span, after the warmup
    schedules = keras.optimizers.schedules
    if s.name == "constant":
        if not warmup:
            return base
        schedule = schedules.PolynomialDecay(base, 1, end_learning_rate=base)  # constant, as a schedule
    elif s.name == "step":
        schedule = schedules.ExponentialDecay(base, s.every_epochs * steps_per_epoch, s.factor, staircase=True)
    elif s.name == "exponential":
        schedule = schedules.ExponentialDecay(base, steps_per_epoch, s.decay_rate)
    elif s.name == "cosine":
        schedule = schedules.CosineDecay(base, steps, alpha=s.min_learning_rate / base)
    elif s.name == "cosine_restarts":
        schedule = schedules.CosineDecayRestarts(base, max(round(s.first_cycle_epochs * steps_per_epoch), 1),
                                                 t_mul=s.cycle_mult, m_mul=s.peak_mult,
                                                 alpha=s.min_learning_rate / base)
    else:
        schedule = OneCycle(base, steps, s.pct_start, s.div_factor, s.final_div_factor)
    return LinearWarmup(schedule, warmup, _start_of(schedule)) if warmup else schedule


def _start_of(schedule) -> float:
    """The schedule's value at its first step: where the warmup ramp must end so the two join up."""
    return float(ops.convert_to_numpy(schedule(0)))
