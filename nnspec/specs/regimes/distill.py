"""`regime: distill`: knowledge distillation (Hinton, Vinyals & Dean 2015) of a trained teacher run into the spec's
model, the student."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from nnspec.specs.base import SpecModel
from nnspec.specs.regimes._registry import regime


@regime
class Distill(SpecModel):
    """Train the spec's model (the student) to match both the labels and a trained teacher's softened outputs:

        loss = alpha * hard_loss + (1 - alpha) * T² * KL(softmax(z_t / T) || softmax(z_s / T))

    `hard_loss` is the spec's `loss` against the labels, `z_t` and `z_s` the teacher's and the student's logits,
    `T` the `temperature`; `T²` keeps the soft term's gradients on the scale of the hard term's as `T` changes
    (Hinton et al. 2015, section 2). A model whose output is already a softmax (its loss has `from_logits:
    false`) gives its log-probabilities as logits: `softmax(log p / T)` is the tempered distribution
    (probabilities are clipped to `[1e-7, 1]` first, Keras's epsilon, so a zero probability stays finite).

    The teacher is a run directory of `nnspec train` with one output, the same input and output shapes as the
    student, trained on the same data with the same `seed` and `test_split` (so both see the same split and the
    teacher never trained on the student's test examples). It is frozen and runs in inference mode. The run
    directory keeps the bare student as `model.keras` (what export and eval read) and `teacher.json`, which
    teacher it learned from. Training reports `loss`, `hard_loss`, `distill_loss` and the spec's metrics.

    Example:
        `regime: {name: distill, teacher: runs/digits_cnn, temperature: 4.0, alpha: 0.1}`
    """

    name: Literal["distill"] = "distill"
    """The regime's name."""
    teacher: Annotated[str, Field(min_length=1)]
    """The teacher's run directory (from `nnspec train`), relative to the spec's directory, or absolute."""
    temperature: Annotated[float, Field(gt=0.0)] = 4.0
    """`T`, the softmax temperature of both models' outputs in the distillation term: above 1 it reveals
    which wrong classes the teacher finds likely. Defaults to `4.0`."""
    alpha: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    """Weight of the hard loss (the labels); the distillation term gets `1 - alpha`. `1` is plain supervised
    learning. Defaults to `0.1`."""
