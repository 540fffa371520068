"""Training throughput of nnspec's trainer vs the same model, optimizer, loss, metrics, batch size and data written
by hand in Keras, with and without `jit_compile` (issue 5; target ratio >= 0.98).

What: examples per second over epochs 2..N (the first epoch traces and is left out), for two models: the digits
CNN (examples/digits_cnn.yaml) and the residual CNN (examples/residual_cnn.yaml, a DAG with batch norm and adds),
both on scikit-learn's digits. Both sides validate on the same held-out split every epoch, as the spec says.
  - nnspec: `nnspec.train` itself (load_spec with `train.epochs=N` and `train.jit_compile=...` overrides), i.e. the
    real training loop with its per-epoch-permuted tf.data pipeline, CSV logger and every-epoch checkpoint.
  - keras: the architecture written with `keras.layers`, `model.compile(jit_compile=...)`, fed with
    `from_tensor_slices -> shuffle -> batch -> prefetch` from the same arrays (`load_dataset` + `split`).
How: a callback, first in the list, records `perf_counter` at every epoch start and at the end of training, so an
epoch's time runs from its start to the next's and includes every other callback's `on_epoch_end` (nnspec's
checkpoint and CSV row). All configurations run in one process, several rounds, each round in a shuffled order
(`_common.interleaved`); examples/s = training examples / median epoch over all timed epochs of a configuration, and
the ratio is nnspec / keras. nnspec.train enables TensorFlow op determinism for the whole process when the spec does
not ask for XLA (Keras ignores jit_compile=True under it), so it is switched off again before every hand-written run;
`jit_effective` records whether each run really compiled with XLA.
Breakdown (digits CNN, jit off): the hand-written model alone, plus one nnspec ingredient (its input pipeline, its
checkpoint callback, its CSV logger, op determinism), and plus all four; each variant is built and traced once, then
they train one epoch each in a shuffled order, round after round (far less noise than whole runs). Last, the cost
per call of the checkpoint (with and without fsync), of the CSV logger and of one epoch of each input pipeline.
Run: python bench/train_throughput.py [--rounds 2] [--epochs 8] [--breakdown-rounds 12]  (0 skips the breakdown)
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import interleaved, write_result

# Keras's notes on fit(shuffle=True) with a dataset, and on jit_compile falling back (recorded as jit_effective).
warnings.filterwarnings("ignore", message=".*shuffle=True. was passed")
warnings.filterwarnings("ignore", message="Model doesn't support .jit_compile=True")

MODELS = {"digits_cnn": "example:digits_cnn", "residual_cnn": "example:residual_cnn"}


# --- the hand-written side ----------------------------------------------------------------------------------------


def digits_cnn():
    import keras
    from keras import layers

    x = keras.Input((8, 8, 1), name="image")
    y = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    y = layers.BatchNormalization()(y)
    y = layers.Conv2D(32, 3, padding="same", activation="relu")(y)
    y = layers.MaxPooling2D(2)(y)
    y = layers.Dropout(0.2)(y)
    y = layers.Conv2D(64, 3, padding="same", activation="relu")(y)
    y = layers.GlobalAveragePooling2D()(y)
    y = layers.Dense(64, activation="relu")(y)
    y = layers.Dropout(0.3)(y)
    y = layers.Dense(10, activation="softmax")(y)
    model = keras.Model(x, y, name="digits_cnn")
    return model, {"optimizer": keras.optimizers.Adam(0.003), "loss": "sparse_categorical_crossentropy",
                   "metrics": ["accuracy"]}


def residual_cnn():
    import keras
    from keras import layers

    def block(x, filters, stride):
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.Activation("relu")(y)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        if stride != 1:
            x = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
            x = layers.BatchNormalization()(x)
        return layers.Activation("relu")(layers.Add()([y, x]))

    x = keras.Input((8, 8, 1), name="image")
    y = layers.Conv2D(16, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = block(y, 16, 1)
    y = block(y, 32, 2)
    y = layers.GlobalAveragePooling2D()(y)
    y = layers.Dense(10)(y)
    model = keras.Model(x, y, name="residual_cnn")
    return model, {"optimizer": keras.optimizers.Adam(0.003),
                   "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}


HAND = {"digits_cnn": digits_cnn, "residual_cnn": residual_cnn}
BATCH_SIZE = 32  # both examples train with batch 32


# --- timing -------------------------------------------------------------------------------------------------------


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """`perf_counter` at each epoch's start and end and at the end of training. Put first: the time from one
        epoch's start to the next's then includes every other callback's `on_epoch_end`."""

        def __init__(self):
            super().__init__()
            self.begin, self.end, self.train_end = [], [], None

        def on_epoch_begin(self, epoch, logs=None):
            self.begin.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            self.end.append(time.perf_counter())

        def on_train_end(self, logs=None):
            self.train_end = time.perf_counter()

    return EpochTimer()


def measure(timer, n_train: int, skip: int = 1) -> dict:
    """Per-epoch seconds, start to next start (the last to the end of training), leaving out the first `skip`
    epochs; and the seconds after this callback's `on_epoch_end` (the other callbacks' epoch-end work)."""
    starts = [*timer.begin[skip:], timer.train_end]
    return {"n_train": n_train, "epoch_s": [b - a for a, b in itertools.pairwise(starts)],
            "after_epoch_end_s": [b - e for e, b in zip(timer.end[skip:], starts[1:])]}


def set_determinism(on: bool) -> None:
    from tensorflow.python.framework import config as tf_config

    (tf_config.enable_op_determinism if on else tf_config.disable_op_determinism)()


# --- one training run of each kind --------------------------------------------------------------------------------


def run_nnspec(model: str, jit: bool, epochs: int) -> dict:
    import keras

    import nnspec

    keras.utils.clear_session()
    overrides = (f"train.epochs={epochs}", f"train.jit_compile={str(jit).lower()}")
    spec = nnspec.load_spec(MODELS[model], overrides=overrides)
    timer = epoch_timer()
    with tempfile.TemporaryDirectory() as tmp:
        run = nnspec.train(spec, Path(tmp) / "run", verbose=0, callbacks=[timer])
    return {**measure(timer, run.metrics["data"]["train"]), "jit_effective": bool(run.model.jit_compile)}


def splits(model: str, epochs: int):
    import nnspec
    from nnspec.runtime.data import load_dataset, split

    cfg = nnspec.load_spec(MODELS[model], overrides=(f"train.epochs={epochs}",)).train
    data = load_dataset(cfg.data, seed=cfg.seed)
    train, _test = split(data, cfg.test_split, cfg.seed)
    train, val = split(train, cfg.validation_split, cfg.seed)
    return cfg, train, val


def nnspec_batches(cfg, train):
    """The training stream of nnspec's trainer (`nnspec.runtime.train.training_batches`), labels as targets."""
    from nnspec.runtime.train import training_batches

    return training_batches(cfg, train.y, train, 0)


def run_keras(model: str, jit: bool, epochs: int) -> dict:
    """The hand-written model, compile and pipeline, fitted for `epochs` (without op determinism)."""
    import keras

    keras.utils.clear_session()
    _, train, val = splits(model, epochs)
    set_determinism(False)  # nnspec.train switched it on for the whole process
    keras.utils.set_random_seed(0)
    net, compile_args = HAND[model]()
    net.compile(**compile_args, jit_compile=jit)
    ds, val_ds = keras_batches(train), keras_batches(val, shuffle=False)
    timer = epoch_timer()
    net.fit(ds, epochs=epochs, validation_data=val_ds, verbose=0, callbacks=[timer])
    return {**measure(timer, len(train)), "jit_effective": bool(net.jit_compile)}


# --- the breakdown: what each nnspec ingredient costs ---------------------------------------------------------------

INGREDIENTS = ("nnspec_pipeline", "checkpoint", "csv_logger", "op_determinism")


def ingredients(rounds: int) -> dict:
    """The hand-written digits CNN (jit off) alone, with one nnspec ingredient added, and with all four (nnspec's
    training loop rebuilt from its parts). Every variant is its own model, traced once; then the variants train
    one epoch each, in a shuffled order, `rounds` times, so neighbouring epochs of all variants see the same
    machine (far less noise than whole runs)."""
    import random

    import keras

    from nnspec.runtime.keras_ext.callbacks import Checkpoint

    keras.utils.clear_session()
    cfg, train, val = splits("digits_cnn", 2)
    variants = {"keras": (), **{f"keras+{part}": (part,) for part in INGREDIENTS}, "keras+all": INGREDIENTS}
    with tempfile.TemporaryDirectory() as tmp:
        state = {}
        for name, parts in variants.items():
            set_determinism("op_determinism" in parts)
            keras.utils.set_random_seed(0)
            net, compile_args = digits_cnn()
            net.compile(**compile_args, jit_compile=False)
            if "nnspec_pipeline" in parts:
                from nnspec.runtime.train import steps_per_epoch

                ds = nnspec_batches(cfg, train)
                fit_args = {"steps_per_epoch": steps_per_epoch(cfg, len(train)), "shuffle": False}
            else:
                ds, fit_args = keras_batches(train), {}
            callbacks = []
            folder = Path(tmp) / name
            if "csv_logger" in parts:
                callbacks.append(keras.callbacks.CSVLogger(str(folder / "history.csv")))
            if "checkpoint" in parts:
                callbacks.append(Checkpoint(folder / "checkpoint", [], {}, None))
            folder.mkdir()
            state[name] = (net, ds, keras_batches(val, shuffle=False), fit_args, callbacks, "op_determinism" in parts)

        def epoch(name):
            net, ds, val_ds, fit_args, callbacks, determinism = state[name]
            set_determinism(determinism)
            timer = epoch_timer()
            net.fit(ds, epochs=1, validation_data=val_ds, verbose=0, callbacks=[timer, *callbacks], **fit_args)
            return measure(timer, len(train), skip=0)["epoch_s"][0]

        for name in variants:  # trace
            epoch(name)
        samples = {name: [] for name in variants}
        order, rng = list(variants), random.Random(0)
        for _ in range(rounds):
            rng.shuffle(order)
            for name in order:
                samples[name].append(epoch(name))
        set_determinism(False)
    base = statistics.median(samples["keras"])
    return {"what": "digits CNN, jit off: one-epoch fits of each variant interleaved; cost = median epoch time "
                    "with the ingredient / without - 1",
            "rounds": rounds, "n_train": len(train),
            **{name: {"epoch_s_median": statistics.median(s), "examples_per_s": len(train) / statistics.median(s),
                      "cost_vs_keras": statistics.median(s) / base - 1} for name, s in samples.items()}}


def keras_batches(data, shuffle: bool = True):
    """A careful Keras user's pipeline: from_tensor_slices -> shuffle (reshuffled every epoch) -> batch -> prefetch."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((data.x, data.y))
    if shuffle:
        ds = ds.shuffle(len(data), seed=0)
    return ds.batch(BATCH_SIZE).prefetch(tf.data.AUTOTUNE)


# --- per-call costs -----------------------------------------------------------------------------------------------


def part_costs(repeats: int = 15) -> dict:
    """Milliseconds per call of what nnspec adds around an epoch of the digits CNN: the checkpoint's `on_epoch_end`
    (as is, and with `os.fsync` made a no-op), the CSV logger's, and one epoch's worth of batches from each input
    pipeline with no model."""
    import keras

    from nnspec.runtime.keras_ext import callbacks as nnspec_callbacks
    from nnspec.runtime.train import steps_per_epoch

    keras.utils.clear_session()
    set_determinism(False)
    cfg, train, _ = splits("digits_cnn", repeats + 3)  # an epoch of batches for every call
    net, compile_args = digits_cnn()
    net.compile(**compile_args)
    net.fit(train.x[:64], train.y[:64], epochs=1, verbose=0)  # optimizer variables exist, as after an epoch
    logs = {"accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.5, "val_loss": 1.0}
    steps = steps_per_epoch(cfg, len(train))
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = nnspec_callbacks.Checkpoint(Path(tmp) / "checkpoint", [], {}, None)
        ckpt.set_model(net)
        csv = keras.callbacks.CSVLogger(str(Path(tmp) / "history.csv"))
        csv.set_model(net)
        csv.on_train_begin()
        nnspec_it = iter(nnspec_batches(cfg, train))
        hand_ds = keras_batches(train)
        epoch = iter(range(10 ** 6))

        def checkpoint_without_fsync():
            fsync, nnspec_callbacks.os.fsync = nnspec_callbacks.os.fsync, lambda fd: None
            try:
                ckpt.on_epoch_end(next(epoch), logs)
            finally:
                nnspec_callbacks.os.fsync = fsync

        def nnspec_pipeline_epoch():
            for _ in range(steps):
                next(nnspec_it)

        def keras_pipeline_epoch():
            for _ in hand_ds:
                pass

        t = interleaved({"checkpoint_on_epoch_end": lambda: ckpt.on_epoch_end(next(epoch), logs),
                         "checkpoint_on_epoch_end_without_fsync": checkpoint_without_fsync,
                         "csv_logger_on_epoch_end": lambda: csv.on_epoch_end(next(epoch), logs),
                         "nnspec_pipeline_one_epoch": nnspec_pipeline_epoch,
                         "keras_pipeline_one_epoch": keras_pipeline_epoch}, repeats=repeats, warmup=2)
        csv.on_train_end()
    return {name: {"median_ms": 1e3 * v["median_s"], "min_ms": 1e3 * v["min_s"]} for name, v in t.items()}


def check_same_models() -> None:
    """The hand-written models are nnspec's: the same layer types and the same number of parameters."""
    import nnspec

    for model, make in HAND.items():
        a, (b, _) = nnspec.build_keras(MODELS[model], seed=0), make()
        kinds = lambda m: [type(layer).__name__ for layer in m.layers]
        assert a.count_params() == b.count_params(), (model, a.count_params(), b.count_params())
        assert sorted(kinds(a)) == sorted(kinds(b)), (model, kinds(a), kinds(b))


# --- main ---------------------------------------------------------------------------------------------------------


def summary(runs: list[dict]) -> dict:
    """Examples/s from the median epoch over all runs' timed epochs (robust to a disturbed epoch), and the median
    over runs of each run's mean rate."""
    n = runs[0]["n_train"]
    epochs = [t for r in runs for t in r["epoch_s"]]
    per_run = [n * len(r["epoch_s"]) / sum(r["epoch_s"]) for r in runs]
    return {"examples_per_s": n / statistics.median(epochs), "examples_per_s_run_median": statistics.median(per_run),
            "examples_per_s_run_min": min(per_run), "examples_per_s_run_max": max(per_run),
            "epoch_s_median": statistics.median(epochs), "timed_epochs": len(epochs), "runs": len(runs),
            "after_epoch_end_ms_median": 1e3 * statistics.median(t for r in runs for t in r["after_epoch_end_s"]),
            "jit_effective": sorted({r["jit_effective"] for r in runs})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs of every configuration (default 2)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per run; the first is not timed (default 8)")
    parser.add_argument("--breakdown-rounds", type=int, default=12,
                        help="interleaved one-epoch fits per variant in the breakdown; 0 skips it (default 12)")
    args = parser.parse_args()

    start = time.perf_counter()
    check_same_models()
    samples: dict[str, list[dict]] = {}

    def config(name, fn, *a):
        samples[name] = []
        return lambda: samples[name].append(fn(*a))

    fns = {f"{model}/jit_{jit}/{side}": config(f"{model}/jit_{jit}/{side}", run, model, jit, args.epochs)
           for model in MODELS for jit in (False, True) for side, run in (("nnspec", run_nnspec), ("keras", run_keras))}
    # No warm-up call: the first epoch of every run, which traces, is left out of the measurement anyway.
    wall = interleaved(fns, repeats=args.rounds, warmup=0)
    configs = {name: {**summary(s), "run_wall_s_median": wall[name]["median_s"]} for name, s in samples.items()}

    def ratio(model, jit, key="examples_per_s"):
        return configs[f"{model}/jit_{jit}/nnspec"][key] / configs[f"{model}/jit_{jit}/keras"][key]

    result = {
        "epochs": args.epochs, "rounds": args.rounds, "batch_size": BATCH_SIZE,
        "metric": "training examples/s over epochs 2..N, each epoch from its start to the next's (so it includes "
                  "the validation pass and every callback's on_epoch_end); examples_per_s = n_train / median epoch "
                  "over all runs; ratio = nnspec / hand-written Keras",
        "target": 0.98,
        "ratios_nnspec_over_keras": {f"{model}/jit_{jit}": ratio(model, jit) for model in MODELS
                                     for jit in (False, True)},
        "ratios_of_run_medians": {f"{model}/jit_{jit}": ratio(model, jit, "examples_per_s_run_median")
                                  for model in MODELS for jit in (False, True)},
        "configs": configs}
    if args.breakdown_rounds:
        result["breakdown_digits_cnn_jit_False"] = ingredients(args.breakdown_rounds)
        result["part_costs_digits_cnn"] = part_costs()
    result["bench_wall_s"] = round(time.perf_counter() - start, 1)
    write_result("train_throughput", result)


if __name__ == "__main__":
    main()
