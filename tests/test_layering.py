"""The import rule: specs/, layers/ and compiler/ never import TensorFlow, Keras, onnx or onnxruntime; runtime/
imports them only inside functions. Checked statically (every import statement) and dynamically (a real check
of a spec in a fresh interpreter leaves them unimported)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from .conftest import ROOT

HEAVY = ("tensorflow", "keras", "onnx", "onnxruntime", "tf2onnx", "tf_keras")
PACKAGE = ROOT / "nnspec"
PURE = ("specs", "layers", "compiler")


def _imports(tree: ast.AST, top_level_only: bool):
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _heavy(name: str) -> bool:
    return name.split(".")[0] in HEAVY


@pytest.mark.parametrize("area", PURE)
def test_pure_areas_never_import_heavy_libraries(area):
    files = sorted((PACKAGE / area).rglob("*.py"))
    assert files
    for path in files:
        bad = [n for n in _imports(ast.parse(path.read_text()), top_level_only=False) if _heavy(n)]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


# Custom Keras layers, schedules, losses and callbacks subclass Keras classes, so they import Keras at module
# level; nothing imports them before a model is built, trained or loaded (the dynamic test below proves it for
# check/summary).
SUBCLASSES_KERAS = (PACKAGE / "runtime" / "custom_layers", PACKAGE / "runtime" / "keras_ext")


def test_package_modules_import_heavy_libraries_only_inside_functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(folder in path.parents for folder in SUBCLASSES_KERAS):
            continue
        bad = [n for n in _imports(ast.parse(path.read_text()), top_level_only=True) if _heavy(n)]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad} at module level"


def test_check_and_summary_do_not_load_tensorflow():
    code = (
        "import sys, nnspec, nnspec.cli\n"
        "from nnspec.cli import main\n"
        "info = nnspec.summary('example:digits_cnn')\n"
        "assert info['params'] > 0\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout
