"""The base of every layer spec, and the field types layer cards share.

A node in a spec is one mapping: the graph fields every node has (`op`, `id`, `from`) plus the op's own
parameters, named as the Keras arguments they become. Unknown keys are errors (`extra="forbid"`) and specs are
immutable once validated (`frozen=True`), so IR node payloads can share them safely.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(ge=0.0, lt=1.0)]

# Sizes may be one int for every spatial axis, or one int per axis (Keras accepts both).
Size1D = PositiveInt | tuple[PositiveInt]
Size2D = PositiveInt | tuple[PositiveInt, PositiveInt]
Size3D = PositiveInt | tuple[PositiveInt, PositiveInt, PositiveInt]
Padding = Literal["valid", "same"]

# Activation functions usable both as ops and as the `activation:` field of dense/conv/... layers.
# Each name is a function in `keras.activations`.
ACTIVATIONS: tuple[str, ...] = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "hard_sigmoid",
    "tanh", "hard_tanh", "softmax", "softplus", "swish", "silu", "mish",
)  # fmt: skip
Activation = Literal[ACTIVATIONS]  # type: ignore[valid-type]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$", max_length=128)]
Reference = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*(:[A-Za-z_][A-Za-z0-9_]*)?$", max_length=160)]
"""A tensor a node reads: an input name or a node id, and for ops with several outputs optionally `id:output`
(e.g. `pool1:indices`, `encoder:state_h`). A plain id is the node's first output."""


def ntuple(value: int | tuple[int, ...], n: int) -> tuple[int, ...]:
    """`3` → `(3, 3)` for n=2; tuples pass through."""
    return tuple(value) if isinstance(value, tuple) else (value,) * n


class SpecModel(BaseModel):
    """Base for every spec model: unknown keys are errors, values are immutable once validated."""

    # defer_build: the ~60 card classes are compiled once, inside the ModelSpec union, not one by one at import.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class LayerSpec(SpecModel):
    """Fields every node has, whatever its op. Cards subclass this and add `op: Literal["name"]`."""

    id: Identifier | None = None
    """The node's name: the Keras layer name and the ONNX node name prefix. Generated as `<op>_<n>` if absent."""
    from_: Annotated[list[Reference], Field(min_length=1)] | None = Field(default=None, alias="from")
    """Names of the inputs or nodes this node reads. Defaults to the previous node (or the only input)."""

    @field_validator("from_", mode="before")
    @classmethod
    def _one_name_is_a_list(cls, value):
        return [value] if isinstance(value, str) else value

    def params(self) -> dict:
        """The op's own parameters (everything but the graph fields), defaults included."""
        return self.model_dump(exclude={"id", "from_", "op"})
