"""What every 2-D dataset is: a ``PointDataset`` (float32 points (N, 2), optional labels), with the
scaling rule all of them share (standardise by the exact moments of the distribution drawn from)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch


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


def check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"The number of points must be a positive whole number; got {n!r}.")
    return int(n)


def standardise(points: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """Map points to (p − mean) / spread, spread = √(mean of the two axes' variances): aspect kept.

    ``mean`` and ``variance`` (per axis) are those of the *distribution* the points are drawn from,
    computed exactly, so the mapping does not depend on how many points are drawn or on the seed.
    """
    spread = math.sqrt(float(np.mean(variance)))
    if spread == 0.0:
        raise PointCloudError("All points are at the same place, so they cannot be scaled to a shape.")
    return (points - mean) / spread
