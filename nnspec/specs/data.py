"""`train.data`: the datasets a spec can train on, by name with their options, and `Augment`, the augmentations
of training batches.

Four kinds of dataset, one discriminated union on `name`:

* embedded: arrays that ship with scikit-learn (`digits`, `digits_flat`, `iris`, `wine`, `breast_cancer`);
* generated: synthetic data drawn from `train.seed` (`sine_waves`, `token_copy`, `shapes`, `point_clouds`,
  `graphs`), sized by their options;
* user files: `npz`, `csv`, `image_folder` and `tfrecord`, with paths relative to the spec's directory;
* derived: `pairs` and `triplets` of the examples of any labelled dataset above (`of:`), for metric learning.

Nothing is ever downloaded. The loaders are in `nnspec/runtime/data.py`, the augmentations in
`nnspec/runtime/augment.py`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from nnspec.specs.base import Identifier, PositiveInt, SpecModel

NonNegativeFloat = Annotated[float, Field(ge=0.0)]
RelativePath = Annotated[str, Field(min_length=1)]
"""A file or folder, relative to the directory of the spec that names it (absolute paths work too)."""
ImageSize = PositiveInt | tuple[PositiveInt, PositiveInt]
"""One side for square images, or `[height, width]`."""

# --- embedded (scikit-learn) ----------------------------------------------------------------------------------


class Digits(SpecModel):
    """scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes) as `(8, 8, 1)` images scaled to [0, 1]."""

    name: Literal["digits"] = "digits"
    """The dataset's name."""


class DigitsFlat(SpecModel):
    """scikit-learn's digits as 64-vectors scaled to [0, 1], for MLPs."""

    name: Literal["digits_flat"] = "digits_flat"
    """The dataset's name."""


class Iris(SpecModel):
    """scikit-learn's iris (150 flowers, 4 standardized features, 3 classes)."""

    name: Literal["iris"] = "iris"
    """The dataset's name."""


class Wine(SpecModel):
    """scikit-learn's wine (178 wines, 13 standardized chemical measurements, 3 cultivars)."""

    name: Literal["wine"] = "wine"
    """The dataset's name."""


class BreastCancer(SpecModel):
    """scikit-learn's breast cancer Wisconsin (569 tumours, 30 standardized features, malignant or benign)."""

    name: Literal["breast_cancer"] = "breast_cancer"
    """The dataset's name."""


# --- generated from the seed ----------------------------------------------------------------------------------


class SineWaves(SpecModel):
    """Synthetic sequences: noisy sine waves, the class is the frequency band. Shape `(steps, 1)`."""

    name: Literal["sine_waves"] = "sine_waves"
    """The dataset's name."""
    samples: PositiveInt = 1500
    """How many sequences to generate. Defaults to `1500`."""
    steps: PositiveInt = 32
    """Length of each sequence. Defaults to `32`."""
    classes: Annotated[int, Field(ge=2, le=10)] = 3
    """Number of frequency bands (classes). Defaults to `3`."""
    noise: NonNegativeFloat = 0.2
    """Standard deviation of the added Gaussian noise. Defaults to `0.2`."""


class TokenCopy(SpecModel):
    """Synthetic sequence-to-sequence task: random tokens in, the same tokens out (or reversed).

    Features are int32 token ids `(length,)`, targets int64 token ids `(length,)`, one label per position; the
    classes are the tokens `"0"` … `"vocab-1"`.
    """

    name: Literal["token_copy"] = "token_copy"
    """The dataset's name."""
    samples: PositiveInt = 2000
    """How many sequences to generate. Defaults to `2000`."""
    length: PositiveInt = 10
    """Tokens per sequence. Defaults to `10`."""
    vocab: Annotated[int, Field(ge=2)] = 10
    """Vocabulary size: tokens are `0` … `vocab - 1`. Defaults to `10`."""
    reverse: bool = False
    """The target is the input reversed instead of copied. Defaults to `false`."""


class Shapes(SpecModel):
    """Synthetic images of one geometric shape each (the class), at a random position, size, angle and brightness,
    with Gaussian noise. Shape `(size, size, channels)`, values in [0, 1]."""

    name: Literal["shapes"] = "shapes"
    """The dataset's name."""
    samples: PositiveInt = 2000
    """How many images to generate. Defaults to `2000`."""
    size: Annotated[int, Field(ge=8)] = 32
    """Side of the square images in pixels. Defaults to `32`."""
    channels: Literal[1, 3] = 1
    """`1` (grayscale) or `3` (a random colour per image). Defaults to `1`."""
    shapes: Annotated[tuple[Literal["circle", "square", "triangle", "cross"], ...], Field(min_length=2)] = (
        "circle", "square", "triangle", "cross")
    """The classes, in label order. Defaults to `[circle, square, triangle, cross]`."""
    noise: NonNegativeFloat = 0.05
    """Standard deviation of the Gaussian pixel noise. Defaults to `0.05`."""


class PointClouds(SpecModel):
    """Synthetic 3-D point clouds sampled uniformly on the surface of a primitive (the class), randomly rotated,
    scaled and jittered. Shape `(points, 3)`."""

    name: Literal["point_clouds"] = "point_clouds"
    """The dataset's name."""
    samples: PositiveInt = 1000
    """How many clouds to generate. Defaults to `1000`."""
    points: PositiveInt = 1024
    """Points per cloud. Defaults to `1024`."""
    shapes: Annotated[tuple[Literal["sphere", "cube", "cylinder", "cone", "torus"], ...], Field(min_length=2)] = (
        "sphere", "cube", "cylinder", "cone", "torus")
    """The classes, in label order. Defaults to all five."""
    jitter: NonNegativeFloat = 0.01
    """Standard deviation of the Gaussian noise added to every coordinate. Defaults to `0.01`."""


class Graphs(SpecModel):
    """Synthetic node classification: random graphs from a stochastic block model, one graph per example.

    Every graph has `nodes` nodes split evenly into `communities`; a node's class is its community. Each node
    sends `degree` edges, each one to its own community with probability `p_in`, and every edge is stored in
    both directions, so a graph has `E = 2 * nodes * degree` edges. Node features are the one-hot community
    (padded to `features`) plus Gaussian noise, noisy enough that neighbours help.

    Features are a dict: `nodes` `(N, F)` float32, `senders` `(E,)` int32, `receivers` `(E,)` int32 and
    `adjacency` `(N, N)` float32, the renormalized `D^-1/2 (A + I) D^-1/2` of GCNs. Targets are `(N,)`.
    """

    name: Literal["graphs"] = "graphs"
    """The dataset's name."""
    samples: PositiveInt = 500
    """How many graphs to generate. Defaults to `500`."""
    nodes: Annotated[int, Field(ge=4)] = 32
    """Nodes per graph (N). Defaults to `32`."""
    communities: Annotated[int, Field(ge=2)] = 4
    """Communities per graph, the classes. Defaults to `4`."""
    features: PositiveInt = 8
    """Features per node (F); at least `communities`. Defaults to `8`."""
    degree: PositiveInt = 3
    """Edges each node sends (before adding the reverse edges). Defaults to `3`."""
    p_in: Annotated[float, Field(ge=0.0, le=1.0)] = 0.8
    """Probability that an edge stays inside its community. Defaults to `0.8`."""
    noise: NonNegativeFloat = 1.0
    """Standard deviation of the Gaussian noise on node features. Defaults to `1.0`."""


# --- the user's files -------------------------------------------------------------------------------------------


class Npz(SpecModel):
    """Arrays from a numpy `.npz` file: features under `x` (one key, or several for several model inputs),
    labels under `y`.

    Integer labels are classes `0` … `max`; string labels become classes in sorted order; other float labels are
    regression targets (no classes).
    """

    name: Literal["npz"] = "npz"
    """The dataset's name."""
    path: RelativePath
    """The `.npz` file, relative to the spec's directory."""
    x: Identifier | Annotated[list[Identifier], Field(min_length=1)] = "x"
    """The key of the features, or a list of keys (the features are then a dict by key, one per model input,
    matched by name). Defaults to `x`."""
    y: Identifier = "y"
    """The key of the labels. Defaults to `y`."""
    classes: Annotated[list[str], Field(min_length=1)] | None = None
    """Class names for integer labels, label `i` being `classes[i]`. Defaults to `"0"`, `"1"`, …"""


class Csv(SpecModel):
    """A table with a header row: one column holds the labels, numeric columns are the features `(F,)`.

    The classes are the label column's distinct values, in sorted order (numerically when they are numbers).
    """

    name: Literal["csv"] = "csv"
    """The dataset's name."""
    path: RelativePath
    """The `.csv` file, relative to the spec's directory."""
    label: Annotated[str, Field(min_length=1)]
    """The name of the label column."""
    features: Annotated[list[str], Field(min_length=1)] | None = None
    """The feature columns, in this order. Defaults to every other column whose values are all numbers."""
    standardize: bool = True
    """Standardize each feature with the training split's mean and deviation. Defaults to `true`."""


class ImageFolder(SpecModel):
    """Images in one subfolder per class (the folder name is the class name; classes in sorted order), PNG, JPEG,
    BMP or GIF, resized to `image_size` and scaled to [0, 1]. Shape `(height, width, 1 or 3)`."""

    name: Literal["image_folder"] = "image_folder"
    """The dataset's name."""
    path: RelativePath
    """The folder that holds the class folders, relative to the spec's directory."""
    image_size: ImageSize = 32
    """Images are resized (bilinear) to this size. Defaults to `32`."""
    color_mode: Literal["rgb", "grayscale"] = "rgb"
    """`rgb` gives 3 channels, `grayscale` 1. Defaults to `rgb`."""


class TFRecord(SpecModel):
    """`tf.train.Example` records: a feature under `x` and an integer label under `y`, read into arrays.

    `encoding` says how the feature is stored: `list` (a float or int64 list of `prod(shape)` values), `raw` (a
    bytes feature holding the array's raw bytes in `dtype`), or `image` (a bytes feature holding an encoded PNG,
    JPEG, BMP or GIF image of `shape` `[height, width, channels]`). uint8 features are scaled to [0, 1].
    """

    name: Literal["tfrecord"] = "tfrecord"
    """The dataset's name."""
    path: RelativePath
    """A TFRecord file or a glob such as `data/train-*.tfrecord`, relative to the spec's directory."""
    x: Identifier = "image"
    """The feature key. Defaults to `image`."""
    y: Identifier = "label"
    """The label key (an int64 feature). Defaults to `label`."""
    shape: Annotated[list[PositiveInt], Field(min_length=1)]
    """The shape of one example's feature, e.g. `[28, 28, 1]`."""
    dtype: Literal["float32", "int64", "uint8"] = "float32"
    """The stored element type (`list` encoding: `float32` or `int64`). Defaults to `float32`."""
    encoding: Literal["list", "raw", "image"] = "list"
    """How the feature is stored. Defaults to `list`."""
    classes: Annotated[list[str], Field(min_length=1)] | None = None
    """Class names, label `i` being `classes[i]`. Defaults to `"0"`, `"1"`, …"""


BaseDataset = Annotated[
    Digits | DigitsFlat | Iris | Wine | BreastCancer | SineWaves | TokenCopy | Shapes | PointClouds | Graphs
    | Npz | Csv | ImageFolder | TFRecord,
    Field(discriminator="name"),
]  # fmt: skip
"""Any dataset but the derived ones: what `pairs` and `triplets` draw their examples from."""


# --- derived: pairs and triplets of a labelled dataset, for metric learning --------------------------------------


class _Derived(SpecModel):
    of: BaseDataset
    """The labelled dataset whose examples are combined, by name (`digits`) or as a mapping with its options
    (`{name: shapes, size: 16}`). It needs one feature array and one class label per example."""
    count: PositiveInt = 4000
    """How many pairs (or triplets) to draw in all; each split gets its share (a test split of 0.2 gets 20%).
    Defaults to `4000`."""

    @field_validator("of", mode="before")
    @classmethod
    def _name_only(cls, value):
        return {"name": value} if isinstance(value, str) else value


class Pairs(_Derived):
    """Pairs of examples of a labelled dataset, for Siamese networks and the `contrastive` loss.

    Features are a dict `left`, `right` (each one example of `of`, so the model's inputs must be named `left` and
    `right`); the label is `1` when both are of the same class, else `0` (classes `different`, `same`). Pairs are
    drawn within each split, after `of` is split (and its preprocessing fitted on the training part only), so no
    test example ever appears in a training pair; the draw is fixed by `train.seed`.
    """

    name: Literal["pairs"] = "pairs"
    """The dataset's name."""
    positive_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    """The fraction of pairs of the same class (rounded to a whole number of pairs). Defaults to `0.5`."""


class Triplets(_Derived):
    """Triplets of examples of a labelled dataset, for the `triplet` loss (Schroff et al. 2015, FaceNet).

    Features are a dict `anchor`, `positive` (another example of the anchor's class) and `negative` (an example
    of another class), so the model's inputs must be named after them; the labels are zeros (unused). Like
    `pairs`, triplets are drawn within each split after `of` is split, fixed by `train.seed`.
    """

    name: Literal["triplets"] = "triplets"
    """The dataset's name."""


Dataset = Annotated[
    Digits | DigitsFlat | Iris | Wine | BreastCancer | SineWaves | TokenCopy | Shapes | PointClouds | Graphs
    | Npz | Csv | ImageFolder | TFRecord | Pairs | Triplets,
    Field(discriminator="name"),
]  # fmt: skip


# --- augmentation -----------------------------------------------------------------------------------------------


class Augment(SpecModel):
    """Random changes to each training batch (never to validation or test data), fixed by `train.seed`.

    `flip` and `crop` need images `(H, W, C)`; `noise` needs float features; `mixup` needs a classification
    dataset and makes the targets one-hot floats, so it goes with `categorical_crossentropy`. Everything is off
    by default.
    """

    flip: Literal["none", "horizontal", "vertical", "both"] = "none"
    """Mirror each image with probability 1/2 (`both`: each axis independently). Defaults to `none`."""
    crop: Annotated[int, Field(ge=0)] = 0
    """Zero-pad each image by this many pixels on every side, then crop a random window of the original size.
    Defaults to `0` (off)."""
    noise: NonNegativeFloat = 0.0
    """Standard deviation of Gaussian noise added to the features. Defaults to `0.0` (off)."""
    mixup: NonNegativeFloat = 0.0
    """Mixup's alpha: each example becomes `w x + (1 - w) x'` with another example of the batch and likewise for
    the one-hot targets, `w ~ Beta(alpha, alpha)`. Defaults to `0.0` (off)."""
