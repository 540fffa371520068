"""Who feeds whom: node ids (given or generated) and each node's inputs, resolved once from a `ModelSpec`.

A plain list of nodes is a chain; `from:` names the inputs explicitly. Generated ids are `<op>_<n>`, counted per
op in list order and skipping names a user already took, so they stay stable when unrelated nodes change.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnspec.specs.model import ModelSpec


@dataclass(frozen=True)
class Wire:
    """Node `index` of the spec is called `id` and reads `inputs` (input names or node ids, in order)."""

    index: int
    id: str
    inputs: tuple[str, ...]
    explicit: bool
    """True when the inputs came from `from:`, false when implied by the chain."""


def split_ref(ref: str) -> tuple[str, str | None]:
    """`pool1:indices` → `("pool1", "indices")`; a plain id reads the node's first output: `("pool1", None)`."""
    name, _, port = ref.partition(":")
    return name, port or None


def node_ids(spec: ModelSpec) -> list[str]:
    """Every node's id, generating `<op>_<n>` for nodes without one."""
    taken = {n.id for n in spec.nodes if n.id} | set(spec.inputs)
    counters: dict[str, int] = {}
    ids = []
    for node in spec.nodes:
        if node.id:
            ids.append(node.id)
            continue
        while True:
            counters[node.op] = counters.get(node.op, 0) + 1
            candidate = f"{node.op}_{counters[node.op]}"
            if candidate not in taken:
                break
        taken.add(candidate)
        ids.append(candidate)
    return ids


def wire(spec: ModelSpec) -> list[Wire]:
    """Resolve every node's inputs. The first node of a chain reads the first input."""
    ids = node_ids(spec)
    first_input = next(iter(spec.inputs))
    wires = []
    for i, node in enumerate(spec.nodes):
        if node.from_:
            wires.append(Wire(i, ids[i], tuple(node.from_), True))
        else:
            wires.append(Wire(i, ids[i], (ids[i - 1] if i else first_input,), False))
    return wires


def output_ids(spec: ModelSpec) -> list[str]:
    """The model's outputs: `outputs:` or, by default, the last node."""
    return list(spec.outputs) if spec.outputs else [node_ids(spec)[-1]]
