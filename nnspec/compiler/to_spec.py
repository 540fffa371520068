"""A graph back into spec data: how a rewritten model (pruned, folded, factorized) becomes a spec people can read,
check and train again (`nnspec check pruned.yaml`).

The result is resolved spec data (no blocks, params or expressions), written with `nnspec.specs.resolve.to_yaml`;
inputs, `train:` and the spec's name come from the spec the graph was compiled from. Weight sharing is kept
(`share:`); `expect:` is dropped, since the rewritten model no longer has the counts it states.
"""

from __future__ import annotations

from nnspec.compiler.ir import INPUT, Graph
from nnspec.layers._registry import LAYERS
from nnspec.specs.model import ModelSpec


def spec_data(g: Graph, spec: ModelSpec, *, name: str | None = None, description: str | None = None) -> dict:
    """Spec data for `g`: every node with its id, op, explicit `from` and non-default params."""
    nodes = []
    for node in g.order():
        if node.op == INPUT:
            continue
        params = node.spec.model_dump(mode="json", exclude={"id", "from_", "op"}, exclude_defaults=True)
        refs = [_ref(g, src, port) for src, port in g.sources(node.id)]
        share = {"share": node.shares} if node.shares else {}
        nodes.append({"id": node.id, "op": node.op, "from": refs, **params, **share})
    data: dict = {"nnspec": spec.nnspec, "name": name or g.name}
    if description or spec.description:
        data["description"] = description or spec.description
    if spec.task:
        data["task"] = spec.task
    data["inputs"] = {k: v.model_dump(mode="json") for k, v in spec.inputs.items()}
    data["nodes"] = nodes
    data["outputs"] = list(g.outputs)
    if spec.train is not None:
        data["train"] = spec.train.model_dump(mode="json")
    if spec.deploy is not None:
        data["deploy"] = spec.deploy.model_dump(mode="json", exclude_defaults=True)
    return data


def _ref(g: Graph, src: str, port: int) -> str:
    if port == 0:
        return src
    producer = g.node(src)
    return f"{src}:{LAYERS[producer.op].output_names(producer.spec)[port]}"
