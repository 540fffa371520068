"""`regime: supervised`, the default: each output learns the dataset's targets through its loss."""

from __future__ import annotations

from typing import Literal

from nnspec.specs.base import SpecModel
from nnspec.specs.regimes._registry import regime


@regime
class Supervised(SpecModel):
    """Plain supervised learning: inputs in, the dataset's labels (or targets) out, the spec's `loss` per
    output."""

    name: Literal["supervised"] = "supervised"
    """The regime's name."""
