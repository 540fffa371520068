"""Losses Keras does not ship: the contrastive and triplet losses of metric learning."""

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


@keras.saving.register_keras_serializable(package="nnspec")
class TripletLoss(keras.losses.Loss):
    """Schroff, Kalenichenko & Philbin 2015 (FaceNet): `max(‖a - p‖² - ‖a - n‖² + margin, 0)` per example, on a
    prediction of shape `(batch, 3, d)` that stacks the anchor, positive and negative embeddings in that order.
    The labels are ignored (a batch of triplets needs none)."""

    def __init__(self, margin: float = 1.0, name: str = "triplet", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        shape = tuple(y_pred.shape)
        if len(shape) != 3 or shape[1] != 3:
            raise ValueError("the triplet loss needs an output of shape (batch, 3, d) stacking the anchor, positive "
                             "and negative embeddings (e.g. concatenate them, then reshape to [3, d]). "
                             f"Received: output shape={shape}")
        anchor, positive, negative = y_pred[:, 0], y_pred[:, 1], y_pred[:, 2]
        near = ops.sum(ops.square(anchor - positive), axis=-1)
        far = ops.sum(ops.square(anchor - negative), axis=-1)
        return ops.maximum(near - far + self.margin, 0.0)

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}
