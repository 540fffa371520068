"""Embedded datasets: arrays that ship with installed packages or are generated, never downloaded.

Each dataset is one small loader registered by name (the `name:` of the spec's `train.data`), with a cheap rule
for the shape of one example so errors can suggest a dataset that fits without loading them all. A loader gives
the raw arrays and, where the data needs it, a preprocessing step that `split` fits on the training part only
(iris is standardized with the training split's mean and deviation, so nothing leaks from the test set).

    data = load_dataset(spec.train.data, seed=spec.train.seed)
    train, test = split(data, spec.train.test_split, seed=spec.train.seed)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

# A preprocessing step, fitted on training features: returns the transform and the statistics it learned.
Fit = Callable[[np.ndarray], tuple[Callable[[np.ndarray], np.ndarray], dict]]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features `x` (float32, `(n, *feature_shape)`) and integer labels `y` (`(n,)`) with what they mean."""

    name: str
    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    """Class names; label `i` is `classes[i]`."""
    fit: Fit | None = None
    """Preprocessing still to be fitted on the training split (`split` does it), or `None`."""
    preprocessing: dict = field(default_factory=dict)
    """The statistics of the preprocessing already applied, e.g. `{"mean": [...], "std": [...]}`."""

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one example (no batch axis)."""
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> Dataset:
        """The examples at `index`, in that order."""
        return dataclasses.replace(self, x=self.x[index], y=self.y[index])


@dataclass(frozen=True)
class _Entry:
    load: Callable[[Any, int], Dataset]
    shape: Callable[[Any], tuple[int, ...]]


DATASETS: dict[str, _Entry] = {}


def register(name: str, *, shape: Callable[[Any], tuple[int, ...]]):
    """Register `load(data_spec, seed) -> Dataset` under `name`; `shape(data_spec)` is one example's shape."""

    def wrap(load):
        DATASETS[name] = _Entry(load, shape)
        return load

    return wrap


def load_dataset(data_spec, seed: int = 0) -> Dataset:
    """The dataset a `train.data` spec names. `seed` matters only for generated data (same seed, same arrays)."""
    return DATASETS[data_spec.name].load(data_spec, seed)


def feature_shape(data_spec) -> tuple[int, ...]:
    """One example's shape for a `train.data` spec, without loading the data."""
    return DATASETS[data_spec.name].shape(data_spec)


def split(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """`(train, held_out)`: a shuffled split, stratified by class when every class can appear on both sides.

    A pending preprocessing step is fitted on `train` alone and applied to both parts. `fraction` 0 gives an
    empty held-out part.
    """
    from sklearn.model_selection import train_test_split

    index = np.arange(len(data))
    held = math.ceil(fraction * len(data))
    if held == 0:
        train, rest = data.take(index), data.take(index[:0])
    else:
        _, counts = np.unique(data.y, return_counts=True)
        can_stratify = min(held, len(data) - held) >= len(counts) and counts.min() >= 2
        a, b = train_test_split(index, test_size=held, random_state=seed,
                                stratify=data.y if can_stratify else None)
        train, rest = data.take(a), data.take(b)
    if data.fit is None:
        return train, rest
    transform, stats = data.fit(train.x)
    done = dict(fit=None, preprocessing=stats)
    return (dataclasses.replace(train, x=transform(train.x), **done),
            dataclasses.replace(rest, x=transform(rest.x), **done))


def _standardize(x: np.ndarray):
    """Fit per-feature standardization: `(x - mean) / std` (a constant feature keeps std 1)."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def transform(v: np.ndarray) -> np.ndarray:
        return ((v - mean) / std).astype(np.float32)

    return transform, {"standardize": {"mean": mean.tolist(), "std": std.tolist()}}


# --- the datasets -----------------------------------------------------------------------------------------------


def _digits(flat: bool) -> Dataset:
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = (raw.data if flat else raw.images[..., None]) / 16.0
    return Dataset("digits_flat" if flat else "digits", x.astype(np.float32), raw.target.astype(np.int64),
                   tuple(str(c) for c in raw.target_names))


@register("digits", shape=lambda spec: (8, 8, 1))
def _load_digits(spec, seed: int) -> Dataset:
    """scikit-learn's 1,797 handwritten digits as 8×8×1 images in [0, 1]."""
    return _digits(flat=False)


@register("digits_flat", shape=lambda spec: (64,))
def _load_digits_flat(spec, seed: int) -> Dataset:
    """The same digits as 64-vectors in [0, 1], for MLPs."""
    return _digits(flat=True)


@register("iris", shape=lambda spec: (4,))
def _load_iris(spec, seed: int) -> Dataset:
    """scikit-learn's 150 iris flowers: 4 measurements (standardized on the training split), 3 species."""
    from sklearn.datasets import load_iris

    raw = load_iris()
    return Dataset("iris", raw.data.astype(np.float32), raw.target.astype(np.int64),
                   tuple(str(c) for c in raw.target_names), fit=_standardize)


@register("sine_waves", shape=lambda spec: (spec.steps, 1))
def _load_sine_waves(spec, seed: int) -> Dataset:
    """Noisy sine waves; class k's frequency is drawn from the k-th of `classes` bands.

    The bands split 0.02–0.25 cycles per step evenly (well under the Nyquist limit of 0.5); frequencies are drawn
    from the middle 80% of a band so neighbouring classes stay apart. Phases are uniform, the amplitude is 1, and
    Gaussian noise with deviation `noise` is added. Everything comes from `numpy.random.default_rng(seed)`.
    """
    rng = np.random.default_rng(seed)
    edges = np.linspace(0.02, 0.25, spec.classes + 1)
    width = edges[1] - edges[0]
    y = rng.permutation(np.arange(spec.samples) % spec.classes)
    freq = edges[y] + width * rng.uniform(0.1, 0.9, spec.samples)
    phase = rng.uniform(0.0, 2 * np.pi, spec.samples)
    t = np.arange(spec.steps)
    x = np.sin(2 * np.pi * freq[:, None] * t[None, :] + phase[:, None])
    x = x + spec.noise * rng.standard_normal(x.shape)
    names = tuple(f"band_{k}" for k in range(spec.classes))
    return Dataset("sine_waves", x[..., None].astype(np.float32), y.astype(np.int64), names)
