"""Magnitude pruning during training: the sparsity schedule, the masks, the callback keeping them.

TensorFlow Model Optimization's pruning wrappers need Keras 2, so nnspec prunes with a callback
instead of wrapping layers: at each scheduled step it ranks the kernel weights by magnitude (over
all pruned kernels at once, or kernel by kernel) and zeroes the smallest, and after every training
step it multiplies the kernels by their masks again, so a pruned weight stays exactly zero whatever
the optimizer does. The callback's state (the masks, the step of the last update and, for a lottery
ticket, the initial weights and optimizer state) goes into the run's every-epoch checkpoint, so a
resumed run prunes as an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np


@dataclass(frozen=True)
class SparsitySchedule:
    """The share of zeros after `step` training steps, and the steps that recompute the masks.

    Polynomial decay (Zhu & Gupta 2017; TFMOT `PolynomialDecay`):
    s(t) = s_f + (s_i - s_f) (1 - p)^power with p = (t - begin) / (end - begin) clipped to [0, 1],
    and no pruning before `begin`; `constant` is s_f from `begin` on. Masks are recomputed at
    `begin`, every `frequency` steps after it, and at `end` (so the final sparsity is reached
    exactly there).
    """

    final: float
    initial: float = 0.0
    begin: int = 0
    end: int = 0
    frequency: int = 1
    power: float = 3.0
    constant: bool = False

    def sparsity(self, step: int) -> float:
        if step < self.begin:
            return 0.0
        if self.constant or self.end <= self.begin:
            return self.final
        p = min(1.0, (step - self.begin) / (self.end - self.begin))
        return self.final + (self.initial - self.final) * (1.0 - p) ** self.power

    def due(self, step: int) -> bool:
        on_beat = (step - self.begin) % self.frequency == 0
        return self.begin <= step <= self.end and (on_beat or step == self.end)


def magnitude_masks(kernels: dict[str, np.ndarray], sparsity: float,
                    scope: str = "global") -> dict[str, np.ndarray]:
    """Boolean keep-masks that prune the `round(sparsity * n)` weights of smallest magnitude,
    counted over all `kernels` together (`global`) or in each kernel (`per_layer`)."""
    if scope == "per_layer":
        return {k: _keep(np.abs(w).ravel(), sparsity).reshape(w.shape) for k, w in kernels.items()}
    if not kernels:
        return {}
    keep = _keep(np.concatenate([np.abs(w).ravel() for w in kernels.values()]), sparsity)
    parts = np.split(keep, np.cumsum([w.size for w in kernels.values()])[:-1])
    return {key: part.reshape(w.shape) for (key, w), part in zip(kernels.items(), parts)}


def _keep(magnitudes: np.ndarray, sparsity: float) -> np.ndarray:
    k = round(sparsity * magnitudes.size)
    keep = np.ones(magnitudes.size, dtype=bool)
    if k:
        keep[np.argpartition(magnitudes, k - 1)[:k]] = False
    return keep


class MagnitudePruning(keras.callbacks.Callback):
    """Keep `kernels` (`{"node/variable": variable}`) pruned as `schedule` says, its steps counted
    from the start of training, `steps_per_epoch` an epoch.

    With `rewind_epoch` (a lottery-ticket run) the masks stop changing at that epoch, whose start
    rewinds every model weight and the optimizers' state to their values at the start of training
    (then masks them), so the surviving weights train again from their initial values.
    """

    checkpoint_state = ("last_update", "layout")
    """Attributes the run's `Checkpoint` saves (JSON) and restores, before `checkpoint_arrays`."""
    checkpoint_arrays = "state_arrays"
    """The attribute holding the arrays the `Checkpoint` saves and restores."""

    def __init__(self, kernels: dict, schedule: SparsitySchedule, scope: str, steps_per_epoch: int,
                 rewind_epoch: int | None = None, optimizers=None):
        super().__init__()
        self.kernels, self.schedule, self.scope = kernels, schedule, scope
        self.steps_per_epoch, self.rewind_epoch = steps_per_epoch, rewind_epoch
        self._optimizers = optimizers or (lambda: [self.model.optimizer])
        self.masks: dict[str, np.ndarray] | None = None
        self._mask_variables: list | None = None
        self._apply = None
        self.initial: list[np.ndarray] | None = None
        self.initial_optimizer: list[np.ndarray] | None = None
        self.last_update = -1
        self.epoch = 0
        self._restored_layout = [0, 0, 0]

    # --- the masks ------------------------------------------------------------------------------

    def set_masks(self, masks: dict[str, np.ndarray]) -> None:
        """Use these keep-masks from now on, and apply them."""
        import tensorflow as tf

        self.masks = {key: np.asarray(masks[key], dtype=bool) for key in self.kernels}
        factors = [self.masks[key].astype(v.dtype) for key, v in self.kernels.items()]
        if self._mask_variables is None:
            # NOTE: masks in variables and one compiled function: re-masking after every step costs
            # a fifth of what one eager multiply-assign per kernel does.
            self._mask_variables = [tf.Variable(f, trainable=False) for f in factors]
            pairs = list(zip(self.kernels.values(), self._mask_variables))

            def apply_masks():
                for kernel, mask in pairs:
                    kernel.assign(kernel * mask)

            self._apply = tf.function(apply_masks)
        else:
            for variable, factor in zip(self._mask_variables, factors):
                variable.assign(factor)
        self.apply()

    def apply(self) -> None:
        """Multiply every kernel by its mask (pruned weights become, and stay, exactly zero)."""
        if self._apply is not None:
            self._apply()

    def update(self, step: int) -> None:
        """Recompute the masks from the current weights if `step` is a scheduled update."""
        if step == self.last_update or not self.schedule.due(step):
            return
        if self.rewind_epoch is not None and self.epoch >= self.rewind_epoch:
            return  # the lottery ticket's second phase keeps the masks of the first
        self.last_update = step
        weights = {key: np.asarray(v) for key, v in self.kernels.items()}
        self.set_masks(magnitude_masks(weights, self.schedule.sparsity(step), self.scope))

    # --- Keras hooks ----------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        # NOTE: runs before the Checkpoint's, which then restores this callback's state on resume.
        if self.rewind_epoch is not None:
            optimizers = self._optimizers()
            for optimizer in optimizers:
                if not optimizer.built:
                    optimizer.build(self.model.trainable_variables)
            self.initial = [np.array(v) for v in self.model.weights]
            self.initial_optimizer = [np.array(v) for o in optimizers for v in o.variables]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if epoch == self.rewind_epoch:
            self.rewind()

    def on_train_batch_begin(self, batch, logs=None):
        self.update(self.epoch * self.steps_per_epoch + batch)

    def on_train_batch_end(self, batch, logs=None):
        self.apply()

    def on_epoch_end(self, epoch, logs=None):
        self.update((epoch + 1) * self.steps_per_epoch)

    def on_train_end(self, logs=None):
        self.apply()  # NOTE: fit ends by swapping in EMA weights (SWA: its average); mask those too

    def rewind(self) -> None:
        """Back to the weights and optimizer state of the start of training, masked."""
        optimizer_variables = [v for o in self._optimizers() for v in o.variables]
        for variables, values in ((self.model.weights, self.initial),
                                  (optimizer_variables, self.initial_optimizer)):
            if values is None or len(values) != len(variables):
                raise RuntimeError("the lottery-ticket rewind has no snapshot of the initial state")
            for variable, value in zip(variables, values):
                variable.assign(value)
        self.apply()

    # --- checkpoint state -----------------------------------------------------------------------

    @property
    def layout(self) -> list[int]:
        """How many masks, initial weights and initial optimizer variables `state_arrays` holds."""
        return [len(self.masks or ()), len(self.initial or ()), len(self.initial_optimizer or ())]

    @layout.setter
    def layout(self, value: list[int]) -> None:
        self._restored_layout = list(value)

    @property
    def state_arrays(self) -> list[np.ndarray]:
        masks = [self.masks[key] for key in self.kernels] if self.masks is not None else []
        return [*masks, *(self.initial or []), *(self.initial_optimizer or [])]

    @state_arrays.setter
    def state_arrays(self, arrays: list[np.ndarray]) -> None:
        n_masks, n_initial, _ = self._restored_layout
        if n_masks:
            self.set_masks(dict(zip(self.kernels, arrays[:n_masks])))
        if self.rewind_epoch is not None:
            self.initial = list(arrays[n_masks:n_masks + n_initial])
            self.initial_optimizer = list(arrays[n_masks + n_initial:])
