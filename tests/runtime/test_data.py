"""Datasets and augmentation: every registered dataset loads with its documented shapes and is fixed by the seed,
the user's files (npz, csv, image folders, TFRecords) round-trip, bad files give a `DataError` naming the key
of `train.data`, and augmentations do what they say, the same way for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from nnspec.runtime.data import DATASETS, READERS, DataError, feature_shape, load_dataset, split
from nnspec.specs.data import Augment, Csv, Dataset, Graphs, ImageFolder, Npz, PointClouds, TFRecord
from nnspec.specs.train import TrainSpec

SPEC = TypeAdapter(Dataset)

# Small options so every generated dataset loads in milliseconds.
SMALL = {
    "sine_waves": {"samples": 60},
    "token_copy": {"samples": 50, "length": 6, "vocab": 5},
    "shapes": {"samples": 40, "size": 16},
    "point_clouds": {"samples": 20, "points": 64},
    "graphs": {"samples": 10, "nodes": 12, "communities": 3, "features": 5, "degree": 2},
}
GENERATED = sorted(SMALL)


def _spec(name: str, **options):
    return SPEC.validate_python({"name": name, **SMALL.get(name, {}), **options})


# --- every registered dataset ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_has_the_shapes_and_types_it_promises(name):
    spec = _spec(name)
    data = load_dataset(spec, seed=0)
    assert data.feature_shape == feature_shape(spec)
    arrays = data.x.values() if isinstance(data.x, dict) else [data.x]
    assert all(len(a) == len(data.y) > 0 for a in arrays)
    assert data.y.dtype == np.int64 and 0 <= data.y.min() and data.y.max() < data.num_classes
    assert len(set(data.classes)) == data.num_classes >= 2
    if not isinstance(data.x, dict):
        assert data.x.dtype == (np.int32 if name == "token_copy" else np.float32)


@pytest.mark.parametrize("name", GENERATED)
def test_generated_datasets_are_fixed_by_the_seed(name):
    spec = _spec(name)
    a, b, c = load_dataset(spec, seed=1), load_dataset(spec, seed=1), load_dataset(spec, seed=2)
    flat = lambda d: [*(d.x.values() if isinstance(d.x, dict) else [d.x]), d.y]
    assert all(np.array_equal(p, q) for p, q in zip(flat(a), flat(b)))
    assert not all(np.array_equal(p, q) for p, q in zip(flat(a), flat(c)))


@pytest.mark.parametrize("name, options, classes", [
    ("shapes", {"samples": 41, "shapes": ["circle", "cross", "square"]}, 3),
    ("point_clouds", {"samples": 23}, 5),
    ("sine_waves", {"samples": 61, "classes": 4}, 4),
])  # fmt: skip
def test_generated_classes_are_balanced(name, options, classes):
    counts = np.bincount(load_dataset(_spec(name, **options), seed=0).y, minlength=classes)
    assert len(counts) == classes and counts.max() - counts.min() <= 1


@pytest.mark.parametrize("name, features", [("wine", 13), ("breast_cancer", 30)])
def test_tables_are_standardized_on_the_training_split_only(name, features):
    data = load_dataset(_spec(name))
    assert data.feature_shape == (features,) and data.fit is not None
    train, test = split(data, 0.2, seed=0)
    assert np.allclose(train.x.mean(axis=0), 0, atol=1e-4) and np.allclose(train.x.std(axis=0), 1, atol=1e-3)
    assert not np.allclose(test.x.mean(axis=0), 0, atol=1e-3)
    assert set(train.preprocessing) == {"standardize"}


def test_token_copy_targets_are_the_tokens_or_their_reverse():
    copy = load_dataset(_spec("token_copy"), seed=0)
    backwards = load_dataset(_spec("token_copy", reverse=True), seed=0)
    assert copy.y.shape == copy.x.shape == (50, 6) and np.array_equal(copy.y, copy.x)
    assert np.array_equal(backwards.y, backwards.x[:, ::-1]) and copy.x.max() == 4


def test_shapes_without_noise_have_two_levels_per_channel_and_fit_in_unit_range():
    data = load_dataset(_spec("shapes", noise=0.0, channels=3), seed=0)
    assert data.x.shape == (40, 16, 16, 3) and 0 <= data.x.min() and data.x.max() <= 1
    for image in data.x[:10]:
        levels = np.unique(image.reshape(-1, 3), axis=0)
        assert len(levels) == 2  # the shape's colour and the background's
        assert 0.6 <= levels.max() and levels.min() <= 0.2


def test_shapes_differ_in_their_filled_area():
    """Same radius range: a cross covers far less than a circle, so the mean brightness tells them apart."""
    data = load_dataset(_spec("shapes", samples=200, noise=0.0, shapes=["circle", "cross"]), seed=0)
    filled = (data.x > 0.5).mean(axis=(1, 2, 3))
    assert filled[data.y == 0].mean() > 1.5 * filled[data.y == 1].mean()


def test_point_clouds_lie_on_their_surfaces():
    spheres = load_dataset(PointClouds(samples=6, points=128, shapes=["sphere", "cube"], jitter=0.0), seed=0)
    radius = np.linalg.norm(spheres.x, axis=-1)
    on_sphere = radius[spheres.y == 0]
    assert np.allclose(on_sphere, on_sphere[:, :1], atol=1e-5)  # one radius per cloud: its random scale
    assert 0.7 <= on_sphere.min() and on_sphere.max() <= 1.3
    cube = radius[spheres.y == 1] / radius[spheres.y == 1].min(axis=1, keepdims=True)
    assert cube.max() > 1.3  # corners are farther than face centres (up to sqrt(3))


def test_graphs_give_edges_both_ways_and_the_renormalized_adjacency():
    spec = Graphs(samples=4, nodes=20, communities=4, features=6, degree=3, p_in=0.9)
    data = load_dataset(spec, seed=0)
    x = data.x
    assert data.input_names == ("nodes", "senders", "receivers", "adjacency")
    assert data.feature_shape == {"nodes": (20, 6), "senders": (120,), "receivers": (120,), "adjacency": (20, 20)}
    assert x["senders"].dtype == x["receivers"].dtype == np.int32 and data.y.shape == (4, 20)
    inside = []
    for g in range(4):
        s, r, labels = x["senders"][g], x["receivers"][g], data.y[g]
        assert set(zip(s, r)) == set(zip(r, s)) and not np.any(s == r)
        assert np.array_equal(np.bincount(labels), [5, 5, 5, 5])
        a = np.eye(20)
        a[s, r] = 1
        d = a.sum(1) ** -0.5
        assert np.allclose(x["adjacency"][g], d[:, None] * a * d[None, :], atol=1e-6)
        inside.append(np.mean(labels[s] == labels[r]))
    assert 0.8 < np.mean(inside) <= 1.0


def test_graph_options_that_cannot_work_are_data_errors():
    with pytest.raises(DataError) as e:
        load_dataset(Graphs(communities=4, features=3))
    assert e.value.field == "features" and "Received: features=3" in str(e.value)
    with pytest.raises(DataError) as e:
        load_dataset(Graphs(nodes=5, communities=3))
    assert e.value.field == "nodes"


def test_split_takes_every_input_array_and_keeps_per_node_labels():
    data = load_dataset(_spec("graphs"), seed=0)
    train, test = split(data, 0.3, seed=0)
    assert (len(train), len(test)) == (7, 3)
    assert all(v.shape[0] == 3 for v in test.x.values()) and test.y.shape == (3, 12)
    row = np.flatnonzero((data.x["nodes"] == test.x["nodes"][0]).all(axis=(1, 2)))
    assert np.array_equal(data.x["adjacency"][row[0]], test.x["adjacency"][0])


def test_train_spec_accepts_file_datasets_and_short_forms():
    spec = TrainSpec(data={"name": "npz", "path": "d.npz", "x": ["a", "b"]}, loss="mean_squared_error")
    assert isinstance(spec.data, Npz) and spec.data.x == ["a", "b"]
    assert TrainSpec(data="wine", loss="mean_squared_error").data.name == "wine"
    with pytest.raises(ValidationError):
        TrainSpec(data={"name": "csv", "path": "t.csv"}, loss="mean_squared_error")  # label is required
    assert set(READERS) == {"npz", "csv", "image_folder", "tfrecord"} and not set(READERS) & set(DATASETS)


# --- npz ---------------------------------------------------------------------------------------------------------


def _data_error(spec, tmp_path, field: str) -> DataError:
    with pytest.raises(DataError) as e:
        load_dataset(spec, base_dir=tmp_path)
    assert e.value.field == field and e.value.section == "data"
    assert f"Received: {field}=" in str(e.value)
    return e.value


def test_npz_round_trip_with_one_or_several_feature_arrays(tmp_path):
    rng = np.random.default_rng(0)
    images, extra, labels = rng.random((12, 4, 4, 1)), rng.integers(0, 9, (12, 3)), np.arange(12) % 3
    np.savez(tmp_path / "d.npz", x=images, tokens=extra, y=labels, names=np.array(list("abcabcabcabc")))
    one = load_dataset(Npz(path="d.npz"), base_dir=tmp_path)
    assert one.x.dtype == np.float32 and np.allclose(one.x, images) and one.classes == ("0", "1", "2")
    two = load_dataset(Npz(path="d.npz", x=["x", "tokens"], y="names"), base_dir=tmp_path)
    assert two.feature_shape == {"x": (4, 4, 1), "tokens": (3,)} and two.x["tokens"].dtype == np.int32
    assert two.classes == ("a", "b", "c") and np.array_equal(two.y, labels)
    named = load_dataset(Npz(path=str(tmp_path / "d.npz"), classes=["r", "g", "b"]))  # absolute path
    assert named.classes == ("r", "g", "b")


def test_npz_float_labels_are_regression_targets(tmp_path):
    np.savez(tmp_path / "r.npz", x=np.zeros((5, 2)), y=np.linspace(0, 1, 5))
    data = load_dataset(Npz(path="r.npz"), base_dir=tmp_path)
    assert data.classes == () and data.y.dtype == np.float32
    assert len(split(data, 0.4, seed=0)[1]) == 2  # no stratification without classes


def test_npz_errors_name_the_key(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2)), y=np.arange(3), features=np.zeros((4, 2)))
    (tmp_path / "bad.npz").write_text("not a zip")
    error = _data_error(Npz(path="missing.npz"), tmp_path, "path")
    assert "does not exist" in str(error) and "relative to the spec's directory" in str(error)
    assert "not a readable .npz file" in str(_data_error(Npz(path="bad.npz"), tmp_path, "path"))
    assert "'features'" in str(_data_error(Npz(path="d.npz", x="image"), tmp_path, "x"))  # lists the keys
    _data_error(Npz(path="d.npz", y="labels"), tmp_path, "y")
    assert "3 labels" in str(_data_error(Npz(path="d.npz"), tmp_path, "x"))  # 4 examples, 3 labels
    np.savez(tmp_path / "n.npz", x=np.zeros((3, 2)), y=np.array([0, 1, 5]))
    _data_error(Npz(path="n.npz", classes=["a", "b"]), tmp_path, "classes")


# --- csv ---------------------------------------------------------------------------------------------------------

TABLE = "height,colour,weight,kind\n1.0,red,10,cat\n2.0,blue,20,dog\n\n3.0,red,30,cat\n4.0,red,40,bird\n"


def test_csv_round_trip(tmp_path):
    (tmp_path / "t.csv").write_text(TABLE)
    data = load_dataset(Csv(path="t.csv", label="kind", standardize=False), base_dir=tmp_path)
    assert data.classes == ("bird", "cat", "dog") and list(data.y) == [1, 2, 1, 0]
    assert data.x.dtype == np.float32 and data.x.tolist() == [[1, 10], [2, 20], [3, 30], [4, 40]]
    chosen = load_dataset(Csv(path="t.csv", label="height", features=["weight"]), base_dir=tmp_path)
    assert chosen.classes == ("1.0", "2.0", "3.0", "4.0") and chosen.feature_shape == (1,)
    train, _ = split(chosen, 0.25, seed=0)
    assert np.allclose(train.x.mean(), 0, atol=1e-6) and train.preprocessing["standardize"]["std"]


def test_csv_numeric_labels_sort_as_numbers(tmp_path):
    (tmp_path / "t.csv").write_text("x,y\n1,10\n2,9\n3,10\n")
    assert load_dataset(Csv(path="t.csv", label="y"), base_dir=tmp_path).classes == ("9", "10")


def test_csv_errors_name_the_key(tmp_path):
    (tmp_path / "t.csv").write_text(TABLE)
    (tmp_path / "gap.csv").write_text("a,b,kind\n1,2,x\n3,,y\n")
    (tmp_path / "ragged.csv").write_text("a,kind\n1,x\n2\n")
    (tmp_path / "header.csv").write_text("a,kind\n")
    _data_error(Csv(path="nope.csv", label="kind"), tmp_path, "path")
    assert "'kind'" in str(_data_error(Csv(path="t.csv", label="species"), tmp_path, "label"))
    _data_error(Csv(path="t.csv", label="kind", features=["colour"]), tmp_path, "features")
    _data_error(Csv(path="t.csv", label="kind", features=["size"]), tmp_path, "features")
    assert "row 3" in str(_data_error(Csv(path="gap.csv", label="kind"), tmp_path, "features"))
    assert "row 3" in str(_data_error(Csv(path="ragged.csv", label="kind"), tmp_path, "path"))
    _data_error(Csv(path="header.csv", label="kind"), tmp_path, "path")
    _data_error(Csv(path=".", label="kind"), tmp_path, "path")  # a folder, not a file


# --- image folders and TFRecords (TensorFlow decodes and writes) ----------------------------------------------


def _png(path, image: np.ndarray) -> None:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(image).numpy())


@pytest.mark.keras
def test_image_folder_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 6, 8, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        _png(tmp_path / "pics" / ("dog" if i % 2 else "cat") / f"{i}.png", image)
    (tmp_path / "pics" / "cat" / "notes.txt").write_text("ignored")
    data = load_dataset(ImageFolder(path="pics", image_size=[6, 8]), base_dir=tmp_path)
    assert data.classes == ("cat", "dog") and list(data.y) == [0, 0, 0, 1, 1]
    assert data.x.dtype == np.float32 and np.allclose(data.x[0], images[0] / 255, atol=1e-6)
    assert np.allclose(data.x[3], images[1] / 255, atol=1e-6)  # dog/1.png after the three cats
    gray_spec = ImageFolder(path="pics", image_size=4, color_mode="grayscale")
    gray = load_dataset(gray_spec, base_dir=tmp_path)  # resized
    assert gray.x.shape == (5, 4, 4, 1) and gray.feature_shape == feature_shape(gray_spec)
    assert 0 <= gray.x.min() and gray.x.max() <= 1 and gray.x.std() > 0.05


@pytest.mark.keras
def test_image_folder_errors_name_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "one" / "cat").mkdir(parents=True)
    _png(tmp_path / "bad" / "cat" / "ok.png", np.zeros((2, 2, 1), np.uint8))
    (tmp_path / "bad" / "cat" / "broken.png").write_bytes(b"not a png")
    _data_error(ImageFolder(path="nowhere"), tmp_path, "path")
    assert "no class folders" in str(_data_error(ImageFolder(path="empty"), tmp_path, "path"))
    assert "'cat' has no images" in str(_data_error(ImageFolder(path="one"), tmp_path, "path"))
    assert "cat/broken.png" in str(_data_error(ImageFolder(path="bad"), tmp_path, "path"))


def _records(path, examples: list[dict]) -> None:
    """Write `tf.train.Example`s: float arrays as float lists, ints as int64 lists, bytes as bytes lists."""
    import tensorflow as tf

    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        value = np.asarray(value).ravel()
        if value.dtype.kind == "f":
            return tf.train.Feature(float_list=tf.train.FloatList(value=value))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=value))

    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            features = tf.train.Features(feature={k: feature(v) for k, v in example.items()})
            writer.write(tf.train.Example(features=features).SerializeToString())


@pytest.mark.keras
def test_tfrecord_round_trip_in_each_encoding(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    floats, pixels = rng.random((6, 3, 2)).astype(np.float32), rng.integers(0, 256, (6, 4, 4, 1), np.uint8)
    for part in (0, 1):  # two files, one glob
        rows = range(3 * part, 3 * part + 3)
        _records(tmp_path / f"train-{part}.tfrecord",
                 [{"image": floats[i], "raw": pixels[i].tobytes(), "png": tf.io.encode_png(pixels[i]).numpy(),
                   "label": i % 2} for i in rows])  # fmt: skip
    data = load_dataset(TFRecord(path="train-*.tfrecord", shape=[3, 2]), base_dir=tmp_path)
    assert data.x.dtype == np.float32 and np.array_equal(data.x, floats) and list(data.y) == [0, 1] * 3
    raw = load_dataset(TFRecord(path="train-*.tfrecord", x="raw", shape=[4, 4, 1], dtype="uint8",
                                encoding="raw", classes=["even", "odd"]), base_dir=tmp_path)
    assert np.allclose(raw.x, pixels / 255) and raw.classes == ("even", "odd")
    png = load_dataset(TFRecord(path="train-1.tfrecord", x="png", shape=[4, 4, 1], dtype="uint8",
                                encoding="image"), base_dir=tmp_path)
    assert np.allclose(png.x, pixels[3:] / 255) and feature_shape(TFRecord(path="p", shape=[4, 4, 1])) == (4, 4, 1)


@pytest.mark.keras
def test_tfrecord_errors_name_the_key(tmp_path):
    _records(tmp_path / "d.tfrecord", [{"image": np.zeros(4, np.float32), "label": 1, "blob": b"xy"}])
    (tmp_path / "junk.tfrecord").write_bytes(b"\x00" * 40)
    _data_error(TFRecord(path="none-*.tfrecord", shape=[4]), tmp_path, "path")
    assert "'blob'" in str(_data_error(TFRecord(path="d.tfrecord", x="pixels", shape=[4]), tmp_path, "x"))
    _data_error(TFRecord(path="d.tfrecord", y="class", shape=[4]), tmp_path, "y")
    assert "needs 6" in str(_data_error(TFRecord(path="d.tfrecord", shape=[2, 3]), tmp_path, "shape"))
    _data_error(TFRecord(path="d.tfrecord", x="blob", shape=[2]), tmp_path, "encoding")
    _data_error(TFRecord(path="d.tfrecord", x="blob", shape=[2, 2, 1], encoding="image"), tmp_path, "x")
    _data_error(TFRecord(path="junk.tfrecord", shape=[4]), tmp_path, "path")


# --- augmentation ------------------------------------------------------------------------------------------------


def _augmented(x, y, seed=0, num_classes=None, epochs=1, first_batch=0, **options):
    """The augmented batches of `(x, y)` in batches of 16, for `epochs` passes in one stream (as the trainer
    builds it), split back into epochs."""
    import tensorflow as tf

    from nnspec.runtime.augment import augment_batches

    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    ds = augment_batches(batches.repeat(epochs), Augment(**options), seed, num_classes, first_batch=first_batch)
    out = [(bx.numpy(), by.numpy()) for bx, by in ds]
    per_epoch = len(out) // epochs
    return [out[k * per_epoch:(k + 1) * per_epoch] for k in range(epochs)]


def _images(n=32, size=6):
    return np.random.default_rng(0).random((n, size, size, 2)).astype(np.float32)


def _concat(batches, part=0):
    return np.concatenate([b[part] for b in batches])


@pytest.mark.keras
@pytest.mark.parametrize("flip, axes", [("horizontal", [(1,)]), ("vertical", [(0,)]),
                                        ("both", [(0,), (1,), (0, 1)])])  # axes of one (H, W, C) image
def test_flip_mirrors_some_images_and_keeps_the_others(flip, axes):
    x = _images()
    (batches,) = _augmented(x, np.zeros(32, np.int64), flip=flip)
    out = _concat(batches)
    kinds = set()
    for before, after in zip(x, out):
        matches = [a for a in [(), *axes] if np.array_equal(after, np.flip(before, a) if a else before)]
        assert matches
        kinds.add(matches[0])
    assert kinds == {(), *axes}  # 32 images: every choice shows up


@pytest.mark.keras
def test_crop_takes_a_window_of_the_zero_padded_image():
    x, pad = _images(size=5), 2
    (batches,) = _augmented(x, np.zeros(32, np.int64), crop=pad)
    out = _concat(batches)
    assert out.shape == x.shape
    offsets = set()
    for before, after in zip(x, out):
        padded = np.pad(before, [(pad, pad), (pad, pad), (0, 0)])
        found = [(i, j) for i in range(2 * pad + 1) for j in range(2 * pad + 1)
                 if np.array_equal(after, padded[i:i + 5, j:j + 5])]
        assert found
        offsets.add(found[0])
    assert len(offsets) > 5


@pytest.mark.keras
def test_noise_has_the_requested_deviation():
    x = np.zeros((64, 8, 8, 1), np.float32)
    (batches,) = _augmented(x, np.zeros(64, np.int64), noise=0.3)
    out = _concat(batches)
    assert abs(out.std() - 0.3) < 0.015 and abs(out.mean()) < 0.01


@pytest.mark.keras
def test_mixup_mixes_features_and_one_hot_labels_alike():
    """Features equal to the one-hot labels must come out equal to the mixed labels."""
    labels = np.arange(48) % 4
    x = np.eye(4, dtype=np.float32)[labels]
    (batches,) = _augmented(x, labels, num_classes=4, mixup=0.4)
    out_x, out_y = _concat(batches), _concat(batches, 1)
    assert out_y.dtype == np.float32 and out_y.shape == (48, 4)
    assert np.allclose(out_y.sum(1), 1, atol=1e-6) and out_y.min() >= 0
    assert np.allclose(out_x, out_y, atol=1e-6)
    assert np.all((out_y > 1e-6).sum(1) <= 2)  # a convex combination of two examples
    assert np.mean(out_y.max(1) < 0.99) > 0.2  # and really mixed, often


@pytest.mark.keras
def test_the_same_seed_gives_the_same_batches_and_each_epoch_new_ones():
    x, y = _images(), np.arange(32) % 3
    options = {"flip": "both", "crop": 1, "noise": 0.1, "mixup": 0.2, "num_classes": 3}
    first, second = _augmented(x, y, seed=5, epochs=2, **options)
    (again,) = _augmented(x, y, seed=5, **options)
    (other,) = _augmented(x, y, seed=6, **options)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    assert not np.allclose(_concat(first), _concat(second))
    assert not np.allclose(_concat(first), _concat(other))
    # A stream started at the second epoch's first batch (a resumed run) draws what the second epoch drew.
    (resumed,) = _augmented(x, y, seed=5, first_batch=len(first), **options)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(second, resumed))


@pytest.mark.keras
def test_augmentations_that_do_not_fit_the_data_are_errors():
    import tensorflow as tf

    from nnspec.runtime.augment import augment_batches

    def error(x, y, num_classes=None, **options) -> DataError:
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
        with pytest.raises(DataError) as e:
            augment_batches(ds, Augment(**options), 0, num_classes)
        assert e.value.section == "augment" and "Received:" in str(e.value)
        return e.value

    assert error(np.zeros((8, 5), np.float32), np.zeros(8, np.int64), flip="horizontal").field == "flip"
    assert error(np.zeros((8, 5), np.float32), np.zeros(8, np.int64), crop=2).field == "crop"
    assert error(np.zeros((8, 5), np.int32), np.zeros(8, np.int64), noise=0.1).field == "noise"
    per_position = np.zeros((8, 5), np.int64)
    assert error(np.zeros((8, 5), np.float32), per_position, num_classes=3, mixup=1.0).field == "mixup"
    assert error(np.zeros((8, 5), np.float32), np.zeros(8, np.int64), mixup=1.0).field == "mixup"  # no classes
    assert error({"a": np.zeros((8, 2), np.float32)}, np.zeros(8, np.int64), noise=0.1).field == "noise"
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((8, 5), np.int32), np.zeros(8))).batch(4)
    assert augment_batches(ds, Augment(), 0, None) is ds  # all off: untouched, whatever the data
