"""Points spread evenly over a typed word drawn in Pillow's default font, standardised by the
exact moments of its ink (so the scale does not depend on how many points are drawn)."""

from __future__ import annotations

import numpy as np
import torch

from core.data.points import PointCloudError, PointDataset, check_count, standardise

MAX_WORD_LENGTH = 24  # longer words make letters too small to learn at the standard scale
WORD_FONT_SIZE = 64  # pixels; the ink bitmap is about this tall


def render_word(word: str, font_size: int = WORD_FONT_SIZE) -> np.ndarray:
    """Draw ``word`` with Pillow's built-in font; return the ink as a bool bitmap (rows top-down)."""
    from PIL import Image, ImageDraw, ImageFont

    if not isinstance(word, str) or not word.strip():
        raise PointCloudError("Type a word first: an empty word has no pixels to sample points from.")
    if "\n" in word or "\r" in word:
        raise PointCloudError("Type the word on one line: line breaks are not supported.")
    if len(word) > MAX_WORD_LENGTH:
        raise PointCloudError(
            f"The word has {len(word)} characters; use at most {MAX_WORD_LENGTH} so the letters stay large "
            "enough to learn."
        )
    try:
        font = ImageFont.load_default(size=font_size)  # Aileron, a scalable font bundled with Pillow
        scale = 1
    except (ImportError, OSError, TypeError):  # Pillow built without FreeType: small bitmap font
        font = ImageFont.load_default()
        scale = max(1, font_size // 11)
    stroke = max(1, font_size // 32) if scale == 1 else 0  # thicken the thin default face a little
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
        (0, 0), word, font=font, stroke_width=stroke
    )
    pad = 2
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(canvas).text(
        (pad - left, pad - top), word, fill=255, font=font, stroke_width=stroke, stroke_fill=255
    )
    if scale > 1:
        canvas = canvas.resize((canvas.width * scale, canvas.height * scale), Image.Resampling.NEAREST)
    ink = np.asarray(canvas) >= 128
    if not ink.any():
        raise PointCloudError(f"The word {word!r} draws no visible pixels (only spaces or unknown characters?).")
    return ink


def _sample_ink_pixels(ink: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points (x = column, y = row, in pixels) uniform over the ink pixels' unit squares."""
    rows, cols = np.nonzero(ink)
    pick = rng.integers(0, rows.size, n)
    jitter = rng.random((n, 2))  # uniform inside the pixel: the density is flat over the ink
    return np.stack([cols[pick] + jitter[:, 0], rows[pick] + jitter[:, 1]], axis=1)


def _flip_y(xy: np.ndarray) -> np.ndarray:
    return xy * np.array([1.0, -1.0])


def _ink_mean(ink: np.ndarray) -> np.ndarray:
    """Mean (x, y) in pixels of the uniform distribution over the ink pixels' unit squares."""
    rows, cols = np.nonzero(ink)
    return np.array([cols.mean() + 0.5, rows.mean() + 0.5])


def _ink_variance(ink: np.ndarray) -> np.ndarray:
    """Per-axis variance of that distribution: variance of the pixel centres plus 1/12 (uniform jitter)."""
    rows, cols = np.nonzero(ink)
    return np.array([cols.var() + 1.0 / 12.0, rows.var() + 1.0 / 12.0])


def points_from_word(word: str, n: int, seed: int = 0) -> PointDataset:
    """Points spread evenly over the ink of ``word`` drawn in Pillow's default font, standardised.

    Pixel coordinates are flipped so the word reads upright with y pointing up.
    """
    n = check_count(n)
    ink = render_word(word)
    pixels = _sample_ink_pixels(ink, n, np.random.default_rng(seed))
    points, mean, variance = _flip_y(pixels), _flip_y(_ink_mean(ink)), _ink_variance(ink)
    points = standardise(points, mean, variance)
    return PointDataset(points=torch.from_numpy(points.astype(np.float32)), name=f"word:{word}")
