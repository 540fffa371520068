"""The emitter registry: op → the function writing its ONNX nodes, and what it refuses.

An emitter is `emit(b: Builder, node: Node) -> None`: it reads its inputs with `b.read`, writes ONNX nodes with
`b.add`/`b.const`, and records its output with `b.write`. A `refuse(node, graph) -> str | None` rule names a
configuration of a covered op the emitter does not handle (the export then goes through tf2onnx). `ops` names
the ONNX ops an emitter writes where they differ from the card's `onnx_ops` (which describe tf2onnx's graph),
e.g. one fused LayerNormalization instead of tf2onnx's decomposition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from nnspec.compiler.ir import Graph, Node

Refuse = Callable[[Node, Graph], "str | None"]


@dataclass(frozen=True)
class Rule:
    emit: Callable
    refuse: Refuse | None = None
    ops: tuple[str, ...] | None = None


EMITTERS: dict[str, Rule] = {}


def emits(*ops: str, refuse: Refuse | None = None, onnx_ops: tuple[str, ...] | None = None):
    """Register the decorated function as the emitter of `ops` (writing `onnx_ops` where that differs from
    the card's list)."""

    def register(fn: Callable) -> Callable:
        for op in ops:
            if op in EMITTERS:
                raise ValueError(f"op {op!r} has two ONNX emitters")
            EMITTERS[op] = Rule(fn, refuse, onnx_ops)
        return fn

    return register
