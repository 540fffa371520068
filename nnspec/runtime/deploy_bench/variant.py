"""`Variant`: one row (how to call its model, which file it is, what was measured), and the batching
helpers the backends' calls share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnspec.runtime.deploy_bench.errors import BenchInputError
from nnspec.runtime.deploy_bench.eval_set import EvalSet

PREDICT_BATCH = 256


@dataclass
class Variant:
    """One row: how to call the model, what file it is, and what was measured."""

    name: str
    format: str
    path: Path
    run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    """Inputs by name → outputs by name, for any batch size."""
    predict: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    """Like `run`, for a whole evaluation set (in batches)."""
    evaluation: EvalSet
    notes: list[str] = field(default_factory=list)
    row: dict = field(default_factory=dict)


def looped(run, x: dict, batch: int | None) -> dict:
    """A model with a fixed batch size called on another: run it on consecutive slices and concatenate."""
    step = batch or 1
    n = len(next(iter(x.values())))
    if n % step:
        raise BenchInputError(f"the model takes batches of exactly {step}; cannot run a batch of {n}")
    parts = [run({k: v[i:i + step] for k, v in x.items()}) for i in range(0, n, step)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def batched(run, x: dict, batch: int = PREDICT_BATCH) -> dict:
    n = len(next(iter(x.values())))
    parts = [run({k: v[i:i + batch] for k, v in x.items()}) for i in range(0, n, batch)]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}
