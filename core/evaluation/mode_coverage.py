"""Mode collapse, counted: how many of a mixture's modes the samples reach, and how many samples are good.

The 2-D GAN benchmark of the unrolled-GAN and VEEGAN papers (Metz et al. 2017; Srivastava et al.
2017, "VEEGAN", §5.1, Table 1): samples from a mixture of Gaussians with known centres μ_k and
standard deviation σ.

- A sample is **high quality** when it lies within 3σ of its nearest centre.
- A mode is **covered** when at least ``min_count`` high-quality samples have it as nearest centre
  (VEEGAN counts modes with samples within 3σ; a small count threshold keeps one stray sample from
  counting a mode as learned).
- The **distribution over modes** of the high-quality samples is compared with the true (uniform)
  one by KL(p̂ ‖ uniform), in nats: 0 when every mode gets its share, log K when all sit on one mode.

For the project's ``eight_gaussians`` toy (standardised by core/data/toys.py), the centres are at
radius 2/1.428 on the eight compass directions and σ = 0.2/1.428.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.data.toys import _STANDARDISATION

_SPREAD = _STANDARDISATION["eight_gaussians"][2]
EIGHT_GAUSSIANS_CENTRES = np.array(
    [[2.0 * math.cos(k * math.pi / 4) / _SPREAD, 2.0 * math.sin(k * math.pi / 4) / _SPREAD] for k in range(8)]
)
EIGHT_GAUSSIANS_STD = 0.2 / _SPREAD


@dataclass
class ModeCoverage:
    """Modes reached by a set of samples (VEEGAN's measures)."""

    modes_covered: int  # modes with at least min_count high-quality samples
    num_modes: int
    high_quality_fraction: float  # samples within 3σ of some centre
    kl_to_uniform: float  # KL(share of high-quality samples per mode ‖ uniform), nats; inf when none is good
    counts: list[int]  # high-quality samples per mode

    @property
    def collapsed(self) -> bool:
        """Fewer than all the modes reached: some of the data is never generated."""
        return self.modes_covered < self.num_modes

    def describe(self) -> str:
        return (
            f"{self.modes_covered} of {self.num_modes} modes, {100 * self.high_quality_fraction:.0f}% "
            "of samples within 3σ of a mode"
        )


def mode_coverage(
    samples, centres=EIGHT_GAUSSIANS_CENTRES, std: float = EIGHT_GAUSSIANS_STD, *, min_count: int | None = None
) -> ModeCoverage:
    """Count covered modes and high-quality samples of ``samples`` (N, d) for a mixture with ``centres`` (K, d).

    ``min_count`` defaults to a tenth of a mode's fair share N/K (at least 1), so a few stray samples
    do not count as a learned mode.
    """
    x = np.asarray(samples.detach().cpu() if torch.is_tensor(samples) else samples, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or centres.ndim != 2 or x.shape[1] != centres.shape[1]:
        raise ValueError(f"Samples must have shape (N, {centres.shape[1]}), not {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError("The samples contain NaN or infinite values (did training diverge?).")
    if not std > 0:
        raise ValueError(f"The modes' standard deviation must be positive, not {std!r}.")
    k = centres.shape[0]
    if min_count is None:
        min_count = max(1, round(x.shape[0] / k / 10))
    distances = np.linalg.norm(x[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(x.shape[0]), nearest] <= 3.0 * std
    counts = np.bincount(nearest[good], minlength=k)
    total = counts.sum()
    if total == 0:
        kl = math.inf
    else:
        p = counts / total
        nz = p > 0
        kl = float((p[nz] * np.log(p[nz] * k)).sum())
    return ModeCoverage(int((counts >= min_count).sum()), k, float(good.mean()), kl, counts.tolist())
