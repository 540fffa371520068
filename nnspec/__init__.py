"""nnspec: a declarative compiler for neural networks.

A model written as YAML is validated (`load_spec`), lowered to a typed IR (`compile_spec`), built as a Keras model
(`build_keras`), trained (`train`) and exported to a verified ONNX file (`export_onnx`). The runtime functions
import TensorFlow only when called, so `import nnspec` is fast.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nnspec")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

from nnspec.api import build_keras, compile_spec, export_onnx, load_spec, summary, train  # noqa: E402
from nnspec.errors import CompileError, DiagnosticError, ExportError, NnspecError, SpecError  # noqa: E402

__all__ = [
    "load_spec", "compile_spec", "summary", "build_keras", "train", "export_onnx",
    "NnspecError", "DiagnosticError", "SpecError", "CompileError", "ExportError", "__version__",
]  # fmt: skip
