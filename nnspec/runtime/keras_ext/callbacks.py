"""Callbacks for reproducible, resumable training: an every-epoch checkpoint of the whole training state, and
stochastic weight averaging.

A checkpoint is one `.npz` file written atomically at the end of every epoch. It holds every model variable (the
dropout seed-generator states included: `model.keras` does not keep them), every optimizer variable (step count,
moments, the EMA of the weights, the learning rate), the state of the callbacks that remember the past (early
stopping, reduce-on-plateau, SWA), and the history so far. Restoring it and training on from the next epoch, with
the data in the same per-epoch order, gives the same weights as never having stopped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np

CHECKPOINT = "checkpoint.npz"

# The attributes that carry a stateful Keras callback's memory from one epoch to the next.
_CALLBACK_STATE = {
    keras.callbacks.EarlyStopping: ("wait", "best", "stopped_epoch", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
}


def _plain(value):
    return value.item() if isinstance(value, np.generic) else (float(value) if hasattr(value, "numpy") else value)


class StochasticWeightAveraging(keras.callbacks.Callback):
    """Izmailov et al. 2018: a running average of the weights taken at the end of every `every`-th epoch from
    epoch `start` (counting from 1); at the end of training the model gets the average, and batch-norm moving
    statistics are re-estimated with one pass over `train_batches` in training mode."""

    def __init__(self, start: int, every: int, train_batches=None):
        super().__init__()
        self.start, self.every, self.train_batches = start, every, train_batches
        self.average: list[np.ndarray] | None = None
        self.count = 0

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done < self.start or (done - self.start) % self.every:
            return
        weights = [np.asarray(v) for v in self.model.get_weights()]
        if self.average is None:
            self.average = weights
        else:
            self.average = [a + (w - a) / (self.count + 1) for a, w in zip(self.average, weights)]
        self.count += 1

    def on_train_end(self, logs=None):
        if self.average is None:
            return
        self.model.set_weights(self.average)
        if self.train_batches is not None and any(
                isinstance(layer, keras.layers.BatchNormalization) for layer in self.model._flatten_layers()):
            _reestimate_batch_norm(self.model, self.train_batches)


def _reestimate_batch_norm(model, batches) -> None:
    """Recompute batch-norm moving statistics for the averaged weights: reset them, then run the training data
    through the model in training mode with momentum set so the result is the plain mean over batches."""
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, "float32"))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, "float32"))
    for n, (x, _) in enumerate(batches):
        for layer in layers:  # moving = m * moving + (1 - m) * batch, with m = n / (n + 1): the running mean
            layer.momentum = n / (n + 1)
        model(x, training=True)
    for layer, momentum in zip(layers, saved):
        layer.momentum = momentum


class Checkpoint(keras.callbacks.Callback):
    """Write the full training state to `folder/checkpoint.npz` at the end of every epoch (atomically), and
    restore it at the start of training when `resume` is given.

    Put it last in the callback list: Keras resets the other callbacks in `on_train_begin`, and a resumed run
    must set their state after that.
    """

    def __init__(self, folder: Path, callbacks: list, history: dict, resume: dict | None = None,
                 optimizers=None):
        super().__init__()
        self.folder, self.callbacks, self.history, self.resume = Path(folder), callbacks, history, resume
        self._optimizers = optimizers or (lambda: [self.model.optimizer])

    def on_train_begin(self, logs=None):
        if self.resume is not None:
            _restore(self.model, self._optimizers(), self.callbacks, self.resume)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if epoch + 1 == (self.params or {}).get("epochs"):
            return  # the last epoch: the finished run replaces the checkpoint (an interruption redoes this epoch)
        arrays: dict[str, np.ndarray] = {}
        arrays.update({f"model/{i}": np.asarray(v) for i, v in enumerate(self.model.variables)})
        variables = [v for optimizer in self._optimizers() for v in optimizer.variables]
        arrays.update({f"optimizer/{i}": np.asarray(v) for i, v in enumerate(variables)})
        states = []
        for k, cb in enumerate(self.callbacks):
            state = {name: _plain(getattr(cb, name)) for name in _state_names(cb) if hasattr(cb, name)}
            weights = getattr(cb, _arrays_name(cb), None)
            if weights is not None:
                arrays.update({f"callback{k}/{i}": np.asarray(w) for i, w in enumerate(weights)})
                state["_arrays"] = len(weights)
            states.append(state)
        meta = {"epochs_done": epoch + 1, "history": self.history, "callbacks": states}
        arrays["meta"] = np.array(json.dumps(meta))
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{CHECKPOINT}.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / CHECKPOINT)


def _state_names(cb) -> tuple[str, ...]:
    if isinstance(cb, StochasticWeightAveraging):
        return ("count",)
    return next((names for cls, names in _CALLBACK_STATE.items() if isinstance(cb, cls)),
                getattr(cb, "checkpoint_state", ()))


def _arrays_name(cb) -> str:
    """The attribute holding a callback's arrays: early stopping's best weights, the SWA average, or the one a
    callback names in `checkpoint_arrays` (with its other state in `checkpoint_state`)."""
    if isinstance(cb, keras.callbacks.EarlyStopping):
        return "best_weights"
    return getattr(cb, "checkpoint_arrays", "average")


def read_checkpoint(folder: Path) -> dict | None:
    """The checkpoint in `folder` as `{"meta": {...}, "arrays": {...}}`, or None if there is none."""
    path = Path(folder) / CHECKPOINT
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return {"meta": json.loads(str(arrays.pop("meta"))), "arrays": arrays}


def _restore(model, optimizers: list, callbacks: list, checkpoint: dict) -> None:
    """Put the checkpoint's state back. Optimizers a regime built for part of the model (a GAN's two) were built
    by the regime; one that has not been built yet is built on the model's trainable variables."""
    arrays, meta = checkpoint["arrays"], checkpoint["meta"]
    for optimizer in optimizers:
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
    optimizer_variables = [v for optimizer in optimizers for v in optimizer.variables]
    for prefix, variables in (("model", model.variables), ("optimizer", optimizer_variables)):
        saved = sorted((k for k in arrays if k.startswith(prefix + "/")), key=lambda k: int(k.split("/")[1]))
        if len(saved) != len(variables):
            raise ValueError(f"the checkpoint has {len(saved)} {prefix} variables, the model {len(variables)}")
        for key, variable in zip(saved, variables):
            variable.assign(arrays[key])
    for k, (cb, state) in enumerate(zip(callbacks, meta["callbacks"])):
        n = state.pop("_arrays", None)
        for name, value in state.items():
            setattr(cb, name, value)
        if n is not None:
            weights = [arrays[f"callback{k}/{i}"] for i in range(n)]
            setattr(cb, _arrays_name(cb), weights)
