"""Graph drawings: golden DOT and Mermaid, collapsed and expanded blocks, escaping, the offline HTML
page, Graphviz present or missing, and the `nnspec graph` command."""

from __future__ import annotations

import ast
import dataclasses
import re
import shutil
import subprocess
import sys

import networkx as nx
import pytest
from click.testing import CliRunner

import nnspec
from nnspec.cli import main
from nnspec.compiler.ir import INPUT, Graph, Node
from nnspec.compiler.pipeline import compile_spec
from nnspec.errors import NnspecError
from nnspec.layers._registry import TensorType
from nnspec.render import FORMATS, build_view, render, to_dot, to_html, to_mermaid
from nnspec.render._layout import layout
from nnspec.render.html import box_size
from nnspec.specs.load import parse_spec

from ..conftest import EXAMPLES, ROOT
from ..test_layering import _heavy, _imports

GOLDEN = ROOT / "tests" / "golden"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")


# A DAG written flat: the collapse/expand tests give it block scopes by hand, not via the expander.
FLAT = """
name: flat
inputs: {image: {shape: [8, 8, 1]}}
nodes:
  - {id: stem, op: conv2d, filters: 8, padding: same}
  - {id: a_conv, op: conv2d, filters: 8, padding: same}
  - {id: a_add, op: add, from: [a_conv, stem]}
  - {id: b_conv1, op: conv2d, filters: 16, strides: 2, padding: same}
  - {id: b_conv2, op: conv2d, filters: 16, padding: same}
  - {id: b_proj, op: conv2d, from: a_add, filters: 16, kernel_size: 1, strides: 2}
  - {id: b_proj_bn, op: batch_norm}
  - {id: b_add, op: add, from: [b_conv2, b_proj_bn]}
  - {id: pool, op: global_avg_pool2d}
  - {id: logits, op: dense, units: 10}
"""


@pytest.fixture(scope="module")
def residual() -> Graph:
    return nnspec.compile_spec(EXAMPLES / "residual_cnn.yaml")


@pytest.fixture(scope="module")
def scoped() -> Graph:
    """FLAT as if written with blocks: `a: basic`, and `b: down` around a nested `b.short: proj`."""
    g = compile_spec(parse_spec(FLAT))
    scopes = {"a_conv": (("a", "basic"),), "a_add": (("a", "basic"),)}
    scopes |= {i: (("b", "down"),) for i in ("b_conv1", "b_conv2", "b_add")}
    scopes |= {i: (("b", "down"), ("b.short", "proj")) for i in ("b_proj", "b_proj_bn")}
    return g.replace_nodes({i: dataclasses.replace(g.node(i), scope=s) for i, s in scopes.items()})


def chain(*ids: str) -> Graph:
    """A hand-built chain `ids[0] -> ids[1] -> ...` (an input first), for ids no spec accepts."""
    g = nx.MultiDiGraph()
    for k, node_id in enumerate(ids):
        op, params = (INPUT, 0) if k == 0 else ("relu", 1234)
        g.add_node(
            node_id, node=Node(node_id, op, None, k - 1, out=TensorType((None, 4)), params=params)
        )
        if k:
            g.add_edge(ids[k - 1], node_id, key=0, port=0)
    return Graph("odd ids", g, (ids[0],), (ids[-1],))


@pytest.mark.parametrize("expand", [False, True], ids=["collapsed", "expanded"])
def test_dot_and_mermaid_match_the_goldens(residual, golden, expand):
    view = build_view(residual, expand=expand)
    stem = "residual_cnn.expanded" if expand else "residual_cnn"
    golden(GOLDEN / f"{stem}.dot", to_dot(view))
    golden(GOLDEN / f"{stem}.mmd", to_mermaid(view))


def test_labels_show_op_shape_and_params_with_separators(residual):
    dot = to_dot(build_view(residual, expand=True))
    assert "conv2</b>" in dot and "conv2d · (N,4,4,32)<br/>9,216 params" in dot
    assert '"image" [' in dot and 'fillcolor="#dbeafe"' in dot  # the input is drawn apart
    assert re.search(r'"logits" \[.*peripheries=2', dot)  # and so is the output
    assert '"b2.proj_bn" -> "b2.add";' in dot  # the DAG's shortcut, between quoted dotted ids


def test_the_example_blocks_collapse_by_default(residual):
    view = build_view(residual)
    assert [b.id for b in view.boxes if b.kind == "block"] == ["b1", "b2"]
    assert ("b1", "b2") in view.edges and not view.clusters


def test_collapsed_blocks_are_one_box_with_summed_params(scoped):
    collapsed, expanded = build_view(scoped), build_view(scoped, expand=True)
    assert len(expanded.boxes) == len(scoped.nx) and len(collapsed.boxes) == len(scoped.nx) - 7 + 2
    b = next(b for b in collapsed.boxes if b.id == "b")
    assert b.title == "b: down" and b.kind == "block" and b.nodes == 5
    assert b.params == sum(n.params for n in scoped.order() if n.id.startswith("b_")) > 0
    assert b.shape == str(scoped.node("b_add").out)
    assert collapsed.edges == (
        ("image", "stem"),
        ("stem", "a"),
        ("a", "b"),
        ("b", "pool"),
        ("pool", "logits"),
    )
    assert collapsed.params == expanded.params == sum(n.params for n in scoped.order())
    assert (
        not collapsed.clusters
        and "a: basic" in to_dot(collapsed)
        and "a: basic" in to_mermaid(collapsed)
    )


def test_expanded_blocks_are_nested_clusters(scoped):
    view = build_view(scoped, expand=True)
    assert [(c.key, c.label, c.parent) for c in view.clusters] == [
        ("a", "a: basic", ()),
        ("b", "b: down", ()),
        ("b.short", "b.short: proj", ("b",)),
    ]
    dot, mmd = to_dot(view), to_mermaid(view)
    assert dot.count("subgraph ") == 3 and re.search(
        r'"cluster_b" \{\n(.*\n)*?\s+subgraph "cluster_b.short"', dot
    )
    assert mmd.count("subgraph ") == 3 and mmd.count("\n  end") == 2 and mmd.count("\n    end") == 1


def test_layout_keeps_boxes_apart_and_inside_their_frames(scoped):
    view = build_view(scoped, expand=True)
    lay = layout(view, box_size)
    rects = list(lay.boxes.values())
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
    for box in view.boxes:
        r = lay.boxes[box.id]
        for key in box.cluster:
            f = lay.clusters[key]
            assert f.x < r.x and r.x + r.w < f.x + f.w and f.y < r.y and r.y + r.h < f.y + f.h
    assert all(len(points) >= 2 for _, _, points in lay.edges) and len(lay.edges) == len(view.edges)


def test_odd_ids_are_escaped():
    g = chain("in.put", 'say "hi"', "back\\slash", "<b>&amp;#35;", "end")
    dot, mmd, page = (f(build_view(g)) for f in (to_dot, to_mermaid, to_html))
    assert '"say \\"hi\\"" -> "back\\\\slash";' in dot and "&lt;b&gt;&amp;amp;#35;" in dot
    for line in mmd.splitlines():
        if (
            re.match(r"\s+n\d", line) and "-->" not in line
        ):  # every box: one quoted label, no stray quote
            label = line.replace("<br/>", "\n")
            assert re.fullmatch(r'\s+n\d+(\(\[|\[\[|\[)"[^"<>]*"(\]\)|\]\]|\])', label), line
    assert "#quot;hi#quot;" in mmd and "#lt;b#gt;#38;amp;#35;35;" in mmd
    assert 'data-id="say &quot;hi&quot;"' in page and "&lt;b&gt;" in page and "<b>&" not in page
    if HAS_DOT:
        subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)


def test_html_is_self_contained_and_shows_every_node(residual):
    page = to_html(build_view(residual, expand=True))
    assert "http" not in page and "//" not in page and "src=" not in page and "@import" not in page
    for node in residual.order():
        assert f'data-id="{node.id}"' in page
    assert page == to_html(build_view(residual, expand=True))  # deterministic


@pytest.mark.parametrize("ext", [".dot", ".mmd", ".html"])
def test_render_writes_text_formats_atomically(residual, tmp_path, ext):
    out = tmp_path / f"g{ext}"
    render(residual, out)
    assert "b2: residual" in out.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_missing_graphviz_says_how_to_install_it(residual, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(
        NnspecError, match="apt-get install graphviz.*brew install graphviz.*.dot, .mmd or .html"
    ):
        render(residual, tmp_path / "g.png")
    result = CliRunner().invoke(
        main, ["graph", "example:residual_cnn", "--out", str(tmp_path / "g.svg")]
    )
    assert (
        result.exit_code == 1
        and "not installed" in result.stderr
        and "Traceback" not in result.output
    )
    assert not list(tmp_path.iterdir())


@needs_dot
def test_svg_and_png_render_through_graphviz(residual, tmp_path):
    render(residual, tmp_path / "g.svg", expand=True)
    svg = (tmp_path / "g.svg").read_text()
    assert "<svg" in svg and "proj_bn" in svg and "b2: residual" in svg
    render(residual, tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "g.svg"]


def test_unknown_extension_is_a_usage_error_listing_the_formats(tmp_path):
    result = CliRunner().invoke(
        main, ["graph", "example:residual_cnn", "--out", str(tmp_path / "g.jpg")]
    )
    assert result.exit_code == 2 and all(ext in result.stderr for ext in FORMATS)
    with pytest.raises(NnspecError, match="must be one of"):
        nnspec.api.draw("example:residual_cnn", tmp_path / "g.txt")


def test_graph_command_and_api_agree(tmp_path):
    result = CliRunner().invoke(
        main, ["graph", "example:residual_cnn", "--out", str(tmp_path / "cli.mmd")]
    )
    assert result.exit_code == 0, result.output
    assert nnspec.api.draw("example:residual_cnn", tmp_path / "api.mmd") == tmp_path / "api.mmd"
    assert (tmp_path / "cli.mmd").read_text() == (tmp_path / "api.mmd").read_text()


def test_render_imports_no_heavy_library():
    for path in sorted((ROOT / "nnspec" / "render").rglob("*.py")):
        bad = [n for n in _imports(ast.parse(path.read_text()), top_level_only=False) if _heavy(n)]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_a_block_fed_by_its_own_output_still_draws(tmp_path):
    """Collapsing a two-input block whose second input is computed from its first output closes a
    cycle between boxes; every format must still draw it."""
    g = chain("x", "blk_a", "outside", "blk_b")
    g.nx.add_edge("x", "blk_b", key=1, port=1)
    g = g.replace_nodes(
        {i: dataclasses.replace(g.node(i), scope=(("blk", "two"),)) for i in ("blk_a", "blk_b")}
    )
    view = build_view(g)
    assert set(view.edges) == {("x", "blk"), ("blk", "outside"), ("outside", "blk")}
    lay = layout(view, box_size)
    assert len(lay.edges) == 3 and set(lay.boxes) == {"x", "blk", "outside"}
    for ext in (".dot", ".mmd", ".html"):
        render(g, tmp_path / f"g{ext}")


def test_drawing_does_not_load_tensorflow(tmp_path):
    code = (
        "import sys, nnspec\n"
        f"nnspec.api.draw('example:residual_cnn', {str(tmp_path / 'g.html')!r}, expand=True)\n"
        "heavy = ('tensorflow', 'keras', 'onnx')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]" and (tmp_path / "g.html").exists()
