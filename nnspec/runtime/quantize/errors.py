"""The errors quantization raises; each means no file was written (or an earlier one was kept)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnspec.errors import InputError, NnspecError

if TYPE_CHECKING:
    from nnspec.runtime.quantize.report import QuantizeReport


class QuantizeError(NnspecError):
    """Quantization failed, or its result did not load in onnxruntime; no file was kept."""


class QuantizeInputError(QuantizeError, InputError):
    """The arguments or data given to quantize are unusable (the command line exits 2); nothing was written."""


class AccuracyBudgetError(QuantizeError):
    """The quantized model lost more accuracy than the budget allows; no file was kept."""

    def __init__(self, report: QuantizeReport, budget: float):
        self.report = report
        self.budget = budget
        if len(report.attempts) > 1:
            steps = "; ".join(f"[{', '.join(a['excluded'])}] -> {a['accuracy']:.4f}" for a in report.attempts)
            tried = f"; excluding the nodes it hurt most did not bring it within budget ({steps})"
        elif report.exclude_worst:
            tried = ("; no node left alone in float brought the outputs closer to the float model's, so none was "
                     "excluded")
        else:
            tried = " (--exclude-worst N retries with the N nodes that hurt most left in float)"
        super().__init__(
            f"{report.mode} quantization lost {report.accuracy_drop * 100:.2f} accuracy points "
            f"(float {report.float_accuracy:.4f} → quantized {report.accuracy:.4f} on {report.examples} test "
            f"examples), above the budget max_accuracy_drop={budget:g}{tried}; {report.path} was not written")
