"""`regime: distill`: knowledge distillation (Hinton, Vinyals & Dean 2015). The spec's model is the student; a
trained run directory is the teacher, loaded frozen and run in inference mode on every batch the student sees
(augmented batches included). The student minimizes

    alpha * hard_loss(labels, student) + (1 - alpha) * T² * KL(softmax(z_t / T) || softmax(z_s / T))

where `z` are logits; a model whose output is a softmax already (its loss has `from_logits: false`) gives its
log-probabilities, clipped at Keras's epsilon (`softmax(log p / T)` is `p` tempered). Only the student is
trained, checkpointed and kept: `model.keras` is the bare student, so `export` and `eval` read it like any
other model; `teacher.json` in the run directory says which teacher it learned from.

A relative teacher path starts at the spec's directory. A resumed run reads its spec from its partial run
folder, so the teacher's absolute path is also recorded there (`teacher.json`) and used when the relative path
does not resolve from it.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from nnspec.errors import Diagnostic, DiagnosticError
from nnspec.runtime.data import Dataset
from nnspec.runtime.objectives import losses_by_output, make_loss, make_metrics, make_optimizer
from nnspec.runtime.regimes.base import Context, Regime
from nnspec.runtime.regimes.supervised import label_targets
from nnspec.specs.load import received

TEACHER_RECORD = "teacher.json"
"""The file in the run directory that names the teacher (path, spec hash, parameters, test metrics)."""
EPSILON = 1e-7
"""Probabilities are clipped to `[EPSILON, 1]` before their log is taken as logits (Keras's epsilon)."""
DISTILLABLE = ("sparse_categorical_crossentropy", "categorical_crossentropy")


def as_logits(outputs, from_logits: bool):
    """Logits of a model's output: the output itself, or the log of its (softmax) probabilities."""
    from keras import ops

    outputs = ops.cast(outputs, "float32")
    return outputs if from_logits else ops.log(ops.clip(outputs, EPSILON, 1.0))


def distillation_loss(student, teacher, temperature: float, *, student_logits: bool = True,
                      teacher_logits: bool = True):
    """`T² · KL(softmax(z_t / T) || softmax(z_s / T))` over the last axis, averaged over every other axis.

    Args:
        student: The student's outputs (logits, or probabilities when `student_logits` is false).
        teacher: The teacher's outputs, the same shape.
        temperature: `T`.
        student_logits: `student` is logits. Defaults to `True`.
        teacher_logits: `teacher` is logits. Defaults to `True`.
    """
    from keras import ops

    t = float(temperature)
    log_ps = ops.log_softmax(as_logits(student, student_logits) / t, axis=-1)
    log_pt = ops.log_softmax(ops.stop_gradient(as_logits(teacher, teacher_logits)) / t, axis=-1)
    kl = ops.sum(ops.exp(log_pt) * (log_pt - log_ps), axis=-1)
    return (t * t) * ops.mean(kl)


def teacher_dir(spec, base_dir: Path) -> Path:
    """The teacher's run directory: absolute, or relative to `base_dir` (the spec's directory); a resumed run
    whose relative path does not resolve from its partial folder uses the path it recorded there."""
    path = Path(os.path.expanduser(spec.train.regime.teacher))
    if path.is_absolute():
        return path
    found = Path(os.path.abspath(Path(base_dir) / path))
    record = Path(base_dir) / TEACHER_RECORD
    if not found.exists() and record.is_file():
        try:
            return Path(json.loads(record.read_text(encoding="utf-8"))["path"])
        except (ValueError, KeyError, TypeError):
            return found
    return found


class _Frozen:
    """Holds the teacher out of Keras's attribute tracking, so its weights are neither trained, nor counted,
    nor checkpointed with the student's."""

    def __init__(self, model):
        self.model = model


@functools.cache
def _distiller_class():
    import keras
    import tensorflow as tf
    from keras import ops

    def _replicas() -> int:
        return tf.distribute.get_strategy().num_replicas_in_sync

    class Distiller(keras.Model):
        """The student, trained against labels and a frozen teacher; `call` is the student's."""

        def __init__(self, student, teacher, *, hard_loss, metrics, temperature: float, alpha: float,
                     student_logits: bool, teacher_logits: bool):
            super().__init__(name=f"distill_{student.name}")
            self.student = student
            self.frozen = _Frozen(teacher)
            self.hard_loss_fn = hard_loss
            self.temperature, self.alpha = float(temperature), float(alpha)
            self.student_logits, self.teacher_logits = student_logits, teacher_logits
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.hard_tracker = keras.metrics.Mean(name="hard_loss")
            self.distill_tracker = keras.metrics.Mean(name="distill_loss")
            self.spec_metrics = list(metrics)

        @property
        def metrics(self):
            return [self.loss_tracker, self.hard_tracker, self.distill_tracker, *self.spec_metrics]

        def call(self, inputs, training=False):
            return self.student(inputs, training=training)

        def losses_of(self, x, y, training: bool):
            """`(student outputs, hard loss, distillation loss, total loss)` of one batch."""
            teacher_out = self.frozen.model(x, training=False)
            student_out = self.student(x, training=training)
            # Under tf.distribute, Keras's losses come divided by the replica count (the replicas' gradients are
            # summed): undo that here, so every term is the batch mean, and divide the total in train_step.
            hard = self.hard_loss_fn(y, ops.cast(student_out, "float32")) * _replicas()
            soft = distillation_loss(student_out, teacher_out, self.temperature,
                                     student_logits=self.student_logits, teacher_logits=self.teacher_logits)
            total = self.alpha * hard + (1.0 - self.alpha) * soft
            if self.student.losses:  # weight regularizers, as Keras adds them to a compiled model's loss
                total = total + ops.sum([ops.cast(loss, "float32") for loss in self.student.losses])
            return student_out, hard, soft, total

        def train_step(self, data):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            variables = self.student.trainable_variables
            with tf.GradientTape() as tape:
                out, hard, soft, total = self.losses_of(x, y, True)
                scaled = self.optimizer.scale_loss(total / _replicas())
            grads = tape.gradient(scaled, variables)
            self.optimizer.apply_gradients(zip(grads, variables))
            return self._report(x, y, out, hard, soft, total)

        def test_step(self, data):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            return self._report(x, y, *self.losses_of(x, y, False))

        def _report(self, x, y, out, hard, soft, total):
            # Losses are averaged over examples, as Keras's own loss tracker does: batches weigh by their size.
            size = ops.shape(keras.tree.flatten(x)[0])[0]
            self.loss_tracker.update_state(total, sample_weight=size)
            self.hard_tracker.update_state(hard, sample_weight=size)
            self.distill_tracker.update_state(soft, sample_weight=size)
            for metric in self.spec_metrics:
                metric.update_state(y, out)
            return {m.name: m.result() for m in self.metrics}

    return Distiller


def _diagnostic(spec, path: tuple, message: str) -> Diagnostic:
    return spec.source_map.diagnostic(path, message)


def _student_output(spec, graph) -> list[Diagnostic]:
    """The student has one output, trained with a categorical crossentropy."""
    if len(graph.outputs) != 1:
        return [_diagnostic(spec, ("train", "regime"), "distillation trains a model with one output (a class "
                            f"distribution), but this model has {len(graph.outputs)}. "
                            f"{received('outputs', list(graph.outputs))}")]
    loss = losses_by_output(spec.train, graph.outputs)[graph.outputs[0]]
    if loss.name not in DISTILLABLE:
        return [_diagnostic(spec, ("train", "loss"), "distillation matches the student's class distribution to "
                            f"the teacher's, so the loss must be {' or '.join(DISTILLABLE)}. "
                            f"{received('loss', loss.name)}")]
    return []


def _shapes(graph) -> tuple[list, list]:
    inputs = [(name, tuple(graph.node(name).out.shape)) for name in graph.inputs]
    outputs = [tuple(graph.node(name).out.shape) for name in graph.outputs]
    return inputs, outputs


def _show(shape: tuple) -> str:
    return str(tuple(shape[1:]))


def _check_teacher(spec, graph, base_dir: Path) -> list[Diagnostic]:
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.run_dir import is_run_dir
    from nnspec.specs.load import load_spec

    where = ("train", "regime", "teacher")
    given = spec.train.regime.teacher
    path = teacher_dir(spec, base_dir)
    if not path.is_dir():
        return [_diagnostic(spec, where, f"the teacher run directory {path} does not exist. Train the teacher "
                            "first (`nnspec train TEACHER_SPEC --out DIR`) and name its run directory, relative to "
                            f"the spec's directory ({os.path.abspath(base_dir)}) or absolute (e.g. `--set "
                            f"train.regime.teacher=$PWD/runs/teacher`). {received('teacher', given)}")]
    if not is_run_dir(path):
        missing = [f for f in ("model.keras", "spec.yaml") if not (path / f).is_file()]
        return [_diagnostic(spec, where, f"{path} is not a run directory of `nnspec train` (it has no "
                            f"{' or '.join(missing)}); an interrupted run must be finished first (`nnspec train "
                            f"--resume`). {received('teacher', given)}")]
    try:
        t_spec = load_spec(path / "spec.yaml")
        t_graph = compile_spec(t_spec)
    except DiagnosticError as exc:
        first = str(exc.diagnostics[0]) if exc.diagnostics else str(exc)
        return [_diagnostic(spec, where, f"the teacher's spec.yaml does not load: {first}. "
                            f"{received('teacher', given)}")]
    problems = []
    (s_in, s_out), (t_in, t_out) = _shapes(graph), _shapes(t_graph)
    if len(t_in) != len(s_in) or any(ts != ss or (len(s_in) > 1 and tn != sn)
                                     for (tn, ts), (sn, ss) in zip(t_in, s_in)):
        show = lambda pairs: ", ".join(f"{n} {_show(s)}" for n, s in pairs)
        problems.append(_diagnostic(spec, where, f"the teacher reads inputs {show(t_in)} but the student reads "
                                    f"{show(s_in)}; both must take the same examples. {received('teacher', given)}"))
    if len(t_out) != 1:
        problems.append(_diagnostic(spec, where, f"the teacher has {len(t_out)} outputs; distillation needs one "
                                    f"(its class distribution). {received('teacher', given)}"))
    elif t_out != s_out:
        problems.append(_diagnostic(spec, where, f"the teacher's output has shape {_show(t_out[0])} but the "
                                    f"student's has {_show(s_out[0])}; they must give the same classes. "
                                    f"{received('teacher', given)}"))
    else:
        t_loss = losses_by_output(t_spec.train, t_graph.outputs)[t_graph.outputs[0]]
        if t_loss.name not in DISTILLABLE:
            problems.append(_diagnostic(spec, where, f"the teacher was trained with {t_loss.name}, not a "
                                        f"categorical crossentropy, so its output is no class distribution. "
                                        f"{received('teacher', given)}"))
    problems += _check_same_data(spec, t_spec, given)
    return problems


def _data_options(data_spec) -> dict:
    """A dataset spec without its file paths (each relative to its own spec, so not comparable as text)."""
    return data_spec.model_dump(exclude={"path"})


def _check_same_data(spec, t_spec, given: str) -> list[Diagnostic]:
    """The teacher learned the student's data with the student's split: a teacher trained on other data gives
    soft targets for other classes, and one split differently has trained on the student's test examples,
    leaking their labels into the student's test metrics. Both are errors."""
    s, t = spec.train, t_spec.train
    if _data_options(s.data) != _data_options(t.data):
        return [_diagnostic(spec, ("train", "data"), f"the teacher was trained on {_data_options(t.data)} but "
                            f"the student trains on {_data_options(s.data)}; distillation needs the teacher's "
                            f"dataset. {received('teacher', given)}")]
    differ = [k for k in ("seed", "test_split") if getattr(s, k) != getattr(t, k)]
    if differ:
        return [_diagnostic(spec, ("train", differ[0]), "the teacher was trained with "
                            f"{', '.join(f'{k}={getattr(t, k)}' for k in differ)}, which split the data "
                            "differently, so it has learned some of the student's test examples and would leak "
                            f"their labels; use the teacher's {' and '.join(differ)}. "
                            f"{received(differ[0], getattr(s, differ[0]))}")]
    return []


class Distill(Regime):
    def check(self, spec, graph, data, base_dir):
        from nnspec.runtime.train_checks import check_labels

        problems = _student_output(spec, graph)
        if problems:
            return problems
        return check_labels(spec, graph, data) + _check_teacher(spec, graph, Path(base_dir))

    def build(self, ctx: Context):
        from nnspec.runtime.keras_build import build_keras
        from nnspec.runtime.run_dir import load_run

        cfg, outputs = ctx.cfg, ctx.graph.outputs
        student = build_keras(ctx.graph, seed=cfg.seed)
        path = teacher_dir(ctx.spec, ctx.base_dir)
        t_spec, teacher = load_run(path)
        teacher.trainable = False
        t_loss = _single_loss(t_spec)
        loss = losses_by_output(cfg, outputs)[outputs[0]]
        regime = cfg.regime
        model = _distiller_class()(
            student, teacher, hard_loss=make_loss(loss), metrics=make_metrics(cfg, outputs).get(outputs[0], []),
            temperature=regime.temperature, alpha=regime.alpha, student_logits=loss.from_logits,
            teacher_logits=t_loss.from_logits)
        model.compile(optimizer=make_optimizer(cfg, ctx.steps_per_epoch), jit_compile=cfg.jit_compile)
        _record_teacher(ctx.stage / TEACHER_RECORD, path, teacher)
        return model

    def targets(self, ctx: Context, data: Dataset):
        return label_targets(ctx.cfg, ctx.graph.outputs, data)

    def final_models(self, model):
        return {"model": model.student}


def _single_loss(t_spec):
    """The loss of a one-output teacher, read from its spec (its output id is the spec's last node or its
    `outputs:`)."""
    from nnspec.compiler.pipeline import compile_spec

    outputs = compile_spec(t_spec).outputs
    return losses_by_output(t_spec.train, outputs)[outputs[0]]


def _record_teacher(out: Path, path: Path, teacher) -> None:
    """`teacher.json`: where the teacher is, what it was (spec hash, parameters) and how well it did."""
    import hashlib

    from nnspec.runtime.atomic import publish, temp_beside

    metrics = path / "metrics.json"
    test = json.loads(metrics.read_text(encoding="utf-8")).get("test", {}) if metrics.is_file() else {}
    record = {"path": str(path), "params": int(teacher.count_params()),
              "spec_sha256": hashlib.sha256((path / "spec.yaml").read_bytes()).hexdigest(), "test": test}
    with temp_beside(out) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        publish(tmp, out)


REGIME = Distill()
