"""Errors nnspec raises, and the diagnostics that user mistakes turn into.

Every mistake in user input becomes one `Diagnostic` (GCC style `file:line:col: path: message`) and all of them
travel together in one `DiagnosticError`, so the command line can print every problem at once and exit 2.
Anything else (an export that fails its parity gate, a broken install) is a plain `NnspecError` and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class SourceLoc:
    """Where something came from in a YAML file. `line` and `col` are 1-based, like editors show them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem in user input: where, which YAML path, and what is wrong (ending in `Received: ...`)."""

    loc: SourceLoc | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"

    def sort_key(self) -> tuple:
        loc = self.loc or SourceLoc("", 0, 0)
        return (loc.file, loc.line, loc.col, self.path, self.message)


class NnspecError(Exception):
    """Base of every error nnspec raises on purpose."""


class DiagnosticError(NnspecError):
    """One or more mistakes in user input, each with its location. The command line exits 2 on these."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(set(diagnostics), key=Diagnostic.sort_key)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class SpecError(DiagnosticError):
    """The spec text is malformed or invalid: YAML syntax, unknown ops or keys, bad values, broken references."""


class CompileError(DiagnosticError):
    """The spec is well-formed but its graph is not: shape or dtype mismatches found by inference."""


class ExportError(NnspecError):
    """An export did not pass its checks (onnx.checker, input names, numeric parity); no file was kept."""


class InputError(NnspecError):
    """Bad input that is not a spec (a run directory, a weights file, a model file): the command line reports it
    as a user mistake (exit 2), with nothing changed."""


class RunDirError(InputError):
    """A run directory is missing, incomplete, or exists where it must not be overwritten."""


class WeightsError(InputError):
    """Weights do not fit the model they are given to (missing, extra or misshapen variables)."""
