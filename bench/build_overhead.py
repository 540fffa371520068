"""nnspec's Keras build (load + compile + build) vs the same digits CNN written by hand with the Keras API.

Both run in one process, interleaved; the result is the ratio of medians (target <= 1.1). Two pairs, each apples
to apples: unseeded, and seeded (`keras.utils.set_random_seed` before the hand-written build), since seeded
initializers are slower in Keras whoever builds the model.
Run: python bench/build_overhead.py
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import interleaved, write_result  # noqa: E402


def hand_written():
    import keras
    from keras import layers

    x = keras.Input((8, 8, 1), name="image")
    y = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2d_1")(x)
    y = layers.BatchNormalization(name="batch_norm_1")(y)
    y = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2d_2")(y)
    y = layers.MaxPooling2D(2, name="max_pool2d_1")(y)
    y = layers.Dropout(0.2, name="dropout_1")(y)
    y = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2d_3")(y)
    y = layers.GlobalAveragePooling2D(name="global_avg_pool2d_1")(y)
    y = layers.Dense(64, activation="relu", name="dense_1")(y)
    y = layers.Dropout(0.3, name="dropout_2")(y)
    y = layers.Dense(10, activation="softmax", name="probs")(y)
    return keras.Model(x, y, name="digits_cnn")


def main(repeats: int = 80) -> None:
    import nnspec

    import keras

    from nnspec.runtime.keras_build import build_keras

    def nnspec_unseeded():
        return build_keras(nnspec.compile_spec(nnspec.load_spec("example:digits_cnn")))

    def nnspec_seeded():
        return nnspec.build_keras("example:digits_cnn", seed=0)

    def hand_seeded():
        keras.utils.set_random_seed(0)
        return hand_written()

    a, b = nnspec_seeded(), hand_seeded()
    assert a.count_params() == b.count_params(), (a.count_params(), b.count_params())
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    t = interleaved({"nnspec_unseeded": nnspec_unseeded, "keras_by_hand_unseeded": hand_written,
                     "nnspec_seeded": nnspec_seeded, "keras_by_hand_seeded": hand_seeded},
                    repeats=repeats, warmup=2)
    write_result("build_overhead", {
        "model": "examples/digits_cnn.yaml", "params": a.count_params(), "timings": t,
        "ratio_unseeded": t["nnspec_unseeded"]["median_s"] / t["keras_by_hand_unseeded"]["median_s"],
        "ratio_seeded": t["nnspec_seeded"]["median_s"] / t["keras_by_hand_seeded"]["median_s"],
        # Minimums are the least disturbed by other work on the machine and by garbage collection.
        "ratio_unseeded_min": t["nnspec_unseeded"]["min_s"] / t["keras_by_hand_unseeded"]["min_s"],
        "ratio_seeded_min": t["nnspec_seeded"]["min_s"] / t["keras_by_hand_seeded"]["min_s"],
    })


if __name__ == "__main__":
    main()
