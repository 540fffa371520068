"""Every op nnspec knows, one card file each; importing this package registers them all in `LAYERS`.

Cards are discovered in sorted order (files starting with `_` are helpers, not cards), so adding an op is adding
one file: the registry-wide tests cover it with no new test code.
"""

from __future__ import annotations

import importlib
import pkgutil

from nnspec.layers._registry import LAYERS, Example, KerasMapping, LayerDef, ShapeError, TensorType

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["LAYERS", "Example", "KerasMapping", "LayerDef", "ShapeError", "TensorType"]
