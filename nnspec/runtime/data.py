"""Datasets: the arrays a spec's `train.data` names, embedded, generated from the seed, or read from files.

Each embedded or generated dataset is one small loader registered by name (the `name:` of `train.data`) with a
cheap rule for the shape of one example, so errors can suggest a dataset that fits without loading them all;
every one of them loads from its name alone (`DATASETS`). The readers of the user's files (`npz`, `csv`,
`image_folder`, `tfrecord`) are registered apart (`READERS`): they need a path, read relative to the spec's
directory, and their shapes are known only once read. A loader gives the raw arrays and, where the data needs
it, a preprocessing step that `split` fits on the training part only (iris is standardized with the training
split's mean and deviation, so nothing leaks from the test set).

    data = load_dataset(spec.train.data, seed=spec.train.seed, base_dir=spec_file.parent)
    train, test = split(data, spec.train.test_split, seed=spec.train.seed)

Derived datasets (`pairs`, `triplets`, for metric learning) are drawn from the examples of another dataset (`of`)
and registered apart (`DERIVED`). They are drawn after the split, not before: a derived `Dataset` carries its
`Derivation` (the base examples and the drawing rule), and `split` splits the base examples, fits their
preprocessing on the training part, and draws each part's pairs or triplets within that part alone, so no example
of a held-out split ever appears in a training pair.

A dataset with several inputs (`graphs`, `npz` with several feature keys, `pairs`, `triplets`) gives `x` as a dict
of arrays by input name; the others give one array. Anything wrong with the user's data is a `DataError` naming the key of
`train.data` it concerns.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnspec.errors import NnspecError
from nnspec.specs.load import received

# A preprocessing step, fitted on training features: returns the transform and the statistics it learned.
Fit = Callable[[Any], tuple[Callable[[Any], Any], dict]]
Features = np.ndarray | dict[str, np.ndarray]
Shape = tuple[int, ...] | dict[str, tuple[int, ...]]


class DataError(NnspecError):
    """The user's data cannot be read as the spec says: a missing file, key or column, inconsistent shapes, ...

    Args:
        message: What is wrong and how to fix it, ending in `Received: <field>=<value>` (house format).
        field: The key the problem concerns, e.g. `path`, `label`, `x`, `shape` (`nodes` for `graphs`).
        section: The `train:` key `field` is under: `data` (`train.data.<field>`), or `augment` for the
            augmentation checks of `nnspec/runtime/augment.py`. Defaults to `data`.
    """

    def __init__(self, message: str, field: str, section: str = "data"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.section = section


def _error(field: str, value: Any, problem: str) -> DataError:
    """A `DataError` whose message is `problem` (what is wrong, then a hint) followed by `Received: ...`."""
    return DataError(f"{problem} {received(field, value)}", field)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features `x` and labels `y`, `n` examples of each, with what the labels mean.

    `x` is one array `(n, *feature_shape)`, float32 (int32 for token ids), or a dict of such arrays by input
    name for datasets with several inputs. `y` is int64 class labels, `(n,)` or per position `(n, ...)` (per node,
    per token), or float32 regression targets when `classes` is empty.
    """

    name: str
    x: Features
    y: np.ndarray
    classes: tuple[str, ...]
    """Class names; label `i` is `classes[i]`. Empty for regression targets."""
    fit: Fit | None = None
    """Preprocessing still to be fitted on the training split (`split` does it), or `None`."""
    preprocessing: dict = field(default_factory=dict)
    """The statistics of the preprocessing already applied, e.g. `{"mean": [...], "std": [...]}`."""
    derived: Derivation | None = None
    """For `pairs` and `triplets`: how the examples are drawn from a base dataset, so that `split` splits the base
    and draws each part's examples within it. `None` for every other dataset (and for a `take` of a derived one:
    its examples are then fixed)."""

    @property
    def feature_shape(self) -> Shape:
        """The shape of one example (no batch axis); a dict of shapes by input name when `x` is a dict."""
        if isinstance(self.x, dict):
            return {k: tuple(int(d) for d in v.shape[1:]) for k, v in self.x.items()}
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names of the feature arrays when `x` is a dict (to match the model's inputs), else `()`."""
        return tuple(self.x) if isinstance(self.x, dict) else ()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> Dataset:
        """The examples at `index`, in that order."""
        x = {k: v[index] for k, v in self.x.items()} if isinstance(self.x, dict) else self.x[index]
        return dataclasses.replace(self, x=x, y=self.y[index], derived=None)


@dataclass(frozen=True, eq=False)
class Derivation:
    """How a derived dataset draws its examples (pairs, triplets) from the examples of a base dataset.

    `split` splits `base` (stratified, its pending preprocessing fitted on the training part) and calls
    `draw(base_part, count, rng)` on each part, so a derived example never mixes examples of two splits.
    """

    base: Dataset
    """The base examples: one feature array, one class label each; preprocessing may still be pending."""
    draw: Callable[[Dataset, int, np.random.Generator], Dataset]
    """`(base examples, how many, generator) -> derived Dataset` (a dict `x`, its own `y` and classes)."""
    field: str = "of"
    """The key of `train.data` that errors in drawing concern."""


@dataclass(frozen=True)
class _Entry:
    load: Callable[[Any, int], Dataset]
    shape: Callable[[Any], Shape]


DATASETS: dict[str, _Entry] = {}
"""Embedded and generated datasets: each loads from its name alone (every option has a default)."""
READERS: dict[str, Callable[[Any, Path], Dataset]] = {}
"""Readers of the user's files, `read(data_spec, base_dir) -> Dataset`."""
DERIVED: dict[str, Callable[[Any, int, Path], Dataset]] = {}
"""Datasets drawn from another one (`pairs`, `triplets`), `load(data_spec, seed, base_dir) -> Dataset`; their
`of:` is any dataset of `DATASETS` or `READERS`."""


def register(name: str, *, shape: Callable[[Any], Shape]):
    """Register `load(data_spec, seed) -> Dataset` under `name`; `shape(data_spec)` is one example's shape."""

    def wrap(load):
        DATASETS[name] = _Entry(load, shape)
        return load

    return wrap


def _reader(name: str):
    """Register `read(data_spec, base_dir) -> Dataset` for files under `name`."""

    def wrap(read):
        READERS[name] = read
        return read

    return wrap


def load_dataset(data_spec, seed: int = 0, base_dir: Path | None = None) -> Dataset:
    """The dataset a `train.data` spec names.

    Args:
        data_spec: A model of `nnspec.specs.data.Dataset`.
        seed: Fixes generated data (same seed, same arrays); embedded and file data ignore it. Defaults to `0`.
        base_dir: The directory that relative paths of file datasets start from, the spec's directory.
            Defaults to the current directory.

    Raises:
        DataError: the files named are missing, unreadable or inconsistent with the spec.
    """
    if data_spec.name in READERS:
        return READERS[data_spec.name](data_spec, Path(base_dir) if base_dir is not None else Path.cwd())
    if data_spec.name in DERIVED:
        return DERIVED[data_spec.name](data_spec, seed, Path(base_dir) if base_dir is not None else Path.cwd())
    return DATASETS[data_spec.name].load(data_spec, seed)


def feature_shape(data_spec) -> Shape | None:
    """One example's shape for a `train.data` spec, without loading the data; `None` when only the files can
    tell (`npz`, `csv`)."""
    if data_spec.name in DATASETS:
        return DATASETS[data_spec.name].shape(data_spec)
    if data_spec.name == "image_folder":
        return (*_image_size(data_spec), 3 if data_spec.color_mode == "rgb" else 1)
    if data_spec.name == "tfrecord":
        return tuple(data_spec.shape)
    if data_spec.name in DERIVED:
        base = feature_shape(data_spec.of)
        return {name: base for name in DERIVED_INPUTS[data_spec.name]} if isinstance(base, tuple) else None
    return None


def split(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """`(train, held_out)`: a shuffled split, stratified by class when every class can appear on both sides.

    Only one-label-per-example classification is stratified (not per-node labels or regression targets). A
    pending preprocessing step is fitted on `train` alone and applied to both parts. `fraction` 0 gives an empty
    held-out part.
    """
    from sklearn.model_selection import train_test_split

    if data.derived is not None:
        return _split_derived(data, fraction, seed)
    index = np.arange(len(data))
    held = math.ceil(fraction * len(data))
    if held == 0:
        train, rest = data.take(index), data.take(index[:0])
    else:
        can_stratify = False
        if data.y.ndim == 1 and data.classes:
            _, counts = np.unique(data.y, return_counts=True)
            can_stratify = min(held, len(data) - held) >= len(counts) and counts.min() >= 2
        a, b = train_test_split(index, test_size=held, random_state=seed,
                                stratify=data.y if can_stratify else None)
        train, rest = data.take(a), data.take(b)
    if data.fit is None:
        return train, rest
    transform, stats = data.fit(train.x)
    done = {"fit": None, "preprocessing": stats}
    return (dataclasses.replace(train, x=transform(train.x), **done),
            dataclasses.replace(rest, x=transform(rest.x), **done))


def _split_derived(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Split a derived dataset's base examples (stratified; preprocessing fitted on the training part only),
    then draw each part's share of the derived examples within that part: `ceil(fraction * len(data))` held out,
    the rest for training. Each part keeps the arrays `data` kept (the trainer keeps the model's inputs)."""
    base_train, base_held = split(data.derived.base, fraction, seed)
    held = math.ceil(fraction * len(data))
    return (_draw_part(data, base_train, len(data) - held, seed, 0),
            _draw_part(data, base_held, held, seed, 1))


def _draw_part(data: Dataset, base: Dataset, count: int, seed: int, side: int) -> Dataset:
    """`count` derived examples of `base`'s examples alone, drawn from `(seed, side, len(base))` (side 0 is
    the training part)."""
    rng = np.random.default_rng([seed, side, len(base)])
    drawn = data.derived.draw(base, count, rng)
    x = {k: drawn.x[k] for k in data.x} if isinstance(data.x, dict) else drawn.x
    return dataclasses.replace(drawn, x=x, fit=None, preprocessing=base.preprocessing,
                               derived=dataclasses.replace(data.derived, base=base))


def _standardize(x: np.ndarray):
    """Fit per-feature standardization: `(x - mean) / std` (a constant feature keeps std 1)."""
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1:])
    std = x.std(axis=0) if len(x) else np.ones(x.shape[1:])
    std = np.where(std > 0, std, 1.0)

    def transform(v: np.ndarray) -> np.ndarray:
        return ((v - mean) / std).astype(np.float32)

    return transform, {"standardize": {"mean": mean.tolist(), "std": std.tolist()}}


def _balanced_labels(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """`n` labels in `0..k-1`, each class `n // k` or `n // k + 1` times, in random order."""
    return rng.permutation(np.arange(n) % k).astype(np.int64)


# --- embedded (scikit-learn) ------------------------------------------------------------------------------------


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


def _table(name: str, loader) -> Dataset:
    """A scikit-learn table, standardized on the training split (the fit is left to `split`)."""
    raw = loader()
    return Dataset(name, raw.data.astype(np.float32), raw.target.astype(np.int64),
                   tuple(str(c) for c in raw.target_names), fit=_standardize)


@register("iris", shape=lambda spec: (4,))
def _load_iris(spec, seed: int) -> Dataset:
    """scikit-learn's 150 iris flowers: 4 measurements (standardized on the training split), 3 species."""
    from sklearn.datasets import load_iris

    return _table("iris", load_iris)


@register("wine", shape=lambda spec: (13,))
def _load_wine(spec, seed: int) -> Dataset:
    """scikit-learn's 178 wines: 13 chemical measurements (standardized on the training split), 3 cultivars."""
    from sklearn.datasets import load_wine

    return _table("wine", load_wine)


@register("breast_cancer", shape=lambda spec: (30,))
def _load_breast_cancer(spec, seed: int) -> Dataset:
    """scikit-learn's 569 tumours: 30 features (standardized on the training split), malignant or benign."""
    from sklearn.datasets import load_breast_cancer

    return _table("breast_cancer", load_breast_cancer)


# --- generated: sequences ---------------------------------------------------------------------------------------


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


@register("token_copy", shape=lambda spec: (spec.length,))
def _load_token_copy(spec, seed: int) -> Dataset:
    """Uniform random int32 tokens `(length,)`; the int64 targets are the same tokens, or reversed."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, spec.vocab, (spec.samples, spec.length)).astype(np.int32)
    y = (x[:, ::-1] if spec.reverse else x).astype(np.int64)
    return Dataset("token_copy", x, np.ascontiguousarray(y), tuple(str(t) for t in range(spec.vocab)))


# --- generated: images of shapes --------------------------------------------------------------------------------


def _shape_masks(kind: str, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Which pixels lie inside shape `kind` of radius `r`, given their rotated offsets `(u, v)` from its centre."""
    if kind == "circle":
        return u * u + v * v <= r * r
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.75 * r
    if kind == "triangle":  # equilateral, circumradius r: inside the three edges at distance r/2 from the centre
        angles = np.pi / 2 + 2 * np.pi * np.arange(3) / 3
        return np.all([np.cos(a) * u + np.sin(a) * v <= r / 2 for a in angles], axis=0)
    arm = 0.3 * r  # cross: two bars of half-width 0.3 r
    return ((np.abs(u) <= arm) & (np.abs(v) <= r)) | ((np.abs(v) <= arm) & (np.abs(u) <= r))


@register("shapes", shape=lambda spec: (spec.size, spec.size, spec.channels))
def _load_shapes(spec, seed: int) -> Dataset:
    """One filled shape per image on a dark background, classes balanced.

    The radius is 20–40% of the side, the centre keeps the shape's circle inside the image, the angle is
    uniform, the shape's brightness is 0.6–1 and the background's 0–0.2 (per channel for colour images, so the
    colour is random); then Gaussian noise of deviation `noise`, clipped to [0, 1].
    """
    rng = np.random.default_rng(seed)
    n, s, c = spec.samples, spec.size, spec.channels
    y = _balanced_labels(rng, n, len(spec.shapes))
    r = rng.uniform(0.2, 0.4, n) * s
    cx, cy = (rng.uniform(r, s - r) for _ in range(2))
    angle = rng.uniform(0.0, 2 * np.pi, n)
    fg, bg = rng.uniform(0.6, 1.0, (n, c)), rng.uniform(0.0, 0.2, (n, c))
    grid = np.arange(s) + 0.5
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    u, v = cos * dx + sin * dy, cos * dy - sin * dx
    inside = np.zeros((n, s, s), bool)
    for label, kind in enumerate(spec.shapes):
        rows = y == label
        inside[rows] = _shape_masks(kind, u[rows], v[rows], r[rows, None, None])
    x = np.where(inside[..., None], fg[:, None, None, :], bg[:, None, None, :])
    x = np.clip(x + spec.noise * rng.standard_normal(x.shape), 0.0, 1.0)
    return Dataset("shapes", x.astype(np.float32), y, tuple(spec.shapes))


# --- generated: point clouds ------------------------------------------------------------------------------------


def _disk(rng, m: int, z: float) -> np.ndarray:
    """`m` points uniform on the unit disk at height `z`."""
    rho, phi = np.sqrt(rng.uniform(0, 1, m)), rng.uniform(0, 2 * np.pi, m)
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), np.full(m, z)], -1)


def _surface(kind: str, rng, m: int) -> np.ndarray:
    """`m` points uniform on the surface of a primitive about unit size, centred on the origin."""
    if kind == "sphere":
        p = rng.standard_normal((m, 3))
        return p / np.linalg.norm(p, axis=1, keepdims=True)
    if kind == "cube":  # [-1, 1]^3: a random face, a uniform point on it
        p = rng.uniform(-1, 1, (m, 3))
        axis = rng.integers(0, 3, m)
        p[np.arange(m), axis] = rng.choice([-1.0, 1.0], m)
        return p
    if kind == "cylinder":  # radius 1, height 2: side area 4π, the two caps 2π
        phi, z = rng.uniform(0, 2 * np.pi, m), rng.uniform(-1, 1, m)
        side = np.stack([np.cos(phi), np.sin(phi), z], -1)
        cap = _disk(rng, m, 1.0)
        cap[:, 2] = rng.choice([-1.0, 1.0], m)  # the top or the bottom cap
        return np.where((rng.uniform(0, 1, m) < 2 / 3)[:, None], side, cap)
    if kind == "cone":  # apex (0, 0, 1), base radius 1 at z = -1: side area π√5, base π
        t = np.sqrt(rng.uniform(0, 1, m))  # distance from the apex, as a fraction: uniform in area
        phi = rng.uniform(0, 2 * np.pi, m)
        side = np.stack([t * np.cos(phi), t * np.sin(phi), 1 - 2 * t], -1)
        on_side = rng.uniform(0, 1, m) < math.sqrt(5) / (math.sqrt(5) + 1)
        return np.where(on_side[:, None], side, _disk(rng, m, -1.0))
    big, small = 0.7, 0.3  # torus; the tube angle is drawn by rejection, its density ∝ big + small cos(v)
    v = np.empty(0)
    while len(v) < m:
        draw = rng.uniform(0, 2 * np.pi, 2 * m)
        v = np.concatenate([v, draw[rng.uniform(0, 1, 2 * m) < (big + small * np.cos(draw)) / (big + small)]])
    v, u = v[:m], rng.uniform(0, 2 * np.pi, m)
    ring = big + small * np.cos(v)
    return np.stack([ring * np.cos(u), ring * np.sin(u), small * np.sin(v)], -1)


def _rotations(rng, n: int) -> np.ndarray:
    """`n` uniformly random rotation matrices `(n, 3, 3)`, from normalized Gaussian quaternions."""
    q = rng.standard_normal((n, 4))
    w, a, b, c = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack([
        np.stack([1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)], -1),
        np.stack([2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)], -1),
        np.stack([2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)], -1),
    ], 1)  # fmt: skip


@register("point_clouds", shape=lambda spec: (spec.points, 3))
def _load_point_clouds(spec, seed: int) -> Dataset:
    """Points on a primitive's surface, rotated uniformly at random, scaled by 0.7–1.3, jittered; balanced."""
    rng = np.random.default_rng(seed)
    n, m = spec.samples, spec.points
    y = _balanced_labels(rng, n, len(spec.shapes))
    x = np.empty((n, m, 3))
    for label, kind in enumerate(spec.shapes):
        rows = np.flatnonzero(y == label)
        x[rows] = _surface(kind, rng, len(rows) * m).reshape(len(rows), m, 3)
    x = np.einsum("nij,npj->npi", _rotations(rng, n), x) * rng.uniform(0.7, 1.3, (n, 1, 1))
    x = x + spec.jitter * rng.standard_normal(x.shape)
    return Dataset("point_clouds", x.astype(np.float32), y, tuple(spec.shapes))


# --- generated: graphs ------------------------------------------------------------------------------------------


def _graphs_shape(spec) -> dict[str, tuple[int, ...]]:
    n, e = spec.nodes, 2 * spec.nodes * spec.degree
    return {"nodes": (n, spec.features), "senders": (e,), "receivers": (e,), "adjacency": (n, n)}


def _pick_neighbours(rng, community: np.ndarray, degree: int, p_in: float) -> tuple[np.ndarray, np.ndarray]:
    """`(senders, targets)` `(graphs, N * degree)`: each node's `degree` edge ends, in its community with
    probability `p_in`, never itself (drawn uniformly among the allowed nodes, by rejection)."""
    graphs, n = community.shape
    senders = np.broadcast_to(np.repeat(np.arange(n), degree), (graphs, n * degree))
    same = rng.uniform(0, 1, senders.shape) < p_in
    own = np.take_along_axis(community, senders, 1)
    targets = rng.integers(0, n, senders.shape)
    bad = np.ones(senders.shape, bool)
    while bad.any():
        targets = np.where(bad, rng.integers(0, n, senders.shape), targets)
        bad = (targets == senders) | ((np.take_along_axis(community, targets, 1) == own) != same)
    return np.array(senders), targets


@register("graphs", shape=_graphs_shape)
def _load_graphs(spec, seed: int) -> Dataset:
    """Stochastic block model graphs, one per example; per-node labels. See `nnspec.specs.data.Graphs`."""
    if spec.features < spec.communities:
        raise _error("features", spec.features, f"graphs need at least one feature per community "
                     f"({spec.communities}); raise features or lower communities.")
    if spec.nodes < 2 * spec.communities:
        raise _error("nodes", spec.nodes, f"graphs need at least 2 nodes per community "
                     f"({2 * spec.communities} nodes); raise nodes or lower communities.")
    rng = np.random.default_rng(seed)
    n, size = spec.samples, spec.nodes
    community = np.stack([_balanced_labels(rng, size, spec.communities) for _ in range(n)])
    a, b = _pick_neighbours(rng, community, spec.degree, spec.p_in)
    senders, receivers = np.concatenate([a, b], 1), np.concatenate([b, a], 1)
    adjacency = np.zeros((n, size, size))
    adjacency[np.arange(n)[:, None], senders, receivers] = 1.0
    adjacency += np.eye(size)
    scale = 1.0 / np.sqrt(adjacency.sum(-1))
    adjacency *= scale[:, :, None] * scale[:, None, :]
    nodes = np.eye(spec.features)[community] + spec.noise * rng.standard_normal((n, size, spec.features))
    x = {"nodes": nodes.astype(np.float32), "senders": senders.astype(np.int32),
         "receivers": receivers.astype(np.int32), "adjacency": adjacency.astype(np.float32)}
    return Dataset("graphs", x, community, tuple(f"community_{k}" for k in range(spec.communities)))


# --- derived: pairs and triplets, for metric learning -------------------------------------------------------------

DERIVED_INPUTS = {"pairs": ("left", "right"), "triplets": ("anchor", "positive", "negative")}
"""The feature arrays of each derived dataset, which the model's inputs must be named after."""


def _derived(name: str):
    """Register `load(data_spec, seed, base_dir) -> Dataset` for a dataset drawn from another one."""

    def wrap(load):
        DERIVED[name] = load
        return load

    return wrap


def _base(spec, seed: int, base_dir: Path) -> Dataset:
    """The labelled dataset `of` names, checked to have one feature array and one class label per example (its
    own errors are reported at `of`)."""
    try:
        base = load_dataset(spec.of, seed=seed, base_dir=base_dir)
    except DataError as exc:
        raise DataError(exc.message, "of") from None
    problem = None
    if isinstance(base.x, dict):
        problem = f"gives several arrays ({', '.join(base.x)}), and {spec.name} need one array per example"
    elif not base.classes or base.y.ndim != 1:
        problem = f"has no class label per example, and {spec.name} are drawn by class"
    elif len(np.unique(base.y)) < 2:
        problem = f"has a single class, and {spec.name} need examples of different classes"
    if problem:
        raise DataError(f"dataset '{base.name}' {problem}; use a labelled dataset such as digits. "
                        f"{received('of', spec.of.name)}", "of")
    return base


def _by_class(y: np.ndarray):
    """`(order, start, size)`: example indices grouped by class (stable), and each class's block in `order`."""
    order = np.argsort(y, kind="stable")
    classes, start, size = np.unique(y[order], return_index=True, return_counts=True)
    first = np.zeros(int(classes.max()) + 1, np.int64)
    count = np.zeros_like(first)
    first[classes], count[classes] = start, size
    return order, first, count


def _none_to_draw(what: str, count: int) -> DataError:
    return DataError(f"a split of the base dataset has no {what} to draw {count} examples from; use more "
                     f"examples (or smaller splits). {received('count', count)}", "count")


def _anchors_and_positives(rng, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` pairs `(i, j)`, `i != j`, of the same class: `i` uniform among the examples whose class has another
    example, `j` uniform among the other examples of `i`'s class."""
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not len(y):
        raise _none_to_draw("class with two examples", n)
    order, first, count = _by_class(y)
    eligible = np.flatnonzero(count[y] >= 2)
    if not len(eligible):
        raise _none_to_draw("class with two examples", n)
    i = eligible[rng.integers(0, len(eligible), n)]
    rank = np.empty(len(y), np.int64)
    rank[order] = np.arange(len(y)) - first[y[order]]
    c = y[i]
    other = (rank[i] + 1 + rng.integers(0, count[c] - 1)) % count[c]  # any rank of the class but i's own
    return i, order[first[c] + other]


def _others(rng, y: np.ndarray, i: np.ndarray) -> np.ndarray:
    """For each example `i`, an example of another class, uniform among them."""
    if len(i) == 0:
        return np.zeros(0, np.int64)
    order, first, count = _by_class(y)
    c = y[i]
    if (count[c] == len(y)).any():
        raise _none_to_draw("second class", len(i))
    k = rng.integers(0, len(y) - count[c])  # a position in `order` outside c's block
    return order[np.where(k < first[c], k, k + count[c])]


def _draw_pairs(positive_fraction: float):
    def draw(base: Dataset, count: int, rng: np.random.Generator) -> Dataset:
        positives = round(positive_fraction * count)
        a, b = _anchors_and_positives(rng, base.y, positives)
        if count > positives and not len(base):
            raise _none_to_draw("examples", count - positives)
        c = rng.integers(0, max(len(base), 1), count - positives)
        d = _others(rng, base.y, c)
        shuffle = rng.permutation(count)
        left, right = np.concatenate([a, c])[shuffle], np.concatenate([b, d])[shuffle]
        y = np.concatenate([np.ones(positives, np.int64), np.zeros(count - positives, np.int64)])[shuffle]
        return Dataset("pairs", {"left": base.x[left], "right": base.x[right]}, y, ("different", "same"))

    return draw


def _draw_triplets(base: Dataset, count: int, rng: np.random.Generator) -> Dataset:
    anchor, positive = _anchors_and_positives(rng, base.y, count)
    negative = _others(rng, base.y, anchor)
    x = {"anchor": base.x[anchor], "positive": base.x[positive], "negative": base.x[negative]}
    return Dataset("triplets", x, np.zeros(count, np.float32), ())


def _derive(spec, seed: int, base_dir: Path, draw) -> Dataset:
    """`spec.count` examples drawn from the whole base (preprocessing fitted on all of it), exactly the training
    part of `split(data, 0, seed)`; `split` draws each part afresh within the base examples of that part."""
    base = _base(spec, seed, base_dir)
    whole, _ = split(base, 0.0, seed)
    drawn = draw(whole, spec.count, np.random.default_rng([seed, 0, len(whole)]))
    return dataclasses.replace(drawn, preprocessing=whole.preprocessing, derived=Derivation(base, draw))


@_derived("pairs")
def _load_pairs(spec, seed: int, base_dir: Path) -> Dataset:
    """Pairs of examples of `of`, label 1 for the same class. See `nnspec.specs.data.Pairs`."""
    return _derive(spec, seed, base_dir, _draw_pairs(spec.positive_fraction))


@_derived("triplets")
def _load_triplets(spec, seed: int, base_dir: Path) -> Dataset:
    """(anchor, positive, negative) triplets of examples of `of`. See `nnspec.specs.data.Triplets`."""
    return _derive(spec, seed, base_dir, _draw_triplets)


# --- the user's files -------------------------------------------------------------------------------------------


def _file(spec, base_dir: Path, *, folder: bool = False) -> Path:
    """The spec's `path` resolved against `base_dir`, which must exist (a file, or a folder if `folder`)."""
    path = base_dir / spec.path
    kind = "folder" if folder else "file"
    if not path.exists():
        raise _error("path", spec.path, f"the {kind} {path} does not exist; paths are relative to the spec's "
                     f"directory ({base_dir}).")
    if path.is_dir() != folder:
        raise _error("path", spec.path, f"{path} is not a {kind}.")
    return path


def _labels(raw: np.ndarray, names: list[str] | None, field: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """`(y, classes)`: int labels as they are, strings by sorted value; floats are regression targets unless
    class `names` are given."""
    if raw.dtype.kind in "US":
        values, y = np.unique(raw, return_inverse=True)
        found = [str(v) for v in values]
        if names is None:
            return y.reshape(raw.shape).astype(np.int64), tuple(found)
        unknown = sorted(set(found) - set(names))
        if unknown:
            raise _error("classes", names, f"labels {unknown} are not among the classes; list every label.")
        return np.array([names.index(v) for v in found])[y].reshape(raw.shape).astype(np.int64), tuple(names)
    if raw.dtype.kind == "f" and names is None:
        return raw.astype(np.float32), ()
    if raw.dtype.kind not in "iuf" or (raw.size and not np.all(np.mod(raw, 1) == 0)):
        raise _error(field, str(raw.dtype), "labels must be integers or strings (or floats for regression).")
    y = raw.astype(np.int64)
    if y.size and y.min() < 0:
        raise _error(field, int(y.min()), "labels must be class numbers 0, 1, ...; found a negative one.")
    count = int(y.max()) + 1 if y.size else 0
    if names is None:
        return y, tuple(str(k) for k in range(count))
    if count > len(names):
        raise _error("classes", names, f"the labels go up to {count - 1} but there are {len(names)} class names.")
    return y, tuple(names)


def _features(array: np.ndarray, key: str) -> np.ndarray:
    """A feature array as the models take it: floats and booleans as float32, integers (token ids) as int32."""
    if array.dtype.kind in "fb":
        return array.astype(np.float32)
    if array.dtype.kind in "iu":
        return array.astype(np.int32)
    raise _error("x", key, f"array '{key}' holds {array.dtype} values; features must be numbers.")


@_reader("npz")
def _read_npz(spec, base_dir: Path) -> Dataset:
    """The arrays of a `.npz` file: `x` (one key, or a dict by key for several), `y`."""
    path = _file(spec, base_dir)
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise _error("path", spec.path, f"{path} is not a readable .npz file ({e}).") from None
    with archive:
        keys = [spec.x] if isinstance(spec.x, str) else list(spec.x)
        for field_, key in [*(("x", k) for k in keys), ("y", spec.y)]:
            if key not in archive.files:
                raise _error(field_, key, f"{path.name} has no array '{key}'; its arrays are "
                             f"{sorted(archive.files)}.")
        try:
            x = {k: _features(archive[k], k) for k in keys}
            raw = archive[spec.y]
        except ValueError as e:  # object arrays need pickle, which is never allowed
            raise _error("path", spec.path, f"{path.name} holds an array that cannot be read safely "
                         f"({e}).") from None
    for key, array in x.items():
        if array.ndim == 0 or len(array) != len(raw):
            raise _error("x", key, f"array '{key}' has shape {array.shape} but '{spec.y}' has {len(raw)} labels; "
                         f"every array needs one entry per example along its first axis.")
    y, classes = _labels(raw, spec.classes, "y")
    return Dataset("npz", x[spec.x] if isinstance(spec.x, str) else x, y, classes)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _csv_rows(spec, path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows (blank lines skipped), each row as long as the header."""
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        raise _error("path", spec.path, f"{path.name} has no data rows; it needs a header row and one row per "
                     f"example.")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise _error("path", spec.path, f"row {number} of {path.name} has {len(row)} values but the header "
                         f"has {len(header)} columns.")
    return header, body


def _csv_features(spec, header: list[str], body: list[list[str]]) -> list[str]:
    """The feature columns: the spec's list, or every other column whose first value is a number."""
    if spec.features is None:
        chosen = [h for i, h in enumerate(header) if h != spec.label and _number(body[0][i]) is not None]
        if not chosen:
            raise _error("features", None, f"no column other than '{spec.label}' holds numbers; the columns "
                         f"are {header}.")
        return chosen
    for name in spec.features:
        if name not in header or name == spec.label:
            raise _error("features", spec.features, f"'{name}' is not a feature column; the columns are "
                         f"{header} and '{spec.label}' is the label.")
    return list(spec.features)


@_reader("csv")
def _read_csv(spec, base_dir: Path) -> Dataset:
    """A table with a header: numeric feature columns `(F,)`, classes from the label column's values."""
    path = _file(spec, base_dir)
    header, body = _csv_rows(spec, path)
    if spec.label not in header:
        raise _error("label", spec.label, f"{path.name} has no column '{spec.label}'; its columns are {header}.")
    columns = _csv_features(spec, header, body)
    x = np.empty((len(body), len(columns)), np.float32)
    for j, name in enumerate(columns):
        i = header.index(name)
        for number, row in enumerate(body):
            value = _number(row[i])
            if value is None:
                raise _error("features", name, f"column '{name}' has {row[i]!r} in row {number + 2} of "
                             f"{path.name}, not a number; fix the file or leave the column out of features.")
            x[number, j] = value
    labels = [row[header.index(spec.label)].strip() for row in body]
    numeric = all(_number(v) is not None for v in labels)
    classes = sorted(set(labels), key=(lambda v: (float(v), v)) if numeric else None)
    y = np.array([classes.index(v) for v in labels], np.int64)
    return Dataset("csv", x, y, tuple(classes), fit=_standardize if spec.standardize else None)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _image_size(spec) -> tuple[int, int]:
    size = spec.image_size
    return (size, size) if isinstance(size, int) else tuple(size)


def _decode_image(data: bytes, channels: int, where: str, spec, field: str = "path"):
    """An encoded image as a uint8 array `(H, W, channels)`, or a `DataError` naming `where`."""
    import tensorflow as tf

    try:
        return tf.io.decode_image(data, channels=channels, expand_animations=False).numpy()
    except (tf.errors.InvalidArgumentError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise _error(field, getattr(spec, field), f"{where} is not a readable image ({reason}).") from None


@_reader("image_folder")
def _read_image_folder(spec, base_dir: Path) -> Dataset:
    """Images, one subfolder per class (sorted), resized to `image_size`, `(H, W, 1 or 3)` in [0, 1]."""
    import tensorflow as tf

    root = _file(spec, base_dir, folder=True)
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not folders:
        raise _error("path", spec.path, f"{root} has no class folders; put each class's images in a subfolder "
                     f"named after the class.")
    height, width = _image_size(spec)
    channels = 3 if spec.color_mode == "rgb" else 1
    images, labels = [], []
    for label, folder in enumerate(folders):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise _error("path", spec.path, f"class folder '{folder.name}' has no images "
                         f"({', '.join(IMAGE_SUFFIXES)}); add some or remove the folder.")
        for file in files:
            image = _decode_image(file.read_bytes(), channels, f"{folder.name}/{file.name}", spec)
            if image.shape[:2] != (height, width):
                image = tf.image.resize(image, (height, width)).numpy()
            images.append(image.astype(np.float32) / 255.0)
            labels.append(label)
    return Dataset("image_folder", np.stack(images), np.array(labels, np.int64), tuple(f.name for f in folders))


def _record_feature(spec, feature, number: int) -> np.ndarray:
    """One record's `x` feature as an array of `shape` in its stored dtype."""
    kind = feature.WhichOneof("kind")
    want = "bytes_list" if spec.encoding in ("raw", "image") else ("float_list", "int64_list")
    if kind not in want:
        hint = "use encoding raw or image" if kind == "bytes_list" else "use encoding list"
        raise _error("encoding", spec.encoding, f"record {number}'s '{spec.x}' is a {kind}; {hint}.")
    size = math.prod(spec.shape)
    if spec.encoding == "list":
        values = np.asarray(getattr(feature, kind).value, dtype=spec.dtype)
    elif spec.encoding == "raw":
        values = np.frombuffer(feature.bytes_list.value[0], dtype=spec.dtype)
    else:
        values = _decode_image(feature.bytes_list.value[0], spec.shape[-1] if len(spec.shape) == 3 else 0,
                               f"record {number}'s '{spec.x}'", spec, "x")
        if values.shape != tuple(spec.shape):
            raise _error("shape", spec.shape, f"record {number}'s '{spec.x}' is an image of shape "
                         f"{list(values.shape)}; give its [height, width, channels].")
    if values.size != size:
        raise _error("shape", spec.shape, f"record {number}'s '{spec.x}' has {values.size} values but shape "
                     f"{spec.shape} needs {size}.")
    return values.reshape(spec.shape)


@_reader("tfrecord")
def _read_tfrecord(spec, base_dir: Path) -> Dataset:
    """`tf.train.Example` records from a file or a glob, read into arrays (in file order, files sorted)."""
    import tensorflow as tf

    files = sorted(glob.glob(str(base_dir / spec.path)))
    if not files:
        raise _error("path", spec.path, f"no file matches {base_dir / spec.path}; paths are relative to the "
                     f"spec's directory ({base_dir}).")
    if spec.encoding == "list" and spec.dtype == "uint8":
        raise _error("dtype", spec.dtype, "list features are float32 or int64; uint8 is for raw or image.")
    xs, ys = [], []
    try:
        for number, record in enumerate(tf.data.TFRecordDataset(files)):
            example = tf.train.Example.FromString(record.numpy())
            found = example.features.feature
            for field_, key in (("x", spec.x), ("y", spec.y)):
                if key not in found:
                    raise _error(field_, key, f"record {number} has no feature '{key}'; it has {sorted(found)}.")
            label = found[spec.y]
            if label.WhichOneof("kind") != "int64_list" or len(label.int64_list.value) != 1:
                raise _error("y", spec.y, f"record {number}'s '{spec.y}' must be one int64 class number.")
            xs.append(_record_feature(spec, found[spec.x], number))
            ys.append(label.int64_list.value[0])
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
        reason = str(e).splitlines()[0]
        raise _error("path", spec.path, f"the files are not readable TFRecords ({reason}).") from None
    if not xs:
        raise _error("path", spec.path, "the files hold no records.")
    x = np.stack(xs)
    x = x.astype(np.float32) / 255.0 if spec.dtype == "uint8" else _features(x, spec.x)
    y, classes = _labels(np.array(ys, np.int64), spec.classes, "y")
    return Dataset("tfrecord", x, y, classes)
