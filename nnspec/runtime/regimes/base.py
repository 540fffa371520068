"""What a training regime decides, and what the trainer gives it to decide with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnspec.compiler.ir import Graph
from nnspec.errors import Diagnostic
from nnspec.runtime.data import Dataset
from nnspec.specs.model import ModelSpec
from nnspec.specs.train import TrainSpec


@dataclass(frozen=True)
class Context:
    """A training run as a regime sees it: the spec and its IR, the data splits, and the run's folder."""

    spec: ModelSpec
    graph: Graph
    train: Dataset
    validation: Dataset
    test: Dataset
    steps_per_epoch: int
    stage: Path
    """The run directory being written (its partial folder until the run finishes)."""
    base_dir: Path
    """The spec's directory: relative paths in `train.regime` (a teacher run, a discriminator spec) start here."""

    @property
    def cfg(self) -> TrainSpec:
        return self.spec.train


class Regime:
    """How a model is trained. The trainer calls, in order: `check` (before anything heavy), `build` (the
    compiled Keras model that `fit` trains, whose `train_step` may be the regime's own), `targets` for every
    split, then `fit`/`evaluate`, `final_models` (what the run directory keeps) and `finish` (extra artifacts such
    as sample grids). Every method has the supervised default except `build`."""

    data_are_inputs: bool = True
    """The dataset's examples are the model's inputs (a GAN's are what its generator makes, from noise)."""

    def check(self, spec: ModelSpec, graph: Graph, data: Dataset, base_dir: Path) -> list[Diagnostic]:
        """Problems with the regime's options for this model and data, located in the spec (empty if none)."""
        return []

    def build(self, ctx: Context) -> Any:
        """The compiled Keras model to `fit`."""
        raise NotImplementedError

    def targets(self, ctx: Context, data: Dataset) -> Any:
        """The `y` of `fit` and `evaluate` for one split (an array, a dict by output id, or None)."""
        raise NotImplementedError

    def optimizers(self, model) -> list:
        """The optimizers whose state a checkpoint keeps (one for supervised learning; a GAN has two)."""
        return [model.optimizer]

    def callbacks(self, ctx: Context, model) -> list:
        """Keras callbacks the regime adds to training (e.g. a GAN's sample grid per epoch); they run before the
        checkpoint, so whatever they write for an epoch exists when that epoch's checkpoint does."""
        return []

    def final_models(self, model) -> dict[str, Any]:
        """The Keras models the run directory keeps, by file stem: `{"model": ...}` is `model.keras`, the model
        every later command (export, eval) reads."""
        return {"model": model}

    def finish(self, ctx: Context, model, history: dict) -> None:
        """Write extra artifacts into `ctx.stage` after training (sample grids, ...)."""

    def sample(self, spec: ModelSpec, models: dict[str, Any], out: Path, *, n: int, seed: int) -> list[Path]:
        """`nnspec sample`: write PNG grid(s) of what the trained models generate to `out` (and siblings of it),
        atomically; return the paths written. `models` are the run directory's `.keras` files by stem."""
        from nnspec.errors import NnspecError

        raise NnspecError(f"regime '{spec.train.regime.name}' generates nothing to sample; `nnspec sample` "
                          "works on runs of generative regimes (vae, gan)")
