"""The `tf.distribute` strategy a spec's `train.distribute` asks for.

`mirrored` keeps one replica of the model per device and sums the gradients every step (Keras's `fit` supports it
directly). `logical_cpus` splits the CPU into logical devices first, which TensorFlow allows only before it has
started: the `nnspec` command does this before any other TensorFlow work; a Python process that has already run
TensorFlow ops gets a clear error instead. `multi_worker` spans the machines `TF_CONFIG` lists; every worker runs
the same `nnspec train` command, and TensorFlow wants the strategy made before any other TensorFlow work, so
`prepare_devices` makes it up front.
"""

from __future__ import annotations

import json
import os

from nnspec.errors import NnspecError
from nnspec.specs.train import Distribute

_MULTI_WORKER = []  # the one MultiWorkerMirroredStrategy of this process, made by `prepare_devices`


def prepare_devices(spec: Distribute) -> None:
    """Split the CPU into logical devices if the spec asks for it: call before anything else starts TensorFlow
    (reading TFRecords or images does)."""
    if spec.strategy == "mirrored" and spec.logical_cpus:
        _logical_cpus(spec.logical_cpus)
    if spec.strategy == "multi_worker" and not _MULTI_WORKER:
        import tensorflow as tf

        cluster_spec()  # a clear error when TF_CONFIG is missing or malformed
        _MULTI_WORKER.append(tf.distribute.MultiWorkerMirroredStrategy())


def cluster_spec() -> dict:
    """The parsed `TF_CONFIG` (cluster and this task). Raises `NnspecError` when it is missing or malformed."""
    text = os.environ.get("TF_CONFIG")
    try:
        config = json.loads(text) if text else None
        workers = config["cluster"]["worker"]
        task = config["task"]
        assert isinstance(workers, list) and task["type"] in ("worker", "chief") and int(task["index"]) >= 0
    except (ValueError, KeyError, TypeError, AssertionError):
        raise NnspecError("train.distribute.strategy=multi_worker needs TF_CONFIG describing the cluster, e.g. "
                          '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", '
                          f'"index": 0}}}}. Received: TF_CONFIG={text!r}') from None
    return config


def is_chief(spec: Distribute) -> bool:
    """Whether this process writes the run directory: always, except on the non-chief workers of a cluster."""
    if spec.strategy != "multi_worker":
        return True
    config = cluster_spec()
    task = config["task"]
    if "chief" in config["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and int(task["index"]) == 0


def strategy_for(spec: Distribute):
    """The strategy object (TensorFlow's default strategy for `none`)."""
    import tensorflow as tf

    if spec.strategy == "none":
        return tf.distribute.get_strategy()
    if spec.strategy == "multi_worker":
        prepare_devices(spec)
        return _MULTI_WORKER[0]
    devices = spec.devices
    if spec.logical_cpus:
        devices = _logical_cpus(spec.logical_cpus)
    return tf.distribute.MirroredStrategy(devices)


def _logical_cpus(n: int) -> list[str]:
    import tensorflow as tf

    (cpu,) = tf.config.list_physical_devices("CPU")[:1]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:  # TensorFlow has started: fine if it already has these devices
        pass
    logical = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(logical) != n:
        raise NnspecError(f"train.distribute.logical_cpus={n} needs the CPU split before TensorFlow starts, but "
                          f"this process already runs TensorFlow with {len(logical)} CPU device(s). Run "
                          "`nnspec train` in a fresh process")
    return logical


def scaled_spec(spec, replicas: int):
    """The spec with its learning rate(s) multiplied by the number of replicas when it asks for linear scaling
    (the run records the rate it really used)."""
    cfg = spec.train
    if cfg.distribute.learning_rate_scaling != "linear" or replicas == 1:
        return spec
    optimizer = cfg.optimizer.model_copy(update={"learning_rate": cfg.optimizer.learning_rate * replicas})
    return spec.model_copy(update={"train": cfg.model_copy(update={"optimizer": optimizer})})
