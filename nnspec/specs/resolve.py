"""The fully expanded spec as canonical YAML: no `extends`, params, blocks or expressions; every node with its
id, op and explicit inputs. Loading the output again gives the same graph (`nnspec resolve` is its command)."""

from __future__ import annotations

import yaml

from nnspec.specs.model import ModelSpec
from nnspec.specs.wiring import output_ids, wire


def resolved_data(spec: ModelSpec) -> dict:
    """The expanded spec as plain data (node params that equal their defaults are left out)."""
    nodes = []
    for w, node in zip(wire(spec), spec.nodes):
        params = node.model_dump(mode="json", exclude={"id", "from_", "op"}, exclude_defaults=True)
        share = {"share": spec.shares[w.index]} if w.index in spec.shares else {}
        nodes.append({"id": w.id, "op": node.op, "from": list(w.inputs), **params, **share})
    data: dict = {"nnspec": spec.nnspec, "name": spec.name}
    if spec.description:
        data["description"] = spec.description
    if spec.task:
        data["task"] = spec.task
    data["inputs"] = {k: v.model_dump(mode="json") for k, v in spec.inputs.items()}
    data["nodes"] = nodes
    data["outputs"] = output_ids(spec)
    if spec.train is not None:
        data["train"] = spec.train.model_dump(mode="json")
    if spec.deploy is not None:
        data["deploy"] = spec.deploy.model_dump(mode="json", exclude_defaults=True)
    if spec.expect is not None:
        data["expect"] = spec.expect.model_dump(mode="json", exclude_none=True)
    return data


class _Dumper(yaml.SafeDumper):
    """Block style, except lists of scalars (shapes, metrics) which read better on one line."""


def _represent_list(dumper: yaml.SafeDumper, value: list):
    flow = all(not isinstance(v, (list, dict)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=False).strip()


def to_yaml(data: dict, header: str = "") -> str:
    """Spec data as YAML people can read: one node per line, everything else in block style."""
    parts = [f"# {line}\n" for line in header.splitlines()]
    for key, value in data.items():
        if key == "nodes":
            parts.append("nodes:\n" + "".join(f"  - {_flow(node)}\n" for node in value))
        else:
            parts.append(yaml.dump({key: value}, Dumper=_Dumper, sort_keys=False, width=100))
    return "".join(parts)


def resolved_yaml(spec: ModelSpec) -> str:
    """`resolved_data(spec)` as YAML, with a header saying where it came from."""
    header = f"Resolved from {spec.source_map.file} by `nnspec resolve`: edit the source, not this file."
    return to_yaml(resolved_data(spec), header)
