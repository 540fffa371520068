"""The registry of `train.regime` models, filled by the `@regime` decorator of each regime module."""

from __future__ import annotations

REGIMES: dict[str, type] = {}


def regime(cls: type) -> type:
    """Register a regime model; its `name` field's default is the tag (`regime: vae` means `{name: vae}`)."""
    name = cls.model_fields["name"].default
    if name in REGIMES:
        raise ValueError(f"regime {name!r} registered twice")
    REGIMES[name] = cls
    return cls
