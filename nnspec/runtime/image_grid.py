"""PNG grids of images: generated samples, and inputs beside their reconstructions.

Each image becomes a square-ish tile enlarged by a whole factor (nearest neighbour, so 8x8 digits stay crisp)
to at least `MIN_TILE` pixels, tiles separated by `PAD` pixels of background. Gray images (one channel) are
drawn gray, three channels as RGB. Values in [0, 1] are drawn as they are (clipped); any other range is
stretched from its minimum to its maximum over the whole grid. Files are written atomically.

    write_grid(images, Path("samples.png"))                      # images: (n, H, W, C)
    write_pairs(inputs, reconstructions, Path("recons.png"))     # input | reconstruction, side by side
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

MIN_TILE = 32
"""The smallest tile side in pixels: small images are enlarged by a whole factor up to at least this."""
PAD = 2
"""Background pixels between tiles (and around the grid)."""
PAIR_GAP = 6
"""Background pixels between one input-reconstruction pair and the next."""
BACKGROUND = 0.5
"""The gray of the padding, in [0, 1]."""


def as_images(batch: np.ndarray, dataset: str | None = None) -> np.ndarray:
    """A batch of model inputs or outputs as images `(n, H, W, C)`: images `(H, W, C)` as they are, `(H, W)`
    with one channel added, flat vectors of a square length (`digits_flat`'s 64 → 8x8, 784 → 28x28) as square
    gray images.

    Raises:
        ValueError: the examples are not images nor flat squares.
    """
    batch = np.asarray(batch, dtype=np.float32)
    shape = batch.shape[1:]
    if dataset == "digits_flat" and shape == (64,):
        return batch.reshape(-1, 8, 8, 1)
    if len(shape) == 3 and shape[-1] in (1, 3):
        return batch
    if len(shape) == 2:
        return batch[..., None]
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        side = math.isqrt(shape[0])
        return batch.reshape(-1, side, side, 1)
    raise ValueError(f"examples of shape {shape} are not images: an image grid needs (H, W, 1 or 3) images, "
                     "(H, W) or flat vectors of a square length")


def _scale(images: np.ndarray) -> int:
    return max(1, math.ceil(MIN_TILE / max(images.shape[1:3])))


def _normalize(images: np.ndarray) -> np.ndarray:
    """Values to [0, 1]: clipped when already there (up to rounding), else stretched from min to max."""
    lo, hi = float(np.min(images)), float(np.max(images))
    if lo >= -1e-3 and hi <= 1 + 1e-3:
        return np.clip(images, 0.0, 1.0)
    return (images - lo) / (hi - lo) if hi > lo else np.zeros_like(images)


def _tile(image: np.ndarray, scale: int) -> np.ndarray:
    """One image `(H, W, C)` in [0, 1] enlarged `scale` times, as RGB."""
    big = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    return np.repeat(big, 3, axis=2) if big.shape[2] == 1 else big


def _mosaic(rows: list[list[np.ndarray | None]], gaps: list[int], th: int, tw: int) -> np.ndarray:
    """Tiles `(th, tw, 3)` laid out in rows; `gaps[j]` is the background before column j (and `PAD` at the
    end and between rows). An empty cell (None) stays background."""
    width = sum(gaps) + len(gaps) * tw + PAD
    height = len(rows) * (th + PAD) + PAD
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.float32)
    for r, row in enumerate(rows):
        y = PAD + r * (th + PAD)
        x = 0
        for j, tile in enumerate(row):
            x += gaps[j]
            if tile is not None:
                canvas[y:y + th, x:x + tw] = tile
            x += tw
    return canvas


def _write_png(canvas: np.ndarray, out: Path) -> Path:
    """Write an RGB float image in [0, 1] as an 8-bit PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image

    from nnspec.runtime.atomic import publish, temp_beside

    out = Path(out)
    pixels = np.round(np.clip(canvas, 0.0, 1.0) * 255).astype(np.uint8)
    with temp_beside(out, ".png") as tmp:
        matplotlib.image.imsave(tmp, pixels, format="png")
        publish(tmp, out)
    return out


def write_grid(images: np.ndarray, out: Path, *, cols: int | None = None) -> Path:
    """A PNG of `images` `(n, H, W, C)` in a grid of `cols` columns (default: ceil(sqrt(n))), row by row.

    The PNG is `cols * (W*s + PAD) + PAD` pixels wide and `rows * (H*s + PAD) + PAD` high, where `s` enlarges
    the tiles to at least `MIN_TILE` pixels.
    """
    images = np.asarray(images, dtype=np.float32)
    n = len(images)
    if n == 0:
        raise ValueError("no images to draw")
    cols = cols or math.ceil(math.sqrt(n))
    s = _scale(images)
    tiles = [_tile(im, s) for im in _normalize(images)]
    rows = [tiles[i:i + cols] + [None] * (cols - len(tiles[i:i + cols])) for i in range(0, n, cols)]
    return _write_png(_mosaic(rows, [PAD] * cols, images.shape[1] * s, images.shape[2] * s), out)


def write_pairs(inputs: np.ndarray, outputs: np.ndarray, out: Path, *, pairs_per_row: int | None = None) -> Path:
    """A PNG of each input beside its reconstruction: `pairs_per_row` pairs (default ceil(sqrt(n))) per row,
    input on the left, `PAD` between the two, `PAIR_GAP` between pairs. Both are drawn on one value scale."""
    inputs, outputs = np.asarray(inputs, np.float32), np.asarray(outputs, np.float32)
    if inputs.shape != outputs.shape:
        raise ValueError(f"inputs {inputs.shape} and reconstructions {outputs.shape} differ in shape")
    n = len(inputs)
    if n == 0:
        raise ValueError("no images to draw")
    per_row = pairs_per_row or math.ceil(math.sqrt(n))
    s = _scale(inputs)
    both = _normalize(np.concatenate([inputs, outputs]))
    tiles = [_tile(im, s) for im in both]
    cells = [t for i in range(n) for t in (tiles[i], tiles[n + i])]
    width = 2 * per_row
    rows = [cells[i:i + width] + [None] * (width - len(cells[i:i + width])) for i in range(0, 2 * n, width)]
    gaps = [PAD if j % 2 else (PAD if j == 0 else PAIR_GAP) for j in range(width)]
    return _write_png(_mosaic(rows, gaps, inputs.shape[1] * s, inputs.shape[2] * s), out)
