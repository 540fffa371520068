"""Passes over the IR. Analyses return data; transforms return `PassResult(graph, changed)` and never mutate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nnspec.compiler.ir import Graph


@dataclass(frozen=True)
class PassResult:
    """What a transform returns: the new graph and whether it differs from the input."""

    graph: Graph
    changed: bool


Transform = Callable[..., PassResult]


def fixed_point(*passes: Transform, max_iters: int = 20) -> Transform:
    """Run `passes` in turn until none reports a change (onnx-simplifier's `FixedPointFn`)."""

    def run_all(g: Graph, **kwargs) -> PassResult:
        changed_any = False
        for _ in range(max_iters):
            changed = False
            for p in passes:
                result = p(g, **kwargs)
                g, changed = result.graph, changed or result.changed
            changed_any |= changed
            if not changed:
                return PassResult(g, changed_any)
        raise RuntimeError(f"fixed_point({', '.join(p.__name__ for p in passes)}) did not converge in {max_iters}")

    run_all.__name__ = f"fixed_point({', '.join(p.__name__ for p in passes)})"
    return run_all
