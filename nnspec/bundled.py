"""Specs that ship with nnspec: the examples (`example:NAME`), also used by `nnspec demo`.

The repository's `examples/` folder is copied into the wheel as `nnspec/_examples`; in a source checkout or an
editable install it is read where it stands.
"""

from __future__ import annotations

from pathlib import Path

from nnspec.errors import Diagnostic, SpecError

_PACKAGED = Path(__file__).resolve().parent / "_examples"
_SOURCE = Path(__file__).resolve().parents[1] / "examples"


def examples_dir() -> Path:
    """The folder holding the bundled example specs."""
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE


def example_names() -> list[str]:
    """Names usable as `example:NAME`."""
    return sorted(p.stem for p in examples_dir().glob("*.yaml"))


def resolve_spec_path(ref: str | Path) -> Path:
    """A spec reference (`path/to/spec.yaml` or `example:NAME`) as a file path. Raises `SpecError` if unknown."""
    text = str(ref)
    if text.startswith("example:"):
        name = text.removeprefix("example:")
        path = examples_dir() / f"{name}.yaml"
        if not path.is_file():
            import difflib

            close = difflib.get_close_matches(name, example_names(), n=1)
            hint = f" Did you mean 'example:{close[0]}'?" if close else f" Known: {', '.join(example_names())}."
            raise SpecError([Diagnostic(None, text, f"no bundled example '{name}'.{hint}")])
        return path
    return Path(text)
