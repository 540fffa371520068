"""Training regimes at run time: one module per `train.regime` name (`supervised.py`, ...), each defining a
`Regime` subclass called `REGIME`. The trainer (`runtime/train.py`) owns everything regimes share (data split
and order, callbacks, checkpoints, resume, the run directory); a regime says what is trained and how.
"""

from __future__ import annotations

import importlib

from nnspec.runtime.regimes.base import Context, Regime


def regime_for(name: str) -> Regime:
    """The run-time regime of a `train.regime` name."""
    return importlib.import_module(f"{__name__}.{name}").REGIME


__all__ = ["Context", "Regime", "regime_for"]
