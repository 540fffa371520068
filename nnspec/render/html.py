"""A `View` as one self-contained HTML page: an inline SVG laid out in Python, with inline CSS and a
little JS.

The page references nothing outside itself (no scripts, fonts or stylesheets to fetch), so it works
offline and can be attached to a report. The SVG scrolls; the toolbar zooms (also Ctrl+wheel) and
finds boxes by id.
"""

from __future__ import annotations

from html import escape as _escape

from nnspec.render._layout import LABEL_H, Layout, layout
from nnspec.render._view import Box, View
from nnspec.render.dot import label_lines

TITLE_PX, TEXT_PX, LINE_H = 12.0, 11.0, 14.0
CHAR_W = 0.6  # a monospace glyph's advance, in ems
PAD_X, PAD_Y = 8.0, 6.0


def escape(text: str) -> str:
    """`text` safe in HTML text and attributes; `/` too, so no id can look like a URL."""
    return _escape(text, quote=True).replace("/", "&#47;")


def box_size(box: Box) -> tuple[float, float]:
    """Width and height of a box's label in the page's monospace font."""
    lines = label_lines(box)
    widths = [len(lines[0]) * TITLE_PX * CHAR_W] + [len(s) * TEXT_PX * CHAR_W for s in lines[1:]]
    return max(max(widths) + 2 * PAD_X, 60.0), len(lines) * LINE_H + 2 * PAD_Y


def _classes(box: Box) -> str:
    return f"box {box.kind}" + (" output" if box.is_output else "")


def _tooltip(box: Box) -> str:
    facts = [
        box.id if box.kind != "block" else box.title,
        f"op: {box.op}",
        f"output: {box.shape or '?'}",
    ]
    if box.params is not None:
        facts.append(f"params: {box.params:,}")
    if box.kind == "block":
        facts.append(f"nodes: {box.nodes}")
    if box.path:
        facts.append(f"spec: {box.path}")
    return "\n".join(facts)


def _svg_box(box: Box, lay: Layout) -> str:
    r = lay.boxes[box.id]
    out = [
        f'<g class="{_classes(box)}" data-id="{escape(box.id)}">',
        f"<title>{escape(_tooltip(box))}</title>",
        f'<rect x="{r.x:.1f}" y="{r.y:.1f}" width="{r.w:.1f}" height="{r.h:.1f}" rx="6"/>',
    ]
    for k, line in enumerate(label_lines(box)):
        y = r.y + PAD_Y + (k + 0.78) * LINE_H
        cls = ' class="t"' if k == 0 else ""
        out.append(f'<text x="{r.x + r.w / 2:.1f}" y="{y:.1f}"{cls}>{escape(line)}</text>')
    return "".join(out) + "</g>"


def _svg_edge(points: list[tuple[float, float]]) -> str:
    """A smooth path through `points`: a cubic segment with vertical tangents between each pair."""
    (x, y), *rest = points
    d = [f"M{x:.1f},{y:.1f}"]
    for nx_, ny in rest:
        mid = (y + ny) / 2
        d.append(f"C{x:.1f},{mid:.1f} {nx_:.1f},{mid:.1f} {nx_:.1f},{ny:.1f}")
        x, y = nx_, ny
    return f'<path d="{" ".join(d)}"/>'


def to_svg(view: View) -> str:
    """The inline `<svg>` element of `view` (no XML namespace needed inside HTML)."""
    lay = layout(view, box_size)
    out = [
        f'<svg id="graph" width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    frames = [(lay.clusters[c.key], c.label) for c in view.clusters]  # outer frames first
    for r, _ in frames:
        out.append(
            f'<rect class="frame" x="{r.x:.1f}" y="{r.y:.1f}" width="{r.w:.1f}" '
            f'height="{r.h:.1f}" rx="8"/>'
        )
    out.append('<g class="edges">')
    out += [_svg_edge(points) for _, _, points in lay.edges]
    out.append("</g>")
    # NOTE: frame labels after the edges, with a halo, so an edge entering a frame never hides one.
    for r, label in frames:
        x, y = r.x + 8, r.y + LABEL_H - 3
        out.append(f'<text class="frame" x="{x:.1f}" y="{y:.1f}">{escape(label)}</text>')
    out += [_svg_box(b, lay) for b in view.boxes]
    out.append("</svg>")
    return "\n".join(out)


CSS = """
body { margin: 0; height: 100vh; display: flex; flex-direction: column;
  font: 13px system-ui, sans-serif; color: #0f172a; background: #f8fafc; }
header { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center;
  padding: 8px 12px; background: #fff; border-bottom: 1px solid #cbd5e1; }
header h1 { font-size: 15px; margin: 0; }
.chip { display: inline-block; padding: 1px 8px; border: 1px solid #475569; border-radius: 6px; }
button { font: inherit; min-width: 30px; }
#view { flex: 1; min-height: 0; overflow: auto; }
svg { display: block; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.box rect { fill: #fff; stroke: #475569; }
.box text { font-size: 11px; text-anchor: middle; fill: #334155; }
.box text.t { font-size: 12px; font-weight: bold; fill: #0f172a; }
.input rect { fill: #dbeafe; stroke: #2563eb; }
.block rect { fill: #fef3c7; stroke: #b45309; }
.output rect { fill: #dcfce7; stroke: #15803d; stroke-width: 2.5px; }
.chip.input { background: #dbeafe; border-color: #2563eb; }
.chip.block { background: #fef3c7; border-color: #b45309; }
.chip.output { background: #dcfce7; border-color: #15803d; border-width: 2px; }
.box.hit rect { stroke: #dc2626; stroke-width: 4px; }
rect.frame { fill: #64748b; fill-opacity: 0.06; stroke: #94a3b8; stroke-dasharray: 5 3; }
text.frame { font-size: 11px; fill: #475569; paint-order: stroke; stroke: #eef1f5;
  stroke-width: 4px; }
.edges path { fill: none; stroke: #64748b; stroke-width: 1.3px; marker-end: url(#arrow); }
marker path { fill: #64748b; }
"""

# No `//` anywhere in the page (the tests check it), so comments here are /* */.
JS = """
(function () {
  var svg = document.getElementById('graph'), view = document.getElementById('view');
  var W = +svg.getAttribute('width'), H = +svg.getAttribute('height'), z = 1;
  function zoom(nz, cx, cy) {
    var r = view.getBoundingClientRect();
    cx = cx === undefined ? r.width / 2 : cx - r.left;
    cy = cy === undefined ? r.height / 2 : cy - r.top;
    var px = (view.scrollLeft + cx) / z, py = (view.scrollTop + cy) / z;
    z = Math.min(4, Math.max(0.05, nz));
    svg.setAttribute('width', W * z);
    svg.setAttribute('height', H * z);
    view.scrollLeft = px * z - cx;
    view.scrollTop = py * z - cy;
  }
  function on(id, f) { document.getElementById(id).addEventListener('click', f); }
  on('zin', function () { zoom(z * 1.25); });
  on('zout', function () { zoom(z / 1.25); });
  on('zfit', function () { zoom(Math.min(1, (view.clientWidth - 20) / W)); });
  on('zone', function () { zoom(1); });
  view.addEventListener('wheel', function (e) {
    if (!e.ctrlKey && !e.metaKey) return;
    e.preventDefault();
    zoom(z * (e.deltaY < 0 ? 1.15 : 1 / 1.15), e.clientX, e.clientY);
  }, {passive: false});
  document.getElementById('find').addEventListener('input', function (e) {
    var q = e.target.value.toLowerCase(), first = null;
    svg.querySelectorAll('.box').forEach(function (b) {
      var hit = q !== '' && b.dataset.id.toLowerCase().indexOf(q) >= 0;
      b.classList.toggle('hit', hit);
      if (hit && !first) first = b;
    });
    if (first) {
      var r = first.getBoundingClientRect(), v = view.getBoundingClientRect();
      view.scrollLeft += r.left - v.left - v.width / 2 + r.width / 2;
      view.scrollTop += r.top - v.top - v.height / 2 + r.height / 2;
    }
  });
})();
"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<span>{facts}</span>
<span><span class="chip input">input</span> <span class="chip">op</span>
<span class="chip block">block</span> <span class="chip output">output</span></span>
<span><button id="zout" title="zoom out">&minus;</button><button id="zin" title="zoom in">+</button>
<button id="zfit" title="fit the width">fit</button><button id="zone">1:1</button></span>
<input id="find" type="search" placeholder="find id" aria-label="find a box by id">
</header>
<div id="view">
{svg}
</div>
<script>{js}</script>
</body>
</html>
"""


def to_html(view: View) -> str:
    """The whole page for `view`, deterministic for a given graph."""
    facts = [f"{len(view.boxes)} boxes"]
    if view.params is not None:
        facts.append(f"{view.params:,} params")
    if any(b.kind == "block" for b in view.boxes):
        facts.append("blocks collapsed (draw with --expand to open them)")
    return PAGE.format(
        title=escape(view.name), facts=escape(", ".join(facts)), css=CSS, js=JS, svg=to_svg(view)
    )
