"""PNG grids of generated examples (a GAN's samples): images side by side, upscaled so small ones (8x8 digits) can
be seen, written atomically. Pure numpy plus Pillow (which matplotlib already needs); no figure is drawn, so a grid
per epoch costs milliseconds.

    save_grid(images, Path("run/samples/epoch_001.png"), value_range=(0.0, 1.0))
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nnspec.errors import NnspecError


def drawable(shape: tuple) -> bool:
    """Whether examples of `shape` (no batch axis) can be drawn as images: `(h, w)`, `(h, w, c)`, or a vector
    whose length is a square (drawn as a square grayscale image)."""
    shape = tuple(shape)
    if len(shape) == 1:
        return shape[0] is not None and math.isqrt(shape[0]) ** 2 == shape[0]
    return len(shape) in (2, 3) and all(d is not None for d in shape)


def as_images(batch: np.ndarray) -> np.ndarray:
    """`(n, h, w, c)` images with 1 or 3 channels from a batch of examples (see `drawable`): square vectors are
    reshaped, 2-channel and 5+-channel examples show their first channel, 4 channels drop alpha."""
    batch = np.asarray(batch, dtype=np.float32)
    if not drawable(batch.shape[1:]):
        raise NnspecError(f"examples of shape {tuple(batch.shape[1:])} cannot be drawn as images; a sample grid "
                          "needs (height, width), (height, width, channels) or a vector of square length. "
                          f"Received: shape={tuple(batch.shape[1:])}")
    if batch.ndim == 2:
        side = math.isqrt(batch.shape[1])
        batch = batch.reshape(len(batch), side, side)
    if batch.ndim == 3:
        batch = batch[..., None]
    channels = batch.shape[-1]
    if channels == 4:
        return batch[..., :3]
    return batch if channels in (1, 3) else batch[..., :1]


def infer_range(images: np.ndarray) -> tuple[float, float]:
    """The value range to display: `[0, 1]` or `[-1, 1]` (the ranges of sigmoid and tanh outputs) when the
    images lie within one (with a small tolerance), else their own minimum and maximum."""
    lo, hi = float(np.min(images)), float(np.max(images))
    for low, high in ((0.0, 1.0), (-1.0, 1.0)):
        if lo >= low - 0.05 and hi <= high + 0.05:
            return low, high
    return lo, hi if hi > lo else lo + 1.0


def grid(batch: np.ndarray, *, value_range: tuple[float, float] | None = None, columns: int | None = None,
         scale: int | None = None, gap: int = 2) -> np.ndarray:
    """One `uint8` image `(H, W, 3)` with the examples of `batch` in rows of `columns` (default: a square-ish
    grid), each upscaled `scale` times (default: to about 48 pixels a side) with nearest-neighbour pixels, on a
    grey background with `gap` pixels between them. Values are mapped from `value_range` (default:
    `infer_range`) to 0..255 and clipped."""
    images = as_images(batch)
    n, h, w, c = images.shape
    if n == 0:
        raise NnspecError("a sample grid needs at least one image. Received: n=0")
    lo, hi = value_range if value_range is not None else infer_range(images)
    pixels = np.clip((images - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    pixels = np.round(pixels * 255.0).astype(np.uint8)
    if c == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    scale = scale or max(1, round(48 / max(h, w)))
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    ch, cw = h * scale, w * scale
    out = np.full((rows * ch + (rows + 1) * gap, columns * cw + (columns + 1) * gap, 3), 128, np.uint8)
    for i in range(n):
        r, k = divmod(i, columns)
        top, left = gap + r * (ch + gap), gap + k * (cw + gap)
        out[top:top + ch, left:left + cw] = pixels[i]
    return out


def save_grid(batch: np.ndarray, path: Path, **options) -> Path:
    """Write `grid(batch, **options)` to the PNG `path` atomically (a reader sees the old file or the new one);
    return `path`."""
    from PIL import Image

    from nnspec.runtime.atomic import publish, temp_beside

    path = Path(path)
    image = Image.fromarray(grid(batch, **options))
    with temp_beside(path, ".png") as tmp:
        image.save(tmp, format="PNG")
        publish(tmp, path)
    return path
