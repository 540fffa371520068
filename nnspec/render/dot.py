"""A `View` as Graphviz DOT text: one box per node (or collapsed block), one frame per expanded
block use.

Every id is quoted and escaped, since ids hold dots (`stage1.conv1`) and may hold anything else.
Inputs are blue, outputs green with a double border, collapsed blocks amber 3-D boxes; a box leaves
out its parameter line when the count is 0, which keeps the many activations and merges of a large
model small.
"""

from __future__ import annotations

import html

from nnspec.render._view import Box, View

FILL = {"input": "#dbeafe", "node": "#ffffff", "block": "#fef3c7"}
OUTPUT_FILL = "#dcfce7"
HEADER = """\
  graph [rankdir=TB, newrank=true, nodesep=0.25, ranksep=0.3, fontname="Helvetica", fontsize=12,
         labelloc=t];
  node [shape=box, style="rounded,filled", color="#475569", fillcolor="#ffffff",
        fontname="Helvetica", fontsize=10, margin="0.12,0.05"];
  edge [color="#64748b", arrowsize=0.6];
"""


def quote(text: str) -> str:
    """`text` as a DOT double-quoted string (backslashes and quotes escaped, newlines as `\\n`)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def html_label(lines: list[str]) -> str:
    """A DOT HTML-like label: the first line bold, the others small and grey; text escaped."""
    esc = [html.escape(line, quote=True) for line in lines]
    rest = (
        f'<br/><font point-size="9" color="#334155">{"<br/>".join(esc[1:])}</font>'
        if esc[1:]
        else ""
    )
    return f"<<b>{esc[0]}</b>{rest}>"


def label_lines(box: Box) -> list[str]:
    """The text lines of a box: title, `op · shape`, then the parameter count unless it is 0."""
    lines = [box.title]
    what = box.shape if box.kind == "block" else f"{box.op} · {box.shape}".rstrip(" ·")
    if what:
        lines.append(what)
    if box.kind == "block":
        count = f"{box.params:,} params" if box.params is not None else ""
        lines.append(f"{count}, {box.nodes} nodes" if count else f"{box.nodes} nodes")
    elif box.params:
        lines.append(f"{box.params:,} params")
    return lines


def _node(box: Box, indent: str) -> str:
    attrs = [f"label={html_label(label_lines(box))}"]
    fill = OUTPUT_FILL if box.is_output else FILL[box.kind]
    if fill != FILL["node"]:
        attrs.append(f'fillcolor="{fill}"')
    if box.kind == "block":
        attrs.append('shape=box3d, style="filled"')
    if box.is_output:
        attrs.append("peripheries=2")
    return f"{indent}{quote(box.id)} [{', '.join(attrs)}];"


def _emit(tree: dict, path: tuple[str, ...], indent: str, out: list[str]) -> None:
    for child in tree[path]:
        if isinstance(child, Box):
            out.append(_node(child, indent))
            continue
        inner = (*path, child.key)
        out.append(f"{indent}subgraph {quote('cluster_' + child.key)} {{")
        out.append(
            f'{indent}  label={quote(child.label)}; labeljust=l; style="rounded,dashed"; '
            f'color="#94a3b8"; fontsize=10;'
        )
        _emit(tree, inner, indent + "  ", out)
        out.append(f"{indent}}}")


def to_dot(view: View) -> str:
    """The DOT text of `view`, deterministic for a given graph."""
    title = view.name + (f" ({view.params:,} params)" if view.params is not None else "")
    out = [f"digraph {quote(view.name)} {{", HEADER.rstrip("\n"), f"  label={quote(title)};"]
    _emit(view.tree(), (), "  ", out)
    out += [f"  {quote(a)} -> {quote(b)};" for a, b in view.edges]
    out.append("}")
    return "\n".join(out) + "\n"
