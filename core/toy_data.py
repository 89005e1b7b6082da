"""Two-dimensional toy distributions: the quickest way to watch diffusion move points.

Each toy is first drawn in its natural coordinates (a swiss roll with radius up to ~15, moons of
radius 1, …), then **standardised by fixed constants**: the mean and the per-axis RMS spread of the
toy, measured once on 10⁶ samples and written in ``_STANDARDISATION``. After that every toy has
mean ≈ 0 and standard deviation ≈ 1 (one scalar for both axes, so shapes keep their aspect), and
lies roughly inside [−2, 2]². Fixed constants, rather than the statistics of each draw, mean that a
small draw and a large draw of the same toy live on the same scale, and a data point never moves
when you ask for more of them. The noise level N(0, 1) of a diffusion model's prior then matches the
data's scale, as the papers assume for images in [−1, 1].

Points from a typed word or a drawing are standardised by the same rule, with the mean and spread
of the shape itself (the ink pixels, or the drawn strokes), computed exactly rather than from the
points drawn, so again the scale does not depend on how many points are drawn.

Sources of the recipes: the swiss roll and two moons follow scikit-learn's ``make_swiss_roll`` /
``make_moons``; eight Gaussians and the checkerboard follow the FFJORD toy benchmarks (Grathwohl et
al. 2019, "FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative Models").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

TOY_DATASETS = ("swiss_roll", "two_moons", "eight_gaussians", "checkerboard", "spiral", "rings")

TOY_LABELS = {
    "swiss_roll": "Swiss roll",
    "two_moons": "Two moons",
    "eight_gaussians": "Eight Gaussians",
    "checkerboard": "Checkerboard",
    "spiral": "Two-arm spiral",
    "rings": "Concentric rings",
}

# Class names of the toys that have a natural label (mixture component, moon, arm, ring); the
# others are unconditional (labels None).
TOY_CLASS_NAMES = {
    "two_moons": ["upper moon", "lower moon"],
    "eight_gaussians": [f"{int(deg)}°" for deg in np.arange(8) * 45],
    "spiral": ["arm 1", "arm 2"],
    "rings": ["inner ring", "middle ring", "outer ring"],
}

MAX_WORD_LENGTH = 24  # longer words make letters too small to learn at the standard scale
WORD_FONT_SIZE = 64  # pixels; the ink bitmap is about this tall


class PointCloudError(ValueError):
    """A word or drawing that cannot give points (empty, no ink, too long)."""


@dataclass(eq=False)
class PointDataset:
    """A 2-D point cloud: ``points`` float32 (N, 2) and optional class ``labels`` long (N,)."""

    points: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] = field(default_factory=list)
    name: str = ""

    def __post_init__(self) -> None:
        if self.points.ndim != 2 or self.points.shape[1] != 2:
            raise ValueError(f"points must have shape (N, 2); got {tuple(self.points.shape)}.")
        if self.labels is not None and self.labels.shape != (self.points.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.points.shape[0]},) to match the points; got {tuple(self.labels.shape)}."
            )

    def __len__(self) -> int:
        return self.points.shape[0]

    @property
    def num_classes(self) -> int:
        """Number of classes a conditional model needs (0 when the dataset has no labels)."""
        return len(self.class_names) if self.labels is not None else 0


# ---------------------------------------------------------------------------------------------
# The toys in their natural coordinates. Each takes a numpy Generator and returns (points, labels).


def _swiss_roll(n: int, rng: np.random.Generator) -> tuple[np.ndarray, None]:
    # scikit-learn make_swiss_roll: t ∈ [1.5π, 4.5π], (t cos t, t sin t), Gaussian noise.
    t = 1.5 * math.pi * (1.0 + 2.0 * rng.random(n))
    points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) + 0.4 * rng.standard_normal((n, 2))
    return points, None


def _two_moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn make_moons: upper half circle and a shifted, flipped lower half circle.
    labels = rng.integers(0, 2, n)
    theta = math.pi * rng.random(n)
    upper = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    lower = np.stack([1.0 - np.cos(theta), 0.5 - np.sin(theta)], axis=1)
    points = np.where(labels[:, None] == 0, upper, lower) + 0.06 * rng.standard_normal((n, 2))
    return points, labels


def _eight_gaussians(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # FFJORD: eight isotropic Gaussians evenly spaced on a circle of radius 2.
    labels = rng.integers(0, 8, n)
    angle = labels * (math.pi / 4.0)
    centres = 2.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + 0.2 * rng.standard_normal((n, 2)), labels


def _checkerboard(n: int, rng: np.random.Generator) -> tuple[np.ndarray, None]:
    # FFJORD: uniform on the 8 "dark" unit squares of a 4×4 board covering [−2, 2]².
    # Draw x uniformly, then y uniformly in a square of the right parity in x's column.
    x = 4.0 * rng.random(n) - 2.0
    row = 2 * rng.integers(0, 2, n) + (np.floor(x).astype(np.int64) % 2)  # rows 0..3, parity of column
    y = row - 2.0 + rng.random(n)
    return np.stack([x, y], axis=1), None


def _spiral(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Two interleaved Archimedean arms r ∝ θ, the second rotated by π; sqrt keeps density even.
    labels = rng.integers(0, 2, n)
    theta = 3.0 * math.pi * np.sqrt(rng.random(n)) + 0.3
    phase = labels * math.pi
    radius = theta / math.pi
    points = np.stack([radius * np.cos(theta + phase), radius * np.sin(theta + phase)], axis=1)
    return points + 0.05 * rng.standard_normal((n, 2)), labels


def _rings(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Three concentric circles of radius 1, 2, 3, equally many points on each.
    labels = rng.integers(0, 3, n)
    theta = 2.0 * math.pi * rng.random(n)
    radius = (labels + 1.0) + 0.06 * rng.standard_normal(n)
    return np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1), labels


_TOY_GENERATORS = {
    "swiss_roll": _swiss_roll,
    "two_moons": _two_moons,
    "eight_gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "spiral": _spiral,
    "rings": _rings,
}

# (mean x, mean y, RMS spread per axis) of each toy in natural coordinates, measured on 10⁶ samples
# (``_measure_standardisation``). Points are mapped to (p − mean) / spread.
_STANDARDISATION = {
    "swiss_roll": (2.010, 0.216, 6.799),
    "two_moons": (0.5, 0.25, 0.708),  # mean exact: moons' centres of mass
    "eight_gaussians": (0.0, 0.0, 1.428),  # √((2² + 2·0.2²)/2)
    "checkerboard": (0.0, 0.0, 1.155),  # uniform on [−2, 2]: √(4²/12)
    "spiral": (0.0, 0.0, 1.565),
    "rings": (0.0, 0.0, 1.528),  # √((1² + 2² + 3²)/3/2 + 0.06²)
}


def _measure_standardisation(name: str, n: int = 1_000_000) -> tuple[float, float, float]:
    """Mean and per-axis RMS spread of a toy in natural coordinates (how the constants were found)."""
    points, _ = _TOY_GENERATORS[name](n, np.random.default_rng(12345))
    mean = points.mean(axis=0)
    spread = math.sqrt(((points - mean) ** 2).sum(axis=1).mean() / 2.0)
    return float(mean[0]), float(mean[1]), spread


def _check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"The number of points must be a positive whole number; got {n!r}.")
    return int(n)


def make_toy_2d(name: str, n: int, seed: int = 0) -> PointDataset:
    """Draw ``n`` points of the toy ``name`` (one of ``TOY_DATASETS``), standardised to mean 0, std 1.

    The same ``seed`` and ``n`` give the same points. ``two_moons``, ``eight_gaussians``, ``spiral``
    and ``rings`` come with labels (moon, mixture component, arm, ring) for class-conditional
    training; ``swiss_roll`` and ``checkerboard`` have ``labels=None``.
    """
    if name not in _TOY_GENERATORS:
        raise ValueError(f"Unknown toy dataset {name!r}; choose one of {', '.join(TOY_DATASETS)}.")
    n = _check_count(n)
    points, labels = _TOY_GENERATORS[name](n, np.random.default_rng(seed))
    mean_x, mean_y, spread = _STANDARDISATION[name]
    points = (points - np.array([mean_x, mean_y])) / spread
    return PointDataset(
        points=torch.from_numpy(points.astype(np.float32)),
        labels=None if labels is None else torch.from_numpy(labels.astype(np.int64)),
        class_names=list(TOY_CLASS_NAMES.get(name, [])),
        name=name,
    )


def _standardise(points: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Map points to (p − mean) / spread, spread = √(mean of the two axes' variances): aspect kept.

    ``mean`` and ``variance`` (per axis) are those of the *distribution* the points are drawn from,
    computed exactly, so the mapping does not depend on how many points are drawn or on the seed.
    """
    spread = math.sqrt(float(np.mean(variance)))
    if spread == 0.0:
        raise PointCloudError("All points are at the same place, so they cannot be scaled to a shape.")
    return (points - mean) / spread


# ---------------------------------------------------------------------------------------------
# Points from a typed word.


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
    n = _check_count(n)
    ink = render_word(word)
    pixels = _sample_ink_pixels(ink, n, np.random.default_rng(seed))
    points, mean, variance = _flip_y(pixels), _flip_y(_ink_mean(ink)), _ink_variance(ink)
    points = _standardise(points, mean, variance)
    return PointDataset(points=torch.from_numpy(points.astype(np.float32)), name=f"word:{word}")


# ---------------------------------------------------------------------------------------------
# Points from a drawing supplied by the app.


def _as_strokes(xy: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Accept one (M, 2) array or a list of them (one per pen stroke); check shapes and values."""
    if isinstance(xy, (np.ndarray, torch.Tensor)):
        strokes = [xy]
    else:
        strokes = list(xy)
        # A flat list of (x, y) pairs is one stroke, not many one-point strokes.
        if strokes and np.ndim(strokes[0]) == 1:
            strokes = [np.asarray(strokes)]
    arrays = []
    for stroke in strokes:
        array = np.asarray(stroke.detach().cpu() if isinstance(stroke, torch.Tensor) else stroke, dtype=np.float64)
        if array.size == 0:
            continue
        if array.ndim != 2 or array.shape[1] != 2:
            raise PointCloudError(f"A drawing must be points with two coordinates, shape (M, 2); got {array.shape}.")
        if not np.isfinite(array).all():
            raise PointCloudError("The drawing contains coordinates that are not finite numbers.")
        arrays.append(array)
    if not arrays:
        raise PointCloudError("Draw something first: the drawing has no points.")
    return arrays


def points_from_drawing(
    xy: np.ndarray | Sequence[np.ndarray],
    n: int,
    seed: int = 0,
    jitter: float = 0.03,
    connect: bool = True,
) -> PointDataset:
    """Resample a user's drawing to ``n`` standardised points with Gaussian ``jitter``.

    ``xy`` is an (M, 2) array of pen positions in data coordinates (y up: flip screen coordinates
    before calling), or a list of such arrays, one per pen stroke. With ``connect=True`` the points
    of a stroke are joined by straight segments and the ``n`` points are spread uniformly along the
    total length (so a slow mouse, which records many nearby positions, does not make dense blobs);
    a stroke of a single point counts as a dot. With ``connect=False`` the pen positions are treated
    as a point cloud and drawn with replacement. ``jitter`` is the standard deviation of the noise,
    added after standardisation, in the standardised units (the whole drawing has std 1).
    """
    n = _check_count(n)
    if not (isinstance(jitter, (int, float)) and 0.0 <= jitter <= 1.0):
        raise ValueError(f"jitter must be a number between 0 and 1 (in standard deviations); got {jitter!r}.")
    strokes = _as_strokes(xy)
    vertices = np.concatenate(strokes)
    if np.ptp(vertices, axis=0).max() == 0.0:
        raise PointCloudError("The drawing is a single dot; draw a shape with some extent.")
    rng = np.random.default_rng(seed)
    if connect:
        starts = np.concatenate([s[:-1] if len(s) > 1 else s for s in strokes])
        ends = np.concatenate([s[1:] if len(s) > 1 else s for s in strokes])
        lengths = np.linalg.norm(ends - starts, axis=1)
        # Dots (zero-length segments) get the weight of a short segment so they are not lost.
        weights = np.where(lengths > 0, lengths, 0.1 * lengths.sum() / len(lengths))
        weights = weights / weights.sum()
        segment = rng.choice(len(weights), size=n, p=weights)
        along = rng.random(n)[:, None]
        points = starts[segment] + along * (ends[segment] - starts[segment])
        # Exact moments of "uniform along the segments": a point a + u (b − a), u ~ U(0, 1), has
        # mean (a + b)/2 and second moment (a² + ab + b²)/3 per axis.
        mean = weights @ ((starts + ends) / 2.0)
        second = weights @ ((starts**2 + starts * ends + ends**2) / 3.0)
        variance = second - mean**2
    else:
        points = vertices[rng.integers(0, len(vertices), n)]
        mean, variance = vertices.mean(axis=0), vertices.var(axis=0)
    points = _standardise(points, mean, variance) + jitter * rng.standard_normal((n, 2))
    return PointDataset(points=torch.from_numpy(points.astype(np.float32)), name="drawing")
