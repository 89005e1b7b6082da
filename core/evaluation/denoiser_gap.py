"""Ideal vs learned denoiser on images: how far the network's x̂₀ is from the exact one, over t.

For a finite training set the best possible denoiser is known in closed form, the posterior mean
E[x_0 | x_t] (``core.diffusion.ideal_denoiser``; Karras et al. 2022, App. B.3). A network trained to
optimality on that set would equal it, and then it could only reproduce training images (Kadkhodaie et al.
2024, "Generalization in diffusion models arises from geometry-adaptive harmonic representations", §2).
The gap

    gap(t) = ‖x̂₀_θ(x_t, t) − x̂₀_ideal(x_t, t)‖ / √D,   x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε   (DDPM eq. 4)

(RMS per pixel, mean over images) measures how far the learned denoiser is from that memorising optimum.
It is computed for x_0 drawn from the ideal denoiser's own training subset and for held-out test images;
beside it the error of each denoiser to the true x_0 (at small t the ideal one snaps a test image to its
nearest training image, the network does not).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from core.diffusion.forward_process import q_sample
from core.diffusion.ideal_denoiser import IdealDenoiser
from core.diffusion.prediction import split_output
from core.diffusion.schedules import NoiseSchedule


@dataclass
class DenoiserGapProgress:
    done: int  # (timestep, image set) pairs evaluated so far
    total: int


@dataclass
class DenoiserGap:
    """RMS per pixel, mean over each set's images, at each timestep (K,)."""

    timesteps: torch.Tensor  # (K,) long
    gap: dict[str, torch.Tensor] = field(default_factory=dict)  # ‖x̂₀_θ − x̂₀_ideal‖ / √D
    learned_error: dict[str, torch.Tensor] = field(default_factory=dict)  # ‖x̂₀_θ − x_0‖ / √D
    ideal_error: dict[str, torch.Tensor] = field(default_factory=dict)  # ‖x̂₀_ideal − x_0‖ / √D
    reference_size: int = 0  # training images behind the ideal denoiser

    def at(self, name: str, t: int) -> float:
        """The gap of set ``name`` at the computed timestep nearest to ``t``."""
        k = int((self.timesteps - int(t)).abs().argmin())
        return float(self.gap[name][k])


def gap_timesteps(schedule: NoiseSchedule, count: int) -> torch.Tensor:
    """``count`` timesteps from 0 to T−1, spaced quadratically: the denoisers differ most at small t."""
    count = int(count)
    if count < 2:
        raise ValueError("Choose at least two timesteps to draw a curve over t.")
    T = schedule.num_timesteps
    ts = torch.round((T - 1) * torch.linspace(0.0, 1.0, count) ** 2).long()
    return torch.unique(ts)


def _rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """RMS per pixel of a − b for each image (B,)."""
    return (a - b).double().flatten(1).square().mean(1).sqrt()


@torch.no_grad()
def iterate_denoiser_gap(
    model,
    reference: torch.Tensor,
    sets: dict[str, torch.Tensor],
    schedule: NoiseSchedule,
    timesteps: torch.Tensor,
    *,
    seed: int = 0,
    class_labels=None,
) -> Iterator[DenoiserGapProgress | DenoiserGap]:
    """x̂₀ of ``model`` against the ideal denoiser of ``reference`` (N, C, H, W) for each named set of clean images,
    at every timestep; one ε per image and timestep, shared by both denoisers. Yields progress, then the result."""
    if not torch.is_tensor(reference) or reference.ndim < 2 or reference.shape[0] < 1:
        raise ValueError("The ideal denoiser needs a non-empty set of training images.")
    for name, x0 in sets.items():
        if not torch.is_tensor(x0) or x0.shape[1:] != reference.shape[1:] or x0.shape[0] < 1:
            raise ValueError(
                f"The images of '{name}' must have the training images' shape {tuple(reference.shape[1:])}."
            )
    ts = torch.as_tensor(timesteps).long()
    if ts.numel() < 1 or bool((ts < 0).any()) or bool((ts >= schedule.num_timesteps).any()):
        raise ValueError(f"Timesteps must lie in 0…{schedule.num_timesteps - 1}.")
    ideal = IdealDenoiser(reference, schedule)
    generator = torch.Generator().manual_seed(int(seed))
    result = DenoiserGap(timesteps=ts, reference_size=int(reference.shape[0]))
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name in sets}
    total, done = len(ts) * len(sets), 0
    for t in ts.tolist():
        for name, x0 in sets.items():
            x0 = x0.float()
            eps = torch.randn(x0.shape, generator=generator)
            t_batch = torch.full((x0.shape[0],), t, dtype=torch.long)
            x_t = q_sample(schedule, x0, t_batch, eps)
            output = model(x_t, t_batch, class_labels=class_labels)
            learned = split_output(output.double(), x_t.double(), t_batch, schedule, model.prediction_type).pred_x0
            exact = ideal(x_t.double(), t_batch)
            rows[name].append((
                float(_rms(learned, exact).mean()),
                float(_rms(learned, x0).mean()),
                float(_rms(exact, x0).mean()),
            ))  # fmt: skip
            done += 1
            yield DenoiserGapProgress(done, total)
    for name, values in rows.items():
        table = torch.tensor(values, dtype=torch.float64)
        result.gap[name], result.learned_error[name], result.ideal_error[name] = table.unbind(1)
    yield result


def denoiser_gap(model, reference, sets, schedule, timesteps, **options) -> DenoiserGap:
    """``iterate_denoiser_gap`` run to the end (the same options)."""
    *_, result = iterate_denoiser_gap(model, reference, sets, schedule, timesteps, **options)
    return result
