"""Specs that ship with nnspec: the examples (`example:NAME`, also used by `nnspec demo`) and the zoo of paper
architectures (`zoo:NAME`).

The repository's `examples/` folder is copied into the wheel as `nnspec/_examples`; in a source checkout or an
editable install it is read where it stands. The zoo is package data in `nnspec/zoo/`.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from nnspec.errors import Diagnostic, SpecError

_HERE = Path(__file__).resolve().parent
_PACKAGED = _HERE / "_examples"
_SOURCE = _HERE.parent / "examples"
ZOO_DIR = _HERE / "zoo"


def examples_dir() -> Path:
    """The folder holding the bundled example specs."""
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE


def _folder(kind: str) -> Path:
    return ZOO_DIR if kind == "zoo" else examples_dir()


def bundled_names(kind: str) -> list[str]:
    """Names usable as `example:NAME` (kind `example`) or `zoo:NAME` (kind `zoo`)."""
    return sorted(p.stem for p in _folder(kind).glob("*.yaml"))


def example_names() -> list[str]:
    """Names usable as `example:NAME`."""
    return bundled_names("example")


def resolve_spec_path(ref: str | Path) -> Path:
    """A spec reference (`path/to/spec.yaml`, `example:NAME` or `zoo:NAME`) as a file path. Raises `SpecError`
    if a bundled name is unknown."""
    text = str(ref)
    for kind in ("example", "zoo"):
        if text.startswith(f"{kind}:"):
            name = text.removeprefix(f"{kind}:")
            path = _folder(kind) / f"{name}.yaml"
            if not path.is_file():
                names = bundled_names(kind)
                close = difflib.get_close_matches(name, names, n=1)
                hint = f" Did you mean '{kind}:{close[0]}'?" if close else f" Known: {', '.join(names)}."
                raise SpecError([Diagnostic(None, text, f"no bundled {kind} '{name}'.{hint}")])
            return path
    return Path(text)
