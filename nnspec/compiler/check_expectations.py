"""The `expect:` section checked against the compiled graph (a zoo spec proves it reproduces its paper)."""

from __future__ import annotations

from nnspec.compiler.ir import Graph
from nnspec.compiler.summary import summarize
from nnspec.errors import Diagnostic
from nnspec.specs.model import ModelSpec


def check_expectations(spec: ModelSpec, g: Graph) -> list[Diagnostic]:
    """One diagnostic per `expect:` fact the graph does not reproduce."""
    if spec.expect is None:
        return []
    totals = summarize(g)
    problems = []
    for key in ("params", "trainable_params"):
        want = getattr(spec.expect, key)
        if want is not None and want != totals[key]:
            path = ("expect", key)
            source = f" (source: {spec.expect.source})" if spec.expect.source else ""
            inherited = spec.source_map.locate(path).file != spec.source_map.file
            hint = (" This fact comes from the spec this one extends: restate `expect:` for the changed model, "
                    "or drop it with `expect: null`." if inherited else "")
            problems.append(spec.source_map.diagnostic(
                path, f"the model has {totals[key]:,} {key.replace('_', ' ')}, the spec expects {want:,}{source}."
                f"{hint} Received: {key}={want}"))
    return problems
