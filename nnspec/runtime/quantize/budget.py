"""Attempts within the accuracy budget; the sensitivity ranking that picks the nodes left in float.

Accuracy budget and excluding the worst nodes:
    With `max_accuracy_drop`, a quantized model that loses more accuracy than the budget is not written
    (`AccuracyBudgetError`). With `exclude_worst=N` as well, nnspec first ranks the nodes the quantizer
    touches by sensitivity: for each node k, the model is quantized with only k left in float (the
    calibration ranges are computed once and reused from onnxruntime's calibration cache), and the drop in mean
    |quantized - float| of the outputs on the *calibration* examples is node k's harm. Measuring on the training
    part keeps the test split out of the choice, so the final accuracy stays an honest held-out figure. The
    attempts then exclude the 1, 2, ... N most harmful nodes (`nodes_to_exclude`), stopping at the first one
    within budget. Every attempt (excluded nodes, accuracy) is in the report and in the error. Leave-one-out
    costs one quantization per candidate node; data-movement ops (Reshape, Transpose, MaxPool, ...) are not
    candidates, since they pass quantized values through unchanged.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from nnspec.runtime.atomic import temp_beside
from nnspec.runtime.quantize.compare import compare, predict, session
from nnspec.runtime.quantize.errors import AccuracyBudgetError


def attempts(quantizer, tmp: Path, out: Path, floating, evaluation, budget, exclude_worst: int):
    """Quantize, and while over budget retry leaving the 1, 2, ... `exclude_worst` most harmful nodes in float."""
    excluded: list[str] = []
    tried: list[dict] = []
    harm: dict[str, float] = {}
    while True:
        quantizer.write(tmp, excluded)
        report = compare(quantizer, out, tmp, floating, session(tmp), evaluation)
        tried.append({"excluded": list(excluded), "accuracy": report.accuracy, "accuracy_drop": report.accuracy_drop,
                      "size_bytes": report.size_bytes})  # fmt: skip
        if budget is None or report.accuracy_drop <= budget or len(excluded) >= exclude_worst:
            break
        if not harm:
            harm = _sensitivity(quantizer, floating)
        harmful = [node for node, gain in harm.items() if gain > 0]
        if len(harmful) <= len(excluded):
            break  # leaving any further node in float does not bring the outputs closer to float
        excluded = harmful[:len(excluded) + 1]
    report = dataclasses.replace(report, excluded_nodes=tuple(excluded), exclude_worst=exclude_worst,
                                 attempts=tuple(tried), sensitivity=harm)
    if budget is not None and report.accuracy_drop > budget:
        raise AccuracyBudgetError(report, budget)
    return report


def _sensitivity(quantizer, floating) -> dict[str, float]:
    """Each candidate node's harm: how much quantizing everything but it lowers mean |quantized - float| of the
    outputs on the calibration examples; sorted, most harmful first."""
    x = quantizer.calib
    want = predict(floating, x)

    def error(exclude: list[str]) -> float:
        with temp_beside(quantizer.folder / "probe.onnx", suffix=".onnx") as probe:
            quantizer.write(probe, exclude)
            got = predict(session(probe), x)
        return float(np.mean(np.concatenate([np.abs(a.astype(np.float64) - b).reshape(-1)
                                             for a, b in zip(got, want)])))  # fmt: skip

    everything = error([])
    harm = {node: everything - error([node]) for node in quantizer.candidates()}
    return dict(sorted(harm.items(), key=lambda item: -item[1]))
