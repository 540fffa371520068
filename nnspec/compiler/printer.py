"""A stable, one-line-per-node text dump of the IR (FX/jaxpr style), for people and golden files."""

from __future__ import annotations

from nnspec.compiler.ir import INPUT, Graph


def _params(node) -> str:
    shown = node.spec.model_dump(exclude={"id", "from_", "op"}, exclude_defaults=True, mode="json")
    return "[" + ", ".join(f"{k}={v}" for k, v in shown.items()) + "]" if shown else ""


def print_graph(g: Graph) -> str:
    """`%conv2d_1 = conv2d[filters=8](%image) : (N,6,6,8)  params=80  flops=... @ nodes[0]` per node."""
    lines = [f"graph {g.name}({', '.join('%' + i for i in g.inputs)}):"]
    for node in g.order():
        typ = f" : {node.out}" if node.out else ""
        if len(node.outs) > 1:
            typ = " : (" + ", ".join(str(t) for t in node.outs) + ")"
        if node.op == INPUT:
            lines.append(f"  %{node.id} = input{typ}")
            continue
        args = ", ".join("%" + p + (f"#{port}" if port else "") for p, port in g.sources(node.id))
        counts = f"  params={node.params}  flops={node.flops}" if node.params is not None else ""
        lines.append(f"  %{node.id} = {node.op}{_params(node)}({args}){typ}{counts}  @ {node.path}")
    lines.append(f"  return {', '.join('%' + o for o in g.outputs)}")
    return "\n".join(lines) + "\n"
