"""nnspec's own Keras layers, for ops Keras does not ship: one module each, named by the card's
`KerasMapping("nnspec.runtime.custom_layers.<module>:<Class>", ...)`.

These modules subclass `keras.layers.Layer`, so they import Keras at module level; that is the one exception to
the lazy-import rule, and it is safe because nothing imports them until a model is built or loaded. Each class is
registered with `keras.saving.register_keras_serializable(package="nnspec")`; `register_all()` imports every
module so a saved `model.keras` can be loaded again.
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all() -> None:
    """Import every custom layer module (registering its classes with Keras's serialization)."""
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")
