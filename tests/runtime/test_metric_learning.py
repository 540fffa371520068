"""Metric learning from a spec: `pairs` and `triplets` datasets drawn from a labelled dataset within each split
(fixed by the seed, labels right, no held-out example in a training pair, preprocessing fitted on training
examples only), the triplet loss against numpy, the `reduce` op's L2 norm, and the Siamese digits example
learning a distance that tells digits apart on held-out pairs."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter

from nnspec.errors import SpecError
from nnspec.runtime.data import DataError, feature_shape, load_dataset, split
from nnspec.specs.data import Dataset as DataSpec
from nnspec.specs.load import load_spec, parse_spec

SPEC = TypeAdapter(DataSpec)
LABELS = np.arange(90) % 4  # 4 classes; class 3 has 22 examples, the others 23 (or 22)


@pytest.fixture
def indexed(tmp_path):
    """A base dataset whose example i is the number i, so every drawn example says which one it is."""
    np.savez(tmp_path / "base.npz", x=np.arange(len(LABELS), dtype=np.float32)[:, None], y=LABELS)
    return lambda name, **options: SPEC.validate_python(
        {"name": name, "of": {"name": "npz", "path": "base.npz"}, **options}), tmp_path


def _ids(data, key: str) -> np.ndarray:
    return data.x[key][:, 0].astype(int)


def _load(spec, folder, seed=0):
    return load_dataset(spec, seed=seed, base_dir=folder)


# --- the datasets -------------------------------------------------------------------------------------------------


def test_pairs_are_labelled_same_class_iff_y_is_1(indexed):
    make, folder = indexed
    data = _load(make("pairs", count=301, positive_fraction=0.3), folder)
    left, right = _ids(data, "left"), _ids(data, "right")
    assert data.feature_shape == {"left": (1,), "right": (1,)} and len(data) == 301
    np.testing.assert_array_equal(data.y, (LABELS[left] == LABELS[right]).astype(np.int64))
    assert data.y.sum() == round(0.3 * 301) and data.classes == ("different", "same")
    assert np.all(left != right)
    assert 0 < data.y[:150].sum() < 150  # positives and negatives are shuffled together


def test_triplets_have_a_positive_of_the_anchors_class_and_a_negative_of_another(indexed):
    make, folder = indexed
    data = _load(make("triplets", count=200), folder)
    anchor, positive, negative = (_ids(data, k) for k in ("anchor", "positive", "negative"))
    assert np.all(LABELS[anchor] == LABELS[positive]) and np.all(anchor != positive)
    assert np.all(LABELS[anchor] != LABELS[negative])
    assert data.y.shape == (200,) and not data.y.any()
    assert len(np.unique(anchor)) > 60 and len(np.unique(negative)) > 60  # spread over the base, not a few


@pytest.mark.parametrize("name", ["pairs", "triplets"])
def test_draws_are_fixed_by_the_seed(indexed, name):
    make, folder = indexed
    spec = make(name, count=100)
    keys = ("left", "right") if name == "pairs" else ("anchor", "positive", "negative")

    def draw(seed):
        train, _ = split(_load(spec, folder, seed), 0.2, seed)
        return np.stack([_ids(train, k) for k in keys])

    assert np.array_equal(draw(1), draw(1))
    assert not np.array_equal(draw(1), draw(2))


@pytest.mark.parametrize("name", ["pairs", "triplets"])
def test_each_split_draws_only_from_its_own_examples(indexed, name):
    make, folder = indexed
    data = _load(make(name, count=500), folder)
    keys = tuple(data.x)
    train, test = split(data, 0.2, seed=3)
    train, val = split(train, 0.25, seed=3)
    assert (len(train), len(val), len(test)) == (300, 100, 100)
    used = {part: set(np.concatenate([_ids(d, k) for k in keys]))
            for part, d in (("train", train), ("val", val), ("test", test))}
    assert not used["train"] & used["test"] and not used["val"] & used["test"] and not used["train"] & used["val"]
    # the held-out pairs come from exactly the examples the base dataset itself holds out
    base = load_dataset(SPEC.validate_python({"name": "npz", "path": "base.npz"}), base_dir=folder)
    base_train, base_test = split(base, 0.2, seed=3)
    assert used["test"] <= set(base_test.x[:, 0].astype(int)) and len(used["test"]) > 0.8 * len(base_test)
    assert used["train"] | used["val"] <= set(base_train.x[:, 0].astype(int))


def test_the_base_preprocessing_is_fitted_on_the_training_examples_only():
    spec = SPEC.validate_python({"name": "pairs", "of": "iris", "count": 200})
    train, test = split(load_dataset(spec, seed=0), 0.3, seed=0)
    base_train, _ = split(load_dataset(SPEC.validate_python({"name": "iris"})), 0.3, seed=0)
    assert train.preprocessing == base_train.preprocessing == test.preprocessing and "standardize" in train.preprocessing
    mean = np.asarray(train.preprocessing["standardize"]["mean"])
    assert not np.allclose(mean, load_dataset(SPEC.validate_python({"name": "iris"})).x.mean(0))  # not all of iris
    np.testing.assert_allclose(np.concatenate([train.x["left"], train.x["right"]]).mean(0), 0.0, atol=0.25)


def test_shapes_are_known_without_loading_and_the_base_takes_options():
    spec = SPEC.validate_python({"name": "triplets", "of": {"name": "shapes", "size": 16, "samples": 40}})
    assert feature_shape(spec) == {k: (16, 16, 1) for k in ("anchor", "positive", "negative")}
    assert load_dataset(spec, seed=0).feature_shape == feature_shape(spec)


@pytest.mark.parametrize("base, wrong", [("token_copy", "no class label per example"),
                                         ({"name": "graphs", "samples": 4}, "several arrays")])
def test_a_base_without_one_label_per_example_is_refused_at_of(base, wrong):
    with pytest.raises(DataError, match=wrong) as e:
        load_dataset(SPEC.validate_python({"name": "pairs", "of": base, "count": 10}))
    assert e.value.field == "of" and "Received: of=" in str(e.value)


def test_a_split_too_small_to_draw_from_says_so(indexed):
    make, folder = indexed
    with pytest.raises(DataError, match="no class with two examples") as e:
        split(_load(make("pairs", count=50, positive_fraction=1.0), folder), 0.01, seed=0)  # 1 held-out example
    assert e.value.field == "count"


SIAMESE_WRONG_INPUTS = """\
name: wrong_inputs
inputs:
  a: {shape: [8, 8, 1]}
  b: {shape: [8, 8, 1]}
nodes:
  - {id: diff, op: subtract, from: [a, b]}
  - {op: flatten}
  - {id: distance, op: reduce, reduction: l2, keepdims: true}
train:
  data: {name: pairs, of: digits, count: 100}
  loss: contrastive
  metrics: []
"""


def test_inputs_not_named_after_the_pairs_are_refused_at_the_data_line(tmp_path):
    from nnspec.runtime.train import train

    with pytest.raises(SpecError, match=r"spec.yaml:10:\d+: train.data: .*no array for input 'a'; it gives left, "
                                        r"right"):
        train(parse_spec(SIAMESE_WRONG_INPUTS, "spec.yaml"), tmp_path / "run", verbose=0)
    bad_base = SIAMESE_WRONG_INPUTS.replace("of: digits", "of: {name: npz, path: missing.npz}")
    with pytest.raises(SpecError, match=r"train.data.of: the file .*missing.npz does not exist"):
        train(parse_spec(bad_base, str(tmp_path / "spec.yaml")), tmp_path / "run", verbose=0)


# --- losses and the reduce op ------------------------------------------------------------------------------------


@pytest.mark.keras
def test_triplet_loss_matches_numpy():
    from nnspec.runtime.objectives import make_loss
    from nnspec.specs.train import Loss

    rng = np.random.default_rng(0)
    e = rng.standard_normal((16, 3, 5)).astype(np.float32)
    near = ((e[:, 0] - e[:, 1]) ** 2).sum(-1)
    far = ((e[:, 0] - e[:, 2]) ** 2).sum(-1)
    want = np.maximum(near - far + 0.7, 0).mean()
    assert 0 < (near - far + 0.7 > 0).mean() < 1  # both sides of the hinge are exercised
    got = float(make_loss(Loss(name="triplet", margin=0.7))(np.zeros(16, np.float32), e))
    assert got == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match=r"shape \(batch, 3, d\)"):
        make_loss(Loss(name="triplet"))(np.zeros(4, np.float32), e[:4, :2])


@pytest.mark.keras
def test_reduce_l2_is_the_euclidean_norm_with_a_finite_gradient_at_zero():
    import tensorflow as tf

    from nnspec.runtime.custom_layers.reduce import Reduce

    x = np.random.default_rng(1).standard_normal((4, 3, 6)).astype(np.float32)
    np.testing.assert_allclose(Reduce("l2", -1, True)(x).numpy(), np.linalg.norm(x, axis=-1, keepdims=True),
                               rtol=1e-5)
    np.testing.assert_allclose(Reduce("max", [1, 2])(x).numpy(), x.max(axis=(1, 2)), rtol=1e-6)
    zero = tf.Variable(np.zeros((2, 4), np.float32))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(Reduce("l2")(zero))
    assert np.isfinite(tape.gradient(y, zero).numpy()).all()


# --- training ----------------------------------------------------------------------------------------------------


@pytest.mark.keras
def test_siamese_example_learns_a_distance_that_verifies_held_out_pairs(tmp_path):
    from nnspec.runtime.train import train

    spec = load_spec("example:siamese_digits", ["train.data.count=2000", "train.epochs=4"])
    run = train(spec, tmp_path / "run", verbose=0)
    assert run.model.count_params() == 8928  # the tower's weights once: both images go through the same tower
    losses = run.history["loss"]
    assert losses[-1] < 0.6 * losses[0]
    cfg = spec.train
    _, test = split(load_dataset(cfg.data, seed=cfg.seed), cfg.test_split, cfg.seed)
    distance = run.model.predict(test.x, verbose=0)[:, 0]
    accuracy = np.mean((distance < cfg.loss.margin / 2) == (test.y == 1))
    assert test.y.mean() == pytest.approx(0.5, abs=0.02) and accuracy > 0.8  # chance is 0.5
