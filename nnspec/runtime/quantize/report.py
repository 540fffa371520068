"""`QuantizeReport`: what a quantization wrote and how it compares with the float model."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class QuantizeReport:
    """What a quantization wrote and how it compares with the float model."""

    mode: str
    path: Path
    size_bytes: int
    float_size_bytes: int
    ratio: float
    """`float_size_bytes / size_bytes`: how many times smaller the quantized file is."""
    float_accuracy: float | None
    """Accuracy of the float model on the evaluation data (first classifier output); None if no labels."""
    accuracy: float | None
    max_abs_diff: float
    """Largest |quantized - float| over all outputs on the evaluation data."""
    mean_abs_diff: float
    examples: int
    """How many examples the accuracies and differences were measured on."""
    data: str
    """Which data: `"test split"` of a run, `"given"` arrays, or `"random"` seeded inputs."""
    float_latency_ms: float
    latency_ms: float
    """Median latency at batch 1, one thread, LATENCY_REPEATS runs alternating with the float model's."""
    preprocess: str
    """For static mode, what ran before quantizing (`quant_pre_process` or why it was skipped); else `"none"`."""
    calibration_samples: int
    """Examples the static mode calibrated on (0 for the other modes)."""
    versions: dict[str, str]
    """Versions of the libraries that did the work."""
    baseline: str = "float32 ONNX"
    """What the float figures (size, latency, accuracy) were measured on."""
    excluded_nodes: tuple[str, ...] = ()
    """Nodes left in float (`exclude_worst`), most harmful first."""
    exclude_worst: int = 0
    """How many nodes the caller allowed to be left in float."""
    attempts: tuple[dict, ...] = ()
    """Each quantization tried, in order: `{"excluded": [...], "accuracy": ..., "accuracy_drop": ...}`."""
    sensitivity: dict[str, float] = dataclasses.field(default_factory=dict)
    """Node → how much leaving it alone in float lowers mean |quantized - float| on the calibration examples,
    most harmful first (only measured when the first attempt was over budget and `exclude_worst` > 0)."""

    @property
    def accuracy_drop(self) -> float | None:
        """`float_accuracy - accuracy` (positive: the quantized model is worse), or None without labels."""
        if self.float_accuracy is None or self.accuracy is None:
            return None
        return self.float_accuracy - self.accuracy

    @property
    def latency_ratio(self) -> float:
        """`float_latency_ms / latency_ms`: above 1 the quantized model is faster."""
        return self.float_latency_ms / self.latency_ms if self.latency_ms > 0 else math.inf

    def to_dict(self) -> dict:
        fields = dict(self.__dict__, path=str(self.path), excluded_nodes=list(self.excluded_nodes),
                      attempts=list(self.attempts))
        return {**fields, "accuracy_drop": self.accuracy_drop, "latency_ratio": self.latency_ratio}
