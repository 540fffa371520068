"""Saving Keras models without ever leaving a half-written file behind."""

from __future__ import annotations

from pathlib import Path

from nnspec.runtime.atomic import publish, temp_beside


def save_keras_atomic(model, out: Path) -> None:
    """`model.save(out)` through a temporary `.keras` file in the same folder and a rename."""
    out = Path(out)
    with temp_beside(out, suffix=".keras") as tmp:
        model.save(tmp)
        publish(tmp, out)
