"""The compile pipeline: a short, visible list of steps from a validated spec to a typed, verified IR."""

from __future__ import annotations

import os

from nnspec.compiler.build import build_graph
from nnspec.compiler.check_expectations import check_expectations
from nnspec.compiler.ir import Graph
from nnspec.compiler.passes import PassResult, Transform
from nnspec.compiler.passes.cluster_weights import cluster_weights
from nnspec.compiler.passes.factorize_dense import factorize_dense
from nnspec.compiler.passes.fold_batchnorm import fold_batchnorm
from nnspec.compiler.passes.infer_shapes import infer_shapes
from nnspec.compiler.verify import verify
from nnspec.errors import CompileError, DiagnosticError, NnspecError
from nnspec.specs.model import ModelSpec

# Verify the IR after every pass: always in tests (conftest sets it), on request elsewhere.
CHECK_PASSES = os.environ.get("NNSPEC_VERIFY_PASSES", "") == "1"

# The weight-changing deploy passes (WeightedGraph -> WeightedResult), in the order they are applied
# (nnspec.runtime.compress): fold batch norms first (exact, and it leaves plain conv/dense layers to
# the others), then factorize dense layers (lossy; changes layer shapes), and cluster last, since it
# quantizes the final values and anything after it would recompute them.
WEIGHT_PASSES = (fold_batchnorm, factorize_dense, cluster_weights)


def run(g: Graph, transform: Transform, **kwargs) -> Graph:
    """Apply one transform, verify the result when checks are on, and name the pass in any internal failure."""
    try:
        result: PassResult = transform(g, **kwargs)
    except DiagnosticError:
        raise  # mistakes in the spec, already located
    except Exception as exc:
        raise NnspecError(f"pass '{transform.__name__}' failed on graph '{g.name}': {exc}") from exc
    if CHECK_PASSES:
        verify(result.graph)
    return result.graph


def compile_spec(spec: ModelSpec) -> Graph:
    """The typed IR of a validated spec. Raises `CompileError` for shape/dtype mismatches and unmet `expect:`."""
    g = build_graph(spec)
    verify(g, typed=False)  # lowering is trusted but cheap to check
    g = run(g, infer_shapes)  # every later step needs shapes and counts
    problems = check_expectations(spec, g)  # NOTE: after inference, which counts the parameters
    if problems:
        raise CompileError(problems)
    return g
