"""The run directory: what `nnspec train` leaves behind, and how later commands read it back.

    RUN_DIR/model.keras     the trained Functional model
    RUN_DIR/spec.yaml       the spec as trained (the text it was loaded from, with command-line overrides applied)
    RUN_DIR/history.json    per-epoch metrics from Keras: {"loss": [...], "val_loss": [...], ...}
    RUN_DIR/metrics.json    final metrics: {"train": {...}, "validation": {...}, "test": {...}, plus run facts}

    RUN_DIR/history.csv     the same, one row per epoch (train.logs.csv)
    RUN_DIR/curves.png      loss and metrics per epoch (train.logs.curves)
    RUN_DIR/tensorboard/    TensorBoard event files (train.logs.tensorboard)

A run directory is written whole or not at all: everything goes into a sibling folder `.RUN_DIR.partial` that is
renamed into place at the end, so an interrupted or failed run never leaves a half-written RUN_DIR, and an
existing one is only replaced when the caller asked for it (`force`). While training, the partial folder holds
`checkpoint/checkpoint.npz`, the whole training state after the last finished epoch; if the run is interrupted
(Ctrl-C, SIGKILL, a crash) the partial folder stays, and `nnspec train --resume RUN_DIR` continues from it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nnspec.errors import RunDirError

FILES = ("model.keras", "spec.yaml", "history.json", "metrics.json")
"""What every finished run directory holds (the logs in `train.logs` come on top)."""


def is_run_dir(path: Path) -> bool:
    """True when `path` looks like a run directory (has a model and the spec it was trained from)."""
    return path.is_dir() and (path / "model.keras").is_file() and (path / "spec.yaml").is_file()


@contextlib.contextmanager
def staged_run_dir(out: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it atomically becomes `out`. On error it is removed.

    Raises `RunDirError` before any work if `out` exists and `force` is false.
    """
    out = Path(out)
    if out.exists() and not force:
        raise RunDirError(f"{out} already exists; pass --force to replace it (nothing was changed)")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; a run directory is an ordinary folder
    try:
        yield stage
        _publish(stage, out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def partial_dir(out: Path) -> Path:
    """Where a run to `out` is built, and where an interrupted one waits to be resumed."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


@contextlib.contextmanager
def training_dir(out: Path, *, force: bool = False, resume: bool = False) -> Iterator[Path]:
    """Yield the partial folder of a run to `out`; on success it atomically becomes `out`.

    A fresh run refuses an existing `out` or an interrupted run waiting at `out` unless `force` (which discards
    it). `resume` requires the interrupted run. On failure the partial folder is kept when it holds a checkpoint
    (so the run can be resumed), and removed otherwise.
    """
    out, stage = Path(out), partial_dir(out)
    if resume:
        if not (stage / "checkpoint").is_dir():
            raise RunDirError(f"no interrupted run to resume at {out} (looked for {stage}/checkpoint)")
    else:
        if out.exists() and not force:
            raise RunDirError(f"{out} already exists; pass --force to replace it (nothing was changed)")
        if stage.exists() and not force:
            raise RunDirError(f"an interrupted run is waiting at {stage}: continue it with `nnspec train --resume "
                              f"{out}`, or pass --force to start over (nothing was changed)")
        shutil.rmtree(stage, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        stage.mkdir()
    try:
        yield stage
    except BaseException:
        if not (stage / "checkpoint").is_dir():
            shutil.rmtree(stage, ignore_errors=True)
        raise
    _publish(stage, out)


def _publish(stage: Path, out: Path) -> None:
    """Rename the finished `stage` to `out`. An existing `out` (replaced with `force`) is moved aside first, so
    `out` is never missing a complete run."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / "run")
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, out)


def data_dirs(run_dir: Path) -> list[Path]:
    """Where relative data file paths in a run's spec.yaml are looked up: the folder of the spec the run was
    trained from (recorded in metrics.json as `data_dir`, carried over to runs derived from it), then the run's
    own folder, then the working directory."""
    import json

    run_dir = Path(run_dir)
    found = []
    try:
        recorded = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")).get("data_dir")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded:
        found.append(Path(recorded))
    return [*found, run_dir, Path.cwd()]


def load_run(run_dir: Path):
    """`(spec, keras_model)` of a run directory. Raises `RunDirError` if it is not one."""
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        missing = [f for f in ("model.keras", "spec.yaml") if not (run_dir / f).is_file()]
        raise RunDirError(f"{run_dir} is not a run directory (missing {', '.join(missing) or 'the folder'})")
    import keras

    from nnspec.runtime.custom_layers import register_all
    from nnspec.specs.load import load_spec

    register_all()  # so model.keras files that use nnspec's own layers deserialize
    spec = load_spec(run_dir / "spec.yaml")
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    return spec, model
