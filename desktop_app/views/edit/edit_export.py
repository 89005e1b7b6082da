"""Exports of the Edit view: the before / mask / after strip (PNG) and a run's timeline (GIF/WebP)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from desktop_app.export import save_animation, save_strip_png

MIN_SIDE = 192  # every tile of the strip is enlarged (sharp pixels) to about this size


def _enlarge(picture: np.ndarray, side: int) -> np.ndarray:
    factor = max(1, math.ceil(side / max(picture.shape[:2])))
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def _pad_to(picture: np.ndarray, height: int, width: int) -> np.ndarray:
    rgb = np.repeat(picture[..., None], 3, axis=2) if picture.ndim == 2 else picture[..., :3]
    out = np.full((height, width, 3), 255, dtype=np.uint8)
    top, left = (height - rgb.shape[0]) // 2, (width - rgb.shape[1]) // 2
    out[top : top + rgb.shape[0], left : left + rgb.shape[1]] = rgb
    return out


def write_strip(path: str | Path, pictures: list[np.ndarray], captions: list[str]) -> Path:
    """Tiles of different sizes side by side, each enlarged and centred on white, one caption each."""
    if not pictures:
        raise ValueError("There is nothing to export yet: run an edit first.")
    big = [_enlarge(p, MIN_SIDE) for p in pictures]
    height, width = max(p.shape[0] for p in big), max(p.shape[1] for p in big)
    return save_strip_png(path, [_pad_to(p, height, width) for p in big], captions)


def write_timeline(path: str | Path, pictures: list[np.ndarray]) -> Path:
    """The recorded run's x_t along its whole timeline as an animation (GIF or WebP by suffix)."""
    if not pictures:
        raise ValueError("There is no recorded timeline yet: run an edit first.")
    return save_animation(path, [_enlarge(p, MIN_SIDE) for p in pictures], fps=15.0)
