"""Turning samples into pictures and files: uint8 conversion, image grids, PNG, .npz and 2-D scatter plots.

Model images are float (N, C, H, W) in [−1, 1] (see docs/ARCHITECTURE.md). Files and screens use
uint8 (N, H, W) for grayscale or (N, H, W, C) for colour, the layout ``numpy``/PIL/``.npz`` readers expect.
Used by the command line and the desktop app; PIL only, no plotting library.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

# Distinct colours for class labels in scatter plots (Okabe & Ito's colour-blind-safe palette, then more).
PALETTE = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
    (0, 0, 0),
    (136, 34, 85),
    (68, 170, 153),
]


def _as_numpy(x) -> np.ndarray:
    if torch.is_tensor(x):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def to_uint8(images) -> np.ndarray:
    """Float images (N, C, H, W) in [−1, 1] → uint8 (N, H, W) for C = 1 or (N, H, W, C) for C = 3/4.

    Values are mapped by (x + 1) · 127.5, rounded and clipped to 0…255; NaN becomes 0.
    A single image (C, H, W) gives (H, W) or (H, W, C).
    """
    x = _as_numpy(images)
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4 or x.shape[1] not in (1, 3, 4):
        raise ValueError(f"Images must have shape (N, C, H, W) with 1, 3 or 4 channels, not {tuple(x.shape)}.")
    x = np.nan_to_num(x.astype(np.float32), nan=-1.0, posinf=1.0, neginf=-1.0)
    u8 = np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
    u8 = u8[:, 0] if u8.shape[1] == 1 else np.ascontiguousarray(u8.transpose(0, 2, 3, 1))
    return u8[0] if single else u8


def make_grid(images, nrow: int | None = None, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """Tile images into one uint8 picture, ``nrow`` images per row (torchvision's convention).

    ``images`` is uint8 (N, H, W) / (N, H, W, C), or float (N, C, H, W) in [−1, 1] (converted with
    ``to_uint8``). ``nrow`` defaults to ⌈√N⌉. Returns (H', W') or (H', W', C) uint8.
    """
    x = _as_numpy(images)
    if x.dtype != np.uint8:
        x = to_uint8(x)
    if x.ndim not in (3, 4) or x.shape[0] == 0:
        raise ValueError(f"A grid needs a non-empty batch of images (N, H, W) or (N, H, W, C), not {tuple(x.shape)}.")
    n, h, w = x.shape[:3]
    nrow = int(nrow) if nrow else math.ceil(math.sqrt(n))
    if nrow < 1:
        raise ValueError(f"A grid needs at least one image per row, not {nrow}.")
    nrow = min(nrow, n)
    rows = math.ceil(n / nrow)
    p = int(padding)
    grid = np.full((rows * (h + p) + p, nrow * (w + p) + p, *x.shape[3:]), pad_value, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[p + r * (h + p) : p + r * (h + p) + h, p + c * (w + p) : p + c * (w + p) + w] = x[i]
    return grid


def save_png(path: str | Path, image: np.ndarray, scale: int = 1) -> Path:
    """Write a uint8 (H, W), (H, W, 3) or (H, W, 4) array as a PNG, enlarged ``scale``× with sharp pixels."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError("save_png takes a uint8 picture of shape (H, W) or (H, W, C); use make_grid first.")
    picture = Image.fromarray(image)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="PNG")
    return path


def save_samples_npz(path: str | Path, images=None, labels=None, points=None) -> Path:
    """Write samples as ``.npz``: ``images`` uint8 (N, H, W) or (N, H, W, C), or ``points`` float32 (N, 2),
    plus ``labels`` int64 (N,) when the samples were drawn for given classes."""
    arrays = {}
    if images is not None:
        x = _as_numpy(images)
        arrays["images"] = x if x.dtype == np.uint8 else to_uint8(x)
    if points is not None:
        arrays["points"] = _as_numpy(points).astype(np.float32)
    if labels is not None:
        arrays["labels"] = _as_numpy(labels).astype(np.int64)
    if not arrays:
        raise ValueError("Nothing to save: pass images or points.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def scatter_image(points, labels=None, size: int = 512, extent: float | None = None, radius: float = 1.5) -> np.ndarray:
    """Draw 2-D points as a uint8 RGB picture (white background, axes through the origin).

    ``extent``: the plot shows [−extent, extent]² (default: the 99.5th percentile of |x|, with a margin).
    Points are coloured by ``labels`` when given.
    """
    pts = _as_numpy(points).astype(np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"Points must have shape (N, 2), not {tuple(pts.shape)}.")
    finite = pts[np.isfinite(pts).all(axis=1)]
    if extent is None:
        extent = float(np.percentile(np.abs(finite), 99.5)) * 1.1 if len(finite) else 1.0
        extent = extent if extent > 0 else 1.0
    picture = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    centre = size / 2
    draw.line([(0, centre), (size, centre)], fill=(210, 210, 210))
    draw.line([(centre, 0), (centre, size)], fill=(210, 210, 210))
    scale = (size / 2 - 4) / extent
    lab = None if labels is None else _as_numpy(labels).astype(np.int64)
    for i, (x, y) in enumerate(pts):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        px, py = centre + x * scale, centre - y * scale  # y up, as in a plot
        colour = PALETTE[int(lab[i]) % len(PALETTE)] if lab is not None else PALETTE[0]
        draw.ellipse([px - radius, py - radius, px + radius, py + radius], fill=colour)
    return np.asarray(picture)
