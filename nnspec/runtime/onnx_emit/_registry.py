"""The emitter registry: op → the function writing its ONNX nodes, and what it refuses.

An emitter is `emit(b: Builder, node: Node) -> None`: it reads its inputs with `b.read`, writes ONNX nodes with
`b.add`/`b.const`, and records its output with `b.write`. A `refuse(node) -> str | None` rule names a
configuration of a covered op the emitter does not handle (the export then goes through tf2onnx).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from nnspec.compiler.ir import Node


@dataclass(frozen=True)
class Rule:
    emit: Callable
    refuse: Callable[[Node], str | None] | None = None


EMITTERS: dict[str, Rule] = {}


def emits(*ops: str, refuse: Callable[[Node], str | None] | None = None):
    """Register the decorated function as the emitter of `ops`."""

    def register(fn: Callable) -> Callable:
        for op in ops:
            if op in EMITTERS:
                raise ValueError(f"op {op!r} has two ONNX emitters")
            EMITTERS[op] = Rule(fn, refuse)
        return fn

    return register
