"""`train.regime`: how the model is trained, one module per regime (supervised learning, and the special regimes:
VAE, GAN, distillation, ...). Each module defines one pydantic model whose `name` field is a `Literal` tag and
decorates it with `@regime`; this package imports them all, so adding a regime is adding one file here and one in
`nnspec/runtime/regimes/` with the same name.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated, Union

from pydantic import Field

from nnspec.specs.regimes._registry import REGIMES, regime

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")

Regime = Annotated[Union[tuple(REGIMES.values())], Field(discriminator="name")]  # noqa: UP007

__all__ = ["REGIMES", "Regime", "regime"]
