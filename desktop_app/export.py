"""Export what a view shows: PNG grids and strips, animated GIF/WebP timelines, CSV tables.

The functions take numpy arrays and write files (PIL only, no Qt), so tests and scripts can call them
directly. ``ExportAction`` is how a view offers exports to File ▸ Export… (see
``desktop_app/views/__init__.py``): a label, a file-dialog filter, a default file name and a
``write(path) -> Path`` callable.

Pictures are uint8 (H, W) or (H, W, 3) arrays; model images (N, C, H, W) in [−1, 1] become pictures
with ``grid_picture`` (``core.data.images.make_grid``, enlarged with sharp pixels so 32×32 images stay
visible), 2-D points with ``scatter_picture`` (``core.data.images.scatter_image``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from core.data import make_grid, save_png, scatter_image, to_uint8

__all__ = [
    "ANIMATION_FILTER",
    "CSV_FILTER",
    "PNG_FILTER",
    "ExportAction",
    "evenly_spaced_timesteps",
    "grid_picture",
    "save_animation",
    "save_csv",
    "save_loss_history_csv",
    "save_png",
    "save_schedule_csv",
    "save_strip_png",
    "scatter_picture",
    "schedule_curve_rows",
    "to_uint8",
]

PNG_FILTER = "PNG image (*.png)"
ANIMATION_FILTER = "Animated GIF (*.gif);;Animated WebP (*.webp)"
CSV_FILTER = "CSV table (*.csv)"
MIN_PICTURE_SIDE = 256  # small grids are enlarged (nearest neighbour) to at least this many pixels
SCATTER_EXTENT = 3.5  # points are drawn in [−3.5, 3.5]²: standardised data and N(0, I) both fit
STRIP_GAP = 6
CAPTION_HEIGHT = 16


@dataclass(frozen=True)
class ExportAction:
    """One entry of File ▸ Export…: what it is called, which files it writes, and how."""

    label: str  # "PNG strip of 8 timesteps…"
    file_filter: str  # a QFileDialog filter, e.g. PNG_FILTER
    default_name: str  # suggested file name, e.g. "forward_strip.png"
    write: Callable[[Path], Path]  # writes the file at the chosen path and returns it


def _upscale(picture: np.ndarray, min_side: int) -> np.ndarray:
    factor = max(1, math.ceil(min_side / max(picture.shape[:2])))
    if factor == 1:
        return picture
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def grid_picture(images, nrow: int | None = None, min_side: int = MIN_PICTURE_SIDE) -> np.ndarray:
    """Float images (N, C, H, W) in [−1, 1] → one uint8 grid picture, at least ``min_side`` px wide."""
    return _upscale(make_grid(images, nrow=nrow, padding=2), min_side)


def scatter_picture(points, labels=None, size: int = 400, extent: float = SCATTER_EXTENT) -> np.ndarray:
    """2-D points (N, 2) → a uint8 RGB scatter plot with a fixed extent (so frames line up in an animation)."""
    return scatter_image(points, labels=labels, size=size, extent=extent)


def evenly_spaced_timesteps(lo: int, hi: int, k: int) -> list[int]:
    """``k`` timesteps from ``lo`` to ``hi`` inclusive, as evenly spaced as whole numbers allow."""
    if k < 1:
        raise ValueError(f"Ask for at least one timestep, not {k}.")
    if hi < lo:
        raise ValueError(f"The last timestep ({hi}) must not come before the first ({lo}).")
    if k == 1:
        return [int(lo)]
    return [int(round(v)) for v in np.linspace(lo, hi, k)]


def _as_rgb(picture: np.ndarray) -> np.ndarray:
    return np.repeat(picture[..., None], 3, axis=2) if picture.ndim == 2 else picture[..., :3]


def _check_pictures(pictures: Sequence[np.ndarray]) -> list[np.ndarray]:
    pictures = [np.asarray(p) for p in pictures]
    if not pictures:
        raise ValueError("There is nothing to export: no frames were given.")
    for p in pictures:
        if p.dtype != np.uint8 or p.ndim not in (2, 3):
            raise ValueError("Frames must be uint8 pictures (H, W) or (H, W, 3); use grid_picture first.")
    if len({p.shape[:2] for p in pictures}) != 1:
        raise ValueError("All frames must have the same size.")
    return pictures


def save_strip_png(path: str | Path, pictures: Sequence[np.ndarray], captions: Sequence[str] | None = None) -> Path:
    """Put pictures side by side (white gaps), with an optional caption under each (e.g. "t = 250")."""
    pictures = [_as_rgb(p) for p in _check_pictures(pictures)]
    if captions is not None and len(captions) != len(pictures):
        raise ValueError(f"Give one caption per picture: {len(captions)} captions for {len(pictures)} pictures.")
    h, w = pictures[0].shape[:2]
    caption_h = CAPTION_HEIGHT if captions else 0
    width = len(pictures) * w + (len(pictures) + 1) * STRIP_GAP
    strip = np.full((h + 2 * STRIP_GAP + caption_h, width, 3), 255, dtype=np.uint8)
    for i, p in enumerate(pictures):
        x = STRIP_GAP + i * (w + STRIP_GAP)
        strip[STRIP_GAP : STRIP_GAP + h, x : x + w] = p
    image = Image.fromarray(strip)
    if captions:
        draw = ImageDraw.Draw(image)
        for i, text in enumerate(captions):
            x = STRIP_GAP + i * (w + STRIP_GAP)
            left, _, right, _ = draw.textbbox((0, 0), text)
            draw.text((x + (w - (right - left)) / 2, STRIP_GAP + h + 2), text, fill=(30, 30, 30))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def save_animation(path: str | Path, pictures: Sequence[np.ndarray], fps: float = 10.0, loop: bool = True) -> Path:
    """Write frames as an animated GIF or WebP (chosen by the file's suffix), ``fps`` frames per second."""
    pictures = _check_pictures(pictures)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".webp"):
        raise ValueError(f"An animation is saved as .gif or .webp, not '{suffix or 'no suffix'}'.")
    if fps <= 0:
        raise ValueError(f"Frames per second must be positive, not {fps}.")
    frames = [Image.fromarray(_as_rgb(p)) for p in pictures]
    duration = max(20, round(1000 / fps))  # browsers treat GIF delays under 20 ms as 100 ms
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"save_all": True, "append_images": frames[1:], "duration": duration, "loop": 0 if loop else 1}
    if suffix == ".gif":
        frames[0].save(path, format="GIF", optimize=False, disposal=1, **options)
    else:
        frames[0].save(path, format="WEBP", lossless=True, **options)
    return path


def save_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """A plain comma-separated table with one header row (floats written with full precision)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(list(header))
        for row in rows:
            writer.writerow([repr(float(v)) if isinstance(v, float | np.floating) else v for v in row])
    return path


SCHEDULE_CSV_HEADER = ("schedule", "t", "t_over_T", "beta", "alpha_bar", "sqrt_alpha_bar", "snr", "log_snr")


def schedule_curve_rows(schedules: Mapping[str, object]) -> list[tuple]:
    """Rows (name, t, t/T, β_t, ᾱ_t, √ᾱ_t, SNR, log SNR) for every timestep of every named schedule.

    One row per timestep in "long" format, so schedules with different T share one table.
    """
    rows = []
    for name, schedule in schedules.items():
        T = schedule.num_timesteps
        columns = [
            schedule.betas,
            schedule.alphas_cumprod,
            schedule.sqrt_alphas_cumprod,
            schedule.snr,
            schedule.log_snr,
        ]
        values = np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=1)
        for t in range(T):
            rows.append((name, t, t / T, *(float(v) for v in values[t])))
    return rows


def save_schedule_csv(path: str | Path, schedules: Mapping[str, object]) -> Path:
    """CSV of the curves of named ``NoiseSchedule``s (``SCHEDULE_CSV_HEADER`` columns)."""
    return save_csv(path, SCHEDULE_CSV_HEADER, schedule_curve_rows(schedules))


def save_loss_history_csv(path: str | Path, steps: Sequence[int], losses: Sequence[float], **columns: Sequence) -> Path:
    """CSV of a training run's loss history: step, loss and any further equally long columns (e.g. lr)."""
    n = len(steps)
    if len(losses) != n or any(len(c) != n for c in columns.values()):
        raise ValueError("Every column of the loss history must have one value per step.")
    header = ["step", "loss", *columns]
    rows = zip(steps, losses, *columns.values(), strict=True)
    return save_csv(path, header, ([int(r[0]), float(r[1]), *r[2:]] for r in rows))
