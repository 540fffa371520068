"""`regime: distill`: the distillation loss against its formula (T² scaling, probabilities as log-probabilities),
alpha = 1 is supervised learning, a frozen teacher, the teacher's diagnostics, and a short run on a tiny teacher
that keeps the bare student and resumes exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnspec.errors import SpecError
from nnspec.specs.load import load_spec

pytestmark = pytest.mark.keras

TEACHER = """\
name: teacher
inputs:
  features: {shape: [4]}
nodes:
  - {id: hidden, op: dense, units: 16, activation: relu}
  - {id: species, op: dense, units: 3}
train:
  data: iris
  loss: {name: sparse_categorical_crossentropy, from_logits: true}
  optimizer: {name: adam, learning_rate: 0.02}
  epochs: 3
  batch_size: 16
  seed: 2
"""

STUDENT = """\
name: student
inputs:
  features: {shape: [4]}
nodes:
  - {id: hidden, op: dense, units: 4, activation: relu}
  - {id: species, op: dense, units: 3, activation: softmax}
train:
  data: iris
  regime: {name: distill, teacher: teacher_run, temperature: 3.0, alpha: 0.2}
  loss: sparse_categorical_crossentropy
  optimizer: {name: adam, learning_rate: 0.02}
  epochs: 3
  batch_size: 16
  seed: 2
"""


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _kd_numpy(student_logits, teacher_logits, t):
    """Hinton et al. 2015: T² · KL(softmax(z_t/T) || softmax(z_s/T)), averaged over the batch."""
    log_pt, log_ps = _log_softmax(teacher_logits / t), _log_softmax(student_logits / t)
    return t * t * np.mean(np.sum(np.exp(log_pt) * (log_pt - log_ps), axis=-1))


RNG = np.random.default_rng(0)
Z_S = RNG.normal(size=(6, 5)).astype(np.float32) * 2.0
Z_T = RNG.normal(size=(6, 5)).astype(np.float32) * 3.0


@pytest.mark.parametrize("t", [1.0, 4.0])
def test_distillation_loss_is_t_squared_kl_of_the_tempered_softmaxes(t):
    from nnspec.runtime.regimes.distill import distillation_loss

    got = float(distillation_loss(Z_S, Z_T, t))
    np.testing.assert_allclose(got, _kd_numpy(Z_S, Z_T, t), rtol=1e-5)
    assert got > 0
    # T² keeps it from vanishing: without it the term at T = 4 would be ~16 times smaller than the formula.
    if t > 1:
        kl_alone = _kd_numpy(Z_S, Z_T, t) / (t * t)
        assert got == pytest.approx(t * t * kl_alone, rel=1e-5) and got > 8 * kl_alone


@pytest.mark.parametrize("student_logits, teacher_logits", [(False, False), (True, False), (False, True)])
def test_probabilities_are_distilled_through_their_logs(student_logits, teacher_logits):
    """softmax(log p / T) is p tempered: probabilities give the same loss as the logits they came from."""
    from nnspec.runtime.regimes.distill import distillation_loss

    s = Z_S if student_logits else _softmax(Z_S)
    te = Z_T if teacher_logits else _softmax(Z_T)
    got = float(distillation_loss(s, te, 4.0, student_logits=student_logits, teacher_logits=teacher_logits))
    np.testing.assert_allclose(got, _kd_numpy(Z_S, Z_T, 4.0), rtol=1e-4)
    # and it is the formula on the clipped log-probabilities themselves
    log = lambda p, is_logits: p if is_logits else np.log(np.clip(p, 1e-7, 1.0))
    np.testing.assert_allclose(got, _kd_numpy(log(s, student_logits), log(te, teacher_logits), 4.0), rtol=1e-5)


def _models(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu"),
                                keras.layers.Dense(3, activation="softmax")])
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                keras.layers.Dense(3)])
    return student, teacher


def _distiller(student, teacher, alpha, t=2.0):
    import keras

    from nnspec.runtime.regimes.distill import _distiller_class

    model = _distiller_class()(student, teacher, hard_loss=keras.losses.SparseCategoricalCrossentropy(),
                               metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                               temperature=t, alpha=alpha, student_logits=False, teacher_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


X = RNG.normal(size=(20, 4)).astype(np.float32)
Y = RNG.integers(0, 3, size=20)


def test_alpha_one_is_supervised_learning():
    import keras

    student, teacher = _models()
    reference = keras.models.clone_model(student)
    reference.set_weights(student.get_weights())
    reference.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    model = _distiller(student, teacher, alpha=1.0)

    got = model.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    want = reference.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-6)
    np.testing.assert_allclose(got["hard_loss"], want["loss"], rtol=1e-6)
    assert got["accuracy"] == want["accuracy"] and got["distill_loss"] > 0
    # one step trains the student exactly as supervised learning does
    model.train_on_batch(X, Y)
    reference.train_on_batch(X, Y)
    for a, b in zip(student.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_the_loss_mixes_both_terms_and_only_the_student_learns():
    from nnspec.runtime.regimes.distill import distillation_loss

    student, teacher = _models()
    model = _distiller(student, teacher, alpha=0.3, t=2.0)
    logs = model.evaluate(X, Y, batch_size=20, verbose=0, return_dict=True)
    hard = float(np.mean(-np.log(student.predict(X, verbose=0)[np.arange(20), Y])))
    soft = float(distillation_loss(student.predict(X, verbose=0), teacher.predict(X, verbose=0), 2.0,
                                   student_logits=False))
    np.testing.assert_allclose([logs["hard_loss"], logs["distill_loss"]], [hard, soft], rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], 0.3 * hard + 0.7 * soft, rtol=1e-5)

    before_t, before_s = teacher.get_weights(), student.get_weights()
    assert len(model.trainable_variables) == len(student.trainable_variables)  # the teacher is not tracked
    model.fit(X, Y, batch_size=10, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before_t, teacher.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(before_s, student.get_weights()))


# --- diagnostics ----------------------------------------------------------------------------------------------------


def _fake_run(folder, text):
    """A run directory as `check` sees it: spec.yaml (never trained) and a model.keras placeholder."""
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(text, encoding="utf-8")
    (folder / "model.keras").write_bytes(b"")
    return folder


def _problems(tmp_path, student=STUDENT, *overrides):
    from nnspec.runtime.train import train

    (tmp_path / "student.yaml").write_text(student, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        train(load_spec(tmp_path / "student.yaml", list(overrides)), tmp_path / "out", verbose=0)
    assert not (tmp_path / "out").exists()
    return info.value.diagnostics


def _line_of(text, key):
    return next(i for i, line in enumerate(text.splitlines(), 1) if key in line)


def test_a_missing_teacher_is_located_at_teacher(tmp_path):
    [d] = _problems(tmp_path)
    assert d.path == "train.regime.teacher" and d.loc.line == _line_of(STUDENT, "teacher:")
    assert f"{tmp_path / 'teacher_run'} does not exist" in d.message and "nnspec train" in d.message
    assert d.message.endswith("Received: teacher='teacher_run'")


def test_a_folder_that_is_no_run_directory(tmp_path):
    (tmp_path / "teacher_run").mkdir()
    (tmp_path / "teacher_run" / "spec.yaml").write_text(TEACHER, encoding="utf-8")
    [d] = _problems(tmp_path)
    assert d.path == "train.regime.teacher" and "is not a run directory" in d.message and "model.keras" in d.message


@pytest.mark.parametrize("change, message", [
    (("shape: [4]", "shape: [5]"), "the teacher reads inputs features (5,) but the student reads features (4,)"),
    (("units: 3}", "units: 4}"), "the teacher's output has shape (4,) but the student's has (3,)"),
])  # fmt: skip
def test_mismatched_shapes_are_located_at_teacher(tmp_path, change, message):
    _fake_run(tmp_path / "teacher_run", TEACHER.replace(*change))
    [d] = _problems(tmp_path)
    assert d.path == "train.regime.teacher" and d.loc.line == _line_of(STUDENT, "teacher:")
    assert message in d.message


@pytest.mark.parametrize("change, override, path, message", [
    (("data: iris", "data: wine"), None, "train.data", "the teacher was trained on {'name': 'wine'}"),
    (None, "train.seed=5", "train.seed", "the teacher was trained with seed=2"),
    (None, "train.test_split=0.3", "train.test_split", "the teacher was trained with test_split=0.2"),
])  # fmt: skip
def test_a_teacher_of_other_data_or_another_split_is_an_error(tmp_path, change, override, path, message):
    _fake_run(tmp_path / "teacher_run", TEACHER.replace(*change) if change else TEACHER)
    [d] = _problems(tmp_path, STUDENT, *([override] if override else []))
    assert d.path == path and message in d.message and "Received:" in d.message


def test_the_student_needs_one_categorical_output(tmp_path):
    [d] = _problems(tmp_path, STUDENT.replace("loss: sparse_categorical_crossentropy", "loss: mean_squared_error"))
    assert d.path == "train.loss" and "Received: loss='mean_squared_error'" in d.message


# --- a short run ----------------------------------------------------------------------------------------------------


def test_distilling_a_tiny_teacher_keeps_the_student_and_resumes_exactly(tmp_path):
    import keras

    import nnspec
    from nnspec.runtime.evaluate import evaluate_run
    from nnspec.runtime.train import resume, train
    from nnspec.specs.load import parse_spec

    teacher = train(parse_spec(TEACHER, str(tmp_path / "teacher.yaml")), tmp_path / "teacher_run", verbose=0)
    (tmp_path / "student.yaml").write_text(STUDENT, encoding="utf-8")
    spec = load_spec(tmp_path / "student.yaml")
    run = train(spec, tmp_path / "student_run", verbose=0)

    student_params = nnspec.summary(spec)["params"]
    saved = keras.saving.load_model(run.run_dir / "model.keras", compile=False)
    assert saved.count_params() == student_params == run.metrics["params"] == 35
    assert teacher.metrics["params"] == 131 and saved.name == "student"
    history = json.loads((run.run_dir / "history.json").read_text())
    assert {"loss", "hard_loss", "distill_loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]
    record = json.loads((run.run_dir / "teacher.json").read_text())
    assert record["path"] == str(tmp_path / "teacher_run") and record["params"] == 131
    # the student is an ordinary model: eval's loss is the spec's loss, the run's hard loss
    result = evaluate_run(run.run_dir)
    np.testing.assert_allclose(result["metrics"]["loss"], run.metrics["test"]["hard_loss"], rtol=1e-6)
    assert result["metrics"]["accuracy"] == run.metrics["test"]["accuracy"]

    class Stop(Exception):
        pass

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Stop

    with pytest.raises(Stop):  # after epoch 1's checkpoint, in epoch 2
        train(spec, tmp_path / "cut", verbose=0, callbacks=[Interrupt()])
    resumed = resume(tmp_path / "cut", verbose=0)  # its spec.yaml sits in the partial folder: teacher.json finds it
    for a, b in zip(run.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.metrics["test"] == run.metrics["test"]


def test_the_digits_student_example_has_a_quarter_of_its_teachers_parameters(tmp_path):
    """The example distils digits_cnn: under a quarter of its parameters, and the teacher it names by default
    is checked like any other (a missing one is located at `teacher:`; a digits_cnn run passes the checks)."""
    import nnspec
    from nnspec.bundled import resolve_spec_path
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.data import load_dataset
    from nnspec.runtime.regimes.distill import REGIME

    student = nnspec.load_spec("example:digits_student")
    teacher = nnspec.load_spec("example:digits_cnn")
    assert 4 * nnspec.summary(student)["params"] <= nnspec.summary(teacher)["params"]
    assert student.train.regime.name == "distill"
    for key in ("data", "seed", "test_split", "validation_split"):
        assert getattr(student.train, key) == getattr(teacher.train, key), key

    graph, digits = compile_spec(student), load_dataset(student.train.data)
    folder = resolve_spec_path("example:digits_student").parent
    if not (folder / student.train.regime.teacher).exists():
        [d] = REGIME.check(student, graph, digits, folder)
        assert d.path == "train.regime.teacher" and "does not exist" in d.message
    text = resolve_spec_path("example:digits_cnn").read_text(encoding="utf-8")
    _fake_run(tmp_path / "runs" / "digits_cnn", text)
    moved = nnspec.load_spec("example:digits_student", [f"train.regime.teacher={tmp_path / 'runs' / 'digits_cnn'}"])
    assert REGIME.check(moved, graph, digits, folder) == []
