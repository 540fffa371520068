"""The spec of a whole model: inputs, a graph of nodes, outputs, and optional train/expect sections.

`AnyLayer` is the union of every registered card, discriminated on `op`, so an unknown op or a misspelt key is
reported precisely at its line.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, PrivateAttr

import nnspec.layers  # noqa: F401  (registers every card)
from nnspec.layers._registry import LAYERS
from nnspec.specs.base import Identifier, Reference, PositiveInt, SpecModel
from nnspec.specs.source import SourceMap
from nnspec.specs.deploy import DeploySpec
from nnspec.specs.train import TrainSpec

AnyLayer = Annotated[Union[tuple(d.spec for d in LAYERS.values())], Field(discriminator="op")]


class InputSpec(SpecModel):
    """One model input: its shape without the batch axis, and its dtype."""

    shape: Annotated[list[PositiveInt | None], Field(min_length=1)]
    """Shape without the batch axis, e.g. `[28, 28, 1]`; `null` marks a variable-length axis."""
    dtype: Literal["float32", "float16", "int32", "int64"] = "float32"
    """Element type. Use `int32` for token ids fed to an embedding. Defaults to `float32`."""


class ExpectSpec(SpecModel):
    """Reference facts checked every time the spec compiles, e.g. a paper's parameter count."""

    params: Annotated[int, Field(ge=0)] | None = None
    """Exact total number of weights."""
    trainable_params: Annotated[int, Field(ge=0)] | None = None
    """Exact number of trainable weights."""
    source: str | None = None
    """Where the numbers come from (paper, table, reference implementation)."""
    small: list[str] = []
    """`--set` overrides that give a small variant of the same architecture (fewer channels, a smaller input),
    used for quick forward-pass and export checks where the full model would be slow."""


class ModelSpec(SpecModel):
    """A model: named inputs, a list of nodes (a chain unless a node names its inputs with `from`), outputs."""

    nnspec: Literal[1] = 1
    """Spec format version. Defaults to `1`."""
    name: Identifier
    """The model's name (the Keras model name; stored in exported files)."""
    description: str | None = None
    """What the model is, for people."""
    task: str | None = None
    """What the model does, in a word or two (`classification`, `segmentation`, `generation`, ...)."""
    inputs: Annotated[dict[Identifier, InputSpec], Field(min_length=1)]
    """Named inputs, e.g. `{image: {shape: [8, 8, 1]}}`."""
    nodes: Annotated[list[AnyLayer], Field(min_length=1)]  # type: ignore[valid-type]
    """The graph. Each node takes the previous node's output unless it names its inputs with `from`."""
    outputs: Annotated[list[Reference], Field(min_length=1)] | None = None
    """Node ids the model returns. Defaults to the last node."""
    train: TrainSpec | None = None
    """How to train the model (needed by `nnspec train`)."""
    expect: ExpectSpec | None = None
    """Facts checked at compile time."""
    deploy: DeploySpec | None = None
    """How `nnspec deploy` compresses, exports, quantizes and benchmarks the trained model."""

    _source: SourceMap = PrivateAttr(default_factory=lambda: SourceMap("<string>"))
    _text: str = PrivateAttr(default="")
    _scopes: dict[int, tuple[tuple[str, str], ...]] = PrivateAttr(default_factory=dict)
    _standalone: bool = PrivateAttr(default=True)
    _shares: dict[int, str] = PrivateAttr(default_factory=dict)

    @property
    def shares(self) -> dict[int, str]:
        """Node index → id of the node whose weights it reuses (from block uses with `share:`)."""
        return self._shares

    @property
    def standalone(self) -> bool:
        """True when `text` alone reproduces the spec (no `extends`, no command-line overrides)."""
        return self._standalone

    @property
    def source_map(self) -> SourceMap:
        """Where each YAML path of this spec came from."""
        return self._source

    @property
    def scopes(self) -> dict[int, tuple[tuple[str, str], ...]]:
        """For nodes expanded from blocks: node index → the `(use id, block name)` pairs, outermost first."""
        return self._scopes

    @property
    def text(self) -> str:
        """The YAML text the spec was loaded from."""
        return self._text
