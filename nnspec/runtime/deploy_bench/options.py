"""The caller's choices, checked: variants and modes, repeats and threads, what each path is, row
labels, and TensorFlow's thread pools.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nnspec.runtime.deploy_bench.errors import BenchInputError
from nnspec.runtime.deploy_bench.variant import Variant

BASE_VARIANTS = ("keras", "fp32")
QUANTIZE_MODES = ("dynamic", "static", "fp16")
"""The default quantized variants (onnxruntime)."""
MODES = (*QUANTIZE_MODES, "litert")
"""`litert` adds the run's full-integer `.tflite` (`nnspec.runtime.litert.quantize_litert`), on request."""
DEFAULT_REPEATS = 100
"""Batch-1 timing rounds; the batch-32 rounds are a fifth of them (at least 10)."""
FORMATS = {".onnx": "onnx", ".tflite": "tflite"}


def check_options(variants, modes, repeats, threads) -> None:
    bad = [v for v in variants if v not in BASE_VARIANTS]
    if bad:
        raise BenchInputError(f"variants must be among {', '.join(BASE_VARIANTS)}. Received: variants={bad}")
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise BenchInputError(f"quantize modes must be among {', '.join(MODES)}. Received: modes={bad}")
    if not isinstance(repeats, int) or repeats < 2:
        raise BenchInputError(f"repeats must be an integer of at least 2. Received: repeats={repeats!r}")
    if not isinstance(threads, int) or threads < 1:
        raise BenchInputError(f"threads must be a positive integer. Received: threads={threads!r}")


def source_kind(path: Path, what: str) -> str:
    """`"run"`, `"onnx"` or `"tflite"`, or a `BenchInputError` saying what was expected."""
    from nnspec.runtime.run_dir import is_run_dir

    if is_run_dir(path):
        return "run"
    if path.is_file() and path.suffix.lower() in FORMATS:
        if not os.access(path, os.R_OK):
            raise BenchInputError(f"{what}: cannot read {path}. Received: {path}")
        return FORMATS[path.suffix.lower()]
    if path.is_dir():
        problem = "is a folder but not a run directory (it needs model.keras and spec.yaml)"
    elif path.exists():
        problem = "is neither a run directory nor an .onnx or .tflite file"
    else:
        problem = "does not exist"
    allowed = "a run directory or an .onnx file" if what == "SOURCE" else "a run directory, .onnx or .tflite file"
    raise BenchInputError(f"{what}: {path} {problem}; give {allowed}. Received: {path}")


def unique_labels(paths: list[Path]) -> list[str]:
    """Folder names of runs and stems of files, made unique (`name`, `name-2`, ...) and safe as file names."""
    labels = []
    for path in paths:
        labels.append(_unique(re.sub(r"[^A-Za-z0-9_.-]+", "_", (path.name if path.is_dir() else path.stem)
                                     or "model"), labels))
    return labels


def _unique(name: str, taken) -> str:
    found, n = name, 1
    while found in taken:
        n += 1
        found = f"{name}-{n}"
    return found


def unique_names(variants: list[Variant]) -> None:
    """Row names are keys (of the timings, of the JSON rows): two compared files of one name get `-2`, ..."""
    taken: list[str] = []
    for v in variants:
        v.name = _unique(v.name, taken)
        taken.append(v.name)


def set_tf_threads(threads: int) -> int | None:
    """Pin TensorFlow's intra-op pool to `threads` (and one inter-op thread); None if TF already started."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime is initialized: the pools are fixed for this process
        return None
    return threads
