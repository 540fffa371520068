"""Load a spec: YAML text → plain data with positions → validated `ModelSpec`, or every mistake at once.

pydantic collects every validation error; each one is turned into a `Diagnostic` at the YAML line of the key it
concerns (unknown keys point at the key, missing keys at the enclosing mapping, bad ops at the `op` key), with the
offending value and, for misspelt names, the closest valid one.
"""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from nnspec.errors import Diagnostic, SpecError
from nnspec.layers._registry import LAYERS
from nnspec.specs.checks import run_checks
from nnspec.specs.model import ModelSpec
from nnspec.specs.compose import Document, apply_overrides, read_document
from nnspec.specs.expand import expand
from nnspec.specs.source import Path, SourceMap, format_path


def did_you_mean(word: str, choices) -> str:
    """` Did you mean 'x'?` for the closest choice, or an empty string."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


def received(name: Any, value: Any) -> str:
    """Keras-style `Received: name=value`, with long values shortened."""
    if isinstance(value, dict):
        shown = "{" + ", ".join(map(str, value)) + "}" if len(value) < 8 else f"a mapping with {len(value)} keys"
    else:
        shown = repr(value) if isinstance(value, str) else str(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"Received: {name}={shown}" if name is not None else f"Received: {shown}"


def _unwrap(annotation) -> list:
    """The concrete types inside Optional/Union/Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class whose fields are checked at `loc` (to suggest names for unknown keys)."""
    candidates: list = [root]
    for part in loc:
        nxt: list = []
        for t in candidates:
            if isinstance(t, type) and issubclass(t, BaseModel):
                field = next((f for n, f in t.model_fields.items() if (f.alias or n) == part), None)
                if field is not None:
                    nxt += _unwrap(field.annotation)
                elif _tag(t) == part:
                    nxt.append(t)
            elif typing.get_origin(t) in (list, tuple) and isinstance(part, int):
                nxt += _unwrap(typing.get_args(t)[0])
            elif typing.get_origin(t) is dict and isinstance(part, str):
                nxt += _unwrap(typing.get_args(t)[1])
        tagged = [t for t in nxt if isinstance(t, type) and issubclass(t, BaseModel) and _tag(t) == part]
        candidates = tagged or nxt
    models = [t for t in candidates if isinstance(t, type) and issubclass(t, BaseModel)]
    return models[0] if len(models) == 1 else None


def _tag(model: type[BaseModel]) -> Any:
    for key in ("op", "name"):
        field = model.model_fields.get(key)
        if field is not None and isinstance(field.default, str):
            return field.default
    return None


def _value_name(path: Path) -> str | None:
    """`shape[2]` for path ('inputs', 'x', 'shape', 2): the key a value is under, with any list indices."""
    keys = [i for i, p in enumerate(path) if isinstance(p, str)]
    return format_path(path[keys[-1]:]) if keys else None


def _diagnostic(error: dict, source: SourceMap) -> Diagnostic:
    loc, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    path = source.known(loc)
    name = _value_name(path)
    if kind == "union_tag_invalid":
        tag = error["ctx"]["tag"]
        key = error["ctx"]["discriminator"].strip("'")
        tags = [t.strip(" '") for t in error["ctx"]["expected_tags"].split(",")]
        choices = sorted(LAYERS) if key == "op" else tags
        path = source.known(loc + (key,))
        hint = did_you_mean(tag, choices) or " Run `nnspec ops` to list them." * (key == "op")
        message = f"unknown {key} '{tag}'.{hint} {received(key, tag)}"
    elif kind == "union_tag_not_found":
        key = error["ctx"]["discriminator"].strip("'")
        message = f"missing required key '{key}'. {received(None, value)}"
    elif kind == "extra_forbidden":
        model = _model_at(ModelSpec, loc[:-1])
        known = [f.alias or n for n, f in model.model_fields.items()] if model else []
        owner = f" for op '{_tag(model)}'" if model and "op" in model.model_fields else ""
        message = f"unknown key '{loc[-1]}'{owner}.{did_you_mean(loc[-1], known)} {received(loc[-1], value)}"
        path = source.known(loc)
    elif kind == "missing":
        owner_path = source.known(loc[:-1])
        model = _model_at(ModelSpec, loc[:-1])
        owner = f" for op '{_tag(model)}'" if model and "op" in model.model_fields else ""
        return source.diagnostic(owner_path, f"missing required key '{loc[-1]}'{owner}.")
    else:
        text = error["msg"]
        if kind == "value_error":
            text = str(error["ctx"]["error"])
        elif kind == "literal_error" and isinstance(value, str):
            text += "." + did_you_mean(value, [c.strip("'") for c in error["ctx"]["expected"].split(", ")])
        text = text[0].lower() + text[1:]
        if not text.endswith((".", "?")) and "Received:" not in text:
            text += "."
        message = text if "Received:" in text else f"{text} {received(name, value)}"
    return source.diagnostic(path, message)


def _validate(doc: Document, overrides, text: str) -> ModelSpec:
    doc = apply_overrides(doc, list(overrides))
    expanded = expand(doc.data, doc.marks, doc.file, doc.notes)
    source = expanded.source
    try:
        spec = ModelSpec.model_validate(expanded.data)
    except ValidationError as exc:
        raise SpecError([_diagnostic(e, source) for e in exc.errors()]) from None
    spec._source = source
    spec._text = text
    spec._scopes = expanded.scopes
    spec._shares = expanded.shares
    spec._standalone = not overrides and not doc.extended
    problems = run_checks(spec)
    if problems:
        raise SpecError(problems)
    return spec


def parse_spec(text: str, file: str = "<string>", overrides: tuple[str, ...] = ()) -> ModelSpec:
    """Validate spec text (`extends` resolves relative to the working directory). Raises `SpecError` with every
    problem found, each at its YAML position."""
    return _validate(read_document(file, text=text, display=file), overrides, text)


def load_spec(path: str | FsPath, overrides: tuple[str, ...] = ()) -> ModelSpec:
    """Load and validate a spec file (a path, or `example:NAME`), applying `--set` style `overrides`. Raises
    `SpecError` (with file:line:col for each problem)."""
    doc = read_document(path)
    return _validate(doc, overrides, doc.text)


def spec_sha256(spec: ModelSpec) -> str:
    """Hash of what defines the spec, recorded in run directories and exported files: its text when that alone
    defines it, else its resolved YAML (which includes what it extends and the overrides)."""
    if spec.standalone:
        text = spec.text
    else:
        from nnspec.specs.resolve import resolved_yaml

        text = resolved_yaml(spec)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
