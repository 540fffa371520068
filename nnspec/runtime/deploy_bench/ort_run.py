"""An ONNX file as a variant, run in onnxruntime on `threads` intra-op threads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nnspec.runtime.deploy_bench.errors import BenchInputError
from nnspec.runtime.deploy_bench.eval_set import EvalSet, file_eval_set
from nnspec.runtime.deploy_bench.variant import Variant, batched, looped


def ort_variant(name, path: Path, evaluation: EvalSet | None, threads: int, data: str | None = None) -> Variant:
    session = _ort_session(path, threads)
    inputs = {i.name: (_ort_dtype(i.type), list(i.shape)) for i in session.get_inputs()}
    if evaluation is None:
        evaluation = file_eval_set(data, inputs)
    evaluation = _fit_inputs(path, inputs, evaluation)
    names = [o.name for o in session.get_outputs()]
    fixed = inputs[next(iter(inputs))][1][0]
    fixed = fixed if isinstance(fixed, int) and fixed > 0 else None

    def run(x):
        if fixed is not None and len(next(iter(x.values()))) != fixed:
            return looped(run, x, fixed)
        return dict(zip(names, session.run(None, {k: x[k].astype(inputs[k][0], copy=False) for k in inputs})))

    return Variant(name, "onnx", path, run, lambda x: batched(run, x), evaluation)


def _ort_session(path: Path, threads: int):
    from nnspec.runtime.ort_session import cpu_session

    try:
        return cpu_session(path, threads=threads)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BenchInputError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}. Received: {path}") from exc


def _ort_dtype(type_name: str) -> str:
    """`tensor(float)` → `float32`."""
    inner = type_name[type_name.find("(") + 1:-1]
    return {"float": "float32", "double": "float64", "float16": "float16"}.get(inner, inner)


def _fit_inputs(path: Path, inputs: dict, evaluation: EvalSet) -> EvalSet:
    """The evaluation set keyed by this file's input names: as it is, or renamed for a one-input model."""
    if len(inputs) == 1 and len(evaluation.x) == 1 and next(iter(inputs)) not in evaluation.x:
        return dataclasses.replace(evaluation, x={next(iter(inputs)): next(iter(evaluation.x.values()))})
    missing = [name for name in inputs if name not in evaluation.x]
    if missing:
        raise BenchInputError(f"{path} has inputs {list(inputs)} but the evaluation data gives {list(evaluation.x)}"
                              f". Received: {path}")
    return evaluation
