"""Drawings of a model's graph: each box shows a node's id, op, output shape and parameter count.

`render(g, out)` picks the format from `out`'s extension: `.dot` (Graphviz), `.mmd` (Mermaid) and
`.html` (one self-contained page) need nothing else; `.svg` and `.png` run Graphviz's `dot`. Blocks
are drawn collapsed into one box per use, or with `expand=True` as frames around their nodes. Pure
Python, like the compiler.
"""

from __future__ import annotations

from pathlib import Path

from nnspec.compiler.ir import Graph
from nnspec.errors import NnspecError
from nnspec.render._view import View, build_view
from nnspec.render.dot import to_dot
from nnspec.render.graphviz import run_dot
from nnspec.render.html import to_html
from nnspec.render.mermaid import to_mermaid
from nnspec.runtime.atomic import publish, temp_beside

TEXT_FORMATS = {".dot": to_dot, ".mmd": to_mermaid, ".html": to_html}
GRAPHVIZ_FORMATS = (".svg", ".png")
FORMATS = (*TEXT_FORMATS, *GRAPHVIZ_FORMATS)


def render(g: Graph, out: Path, *, expand: bool = False) -> View:
    """Draw `g` into `out` (atomically) in the format its extension names; returns what was drawn.

    Raises:
        NnspecError: for an unsupported extension, or `.svg`/`.png` without Graphviz installed.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise NnspecError(
            f"cannot draw {out.name}: the extension must be one of {', '.join(FORMATS)}"
        )
    view = build_view(g, expand=expand)
    if suffix in GRAPHVIZ_FORMATS:
        run_dot(to_dot(view), suffix[1:], out)
        return view
    with temp_beside(out) as tmp:
        tmp.write_text(TEXT_FORMATS[suffix](view), encoding="utf-8")
        publish(tmp, out)
    return view


__all__ = ["FORMATS", "View", "build_view", "render", "to_dot", "to_html", "to_mermaid"]
