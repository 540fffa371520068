"""nnspec's own training loop, for the strategies Keras's `fit` cannot drive.

Keras 3's `fit` fails under `MultiWorkerMirroredStrategy` (keras-team/keras#20585: "Attempt to convert a value
(PerReplica...)"), while the model's own `train_step` run with `strategy.run` over a distributed dataset works:
its optimizer all-reduces the gradients across workers. So this loop runs exactly the step `fit` would run (the
regime's `train_step`/`test_step`, with its losses, metrics and optimizers), and drives the same Keras callbacks
(progress bar, CSV, early stopping, checkpoints) through a `CallbackList`. On one device it gives the weights
`fit` gives (a test checks it), so every strategy trains the same model the same way.
"""

from __future__ import annotations


def _distributed(strategy, batches):
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(batches.with_options(options))


def _step_function(strategy, step):
    """A compiled step over the next distributed batch, returning the metrics averaged over all replicas."""
    import tensorflow as tf

    @tf.function
    def run(iterator):
        logs = strategy.run(step, args=(next(iterator),))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    return run


def _floats(logs: dict) -> dict:
    return {k: float(v) for k, v in logs.items()}


def evaluate(model, strategy, batches) -> dict:
    """`model.evaluate` for any strategy: the test step over every batch, metrics over the whole split."""
    step = _step_function(strategy, model.test_step)
    model.reset_metrics()
    logs = {}
    iterator = iter(_distributed(strategy, batches))
    for _ in range(int(batches.cardinality())):
        logs = step(iterator)
    return _floats(logs)


def fit(model, strategy, batches, *, epochs: int, initial_epoch: int, steps_per_epoch: int, callbacks: list,
        validation=None, verbose: int = 1) -> None:
    """Train like `model.fit(batches, epochs=..., initial_epoch=..., steps_per_epoch=..., callbacks=...,
    validation_data=validation)`: one iterator over `batches` for all epochs, metrics reset every epoch,
    validation metrics logged as `val_*`, `model.stop_training` honoured, EMA weights swapped in at the end."""
    import keras

    cbs = keras.callbacks.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                                       verbose=verbose, epochs=epochs, steps=steps_per_epoch)
    train_step = _step_function(strategy, model.train_step)
    iterator = iter(_distributed(strategy, batches))
    model.stop_training = False
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        cbs.on_epoch_begin(epoch)
        logs = {}
        for step in range(steps_per_epoch):
            cbs.on_train_batch_begin(step)
            logs = train_step(iterator)  # tensors: reading them every step would sync with the device
            cbs.on_train_batch_end(step, logs)
        logs = _floats(logs)
        if validation is not None:
            logs.update({f"val_{k}": v for k, v in evaluate(model, strategy, validation).items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    if getattr(model.optimizer, "use_ema", False):
        model.optimizer.finalize_variable_values(model.trainable_weights)
    cbs.on_train_end()
