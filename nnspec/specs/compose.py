"""Composition: a spec that `extends` another is deep-merged onto it, then `--set` overrides are applied.

Both steps work on plain data plus its marks (path → `SourceLoc`), so every value keeps pointing at the file and
line it came from, whichever spec of the chain that was. Rules (docs/spec-language.md): mappings merge key by key,
scalars and lists replace, and a `nodes` mapping in the child patches the base's node list by id.
"""

from __future__ import annotations

import copy
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from nnspec.errors import Diagnostic, SourceLoc, SpecError
from nnspec.specs.source import Path, format_path, parse_yaml

Marks = dict[Path, SourceLoc]
_GRAPH_KEYS = ("op", "block")


@dataclass
class Document:
    """A spec's data with the position of every key, after `extends` and `--set` were applied."""

    data: dict[str, Any]
    marks: Marks
    file: str
    notes: dict[Path, str] = field(default_factory=dict)
    text: str = ""
    """The text of the spec itself (not of the specs it extends)."""
    extended: bool = False
    """True when the data includes another spec through `extends`."""


def _display(path: FsPath) -> str:
    """A file name as diagnostics show it: relative to the working directory when inside it."""
    rel = os.path.relpath(path)
    return path.as_posix() if rel.startswith("..") else rel


def _subtree(marks: Marks, prefix: Path) -> Marks:
    n = len(prefix)
    return {p[n:]: loc for p, loc in marks.items() if p[:n] == prefix}


def _graft(marks: Marks, prefix: Path, sub: Marks) -> None:
    for rel in [p for p in marks if p[: len(prefix)] == prefix]:
        del marks[rel]
    marks.update({prefix + rel: loc for rel, loc in sub.items()})


def read_document(ref: str | FsPath, *, text: str | None = None, display: str | None = None,
                  _chain: tuple[FsPath, ...] = ()) -> Document:
    """Read a spec and every spec it `extends`, merged. Raises `SpecError`."""
    from nnspec.bundled import resolve_spec_path

    path = resolve_spec_path(ref)
    file = display or _display(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SpecError([Diagnostic(None, str(ref), f"cannot read the spec: {reason}.")]) from None
    data, source = parse_yaml(text, file)
    if not isinstance(data, dict):
        raise SpecError([Diagnostic(source.locate(()), "", "a spec must be a YAML mapping. "
                                    f"Received: {type(data).__name__}")])
    doc = Document(data, dict(source.marks), file, text=text)
    if "extends" not in data:
        return doc
    base_ref = data.pop("extends")
    where = doc.marks.pop(("extends",), SourceLoc(file, 1, 1))
    base_path = _base_path(base_ref, path, where)
    if base_path.resolve() in [p.resolve() for p in (*_chain, path)]:
        chain = " -> ".join(_display(p) for p in (*_chain, path, base_path))
        raise SpecError([Diagnostic(where, "extends", f"`extends` forms a cycle: {chain}. "
                                    f"Received: extends={base_ref!r}")])
    base = read_document(base_path, _chain=(*_chain, path))
    problems: list[Diagnostic] = []
    merged = merge(base, doc, problems)
    if problems:
        raise SpecError(problems)
    merged.text, merged.extended = text, True
    return merged


def _base_path(ref: Any, child: FsPath, where: SourceLoc) -> FsPath:
    from nnspec.bundled import resolve_spec_path

    if not isinstance(ref, str) or not ref:
        raise SpecError([Diagnostic(where, "extends", f"`extends` must name a spec file, `example:NAME` or "
                                    f"`zoo:NAME`. Received: extends={ref!r}")])
    if ":" in ref.split("/")[0]:
        return resolve_spec_path(ref)
    base = (child.parent / ref) if not FsPath(ref).is_absolute() else FsPath(ref)
    if not base.is_file():
        raise SpecError([Diagnostic(where, "extends", f"cannot read the base spec {_display(base)}: no such "
                                    f"file. Received: extends={ref!r}")])
    return base


def merge(base: Document, child: Document, problems: list[Diagnostic]) -> Document:
    """`child` deep-merged onto `base` (mappings merge, the rest replaces, `nodes` mappings patch by id)."""
    data = copy.deepcopy(base.data)
    marks = dict(base.marks)
    _merge_into(data, marks, (), child.data, child.marks, problems)
    return Document(data, marks, child.file, {**base.notes, **child.notes})


def _merge_into(target: dict, marks: Marks, prefix: Path, patch: dict, pmarks: Marks, problems: list) -> None:
    for key, value in patch.items():
        path = prefix + (key,)
        old = target.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            _merge_into(old, marks, path, value, pmarks, problems)
            if path in pmarks:
                marks[path] = pmarks[path]
        elif key == "nodes" and isinstance(old, list) and isinstance(value, dict):
            outside = set(target.get("inputs") or {}) if not prefix else set()
            target[key] = _patch_nodes(old, marks, path, value, pmarks, problems, outside)
        else:
            target[key] = copy.deepcopy(value)
            _graft(marks, path, _subtree(pmarks, path))


def _patch_nodes(nodes: list, marks: Marks, prefix: Path, patch: dict, pmarks: Marks, problems: list,
                 outside: set[str]) -> list:
    """The base's node list with the child's by-id patches applied (merge, replace, remove, insert). Nodes are
    addressed by their `id`, or by the id expansion will generate for them (`dense_2`)."""
    from nnspec.specs.expand import list_ids

    ids = list_ids(nodes, outside)
    # NOTE: pin generated ids first, so removing or inserting a node never renames the ones around it.
    items = []
    for i, node in enumerate(nodes):
        sub = _subtree(marks, prefix + (i,))
        if isinstance(node, dict) and "id" not in node and ids[i] is not None:
            node = {"id": ids[i], **node}
            sub[("id",)] = sub.get((), SourceLoc("", 1, 1))
        items.append((node, sub))
    for node_id, change in patch.items():
        where = prefix + (node_id,)
        cmarks = _subtree(pmarks, where)
        if node_id in ids:
            k = ids.index(node_id)
            if change is None:
                items[k] = None
            else:
                items[k] = _patched_node(items[k], node_id, change, cmarks, problems)
        elif isinstance(change, dict) and ("after" in change or "before" in change):
            _insert(items, ids, node_id, change, cmarks, pmarks.get(where), problems)
        else:
            close = difflib.get_close_matches(str(node_id), [i for i in ids if i], n=1)
            known = ", ".join(i for i in ids if i)
            hint = (f" Did you mean '{close[0]}'?" if close else
                    f" Its nodes: {known}. To add a node, give it `after:` or `before:`.")
            problems.append(Diagnostic(pmarks.get(where), format_path(where),
                                       f"the base spec has no node with id '{node_id}'.{hint}"))
    kept = [item for item in items if item is not None]
    own = marks.get(prefix)
    _graft(marks, prefix, {(i,) + rel: loc for i, (_, sub) in enumerate(kept) for rel, loc in sub.items()})
    marks[prefix] = pmarks.get(prefix, own)
    return [node for node, _ in kept]


def _patched_node(item, node_id, change, cmarks: Marks, problems: list):
    node, nmarks = item
    if not isinstance(change, dict):
        problems.append(Diagnostic(cmarks.get(()), f"nodes.{node_id}", "a node patch must be a mapping of keys "
                                   f"to change, or null to remove the node. Received: {change!r}"))
        return item
    if any(k in change and change[k] != node.get(k) for k in _GRAPH_KEYS):
        # A different op (or block) replaces the node; it keeps its id and its inputs unless given.
        keep = {k: node[k] for k in ("id", "from") if k in node and k not in change}
        new = {**keep, **copy.deepcopy(change)}
        return new, {**{(k,): nmarks[(k,)] for k in keep if (k,) in nmarks}, **cmarks}
    merged, mmarks = copy.deepcopy(node), dict(nmarks)
    _merge_into(merged, mmarks, (), change, cmarks, problems)
    return merged, mmarks


def _insert(items: list, ids: list, node_id, change: dict, cmarks: Marks, where, problems: list) -> None:
    anchor_key = "after" if "after" in change else "before"
    anchor = change[anchor_key]
    if anchor not in ids:
        problems.append(Diagnostic(where, f"nodes.{node_id}.{anchor_key}",
                                   f"no node with id '{anchor}' to insert next to. Received: {anchor_key}={anchor!r}"))
        return
    k = ids.index(anchor) + (anchor_key == "after")
    node = {"id": node_id, **{key: v for key, v in change.items() if key not in ("after", "before")}}
    items.insert(k, (node, {**cmarks, ("id",): cmarks.get((), where)}))
    ids.insert(k, node_id)


def apply_overrides(doc: Document, overrides: list[str] | tuple[str, ...]) -> Document:
    """`--set key.path=value` overrides applied in order (values read as YAML). Raises `SpecError`."""
    problems = []
    for item in overrides:
        try:
            path = _set_one(doc, item)
        except ValueError as exc:
            problems.append(Diagnostic(None, f"--set {item}", str(exc)))
            continue
        if path is not None:  # (a removed item has nothing left to annotate)
            doc.notes[path] = f"set by --set {item}"
    if problems:
        raise SpecError(problems)
    return doc


def _set_one(doc: Document, item: str) -> Path | None:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ValueError("expected KEY.PATH=VALUE, e.g. params.width=32")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ValueError(f"the value is not valid YAML: {exc}") from None
    target: Any = doc.data
    path: Path = ()
    parts = key.strip().split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        step = _step(target, part, path, last)
        path += (step,)
        if last:
            if isinstance(target, list) and value is None and step < len(target):
                del target[step]  # `--set nodes.drop=null` removes the item, like a `null` patch in `extends`
                _shift_marks(doc.marks, path)
                return None
            if isinstance(target, list) and step == len(target):
                target.append(value)
            else:
                target[step] = value
        else:
            if isinstance(target, dict) and step not in target:
                target[step] = {}
            target = target[step]
    loc = SourceLoc(doc.file, 1, 1)
    for cut in range(len(path) + 1):  # new keys point at their nearest existing parent
        loc = doc.marks.setdefault(path[:cut], loc)
    return path


def _shift_marks(marks: Marks, removed: Path) -> None:
    """Re-key the marks of a list after its item `removed[-1]` was deleted."""
    prefix, index, n = removed[:-1], removed[-1], len(removed)
    shifted = {}
    for path, loc in marks.items():
        if path[: n - 1] == prefix and len(path) >= n and isinstance(path[n - 1], int) and path[n - 1] >= index:
            if path[n - 1] > index:
                shifted[prefix + (path[n - 1] - 1,) + path[n:]] = loc
        else:
            shifted[path] = loc
    marks.clear()
    marks.update(shifted)


def _step(target: Any, part: str, path: Path, last: bool) -> str | int:
    """One `--set` path segment: a mapping key, a list index, or (in a list of nodes) a node id."""
    if isinstance(target, dict):
        return part
    if isinstance(target, list):
        if part.lstrip("-").isdigit():
            index = int(part)
            if not 0 <= index < len(target) + last:  # the last segment may append
                raise ValueError(f"{format_path(path) or 'the spec'} has {len(target)} items; index {index} is "
                                 "out of range")
            return index
        ids = [n.get("id") if isinstance(n, dict) else None for n in target]
        if part in ids:
            return ids.index(part)
        close = difflib.get_close_matches(part, [i for i in ids if i], n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"{format_path(path)} has no item with id '{part}'.{hint}")
    raise ValueError(f"{format_path(path)} is a {type(target).__name__}, not a mapping or list")
