"""The `deploy:` section: how `nnspec deploy` turns a trained model into small, fast, checked artifacts.

The chain always runs in this order, each step optional, each measured against the float model it started from:

    prune_channels → prune (magnitude) → fold_batchnorm → factorize → cluster → export ONNX → quantize → bench

Example:

    deploy:
      prune_channels: {flops: 0.5, fine_tune_epochs: 3}
      fold_batchnorm: true
      quantize: [static, fp16]
      max_accuracy_drop: 0.01
      exclude_worst: 2
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from nnspec.specs.base import NonNegativeInt, PositiveInt, SpecModel
from nnspec.specs.objectives import Fraction

QUANTIZE_MODES = ("dynamic", "static", "fp16", "litert", "qat")
"""What `deploy.quantize` may list: onnxruntime int8 (dynamic; static QDQ calibrated on training samples),
float16 ONNX, a full-integer LiteRT `.tflite`, and quantization-aware training followed by static int8."""


def _exactly_one(model, *names: str) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(names)}. Received: "
                         f"{', '.join(f'{n}={getattr(model, n)!r}' for n in names)}")


class ChannelPruning(SpecModel):
    """Structured channel pruning: whole channels removed from convolutions and dense layers (the model really
    shrinks), the same channels across everything a residual add or concatenation ties together."""

    ratio: Fraction | None = None
    """Fraction of the channels of every prunable group to remove."""
    flops: Fraction | None = None
    """Fraction of the model's FLOPs to keep (e.g. `0.5`: half the FLOPs)."""
    norm: Literal["l1", "l2"] = "l1"
    """Channel importance: the L1 or L2 norm of its weights. Defaults to `l1`."""
    multiple: PositiveInt = 16
    """Keep channel counts at multiples of this: onnxruntime's CPU convolutions work in blocks of 8 or 16
    channels, and other widths can run slower than the unpruned model. Defaults to `16`."""
    fine_tune_epochs: NonNegativeInt = 10
    """Epochs of fine-tuning after pruning, with the spec's `train:` settings. Defaults to `10`."""

    @model_validator(mode="after")
    def _one_target(self):
        _exactly_one(self, "ratio", "flops")
        return self


class MagnitudePruning(SpecModel):
    """Unstructured magnitude pruning: the smallest weights set to zero during a fine-tuning run, their share
    growing on a polynomial schedule to `sparsity`."""

    sparsity: Fraction
    """Fraction of the prunable weights (convolution and dense kernels) that end at zero."""
    epochs: PositiveInt = 10
    """Epochs of fine-tuning while pruning (fewer cost accuracy: 3 lost 2.5 points on digits at 80%, 10 none).
    Defaults to `10`."""
    scope: Literal["global", "per_layer"] = "global"
    """One magnitude threshold over all layers, or each layer pruned to `sparsity`. Defaults to `global`."""


class Factorization(SpecModel):
    """Truncated SVD of large dense layers: each becomes two thinner dense layers (no nonlinearity between)."""

    rank: PositiveInt | None = None
    """Keep this many singular values per layer."""
    energy: Fraction | None = None
    """Keep the fewest singular values holding this fraction of the squared singular values."""

    @model_validator(mode="after")
    def _one_target(self):
        _exactly_one(self, "rank", "energy")
        return self


class Clustering(SpecModel):
    """Weight clustering: every kernel's values replaced by the nearest of `clusters` shared values (k-means)."""

    clusters: Annotated[int, Field(ge=2, le=256)] = 16
    """Shared values per layer. Defaults to `16`."""


class DeploySpec(SpecModel):
    """Deployment: compression passes, export, quantization with an accuracy budget, and a benchmark report."""

    prune_channels: ChannelPruning | None = None
    """Structured channel pruning (then fine-tuning). Defaults to none."""
    prune: MagnitudePruning | None = None
    """Unstructured magnitude pruning (during fine-tuning). Defaults to none."""
    fold_batchnorm: bool = True
    """Fold batch norms into the convolution or dense layer before them. Defaults to `true`."""
    factorize: Factorization | None = None
    """Truncated-SVD factorization of dense layers. Defaults to none."""
    cluster: Clustering | None = None
    """Weight clustering. Defaults to none."""
    opset: Annotated[int, Field(ge=13, le=18)] | None = None
    """ONNX opset of the exported files. Defaults to 18."""
    quantize: list[Literal[QUANTIZE_MODES]] = ["static"]  # type: ignore[valid-type]
    """Quantized variants to make, any of `dynamic`, `static`, `fp16`, `litert`, `qat`. Defaults to `[static]`."""
    calibration_samples: PositiveInt = 256
    """Training examples used to calibrate static int8 and LiteRT ranges. Defaults to `256`."""
    max_accuracy_drop: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    """Largest accuracy loss a quantized variant may have against the float model, as a fraction (`0.01` is one
    point); a variant over budget fails the deploy and is not written. Defaults to no budget."""
    exclude_worst: NonNegativeInt = 0
    """When a quantized variant is over budget, keep up to this many of its most damaging layers in float
    (found automatically) and try again. Defaults to `0`."""
    threads: PositiveInt = 1
    """onnxruntime intra-op threads for the latency measurements. Defaults to `1`."""
