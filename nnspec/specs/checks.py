"""Cross-field checks that pydantic cannot express: ids, references, arity, cycles, unused nodes.

Each check is a function registered with `@spec_check`; it returns one `Diagnostic` per problem, located at the
YAML key it concerns, so every graph mistake is reported at once, like the field errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

import networkx as nx

from nnspec.errors import Diagnostic
from nnspec.layers._registry import LAYERS, arities
from nnspec.specs.model import ModelSpec
from nnspec.specs.wiring import node_ids, output_ids, split_ref, wire

SpecCheck = Callable[[ModelSpec], list[Diagnostic]]
# Stage 0 checks names and references; stage 1 checks the dataflow they define. NOTE: stage 1 only runs when
# stage 0 found nothing, since a duplicate id or a dangling reference would make it report phantom cycles and
# unused nodes.
CHECKS: tuple[list[SpecCheck], list[SpecCheck]] = ([], [])


def spec_check(stage: int):
    """Register a cross-field check in `stage`; `run_checks` runs them in definition order."""

    def register(fn: SpecCheck) -> SpecCheck:
        CHECKS[stage].append(fn)
        return fn

    return register


def run_checks(spec: ModelSpec) -> list[Diagnostic]:
    """Every problem found by the checks (stage 1 only when stage 0 found none)."""
    for stage in CHECKS:
        problems = [d for check in stage for d in check(spec)]
        if problems:
            return problems
    return []


def _at(spec: ModelSpec, *path, message: str) -> Diagnostic:
    return spec.source_map.diagnostic(path, message)


def _suggest(word: str, choices) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


@spec_check(0)
def unique_ids(spec: ModelSpec) -> list[Diagnostic]:
    seen: dict[str, int] = {}
    problems = []
    for i, node in enumerate(spec.nodes):
        if node.id in spec.inputs:
            problems.append(_at(spec, "nodes", i, "id", message=f"id '{node.id}' is already the name of an input. "
                                f"Node ids and input names share one namespace. Received: id='{node.id}'"))
        elif node.id in seen:
            problems.append(_at(spec, "nodes", i, "id", message=f"duplicate id '{node.id}', first used by "
                                f"nodes[{seen[node.id]}]. Received: id='{node.id}'"))
        elif node.id:
            seen[node.id] = i
    return problems


@spec_check(0)
def references_exist(spec: ModelSpec) -> list[Diagnostic]:
    known = set(spec.inputs) | set(node_ids(spec))
    problems = []
    for w in wire(spec):
        for name in (split_ref(r)[0] for r in w.inputs):
            if w.explicit and name not in known:
                problems.append(_at(spec, "nodes", w.index, "from", message=f"'{name}' is not an input or a node "
                                    f"id.{_suggest(name, known)} Received: from={list(w.inputs)}"))
    if spec.outputs:
        for j, name in enumerate(spec.outputs):
            if ":" in name and split_ref(name)[0] in known:
                problems.append(_at(spec, "outputs", j, message=f"outputs name whole nodes, not one output of a "
                                    f"node. Add a node that reads '{name}' (e.g. an `identity`-like reshape) and "
                                    f"name it. Received: outputs={spec.outputs}"))
            elif name not in known - set(spec.inputs):
                problems.append(_at(spec, "outputs", j, message=f"'{name}' is not a node id."
                                    f"{_suggest(name, node_ids(spec))} Received: outputs={spec.outputs}"))
    if len(spec.inputs) > 1 and not spec.nodes[0].from_:
        problems.append(_at(spec, "nodes", 0, message="the first node must say which input it reads with "
                            f"`from:` when the model has several inputs. Received: inputs={list(spec.inputs)}"))
    return problems


@spec_check(0)
def arity_matches(spec: ModelSpec) -> list[Diagnostic]:
    problems = []
    for w, node in zip(wire(spec), spec.nodes):
        want = LAYERS[node.op].arity
        if want is None and len(w.inputs) < 2:
            problems.append(_at(spec, "nodes", w.index, *(("from",) if w.explicit else ()),
                                message=f"op '{node.op}' merges two or more tensors; name them with `from: [a, b]`. "
                                f"Received: from={list(w.inputs)}"))
        elif want is not None and len(w.inputs) not in arities(want):
            counts = " or ".join(str(k) for k in arities(want))
            what = LAYERS[node.op].inputs_hint
            problems.append(_at(spec, "nodes", w.index, "from", message=f"op '{node.op}' takes {counts} input"
                                f"{'s' * (max(arities(want)) > 1)}{f' ({what})' if what else ''}, got "
                                f"{len(w.inputs)}. Received: from={list(w.inputs)}"))
    return problems


@spec_check(0)
def ports_exist(spec: ModelSpec) -> list[Diagnostic]:
    """`id:output` names an output the producing op really has (with the params it was given)."""
    nodes = {w.id: node for w, node in zip(wire(spec), spec.nodes)}
    problems = []
    for w in wire(spec):
        for ref in w.inputs:
            name, port = split_ref(ref)
            if port is None or name not in nodes and name not in spec.inputs:
                continue
            if name in spec.inputs:
                names: tuple[str, ...] = ()
                what = f"input '{name}' is one tensor; read it as '{name}'"
            else:
                names = LAYERS[nodes[name].op].output_names(nodes[name])
                what = (f"'{name}' ({nodes[name].op}) has the outputs {', '.join(names)}" if len(names) > 1
                        else f"'{name}' ({nodes[name].op}) has one output; read it as '{name}'")
            if port not in names:
                hint = LAYERS[nodes[name].op].outputs_hint if name in nodes else ""
                problems.append(_at(spec, "nodes", w.index, "from", message=f"'{ref}' names no output of "
                                    f"'{name}': {what}.{_suggest(port, names)}{f' {hint}' if hint else ''} "
                                    f"Received: from={list(w.inputs)}"))
    return problems


def dataflow(spec: ModelSpec) -> nx.DiGraph:
    """The name-level dataflow graph (inputs and node ids, edges from producer to consumer)."""
    g = nx.DiGraph()
    g.add_nodes_from(spec.inputs)
    for w in wire(spec):
        g.add_node(w.id)
        g.add_edges_from((split_ref(src)[0], w.id) for src in w.inputs)
    return g


@spec_check(1)
def acyclic(spec: ModelSpec) -> list[Diagnostic]:
    g = dataflow(spec)
    index = {w.id: w.index for w in wire(spec)}
    problems = []
    for cycle in sorted(nx.simple_cycles(g), key=lambda c: min(index.get(n, 0) for n in c))[:5]:
        start = min(cycle, key=lambda n: index.get(n, 0))
        k = cycle.index(start)
        cycle = cycle[k:] + cycle[:k]
        path = " -> ".join(cycle + [start])
        problems.append(_at(spec, "nodes", index[start], "from",
                            message=f"the graph has a cycle: {path}. A node cannot depend on its own output. "
                            f"Received: from={list(spec.nodes[index[start]].from_ or [])}"))
    return problems


@spec_check(1)
def everything_used(spec: ModelSpec) -> list[Diagnostic]:
    g = dataflow(spec)
    outputs = [o for o in output_ids(spec) if o in g]
    needed = set(outputs).union(*(nx.ancestors(g, o) for o in outputs)) if outputs else set()
    problems = []
    for w in wire(spec):
        if w.id not in needed:
            problems.append(_at(spec, "nodes", w.index, message=f"node '{w.id}' is never used: no output depends on "
                                "it. Add it to `outputs:` or remove it. "
                                f"Received: outputs={output_ids(spec)}"))
    for name in spec.inputs:
        if name not in needed:
            problems.append(_at(spec, "inputs", name, message=f"input '{name}' is never read. Read it with `from:` "
                                f"or remove it. Received: inputs={list(spec.inputs)}"))
    return problems


@spec_check(0)
def prune_layers_exist(spec: ModelSpec) -> list[Diagnostic]:
    """`train.prune.layers` names nodes of this model (whether each has a kernel is checked when training starts,
    where the Keras layer is known)."""
    prune = spec.train.prune if spec.train is not None else None
    if prune is None or not prune.layers:
        return []
    ids = set(node_ids(spec))
    return [_at(spec, "train", "prune", "layers", j, message=f"'{name}' is not a node id.{_suggest(name, ids)} "
                f"Received: layers={prune.layers}")
            for j, name in enumerate(prune.layers) if name not in ids]
