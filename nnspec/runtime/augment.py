"""Augment training batches as the spec's `Augment` says: flips, pad-and-crop, Gaussian noise, mixup.

Applied to training batches only (never validation or test data), after batching, in this order: flip, crop,
noise, mixup. Every random draw is a stateless TensorFlow op seeded by `(seed, batch index)`, where the index
counts batches over the whole run (the trainer streams all epochs through one pipeline): two pipelines built with
the same seed give the same batches, each epoch gets new draws, and a run resumed at epoch k, whose pipeline
starts at batch `k * steps_per_epoch`, draws exactly what the uninterrupted run drew.

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(...).batch(32)
    ds = augment_batches(ds, spec.train.augment, seed=spec.train.seed, num_classes=data.num_classes)
"""

from __future__ import annotations

from nnspec.runtime.data import DataError
from nnspec.specs.data import Augment

# Seeds each batch splits its own seed into, one per kind of draw.
_FLIP_H, _FLIP_V, _CROP, _NOISE, _MIX_WEIGHT_A, _MIX_WEIGHT_B, _MIX_PARTNER = range(7)


def augment_batches(ds, augment: Augment, seed: int, num_classes: int | None, first_batch: int = 0):
    """`ds` with every batch augmented as `augment` says (`ds` itself when everything is off).

    Args:
        ds: A `tf.data.Dataset` of batched `(x, y)` pairs; `x` one tensor, `(B, H, W, C)` images for `flip` and
            `crop`, float features for `noise` and `mixup`.
        augment: Which augmentations, with their strengths.
        seed: Fixes every random draw.
        num_classes: The number of classes, which `mixup` needs to one-hot integer labels `(B,)`; `None` when
            the targets are already one-hot floats `(B, classes)` or mixup is off.
        first_batch: The index of the first batch of `ds` in the whole run. Batch `i`'s draws depend on
            `(seed, i)` alone, so a run resumed at a later epoch augments exactly as an uninterrupted one.

    Returns:
        A `tf.data.Dataset` of `(x, y)` batches. With `mixup`, `y` is float32 one-hot mixtures `(B, classes)`
        (train with `categorical_crossentropy`); otherwise `x` and `y` keep their types.

    Raises:
        DataError: an augmentation does not fit the data (`section="augment"`, `field` the augmentation).
    """
    import tensorflow as tf

    active = [name for name in ("flip", "crop", "noise", "mixup") if _is_on(augment, name)]
    if not active:
        return ds
    paired = isinstance(ds.element_spec, tuple)  # (x, y) batches, or x alone (a GAN's real examples)
    x_spec, y_spec = ds.element_spec if paired else (ds.element_spec, None)
    _check(augment, active, x_spec, y_spec, num_classes)
    seeds = tf.data.Dataset.counter(first_batch, dtype=tf.int64).map(
        lambda i: tf.stack([tf.constant(seed, tf.int64), i]))

    def apply(pair, batch_seed):
        x, y = pair if paired else (pair, None)
        keys = tf.random.experimental.stateless_split(tf.cast(batch_seed, tf.int64), num=7)
        if augment.flip in ("horizontal", "both"):
            x = _flip(x, axis=2, seed=keys[_FLIP_H])
        if augment.flip in ("vertical", "both"):
            x = _flip(x, axis=1, seed=keys[_FLIP_V])
        if augment.crop:
            x = _pad_and_crop(x, augment.crop, keys[_CROP])
        if augment.noise:
            x = x + tf.random.stateless_normal(tf.shape(x), keys[_NOISE], stddev=augment.noise, dtype=x.dtype)
        if augment.mixup:
            x, y = _mixup(x, y, augment.mixup, num_classes, keys[_MIX_WEIGHT_A:])
        return (x, y) if paired else x

    return tf.data.Dataset.zip((ds, seeds)).map(apply)


def _is_on(augment: Augment, name: str) -> bool:
    value = getattr(augment, name)
    return value != "none" if name == "flip" else value > 0


def _check(augment: Augment, active: list[str], x_spec, y_spec, num_classes: int | None) -> None:
    """Raise a `DataError` for the first augmentation that cannot apply to batches like `(x_spec, y_spec)`."""
    if isinstance(x_spec, dict) or not hasattr(x_spec, "shape"):
        raise _error(active[0], augment, "augmentation works on datasets with one feature array; these "
                     "features are several named arrays. Turn it off.")
    for name in active:
        if name in ("flip", "crop") and x_spec.shape.rank != 4:
            raise _error(name, augment, f"{name} needs image batches (batch, height, width, channels), but the "
                         f"batches have shape {tuple(x_spec.shape)}. Turn it off for this dataset.")
        if name in ("noise", "mixup") and not x_spec.dtype.is_floating:
            raise _error(name, augment, f"{name} needs float features, but these are {x_spec.dtype.name} (e.g. "
                         f"token ids). Turn it off for this dataset.")
    if "mixup" in active and y_spec is None:
        raise _error("mixup", augment, "mixup blends examples and their labels, and this regime trains on the "
                     "examples alone. Turn it off.")
    if "mixup" in active:
        sparse = y_spec.shape.rank == 1 and y_spec.dtype.is_integer and num_classes
        one_hot = y_spec.shape.rank == 2 and y_spec.dtype.is_floating
        if not (sparse or one_hot):
            raise _error("mixup", augment, "mixup needs one class label per example (integers with a known "
                         f"number of classes, or one-hot floats); these targets are {y_spec.dtype.name} of shape "
                         f"{tuple(y_spec.shape)}. Turn it off for this dataset.")


def _error(name: str, augment: Augment, problem: str) -> DataError:
    from nnspec.specs.load import received

    return DataError(f"{problem} {received(name, getattr(augment, name))}", name, section="augment")


def _per_example(values, like):
    """`(B,)` values reshaped to broadcast against `like` `(B, ...)`."""
    import tensorflow as tf

    return tf.reshape(values, tf.concat([[-1], tf.ones([tf.rank(like) - 1], tf.int32)], 0))


def _flip(x, axis: int, seed):
    """Reverse each image along `axis` with probability 1/2."""
    import tensorflow as tf

    flip = tf.random.stateless_uniform(tf.shape(x)[:1], seed) < 0.5
    return tf.where(_per_example(flip, x), tf.reverse(x, [axis]), x)


def _pad_and_crop(x, pad: int, seed):
    """Zero-pad each image by `pad` pixels per side, then take a uniformly random window of the original size."""
    import tensorflow as tf

    batch, height, width = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([2, batch], seed, minval=0, maxval=2 * pad + 1, dtype=tf.int32)
    rows = offsets[0][:, None] + tf.range(height)[None, :]  # (B, H)
    cols = offsets[1][:, None] + tf.range(width)[None, :]  # (B, W)
    x = tf.gather(padded, rows, axis=1, batch_dims=1)  # (B, H, W + 2 pad, C)
    return tf.gather(x, cols, axis=2, batch_dims=1)


def _mixup(x, y, alpha: float, num_classes: int | None, seeds):
    """Mix each example and its one-hot target with a random partner from the batch, weight `w ~ Beta(α, α)`."""
    import tensorflow as tf

    batch = tf.shape(x)[0]
    if y.dtype.is_integer:
        y = tf.one_hot(y, num_classes, dtype=tf.float32)
    y = tf.cast(y, tf.float32)
    a = tf.random.stateless_gamma([batch], seeds[0], alpha=alpha)
    b = tf.random.stateless_gamma([batch], seeds[1], alpha=alpha)
    total = a + b
    weight = tf.where(total > 0, a / tf.where(total > 0, total, 1.0), 0.5)  # Beta(α, α) as a / (a + b)
    partner = tf.argsort(tf.random.stateless_uniform([batch], seeds[2]))
    wx = tf.cast(_per_example(weight, x), x.dtype)
    wy = weight[:, None]
    return wx * x + (1 - wx) * tf.gather(x, partner), wy * y + (1 - wy) * tf.gather(y, partner)
