"""The layer registry: one `LayerDef` per op, registered by the op's card file.

Conventions (written once, here):
- A card is one file `nnspec/layers/<op>.py`; the op tag (the YAML `op:` value) is snake_case and equals the file
  name, except where one file registers a family of identical-shaped ops (the plain activations, the pools).
- The spec class is named after the Keras class it lowers to (`Conv2D`, `BatchNormalization`) and its fields are
  the Keras constructor arguments, so `KerasMapping.kwargs` is mostly the identity.
- A card holds facts about its op that several consumers need (shape rule, parameter and FLOP counts, Keras
  mapping, expected ONNX ops, pruning behaviour, examples), never a pass algorithm.
- Shapes include the batch axis first, as `None`. FLOPs are per example: 2 per multiply-accumulate, 1 per
  elementwise operation on an output element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from nnspec.specs.base import LayerSpec

Shape = tuple[int | None, ...]
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int32", "int64")


class ShapeError(ValueError):
    """An op cannot take inputs of this shape or dtype. The message says what it expected and, if it helps, how
    to fix the spec; the compiler adds the node's location and the received shapes."""


@dataclass(frozen=True)
class TensorType:
    """The static type of a tensor in the IR: shape (batch first, `None` where unknown) and dtype."""

    shape: Shape
    dtype: str = "float32"

    def __str__(self) -> str:
        dims = ",".join("N" if d is None else str(d) for d in self.shape)
        return f"({dims})" if self.dtype == "float32" else f"{self.dtype}({dims})"


@dataclass(frozen=True)
class KerasMapping:
    """How an op becomes a Keras layer: `keras.layers.<cls>(**kwargs(spec), name=node_id)`.

    `cls` is a name in `keras.layers`, or `module:Name` for nnspec's own layers. `call` says how the layer is
    applied to the node's inputs: `single` (one tensor), `list` (merge layers take a list), `attention`
    (query, value[, key] as keywords), or `rnn` (the sequence, then any initial states as `initial_state`).
    A layer whose op has several outputs (`LayerDef.outputs`) returns them as a list, in that order.
    """

    cls: str
    kwargs: Callable[[Any], dict[str, Any]]
    call: Literal["single", "list", "attention", "rnn"] = "single"


@dataclass(frozen=True)
class Example:
    """A card example: the node's params and the shapes (batch left out) and dtypes of its inputs."""

    params: dict[str, Any]
    inputs: tuple[tuple[int, ...], ...] = ((8, 8, 3),)
    dtype: str | tuple[str, ...] = "float32"
    """One dtype for every input, or one per input (node features float32, edge indices int32)."""

    def dtypes(self) -> tuple[str, ...]:
        return self.dtype if isinstance(self.dtype, tuple) else (self.dtype,) * len(self.inputs)


def _no_params(spec, *inputs: TensorType) -> int:
    return 0


def _elementwise_flops(spec, out: TensorType, *inputs: TensorType) -> int:
    return elements(out.shape)


@dataclass(frozen=True)
class LayerDef:
    """Everything nnspec knows about one op."""

    op: str
    spec: type[LayerSpec]
    infer_shape: Callable[..., Shape]
    """(spec, *input_shapes) → output shape. Raises `ShapeError`."""
    count_params: Callable[..., int] = _no_params
    """(spec, *input_types) → number of weights (trainable and not)."""
    count_flops: Callable[..., int] = _elementwise_flops
    """(spec, output_type, *input_types) → FLOPs per example."""
    count_trainable: Callable[..., int] | None = None
    """(spec, *input_types) → trainable weights, when not all weights train (batch norm's moving statistics)."""
    keras: KerasMapping | None = None
    arity: int | tuple[int, ...] | None = 1
    """Number of inputs: a count, the allowed counts (an LSTM reads 1, or 3 with initial states), or `None` for
    two or more (merge ops)."""
    inputs_hint: str = ""
    """What the inputs are, in order, for arity diagnostics (e.g. `sequence, initial h, initial c`)."""
    outputs: Callable[[Any], tuple[str, ...]] | None = None
    """Names of the op's outputs, given its spec, for ops with several (`max_pool2d_with_indices`
    gives `output, indices`). Consumers read them as `id:name`; a plain id is the first. When the spec has
    more than one, `infer_shape` returns one `TensorType` per output instead of a shape."""
    outputs_hint: str = ""
    """How to get more outputs, shown when a consumer names one the node does not have."""
    input_dtype: Literal["float", "int", "any"] | tuple[Literal["float", "int", "any"], ...] = "float"
    """The dtype kind every input must have, or one per input port (features float, indices int)."""
    index_bounds: Callable[[Any, list[TensorType]], dict[int, int]] | None = None
    """For ops that read integer indices: (spec, input types) → {input port: exclusive upper bound of valid
    values} (an embedding's `input_dim`; a gather over N nodes, N). Random test and parity inputs stay below."""
    output_dtype: str | None = "float32"
    """The output dtype, or `None` to keep the first input's dtype (reshape-like ops)."""
    onnx_ops: tuple[str, ...] = ()
    """ONNX op types the exported graph must contain for this op (checked in the ONNX test tier)."""
    channels: Literal["passthrough", "produce", "consume", "opaque"] = "opaque"
    examples: tuple[Example, ...] = field(default_factory=tuple)


    def output_names(self, spec: Any) -> tuple[str, ...]:
        """The op's outputs with these params: `("output",)` for single-output ops."""
        return self.outputs(spec) if self.outputs else ("output",)


def arities(arity: int | tuple[int, ...]) -> tuple[int, ...]:
    """The allowed input counts of a fixed-arity op."""
    return arity if isinstance(arity, tuple) else (arity,)


LAYERS: dict[str, LayerDef] = {}


def register(spec_cls: type[LayerSpec], **rules) -> type[LayerSpec]:
    """Add `spec_cls` (whose `op` field is a `Literal` tag) and its rules to `LAYERS`."""
    op = spec_cls.model_fields["op"].default
    if op in LAYERS:
        raise ValueError(f"op {op!r} registered twice")
    if not rules.get("examples"):
        raise ValueError(f"op {op!r} needs at least one example")
    LAYERS[op] = LayerDef(op=op, spec=spec_cls, **rules)
    return spec_cls


def card(**rules) -> Callable[[type[LayerSpec]], type[LayerSpec]]:
    """Class decorator form of `register`."""
    return lambda spec_cls: register(spec_cls, **rules)


def elements(shape: Shape) -> int:
    """Number of elements of one example (the batch axis and unknown axes count as 1)."""
    return math.prod(d for d in shape[1:] if d is not None)
