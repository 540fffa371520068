"""The data every variant is measured on: a run's own test split (or `--data`), or for an ONNX
source `--data` or seeded random inputs, with the rule that turns an output into classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnspec.runtime.deploy_bench.errors import BenchInputError

RANDOM_EXAMPLES = 64


@dataclass
class EvalSet:
    """Inputs by model input name, and integer labels with the rule that turns an output into classes."""

    x: dict[str, np.ndarray]
    name: str
    split: str
    y: np.ndarray | None = None
    output: str | None = None
    """Name of the classifier output the labels belong to (None: the model's first output)."""
    classify: Callable[[np.ndarray], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.x.values())))

    def head(self, n: int) -> dict[str, np.ndarray]:
        """The first `n` examples (repeated when there are fewer), as a batch of `n`."""
        return {k: np.resize(v, (n, *v.shape[1:])) for k, v in self.x.items()}

    def accuracy(self, outputs: dict[str, np.ndarray]) -> float | None:
        if self.y is None or self.classify is None:
            return None
        out = outputs[self.output] if self.output in outputs else next(iter(outputs.values()))
        return float(np.mean(self.classify(out).reshape(-1) == self.y.reshape(-1)))


def run_eval_set(run_dir: Path, spec, graph, data: str | None) -> EvalSet:
    """A run's test split (or `data`), with its first classifier output's labels, as `nnspec eval` uses them."""
    from nnspec.runtime.evaluate import classifier_outputs, evaluation_data, predicted_classes

    _, own, dataset = evaluation_data(spec, graph, run_dir, data)
    x = dataset.x if isinstance(dataset.x, dict) else {graph.inputs[0]: dataset.x}
    evaluation = EvalSet(x=x, name=dataset.name, split="test" if own else "all")
    classifiers = classifier_outputs(spec.train, graph, dataset)
    if classifiers:
        name = classifiers[0]
        evaluation.y, evaluation.output = np.asarray(dataset.y), name
        evaluation.classify = lambda out: predicted_classes(spec.train, name, out)
    return evaluation


def file_eval_set(data: str | None, inputs: dict[str, tuple[str, list]]) -> EvalSet:
    """For an ONNX source: `data` (its own standardization fitted on itself), or seeded random inputs."""
    from nnspec.runtime.evaluate import load_from, parse_data

    if data is None:
        rng = np.random.default_rng(0)
        x = {name: (rng.integers(0, 10, _shape(shape)) if dtype.startswith("int")
                    else rng.standard_normal(_shape(shape))).astype(dtype) for name, (dtype, shape) in inputs.items()}
        return EvalSet(x=x, name="random", split="seeded")
    dataset = load_from(parse_data(data), 0, [Path.cwd()])
    features = dataset.fit(dataset.x)[0](dataset.x) if dataset.fit is not None else dataset.x
    if not isinstance(features, dict):
        features = {name: features for name in inputs} if len(inputs) == 1 else {}
    missing = [name for name in inputs if name not in features]
    if missing:
        raise BenchInputError(f"--data gives arrays {sorted(features)} but the model's inputs are {list(inputs)}. "
                              f"Received: data={data}")
    x = {name: np.asarray(features[name]).astype(inputs[name][0]) for name in inputs}
    evaluation = EvalSet(x=x, name=dataset.name, split="all")
    if dataset.classes and np.asarray(dataset.y).ndim == 1:
        # no spec says whether one unit is a logit or a probability: 0.5 (probabilities) is the assumption
        evaluation.y = np.asarray(dataset.y)
        evaluation.classify = lambda out: (np.argmax(out, -1) if out.shape[-1] > 1 else (out[..., 0] > 0.5))
    return evaluation


def _shape(shape: list) -> tuple[int, ...]:
    return (RANDOM_EXAMPLES, *(d if isinstance(d, int) and d > 0 else 1 for d in shape[1:]))
