"""`nnspec sample RUN_DIR --out grid.png`: PNG grids of what a trained generative model makes (a VAE's decodings
of latents drawn from the prior, an autoencoder's reconstructions), as the run's regime draws them."""

from __future__ import annotations

from pathlib import Path

from nnspec.errors import NnspecError


def sample_run(run_dir: Path, out: Path, n: int = 64, seed: int = 0) -> list[Path]:
    """Load the run at `run_dir` (its spec, `model.keras`, and any other `<stem>.keras` it keeps, by stem) and
    let its regime write `n` images drawn with `seed` to `out` (and siblings of it).

    Returns:
        The PNG files written.

    Raises:
        RunDirError: `run_dir` is not a run directory.
        NnspecError: the run's regime generates nothing, or `n` is not a positive integer.
    """
    import keras

    from nnspec.runtime.regimes import regime_for
    from nnspec.runtime.run_dir import load_run

    run_dir = Path(run_dir)
    spec, model = load_run(run_dir)  # registers nnspec's custom layers too
    if spec.train is None:
        raise NnspecError(f"{run_dir / 'spec.yaml'} has no `train:` section, so no regime to sample with")
    models = {"model": model}
    for path in sorted(run_dir.glob("*.keras")):
        if path.stem not in models:
            models[path.stem] = keras.saving.load_model(path, compile=False)
    return regime_for(spec.train.regime.name).sample(spec, models, Path(out), n=n, seed=seed)
