"""nnspec: a declarative compiler for neural networks.

A model written as YAML is validated (`load_spec`), lowered to a typed IR (`compile_spec`), built as a Keras model
(`build_keras`), trained (`train`) and exported to a verified ONNX file (`export_onnx`). The runtime functions
import TensorFlow only when called, so `import nnspec` is fast.
"""

from __future__ import annotations

from nnspec.api import (
    bench, build_keras, compile_spec, compress, deploy, draw, evaluate, export_onnx, load_spec, prune, qat,
    quantize, resolve, resume, sample, schema, summary, train,
)  # fmt: skip
from nnspec.errors import CompileError, DiagnosticError, ExportError, NnspecError, SpecError

__all__ = [
    "load_spec", "compile_spec", "summary", "resolve", "draw", "schema", "build_keras", "train", "resume",
    "sample", "evaluate", "export_onnx", "quantize", "prune", "compress", "bench", "deploy", "qat",
    "NnspecError", "DiagnosticError", "SpecError", "CompileError", "ExportError", "__version__",
]  # fmt: skip


def __getattr__(name: str):
    # `__version__` is looked up on first use: importlib.metadata costs ~75 ms that `nnspec check` need not pay.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("nnspec")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0.0.0+source"
    raise AttributeError(f"module 'nnspec' has no attribute {name!r}")
