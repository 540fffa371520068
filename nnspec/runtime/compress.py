"""Compress a trained run with the weight-changing passes, check each step by running the model,
and write the result as a derived run.

    report = compress_run(Path("runs/resnet"), Path("runs/resnet-c"), fold_bn=True, clusters=16)

The passes run in the fixed order of `nnspec.compiler.pipeline.WEIGHT_PASSES`, each only when asked
for: `fold_batchnorm` (`fold_bn`), `factorize_dense` (`rank` or `energy`), `cluster_weights`
(`clusters`). After each one the rewritten model is built in Keras, run on the run's own test split
(as `nnspec eval` recomputes it; seeded random inputs when the run has none) and compared with the
source model: the largest |difference| of any output and, for classifiers, the test accuracy.
Folding batch norms must keep the outputs (up to float32 rounding): if it does not, nothing is
written and `CompressError` says so. The result goes to `out` as a derived run
(`nnspec.runtime.derived_run`: spec.yaml, model.keras, weights.npz, and metrics.json holding the
report), which `eval`, `export`, `quantize`, `bench` and `train --init-weights` all accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnspec.errors import InputError, NnspecError, RunDirError

RANDOM_EXAMPLES = 64
"""Inputs drawn (seeded) to compare outputs when the run has no test split to use."""
FOLD_RTOL = 1e-4
"""`fold_batchnorm` may move outputs by at most this times (1 + largest |output|): rounding only."""


class CompressError(NnspecError):
    """A pass that must keep the model's outputs changed them; nothing was written."""


def compress_run(run_dir: Path, out: Path, *, fold_bn: bool = False, rank: int | None = None,
                 energy: float | None = None, clusters: int | None = None,
                 min_params: int | None = None, force: bool = False) -> dict:
    """Apply the requested weight-changing passes to a run and write the result as the run `out`.

    Args:
        run_dir: A finished run directory (or a derived one).
        out: The run directory to write.
        fold_bn: Fold batch norms into the conv/dense layers before them. Defaults to `False`.
        rank: Factorize large dense layers to this rank (truncated SVD). Defaults to none.
        energy: Or factorize keeping this fraction (0, 1] of each kernel's squared singular values.
        clusters: Cluster each conv/dense kernel to this many shared values. Defaults to none.
        min_params: Factorize only kernels with at least this many weights. Defaults to
            `factorize_dense.DEFAULT_MIN_PARAMS`.
        force: Replace `out` if it exists. Defaults to `False`.

    Returns:
        `{"source", "out", "passes", "data": {name, examples}, "params": {before, after},
        "weights_bytes": {before, after, ratio}, "accuracy": {before, after}, "max_abs_diff",
        "stages": [{pass, changed, max_abs_diff, accuracy, report}]}`: `max_abs_diff` is against
        the source model's outputs; accuracy is `None` without a classifier output and labels.

    Raises:
        RunDirError: `run_dir` is not a run directory, or `out` exists and `force` is false
            (checked first).
        InputError: no pass requested, or bad pass options.
        CompressError: folding batch norms changed the outputs (nothing was written).
    """
    from nnspec.compiler.passes.factorize_dense import DEFAULT_MIN_PARAMS
    from nnspec.compiler.pipeline import WEIGHT_PASSES, compile_spec
    from nnspec.compiler.weights import WeightedGraph
    from nnspec.runtime.derived_run import write_derived_run
    from nnspec.runtime.run_dir import load_run
    from nnspec.runtime.weights_io import build_weighted, read_weights

    run_dir, out = Path(run_dir), Path(out)
    if out.exists() and not force:
        raise RunDirError(f"{out} already exists; pass --force to replace it (nothing was changed)")
    min_params = DEFAULT_MIN_PARAMS if min_params is None else min_params
    options = _options(fold_bn, rank, energy, clusters, min_params)
    spec, source = load_run(run_dir)
    graph = compile_spec(spec)
    model = WeightedGraph(graph, read_weights(source, graph))
    check = _checker(spec, graph, run_dir)
    reference = previous = check.outputs(source)
    stages, size = [], None
    for transform in WEIGHT_PASSES:
        kwargs = options.get(transform.__name__)
        if kwargs is None:
            continue
        result = transform(model, **kwargs)
        outputs = check.outputs(build_weighted(result.model)) if result.changed else previous
        if transform.__name__ == "fold_batchnorm":
            _check_fold(result.report, previous, outputs)
        if transform.__name__ == "cluster_weights":
            size = result.report["bytes"]
        stages.append({"pass": _name(transform.__name__, kwargs), "changed": result.changed,
                       "max_abs_diff": _max_diff(outputs, reference),
                       "accuracy": check.accuracy(outputs), "report": result.report})
        model, previous = result.model, outputs
    before = 4 * _params(graph)
    after = size if size is not None else 4 * _params(model.graph)
    report = {"source": str(run_dir), "out": str(out), "passes": [s["pass"] for s in stages],
              "data": check.describe(),
              "params": {"before": _params(graph), "after": _params(model.graph)},
              "weights_bytes": {"before": before, "after": after, "ratio": before / after},
              "accuracy": {"before": check.accuracy(reference), "after": check.accuracy(previous)},
              "max_abs_diff": _max_diff(previous, reference), "stages": stages}
    write_derived_run(model, spec, out, source=run_dir, passes=report["passes"], report=report,
                      force=force)
    return report


def _options(fold_bn, rank, energy, clusters, min_params) -> dict:
    """Keyword arguments of each requested pass, by pass name."""
    options = {}
    if fold_bn:
        options["fold_batchnorm"] = {}
    if rank is not None or energy is not None:
        options["factorize_dense"] = {"rank": rank, "energy": energy, "min_params": min_params}
    if clusters is not None:
        options["cluster_weights"] = {"clusters": clusters}
    if not options:
        raise InputError("nothing to do: ask for fold_bn, rank or energy, or clusters. Received: "
                         f"fold_bn={fold_bn}, rank={rank}, energy={energy}, clusters={clusters}")
    return options


def _name(name: str, kwargs: dict) -> str:
    """`factorize_dense(rank=8, min_params=4096)`: the pass as metrics.json lists it."""
    shown = ", ".join(f"{k}={v}" for k, v in kwargs.items() if v is not None)
    return f"{name}({shown})" if shown else name


def _check_fold(report: dict, before: list[np.ndarray], after: list[np.ndarray]) -> None:
    """Folding is exact in real arithmetic: allow float32 rounding only."""
    allowed = FOLD_RTOL * (1.0 + max(float(np.max(np.abs(b))) for b in before))
    diff = _max_diff(after, before)
    if diff > allowed:
        raise CompressError(f"fold_batchnorm changed the model's outputs by up to {diff:.3g} "
                            f"(allowed {allowed:.3g}); nothing was written. "
                            f"Folded: {report['folded']}")


def _max_diff(outputs: list[np.ndarray], reference: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
               for a, b in zip(outputs, reference))


def _params(graph) -> int:
    return sum(n.params or 0 for n in graph.order())


@dataclass(frozen=True)
class _Checker:
    """Runs Keras models on fixed inputs and scores their classifier output."""

    x: object
    y: object = None
    name: str = "random"
    spec: object = None
    label: str | None = None
    """The classifier output scored, if any."""
    index: int | None = None
    """Its position among the model's outputs."""

    def outputs(self, model) -> list[np.ndarray]:
        out = model.predict(self.x, batch_size=256, verbose=0)
        return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]

    def accuracy(self, outputs: list[np.ndarray]) -> float | None:
        from nnspec.runtime.evaluate import predicted_classes

        if self.index is None:
            return None
        predicted = predicted_classes(self.spec.train, self.label, outputs[self.index])
        return float(np.mean(predicted.reshape(-1) == np.asarray(self.y).reshape(-1)))

    def describe(self) -> dict:
        first = next(iter(self.x.values())) if isinstance(self.x, dict) else self.x
        return {"name": self.name, "examples": len(first)}


def _checker(spec, graph, run_dir: Path) -> _Checker:
    """The run's own test split (with labels and classifier output when it has them), else seeded
    random inputs."""
    from nnspec.runtime.evaluate import classifier_outputs, evaluation_data

    data = None
    if spec.train is not None:
        try:
            _, _, data = evaluation_data(spec, graph, run_dir)
        except NnspecError:  # no test split, or data that cannot be loaded here
            data = None
    if data is not None:
        names = classifier_outputs(spec.train, graph, data)
        if not names:
            return _Checker(data.x, name=f"{data.name} (test split)")
        return _Checker(data.x, data.y, f"{data.name} (test split)", spec, names[0],
                        list(graph.outputs).index(names[0]))
    rng = np.random.default_rng(0)
    x = {}
    for name in graph.inputs:
        t = graph.node(name).out
        shape = (RANDOM_EXAMPLES, *(1 if d is None else d for d in t.shape[1:]))
        x[name] = (rng.integers(0, 2, shape) if t.dtype.startswith(("int", "uint"))
                   else rng.standard_normal(shape)).astype(t.dtype)
    return _Checker(x if len(x) > 1 else x[graph.inputs[0]])
