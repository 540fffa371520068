"""The data quantization works on: graph inputs, the arrays fed to them (calibration, evaluation),
and a run's own training and test parts, split exactly as training split them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnspec.runtime.quantize.errors import QuantizeInputError

RANDOM_EXAMPLES = 64
"""Seeded random examples used for output differences when no evaluation data is given."""


@dataclass(frozen=True)
class EvalData:
    """Inputs by graph input name, and optionally integer labels for one classifier output."""

    x: dict[str, np.ndarray]
    y: np.ndarray | None = None
    output: int = 0
    """Index of the graph output the labels belong to."""
    binary_threshold: float = 0.5
    """For a one-unit output: the class is `output > threshold` (0 for logits, 0.5 for probabilities)."""
    name: str = "given"


def graph_inputs(proto) -> dict[str, tuple[str, list]]:
    """Graph input name → (numpy dtype name, shape with None for symbolic axes)."""
    from onnx.helper import tensor_dtype_to_np_dtype

    initializers = {t.name for t in proto.graph.initializer}
    found = {}
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        t = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        found[value.name] = (np.dtype(tensor_dtype_to_np_dtype(t.elem_type)).name, dims)
    return found


def _as_feeds(x, inputs: dict, what: str) -> dict[str, np.ndarray]:
    """Arrays by graph input name, cast to the inputs' dtypes."""
    names = list(inputs)
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        if missing:
            raise QuantizeInputError(f"{what} has no arrays for graph inputs {missing}. Received: keys={sorted(x)}")
        x = {n: x[n] for n in names}
    elif len(names) == 1:
        x = {names[0]: x}
    else:
        raise QuantizeInputError(f"{what}: the model has inputs {names}; give a dict of arrays by input name")
    feeds = {n: np.asarray(v).astype(inputs[n][0], copy=False) for n, v in x.items()}
    sizes = {len(v) for v in feeds.values()}
    if len(sizes) != 1 or 0 in sizes:
        raise QuantizeInputError(
            f"{what}: arrays must be non-empty and equally long. Received: lengths={sorted(sizes)}")
    return feeds


def own_splits(run_dir: Path):
    """`(spec, graph, train, test)`: the run's data split exactly as training made it (see `nnspec eval`)."""
    from nnspec.compiler.pipeline import compile_spec
    from nnspec.runtime.data import split
    from nnspec.runtime.evaluate import inputs_of, load_from
    from nnspec.runtime.run_dir import data_dirs, is_run_dir
    from nnspec.specs.load import load_spec

    if not is_run_dir(run_dir):
        from nnspec.errors import RunDirError

        raise RunDirError(f"{run_dir} is not a run directory (needs model.keras and spec.yaml)")
    spec = load_spec(run_dir / "spec.yaml")
    cfg = spec.train
    if cfg is None:
        raise QuantizeInputError(f"{run_dir}: the run's spec has no train section, so it names no data")
    graph = compile_spec(spec)
    data = load_from(cfg.data, cfg.seed, data_dirs(run_dir))  # as evaluate._own_test_split does
    train, test = split(inputs_of(data, graph), cfg.test_split, cfg.seed)
    return spec, graph, train, test


def calibration_arrays(calibration, inputs: dict, samples: int) -> dict[str, np.ndarray]:
    if calibration is None:
        raise QuantizeInputError("static quantization needs calibration data: a run directory, an .npz file or arrays")
    if not isinstance(samples, int) or samples < 1:
        raise QuantizeInputError(f"samples must be a positive integer. Received: samples={samples!r}")
    if isinstance(calibration, (str, Path)) and Path(calibration).is_dir():
        _, _, train, _ = own_splits(Path(calibration))
        x = train.x
    elif isinstance(calibration, (str, Path)):
        x = _read_npz(Path(calibration))
    else:
        x = calibration
    feeds = _as_feeds(x, inputs, "calibration data")
    return {n: v[:samples] for n, v in feeds.items()}


def _read_npz(path: Path):
    if not path.is_file():
        raise QuantizeInputError(f"calibration data: no file at {path}")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    return {k: v for k, v in arrays.items() if k not in ("y", "labels")} if "x" not in arrays else arrays["x"]


def run_eval_data(run_dir: Path) -> EvalData:
    """A run's test split, with labels for its first classifier output (as `nnspec eval` picks them)."""
    from nnspec.runtime.evaluate import classifier_outputs
    from nnspec.runtime.objectives import losses_by_output

    spec, graph, _, test = own_splits(run_dir)
    if not len(test):
        raise QuantizeInputError(f"the run held out no test examples (train.test_split is 0), so the quantized model "
                            f"cannot be evaluated. Received: test_split={spec.train.test_split}")
    x = test.x if isinstance(test.x, dict) else {graph.inputs[0]: test.x}
    classifiers = classifier_outputs(spec.train, graph, test)
    if not classifiers or np.asarray(test.y).ndim != 1:
        return EvalData(x=x, name="test split")
    name = classifiers[0]
    loss = losses_by_output(spec.train, (name,))[name]
    return EvalData(x=x, y=np.asarray(test.y).astype(np.int64), output=list(graph.outputs).index(name),
                    binary_threshold=0.0 if loss.from_logits else 0.5, name="test split")


def as_eval_data(eval_data, inputs: dict) -> EvalData:
    if eval_data is None:
        rng = np.random.default_rng(0)
        x = {}
        for name, (dtype, shape) in inputs.items():
            full = (RANDOM_EXAMPLES, *(1 if d is None else d for d in shape[1:]))
            x[name] = (rng.integers(0, 10, full) if dtype.startswith("int") else rng.standard_normal(full))
        return EvalData(x=_as_feeds(x, inputs, "random inputs"), name="random")
    if isinstance(eval_data, (str, Path)):
        return run_eval_data(Path(eval_data))
    if isinstance(eval_data, EvalData):
        return EvalData(_as_feeds(eval_data.x, inputs, "eval_data"), eval_data.y, eval_data.output,
                        eval_data.binary_threshold, eval_data.name)
    if isinstance(eval_data, tuple):
        x, y = eval_data
        return EvalData(_as_feeds(x, inputs, "eval_data"), None if y is None else np.asarray(y).astype(np.int64))
    return EvalData(_as_feeds(eval_data, inputs, "eval_data"))
