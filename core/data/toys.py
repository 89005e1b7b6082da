"""Two-dimensional toy distributions: the quickest way to watch diffusion move points.

Each toy is first drawn in its natural coordinates (a swiss roll with radius up to ~15, moons of
radius 1, …), then **standardised by fixed constants**: the mean and the per-axis RMS spread of the
toy, measured once on 10⁶ samples and written in ``_STANDARDISATION``. After that every toy has
mean ≈ 0 and standard deviation ≈ 1 (one scalar for both axes, so shapes keep their aspect), and
lies roughly inside [−2, 2]². Fixed constants, rather than the statistics of each draw, mean that a
small draw and a large draw of the same toy live on the same scale, and a data point never moves
when you ask for more of them. The noise level N(0, 1) of a diffusion model's prior then matches the
data's scale, as the papers assume for images in [−1, 1].

Points from a typed word (``words.py``) or a drawing (``drawings.py``) are standardised by the same rule, with the mean and spread
of the shape itself (the ink pixels, or the drawn strokes), computed exactly rather than from the
points drawn, so again the scale does not depend on how many points are drawn.

Sources of the recipes: the swiss roll and two moons follow scikit-learn's ``make_swiss_roll`` /
``make_moons``; eight Gaussians and the checkerboard follow the FFJORD toy benchmarks (Grathwohl et
al. 2019, "FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative Models").
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.data.points import PointDataset, check_count

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


def make_toy_2d(name: str, n: int, seed: int = 0) -> PointDataset:
    """Draw ``n`` points of the toy ``name`` (one of ``TOY_DATASETS``), standardised to mean 0, std 1.

    The same ``seed`` and ``n`` give the same points. ``two_moons``, ``eight_gaussians``, ``spiral``
    and ``rings`` come with labels (moon, mixture component, arm, ring) for class-conditional
    training; ``swiss_roll`` and ``checkerboard`` have ``labels=None``.
    """
    if name not in _TOY_GENERATORS:
        raise ValueError(f"Unknown toy dataset {name!r}; choose one of {', '.join(TOY_DATASETS)}.")
    n = check_count(n)
    points, labels = _TOY_GENERATORS[name](n, np.random.default_rng(seed))
    mean_x, mean_y, spread = _STANDARDISATION[name]
    points = (points - np.array([mean_x, mean_y])) / spread
    return PointDataset(
        points=torch.from_numpy(points.astype(np.float32)),
        labels=None if labels is None else torch.from_numpy(labels.astype(np.int64)),
        class_names=list(TOY_CLASS_NAMES.get(name, [])),
        name=name,
    )
