"""YAML text → plain data plus a map from YAML paths to source positions.

The text is parsed once with PyYAML's `SafeLoader`: the node tree gives every key and value its position, and
the same loader constructs the plain data (so only safe YAML types exist: no Python object tags). Duplicate keys,
which `yaml.safe_load` silently resolves to the last one, are reported as mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from nnspec.errors import Diagnostic, SourceLoc, SpecError

Path = tuple[str | int, ...]
# libyaml's loader when PyYAML was built with it (the same safe constructors, marks included, ~5x faster).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class SourceMap:
    """Where every key and list item of a spec's data came from, keyed by path tuple.

    After `extends` merging and block expansion, a path may come from another file (`marks` holds full
    locations) or stand for generated data: `aliases` names such paths for people (`nodes[4]/stage1.c1`) and
    `notes` says where they came from (`in block 'basic' defined at m.yaml:9:5, repetition 2 of 3`).
    """

    file: str
    marks: dict[Path, SourceLoc] = field(default_factory=dict)
    aliases: dict[Path, str] = field(default_factory=dict)
    notes: dict[Path, str] = field(default_factory=dict)

    def known(self, path: Path) -> Path:
        """The deepest prefix of `path` that exists in the data (skips pydantic's union tags and the like)."""
        found: Path = ()
        for part in path:
            if found + (part,) in self.marks:
                found = found + (part,)
        return found

    def locate(self, path: Path) -> SourceLoc:
        """The position of the deepest known prefix of `path`."""
        return self.marks.get(self.known(path), SourceLoc(self.file, 1, 1))

    def display(self, path: Path) -> str:
        """`path` as people read it, using the alias of its deepest aliased prefix."""
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.aliases:
                rest = format_path(path[cut:])
                return self.aliases[path[:cut]] + (rest if rest.startswith("[") or not rest else "." + rest)
        return format_path(path)

    def note(self, path: Path) -> str:
        """The provenance note of the deepest noted prefix of `path`, or an empty string."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.notes:
                return self.notes[path[:cut]]
        return ""

    def diagnostic(self, path: Path, message: str) -> Diagnostic:
        """A diagnostic about `path`: its position, its display name, and its provenance note if any."""
        path = self.known(path) if path not in self.marks else path
        note = self.note(path)
        return Diagnostic(self.locate(path), self.display(path), f"{message} ({note})" if note else message)


def format_path(path: Path) -> str:
    """`('nodes', 3, 'filters')` → `nodes[3].filters`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _loc(file: str, mark) -> SourceLoc:
    return SourceLoc(file, mark.line + 1, mark.column + 1)


def _index(node: yaml.Node, path: Path, marks: dict, problems: list, file: str) -> None:
    marks.setdefault(path, _loc(file, node.start_mark))
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key, value in node.value:
            name = key.value
            if name in seen:
                loc = _loc(file, key.start_mark)
                problems.append(
                    Diagnostic(loc, format_path(path + (name,)), f"duplicate key '{name}'. Each key may appear once.")
                )
                continue
            seen.add(name)
            _index(value, path + (name,), marks, problems, file)
            marks[path + (name,)] = _loc(file, key.start_mark)  # point at the key
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, path + (i,), marks, problems, file)


def _load(text: str, loader_cls) -> tuple[yaml.Node | None, Any]:
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    loc = SourceLoc(file, mark.line + 1, mark.column + 1) if mark else SourceLoc(file, 1, 1)
    problem = (exc.problem or "malformed YAML").rstrip(".")
    context = f" ({exc.context})" if exc.context else ""
    if exc.context and exc.context_mark and exc.context_mark is not mark:
        start = exc.context_mark
        context = f" ({exc.context} that starts at line {start.line + 1}, column {start.column + 1})"
    return SpecError([Diagnostic(loc, "", f"invalid YAML: {problem}{context}.")])


def parse_yaml(text: str, file: str = "<string>") -> tuple[Any, SourceMap]:
    """Parse one YAML document safely. Raises `SpecError` on syntax errors, unsafe tags or duplicate keys."""
    try:
        node, data = _load(text, _Loader)
    except yaml.YAMLError:
        # NOTE: re-parse with the pure-Python loader for the message: libyaml words its errors differently, and
        # diagnostics should not depend on how PyYAML was built.
        try:
            node, data = _load(text, yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(exc, file) from None
        except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare (e.g. bad encodings)
            raise SpecError([Diagnostic(SourceLoc(file, 1, 1), "", f"invalid YAML: {exc}")]) from None
    if node is None:
        raise SpecError([Diagnostic(SourceLoc(file, 1, 1), "", "the spec is empty. Received: an empty file")])
    marks: dict[Path, SourceLoc] = {}
    problems: list[Diagnostic] = []
    _index(node, (), marks, problems, file)
    if problems:
        raise SpecError(problems)
    return data, SourceMap(file, marks)
