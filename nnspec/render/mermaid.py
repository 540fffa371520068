"""A `View` as a Mermaid flowchart (`.mmd`), which GitHub, GitLab and many editors draw in Markdown.

Mermaid ids must be plain words and model ids hold dots, so boxes get generated ids (`n0`, `n1`, ...
in drawing order) and the real id goes in the quoted label. Inputs are stadiums, collapsed blocks
subroutine boxes, outputs green with a thick border; expanded block uses are subgraphs.
"""

from __future__ import annotations

import json

from nnspec.render._view import Box, View
from nnspec.render.dot import label_lines

# Mermaid's entity codes (`#quot;`); `#` goes first so the codes added after it stay intact.
ESCAPES = (
    ("#", "#35;"),
    ('"', "#quot;"),
    ("<", "#lt;"),
    (">", "#gt;"),
    ("&", "#38;"),
    ("`", "#96;"),
)
SHAPES = {"input": ('(["', '"])'), "node": ('["', '"]'), "block": ('[["', '"]]')}
CLASSES = {
    "input": "fill:#dbeafe,stroke:#2563eb",
    "block": "fill:#fef3c7,stroke:#b45309",
    "output": "fill:#dcfce7,stroke:#15803d,stroke-width:3px",
}


def escape(text: str) -> str:
    """`text` made safe inside a double-quoted Mermaid label."""
    for raw, code in ESCAPES:
        text = text.replace(raw, code)
    return text


def _box(box: Box, name: str) -> str:
    start, end = SHAPES[box.kind]
    return f"{name}{start}{'<br/>'.join(escape(line) for line in label_lines(box))}{end}"


def _emit(
    tree: dict, path: tuple[str, ...], names: dict[str, str], indent: str, out: list[str]
) -> None:
    for child in tree[path]:
        if isinstance(child, Box):
            out.append(indent + _box(child, names[child.id]))
            continue
        inner = (*path, child.key)
        out.append(f'{indent}subgraph {names["cluster:" + child.key]}["{escape(child.label)}"]')
        _emit(tree, inner, names, indent + "  ", out)
        out.append(f"{indent}end")


def to_mermaid(view: View) -> str:
    """The Mermaid flowchart text of `view`, deterministic for a given graph."""
    names = {b.id: f"n{i}" for i, b in enumerate(view.boxes)}
    names |= {"cluster:" + c.key: f"s{i}" for i, c in enumerate(view.clusters)}
    title = view.name + (f" ({view.params:,} params)" if view.params is not None else "")
    out = ["---", f"title: {json.dumps(title)}", "---", "flowchart TB"]  # JSON strings are YAML
    _emit(view.tree(), (), names, "  ", out)
    out += [f"  {names[a]} --> {names[b]}" for a, b in view.edges]
    members = {
        "input": [b for b in view.boxes if b.kind == "input"],
        "block": [b for b in view.boxes if b.kind == "block"],
        "output": [b for b in view.boxes if b.is_output],
    }
    for cls, style in CLASSES.items():
        if members[cls]:
            out.append(f"  classDef {cls} {style}")
            out.append(f"  class {','.join(names[b.id] for b in members[cls])} {cls}")
    return "\n".join(out) + "\n"
