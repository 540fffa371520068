"""Losses Keras does not ship."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nnspec")
class ContrastiveLoss(keras.losses.Loss):
    """Hadsell, Chopra & LeCun 2006, for Siamese networks: `y·d² + (1 - y)·max(margin - d, 0)²`, where `d` is
    the predicted distance of a pair and `y` is 1 for a pair of the same class, 0 otherwise."""

    def __init__(self, margin: float = 1.0, name: str = "contrastive", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        y_true = ops.cast(ops.reshape(y_true, ops.shape(y_pred)), y_pred.dtype)
        similar = y_true * ops.square(y_pred)
        apart = (1.0 - y_true) * ops.square(ops.maximum(self.margin - y_pred, 0.0))
        return ops.mean(similar + apart, axis=-1)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
