"""`train.prune:` magnitude pruning during training, with a sparsity schedule; the lottery ticket.

The smallest-magnitude weights of the convolution and dense kernels are set to zero and kept there,
the share of zeros growing from `initial_sparsity` to `sparsity` along a polynomial-decay schedule
(Zhu & Gupta 2017, TensorFlow Model Optimization's `PolynomialDecay`). TFMOT itself needs Keras 2,
so the runtime does its own (`nnspec.runtime.keras_ext.pruning`). Epoch counts are epochs done
(`end_epoch: 3` means "after three epochs"), like every epoch count in `train:`; the trainer turns
them into steps.

    train:
      prune: {sparsity: 0.8, end_epoch: 3, scope: global}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from nnspec.specs.base import Identifier, NonNegativeInt, PositiveInt, Rate, SpecModel

PositivePower = Annotated[float, Field(gt=0.0)]


class Prune(SpecModel):
    """Magnitude pruning: the smallest weights of the chosen kernels become zero and stay zero (a
    mask re-applied after every training step); the share of zeros follows the schedule. With
    `lottery`, the run then rewinds the surviving weights to their initial values and trains again
    with the masks fixed (Frankle & Carbin 2019)."""

    sparsity: Rate
    """The final share of zeros, from 0 to below 1 (e.g. `0.8`)."""
    initial_sparsity: Rate = 0.0
    """The share of zeros at `begin_epoch`. Defaults to `0`."""
    schedule: Literal["polynomial", "constant"] = "polynomial"
    """`polynomial`: s(t) = s_f + (s_i - s_f) (1 - (t - t0) / (t1 - t0))^power from `begin_epoch`
    (t0) to `end_epoch` (t1), in steps; `constant`: `sparsity` from `begin_epoch` on. Defaults to
    `polynomial`."""
    begin_epoch: NonNegativeInt = 0
    """Epochs trained before pruning starts. Defaults to `0`."""
    end_epoch: NonNegativeInt | None = None
    """Epochs after which the final sparsity is reached (masks change no more). Defaults to two
    thirds of the way from `begin_epoch` to the end (at least one epoch after `begin_epoch`), so
    the last third fine-tunes with the final masks."""
    frequency: PositiveInt | None = None
    """Training steps between two mask updates. Defaults to a tenth of an epoch (ten updates per
    epoch)."""
    power: PositivePower = 3.0
    """The exponent of the polynomial schedule. Defaults to `3`."""
    scope: Literal["global", "per_layer"] = "global"
    """`global`: one magnitude threshold over all pruned kernels together (layers end with different
    sparsities); `per_layer`: every kernel gets the same sparsity. Defaults to `global`."""
    layers: Annotated[list[Identifier], Field(min_length=1)] | None = None
    """Node ids whose kernels are pruned. Defaults to every convolution and dense node."""
    lottery: bool = False
    """Lottery ticket: after `epochs` epochs of pruning, rewind the surviving weights (and the
    optimizer) to their initial values and train `epochs` epochs more with the masks fixed; the
    history holds both phases. Defaults to `false`."""

    @model_validator(mode="after")
    def _ordered(self):
        if self.initial_sparsity > self.sparsity:
            raise ValueError("initial_sparsity must not exceed sparsity. Received: "
                             f"initial_sparsity={self.initial_sparsity}, sparsity={self.sparsity}")
        if self.end_epoch is not None and self.end_epoch < self.begin_epoch:
            raise ValueError("end_epoch comes before begin_epoch. Received: "
                             f"begin_epoch={self.begin_epoch}, end_epoch={self.end_epoch}")
        return self

    def end(self, epochs: int) -> int:
        """`end_epoch`, or its default for a run of `epochs` epochs."""
        if self.end_epoch is not None:
            return self.end_epoch
        return self.begin_epoch + max(1, 2 * (epochs - self.begin_epoch) // 3)


def check_prune_fits(prune: Prune | None, epochs: int, early_stopping, swa) -> None:
    """The rules between `train.prune` and the rest of `train:` (raises `ValueError`)."""
    if prune is None:
        return
    if prune.begin_epoch >= epochs:
        raise ValueError("prune.begin_epoch leaves no epoch to prune in. Received: "
                         f"prune.begin_epoch={prune.begin_epoch}, epochs={epochs}")
    if prune.end(epochs) > epochs:
        raise ValueError("prune.end_epoch is after the last epoch. Received: "
                         f"prune.end_epoch={prune.end_epoch}, epochs={epochs}")
    if prune.lottery and (early_stopping is not None or swa is not None):
        raise ValueError("a lottery-ticket run trains two fixed-length phases, so it takes neither "
                         "early_stopping nor swa. Received: prune.lottery=True")
