"""Procedural coloured shapes: an RGB dataset whose two labels (shape and colour) are known exactly."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.data.base import ImageDataset

SHAPE_NAMES = ["circle", "square", "triangle", "cross", "diamond"]
SHAPE_COLORS = {  # name → RGB in 0…255, saturated so colours are easy to tell apart
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 240),
    "yellow": (240, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 210, 230),
}
SHAPE_LABEL_MODES = ("shape", "color", "shape_and_color")


def _shape_distance(kind: int, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Signed distance in pixels from each pixel to the edge of a shape (negative inside).

    ``dx``, ``dy`` are pixel-centre offsets from the shape's centre (y grows downwards) and ``r`` its
    radius; all broadcast to (B, S, S). Exact for the circle, exact inside and ≤ 1 px off outside for
    the others, which is all the one-pixel anti-aliasing ramp needs.
    """
    ax, ay = np.abs(dx), np.abs(dy)
    if SHAPE_NAMES[kind] == "circle":
        return np.sqrt(dx**2 + dy**2) - r
    if SHAPE_NAMES[kind] == "square":
        return np.maximum(ax, ay) - 0.8 * r
    if SHAPE_NAMES[kind] == "triangle":
        # Apex up at (0, −r), base at dy = 0.7 r where the half-width reaches r: two slanted edges
        # |dx| = (dy + r) / 1.7 and the base, each a half-plane; inside all three = max of distances.
        slanted = (1.7 * ax - dy - r) / math.hypot(1.7, 1.0)
        return np.maximum(slanted, dy - 0.7 * r)
    if SHAPE_NAMES[kind] == "cross":
        arm = 0.3 * r
        bar = np.maximum(ax - arm, ay - r)
        beam = np.maximum(ay - arm, ax - r)
        return np.minimum(bar, beam)
    return (ax + ay - r) / math.sqrt(2.0)  # diamond


@dataclass
class ShapeParameters:
    """What each image of ``make_shapes`` shows, exactly: its shape, colour, size and place (N each).

    ``kind`` indexes ``SHAPE_NAMES``, ``color`` the colours of ``SHAPE_COLORS``; ``radius`` and the
    centre (``cx``, ``cy``, y growing downwards) are in pixels of an image of side ``size``.
    """

    kind: np.ndarray  # (N,) int
    color: np.ndarray  # (N,) int
    radius: np.ndarray  # (N,) float32 pixels
    cx: np.ndarray  # (N,) float32 pixels from the left
    cy: np.ndarray  # (N,) float32 pixels from the top
    size: int  # side of the images in pixels

    def __len__(self) -> int:
        return len(self.kind)


def draw_shape_parameters(n: int, seed: int = 0, size: int = 32) -> ShapeParameters:
    """The random parameters behind ``make_shapes(n, seed, size)`` (the same draws, the same images)."""
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, len(SHAPE_NAMES), n)
    color = rng.integers(0, len(SHAPE_COLORS), n)
    radius = (size * rng.uniform(0.2, 0.4, n)).astype(np.float32)
    cx = rng.uniform(radius + 1.0, size - radius - 1.0).astype(np.float32)
    cy = rng.uniform(radius + 1.0, size - radius - 1.0).astype(np.float32)
    return ShapeParameters(shape, color, radius, cx, cy, size)


def render_shapes(params: ShapeParameters, size: int | None = None) -> torch.Tensor:
    """Draw the shapes ``params`` describes: float32 (N, 3, S, S) in [−1, 1], anti-aliased edges."""
    size = params.size if size is None else size
    n, shape, color, radius, cx, cy = len(params), params.kind, params.color, params.radius, params.cx, params.cy
    palette = np.array(list(SHAPE_COLORS.values()), dtype=np.float32)  # (colours, 3)
    centres = np.arange(size, dtype=np.float32) + 0.5  # pixel centres in pixel units
    coverage = np.empty((n, size, size), dtype=np.float32)
    for kind in range(len(SHAPE_NAMES)):
        members = np.flatnonzero(shape == kind)
        dx = centres[None, None, :] - cx[members, None, None]
        dy = centres[None, :, None] - cy[members, None, None]
        distance = _shape_distance(kind, dx, dy, radius[members, None, None])
        coverage[members] = np.clip(0.5 - distance, 0.0, 1.0)
    # Blend black (−1) and the colour c ∈ [−1, 1] by the coverage: −1 + coverage · (c + 1).
    colour_height = torch.from_numpy(palette[color] * (2.0 / 255.0))[:, :, None, None]  # c + 1, (N, 3, 1, 1)
    images = torch.from_numpy(coverage)[:, None].mul(colour_height).sub_(1.0)  # (N, 3, S, S)
    return images


def make_shapes(n: int, seed: int = 0, size: int = 32, label_by: str = "shape") -> ImageDataset:
    """``n`` RGB images of one anti-aliased coloured shape on black, at a random place and size.

    ``labels`` are the shape (``SHAPE_NAMES``) by default; ``label_by="color"`` labels by colour
    and ``"shape_and_color"`` by the pair ("red circle" = shape · 6 + colour). Whatever the choice,
    ``color_labels`` holds the colour index (into ``color_names``). The same ``seed`` gives the same
    images. Edges are anti-aliased by a one-pixel ramp of the signed distance to the shape's edge;
    pixels wholly inside have exactly the palette colour (``2 c / 255 − 1``), pixels wholly outside
    are black (−1).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"The number of images must be a positive whole number; got {n!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 256:
        raise ValueError(f"size must be a whole number of pixels between 8 and 256; got {size!r}.")
    if label_by not in SHAPE_LABEL_MODES:
        raise ValueError(f"label_by must be one of {', '.join(SHAPE_LABEL_MODES)}; got {label_by!r}.")
    params = draw_shape_parameters(n, seed, size)
    images = render_shapes(params, size)
    shape, color = params.kind, params.color

    if label_by == "shape":
        labels, class_names = shape, list(SHAPE_NAMES)
    elif label_by == "color":
        labels, class_names = color, list(SHAPE_COLORS)
    else:
        labels = shape * len(SHAPE_COLORS) + color
        class_names = [f"{c} {s}" for s in SHAPE_NAMES for c in SHAPE_COLORS]
    return ImageDataset(
        images=images,
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=class_names,
        name="shapes",
        color_labels=torch.from_numpy(color.astype(np.int64)),
        color_names=list(SHAPE_COLORS),
    )
