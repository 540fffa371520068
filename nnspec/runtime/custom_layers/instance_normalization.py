"""`InstanceNormalization`: Keras's `GroupNormalization` with one group per channel (`groups=-1`) on the last
axis, for the `instance_norm` op. A subclass only so its config keeps saying "instance normalization": Keras's
own layer replaces `groups=-1` by the channel count when it is built."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="nnspec")
class InstanceNormalization(keras.layers.GroupNormalization):
    """Per-example, per-channel normalization over the spatial axes of a channels-last input."""

    def __init__(self, epsilon=1e-5, center=True, scale=True, **kwargs):
        kwargs.pop("groups", None)
        kwargs.pop("axis", None)
        super().__init__(groups=-1, axis=-1, epsilon=epsilon, center=center, scale=scale, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["groups"], config["axis"]
        return config
