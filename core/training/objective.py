"""The optimisation pieces of a step: learning-rate schedule, min-SNR loss weights, EMA update."""

from __future__ import annotations

import math

import torch

from core.diffusion.schedules import NoiseSchedule
from core.training.config import TrainConfig


def learning_rate_at(config: TrainConfig, step: int, elapsed_s: float = 0.0) -> float:
    """Linear warm-up, then constant or cosine decay to 10% of the peak at the end of the run.

    With a time budget, "the end" is whichever comes first: the last step or the last second.
    """
    if config.warmup_steps and step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    if config.lr_decay == "constant":
        return config.learning_rate
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    if config.time_budget_s:
        progress = max(progress, min(1.0, elapsed_s / config.time_budget_s))
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def loss_weights(config: TrainConfig, schedule: NoiseSchedule, t: torch.Tensor) -> torch.Tensor | None:
    """min-SNR-γ weights (Hang et al. 2023, eq. 10) expressed for each objective; None for uniform."""
    if config.loss_weighting == "none":
        return None
    snr = schedule.snr.to(t.device)[t].float()
    clipped = snr.clamp(max=5.0)
    if config.prediction_type == "eps":
        return clipped / snr
    if config.prediction_type == "v":
        return clipped / (snr + 1)
    return clipped


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)
