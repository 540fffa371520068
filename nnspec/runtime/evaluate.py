"""`nnspec eval RUN_DIR`: a trained model's loss and metrics on its own held-out test split, or on another
dataset, with a confusion matrix and per-class precision and recall for classifiers.

    result = evaluate_run(Path("runs/digits"))                  # the run's test split, into runs/digits/eval/
    result = evaluate_run(Path("runs/digits"), data="npz:more_digits.npz", out=Path("reports/more"))

Data:
    By default the run's own test split, recomputed from its spec.yaml exactly as training made it (same dataset,
    `seed` and `test_split`; preprocessing such as iris's standardization fitted on the same training part), so
    the loss and metrics are those in the run's metrics.json under `test`. `data` names another dataset instead:
    `NAME` (an embedded or generated dataset with its default options, e.g. `wine`, `digits`), `KIND:PATH` for
    the user's files (`npz:path.npz`, `csv:table.csv`, `image_folder:dir`, `tfrecord:...` needs a mapping), or a
    YAML mapping with options (`{name: shapes, size: 16}`), as in `train.data`; paths are relative to the current
    directory. Another dataset is evaluated whole (no split: the model never trained on it), unless it is the
    run's own `train.data`, which always means the test split. Its standardization, if it has one, uses the
    statistics the run was trained with (from metrics.json) when they fit, else its own.

Loss and metrics:
    The spec's `train.loss` (with its output weights) and `train.metrics`, computed by Keras with the batches the
    trainer evaluates with. For a distilled run (`regime: distill`) the loss is the spec's loss against the
    labels, which its metrics.json calls `hard_loss`. Classifier outputs (a crossentropy loss on class labels)
    also get the confusion matrix (rows: true class, columns: predicted class; per-position labels, e.g. per
    token, are counted per position) and sklearn's per-class precision, recall, F1 and support.

Output:
    A folder, written whole or not at all (built beside it, then renamed into place; an earlier result there
    is replaced the same way), holding `eval.json` (the returned dict) and `confusion_matrix.png` per classifier
    output (`confusion_matrix_<output>.png` when the model has several). `out` defaults to `<run_dir>/eval/`
    for the test split and `<run_dir>/eval-<data>/` for another dataset: a new subfolder beside the run's
    files, never a change to them. A folder that exists and is not an earlier eval result (it has no eval.json
    and is not empty) is never replaced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np

from nnspec.errors import Diagnostic, NnspecError, RunDirError, SpecError
from nnspec.specs.load import received

EVALUATED_REGIMES = ("supervised", "distill")
"""Regimes whose `model.keras` maps inputs to the spec's labels (or targets), so loss and metrics apply."""
FILE_KINDS = ("npz", "csv", "image_folder", "tfrecord")
EVAL_FILE = "eval.json"


def evaluate_run(run_dir: Path, data: str | None = None, out: Path | None = None) -> dict:
    """Evaluate the model of a run directory and write `eval.json` (and confusion matrices) to a folder.

    Args:
        run_dir: A finished run directory of `nnspec train`.
        data: Another dataset, as `NAME`, `KIND:PATH` or a YAML mapping (see the module's docs). Defaults to
            the run's own test split.
        out: The folder to write. Defaults to `<run_dir>/eval` (test split) or `<run_dir>/eval-<data>`.

    Returns:
        `{"run", "model", "regime", "data": {name, split, examples}, "metrics": {loss, ...},
        "classification": {output: {classes, accuracy, confusion_matrix, per_class, plot}}, "out", "files"}`.

    Raises:
        RunDirError: `run_dir` is not a run directory, or `out` is a folder that is not an eval result.
        SpecError: `data` names no dataset, or one that does not fit the model (diagnostics at `--data`).
        NnspecError: the run's regime trains no labelled model (a VAE, a GAN), or it held out no test split.
    """
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.run_dir import load_run

    run_dir = Path(run_dir)
    spec, model = load_run(run_dir)
    cfg = spec.train
    if cfg is None or cfg.regime.name not in EVALUATED_REGIMES:
        regime = cfg.regime.name if cfg is not None else None
        raise NnspecError(f"eval computes a model's loss and metrics on labelled data; a run of regime "
                          f"'{regime}' has no such model. {received('regime', regime)}")
    graph = compile_spec(spec)
    data_spec, own, dataset = evaluation_data(spec, graph, run_dir, data)
    result = {"run": str(run_dir), "model": spec.name, "regime": cfg.regime.name,
              "data": {"name": dataset.name, "split": "test" if own else "all", "examples": len(dataset)},
              "metrics": _metrics(model, cfg, graph, dataset)}
    predictions = model.predict(dataset.x, batch_size=cfg.batch_size, verbose=0)
    if len(graph.outputs) == 1:
        predictions = [predictions]
    outputs = dict(zip(graph.outputs, predictions))
    result["classification"] = {name: _classification(cfg, name, outputs[name], dataset)
                                for name in classifier_outputs(cfg, graph, dataset)}
    out = Path(out) if out is not None else run_dir / ("eval" if own else f"eval-{_tag(data_spec)}")
    _write(out, run_dir, result)
    return result


# --- the data -----------------------------------------------------------------------------------------------------


def evaluation_data(spec, graph, run_dir: Path, data: str | None = None):
    """`(data_spec, own, dataset)`: what `evaluate_run` evaluates a run on (see the module's docs). `own` is
    True for the run's own test split. Raises as `evaluate_run` does for a bad `data` or an empty split."""
    cfg = spec.train
    data_spec = parse_data(data) if data is not None else cfg.data
    own = _same_data(data_spec, cfg.data)
    dataset = _own_test_split(spec, graph, run_dir) if own else _other_data(data_spec, graph, run_dir)
    if not len(dataset):
        raise NnspecError(f"the run held out no test examples (train.test_split is 0); evaluate on another "
                          f"dataset with --data. {received('test_split', cfg.test_split)}")
    _check_fits(graph, cfg, dataset, data)
    return data_spec, own, dataset


def _data_error(message: str, value) -> SpecError:
    return SpecError([Diagnostic(None, "--data", f"{message} {received('data', value)}")])


def parse_data(text: str):
    """A `train.data` model from `NAME`, `KIND:PATH` or a YAML mapping."""
    import yaml
    from pydantic import TypeAdapter, ValidationError

    from nnspec.runtime.data import DATASETS, DERIVED, READERS
    from nnspec.specs.data import Dataset as DataSpec

    text = str(text).strip()
    kind, sep, rest = text.partition(":")
    if text.startswith("{"):
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise _data_error(f"not a YAML mapping ({str(exc).splitlines()[0]}).", text) from None
    elif sep and kind in READERS:
        value = {"name": kind, "path": rest}
    else:
        value = {"name": text}
    if not isinstance(value, dict) or "name" not in value:
        raise _data_error("give a dataset name, KIND:PATH or a mapping with a `name`.", text)
    known = [*DATASETS, *READERS, *DERIVED]
    if value["name"] not in known:
        raise _data_error(f"unknown dataset '{value['name']}'; known: {', '.join(known)} (files as KIND:PATH, "
                          f"e.g. npz:data.npz).", text)
    try:
        return TypeAdapter(DataSpec).validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:])
        raise _data_error(f"{where + ': ' if where else ''}{first['msg']}.", text) from None


def _same_data(a, b) -> bool:
    return type(a) is type(b) and a.model_dump() == b.model_dump()


def load_from(data_spec, seed: int, base_dirs: list[Path]):
    """Load a dataset, file paths tried relative to each of `base_dirs` in turn."""
    from nnspec.runtime.data import DataError, load_dataset

    error = None
    for base in base_dirs:
        try:
            return load_dataset(data_spec, seed=seed, base_dir=base)
        except DataError as exc:
            error = error or exc
    raise SpecError([Diagnostic(None, f"--data {error.field}", error.message)])


def inputs_of(data, graph):
    """Named arrays keep those the model reads, by input name (as the trainer does)."""
    if data.input_names and all(name in data.x for name in graph.inputs):
        return dataclasses.replace(data, x={name: data.x[name] for name in graph.inputs})
    return data


def _own_test_split(spec, graph, run_dir: Path):
    """The run's test split, recomputed as training made it: same data, seed and split."""
    from nnspec.runtime.data import split
    from nnspec.runtime.run_dir import data_dirs

    cfg = spec.train
    data = load_from(cfg.data, cfg.seed, data_dirs(run_dir))  # file paths: the spec's folder, the run's, here
    _, test = split(inputs_of(data, graph), cfg.test_split, cfg.seed)
    return test


def _other_data(data_spec, graph, run_dir: Path):
    """Another dataset, whole; standardized with the run's training statistics when it needs it and they fit."""
    data = inputs_of(load_from(data_spec, 0, [Path.cwd()]), graph)
    if data.fit is None:
        return data
    stats = _run_standardization(run_dir)
    if stats is not None and not isinstance(data.x, dict) and np.shape(stats[0]) == data.x.shape[1:]:
        mean, std = stats
        x = ((data.x - mean) / std).astype(np.float32)
        return dataclasses.replace(data, x=x, fit=None, preprocessing={"standardize": "the run's statistics"})
    transform, recorded = data.fit(data.x)
    return dataclasses.replace(data, x=transform(data.x), fit=None, preprocessing=recorded)


def _run_standardization(run_dir: Path):
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        stats = metrics["data"]["preprocessing"]["standardize"]
        return np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _check_fits(graph, cfg, data, given) -> None:
    """Another dataset fits the model's inputs and, for classifiers, its number of classes."""
    from nnspec.runtime.objectives import losses_by_output
    from nnspec.specs.train import CROSSENTROPY

    problems = []
    shapes = data.feature_shape if isinstance(data.feature_shape, dict) else {graph.inputs[0]: data.feature_shape}
    if len(shapes) != len(graph.inputs):
        problems.append(f"dataset '{data.name}' gives {len(shapes)} arrays but the model has {len(graph.inputs)} "
                        f"inputs ({', '.join(graph.inputs)}).")
    else:
        for name in graph.inputs:
            want = tuple(graph.node(name).out.shape[1:])
            got = shapes.get(name)
            if got is None or len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
                problems.append(f"dataset '{data.name}' gives inputs of shape {got} but input '{name}' has shape "
                                f"{want}.")
    for name, loss in losses_by_output(cfg, graph.outputs).items():
        units = graph.node(name).out.shape[-1]
        if loss.name in CROSSENTROPY and loss.name != "binary_crossentropy" and units != data.num_classes:
            problems.append(f"dataset '{data.name}' has {data.num_classes} classes but output '{name}' gives "
                            f"{units}.")
    if problems:
        shown = given if given is not None else data.name
        raise SpecError([Diagnostic(None, "--data", f"{p} {received('data', shown)}") for p in problems])


# --- loss, metrics and confusion matrices -------------------------------------------------------------------------


def _metrics(model, cfg, graph, data) -> dict:
    """Loss and metrics as the trainer computes them: the spec's losses and metrics, Keras's evaluate, the
    trainer's batches."""
    from nnspec.runtime.objectives import loss_weights, make_losses, make_metrics
    from nnspec.runtime.regimes.supervised import label_targets, one_or_dict
    from nnspec.runtime.train import batches

    outputs = graph.outputs
    model.compile(loss=one_or_dict(make_losses(cfg, outputs), outputs),
                  loss_weights=loss_weights(cfg, outputs) if len(outputs) > 1 else None,
                  metrics=one_or_dict(make_metrics(cfg, outputs), outputs))
    logs = model.evaluate(batches(cfg, label_targets(cfg, outputs, data), data), verbose=0, return_dict=True)
    return {k: float(v) for k, v in logs.items()}


def classifier_outputs(cfg, graph, data) -> list[str]:
    from nnspec.runtime.objectives import losses_by_output
    from nnspec.specs.train import CROSSENTROPY

    if not data.classes:
        return []
    return [name for name, loss in losses_by_output(cfg, graph.outputs).items() if loss.name in CROSSENTROPY]


def predicted_classes(cfg, name: str, output: np.ndarray) -> np.ndarray:
    """Class predictions of one output: the largest score, or for one binary unit the side of the threshold
    (0 for logits, 0.5 for probabilities)."""
    from nnspec.runtime.objectives import losses_by_output

    output = np.asarray(output)
    if output.shape[-1] == 1:
        loss = losses_by_output(cfg, (name,))[name]
        return (output[..., 0] > (0.0 if loss.from_logits else 0.5)).astype(np.int64)
    return np.argmax(output, axis=-1).astype(np.int64)


def _classification(cfg, name: str, output: np.ndarray, data) -> dict:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.arange(data.num_classes)
    true = np.asarray(data.y).reshape(-1)
    pred = predicted_classes(cfg, name, output).reshape(-1)
    matrix = confusion_matrix(true, pred, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    per_class = {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                 for c, p, r, f, s in zip(data.classes, precision, recall, f1, support)}
    return {"classes": list(data.classes), "accuracy": float(np.trace(matrix) / max(matrix.sum(), 1)),
            "confusion_matrix": matrix.tolist(), "per_class": per_class}


def plot_confusion_matrix(matrix: np.ndarray, classes: list[str], title: str, path: Path) -> None:
    """A PNG of the confusion matrix: true classes down, predicted across, counts written in the cells (up to 30
    classes), darker for more."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    k = len(classes)
    side = min(max(3.5, 0.45 * k + 2.0), 20.0)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), labels=classes, rotation=45 if max(map(len, classes), default=0) > 3 else 0,
                  ha="right" if max(map(len, classes), default=0) > 3 else "center")
    ax.set_yticks(range(k), labels=classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if k <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8 if k > 12 else 10,
                        color="white" if matrix[i, j] > threshold else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- the output folder --------------------------------------------------------------------------------------------


def _tag(data_spec) -> str:
    """A folder-name tag for a dataset: its name, and a file's stem (`npz-more_digits`)."""
    path = getattr(data_spec, "path", None)
    tag = data_spec.name + (f"-{Path(str(path)).stem}" if path else "")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)


def _write(out: Path, run_dir: Path, result: dict) -> None:
    """Write the eval folder whole: built beside `out`, then renamed into place (replacing an earlier eval)."""
    from nnspec.runtime.run_dir import FILES, staged_run_dir

    if os.path.abspath(out) == os.path.abspath(run_dir):
        raise RunDirError(f"--out {out} is the run directory itself; eval writes a folder of its own "
                          "(the default is <run_dir>/eval)")
    if out.exists() and not (out / EVAL_FILE).is_file() and (not out.is_dir() or any(out.iterdir())):
        kind = "a run directory" if any((out / f).exists() for f in FILES) else "not an eval result"
        raise RunDirError(f"{out} exists and is {kind} (it has no {EVAL_FILE}); eval only replaces its own "
                          "results (nothing was changed)")
    names = list(result["classification"])
    with staged_run_dir(out, force=True) as stage:
        for name in names:
            file = "confusion_matrix.png" if len(names) == 1 else f"confusion_matrix_{name}.png"
            entry = result["classification"][name]
            title = f"{result['model']} on {result['data']['name']} ({result['data']['split']}): {name}"
            plot_confusion_matrix(np.asarray(entry["confusion_matrix"]), entry["classes"], title, stage / file)
            entry["plot"] = file
        result["out"] = str(out)
        result["files"] = sorted([EVAL_FILE, *(e["plot"] for e in result["classification"].values())])
        (stage / EVAL_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
