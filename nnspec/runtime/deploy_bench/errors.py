"""The error `nnspec bench` raises for unusable inputs (the command line exits 2)."""

from __future__ import annotations

from nnspec.errors import InputError


class BenchInputError(InputError):
    """A source or comparison path that is not a run directory, an .onnx or a .tflite file (or does not load)."""
