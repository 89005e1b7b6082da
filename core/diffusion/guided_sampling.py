"""Classifier-free-guided sampling, one step at a time, with every part of the guidance kept.

The samplers in ``core.diffusion.samplers`` see one denoiser output per step. To *teach* guidance the
Guidance view needs more: at each step the unconditional ε(x_t, ∅), the conditional ε(x_t, c), their
difference and the guided ε̃, with the x̂_0 each implies. ``guided_ddim`` is DDIM (Song et al. 2021,
eq. 12, η = 0, so the same x_T always gives the same sample) written as a generator: it yields a
``GuidedStep`` after every step, so a caller can record it, report progress or stop between steps.
The guidance weight may differ per sample (a whole guidance sweep runs as one batch) and may be
limited to an interval of timesteps (Kynkäänniemi et al. 2024).

``trace_guidance`` runs it for the view and yields ``GuidanceFrame`` events with numpy copies of
the first samples, so scrubbing a recorded run later costs no network call.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.diffusion.guidance import (
    GuidedPrediction,
    cfg_components,
    check_guidance_interval,
    check_guidance_scale,
)
from core.diffusion.prediction import clip_x0 as apply_clip
from core.diffusion.samplers import _alpha_bar, _check_start, ddim_step, make_timesteps
from core.diffusion.schedules import NoiseSchedule

MAX_TRACE_STEPS = 250  # a traced run keeps 8 arrays per step; 250 steps of 16 images is 32 MiB


@dataclass
class GuidedStep:
    """One DDIM step of a guided run (tensors for the whole batch)."""

    index: int
    num_steps: int
    t: int
    t_next: int  # −1: this step reached the clean sample
    x_t: torch.Tensor
    parts: GuidedPrediction
    x_next: torch.Tensor


@torch.no_grad()
def guided_ddim(
    model,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    steps: int,
    class_labels: torch.Tensor,
    scale,
    *,
    interval: tuple[int, int] | None = None,
    clip_x0: str | float | None = None,
    spacing: str = "trailing",
) -> Iterator[GuidedStep]:
    """Deterministic DDIM (η = 0) with classifier-free guidance, yielding every step.

    ``scale`` is one float or a (B,) tensor of weights (one per sample). ``clip_x0`` clips the
    guided x̂_0 used for the step (and recomputes ε̃ from it, as ``samplers.denoise`` does); the
    yielded parts are the network's own predictions, unclipped.
    """
    _check_start(x_T)
    interval = check_guidance_interval(interval, schedule.num_timesteps)
    scales = torch.as_tensor(scale, dtype=torch.float32)
    for value in scales.reshape(-1).tolist():
        check_guidance_scale(value)
    if scales.ndim == 1 and scales.shape[0] != x_T.shape[0]:
        raise ValueError(f"Got {scales.shape[0]} guidance scales for {x_T.shape[0]} samples.")
    labels = torch.as_tensor(class_labels).long().reshape(-1)
    if labels.shape[0] != x_T.shape[0]:
        raise ValueError(f"Got {labels.shape[0]} class labels for {x_T.shape[0]} samples.")
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if num_classes and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"Class labels must lie between 0 and {num_classes - 1} for this model.")
    ts = make_timesteps(schedule, steps, spacing)
    x, n = x_T, len(ts)
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < n else -1
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        parts = cfg_components(model, x, t_batch, labels, schedule, scales, interval)
        pred_x0, pred_eps = parts.x0_guided, parts.eps_guided
        if clip_x0 is not None and clip_x0 != "none":
            pred_x0 = apply_clip(pred_x0, clip_x0)
            a = _alpha_bar(schedule, t)
            pred_eps = (x - math.sqrt(a) * pred_x0) / math.sqrt(1.0 - a)
        x_next = ddim_step(schedule, x, pred_x0, pred_eps, t, t_next)
        yield GuidedStep(i, n, t, t_next, x, parts, x_next)
        x = x_next


@dataclass(frozen=True)
class GuidanceFrame:
    """What the Guidance view shows at one step of a traced run (float32 numpy, first K samples)."""

    index: int
    num_steps: int
    t: int
    guided: bool  # False outside the guidance interval (the step used w = 1)
    x_t: np.ndarray
    eps_uncond: np.ndarray
    eps_cond: np.ndarray
    eps_guided: np.ndarray
    x0_uncond: np.ndarray
    x0_cond: np.ndarray
    x0_guided: np.ndarray
    x_next: np.ndarray

    @property
    def eps_difference(self) -> np.ndarray:
        return self.eps_cond - self.eps_uncond

    @property
    def x0_difference(self) -> np.ndarray:
        return self.x0_cond - self.x0_uncond


def _copy(x: torch.Tensor, keep: int) -> np.ndarray:
    return x[:keep].detach().float().cpu().numpy().copy()


def trace_guidance(
    model,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    steps: int,
    class_labels: torch.Tensor,
    scale: float,
    *,
    interval: tuple[int, int] | None = None,
    clip_x0: str | float | None = None,
    keep: int = 16,
) -> Iterator[GuidanceFrame]:
    """Run ``guided_ddim`` and yield a ``GuidanceFrame`` (copies of the first ``keep`` samples) per step."""
    if not 1 <= int(steps) <= MAX_TRACE_STEPS:
        raise ValueError(f"A traced guidance run takes 1 to {MAX_TRACE_STEPS} steps, not {steps}.")
    scale = check_guidance_scale(scale)
    interval = check_guidance_interval(interval, schedule.num_timesteps)
    for step in guided_ddim(model, x_T, schedule, steps, class_labels, scale, interval=interval, clip_x0=clip_x0):
        p = step.parts
        yield GuidanceFrame(
            index=step.index,
            num_steps=step.num_steps,
            t=step.t,
            guided=interval is None or interval[0] <= step.t <= interval[1],
            x_t=_copy(step.x_t, keep),
            eps_uncond=_copy(p.eps_uncond, keep),
            eps_cond=_copy(p.eps_cond, keep),
            eps_guided=_copy(p.eps_guided, keep),
            x0_uncond=_copy(p.x0_uncond, keep),
            x0_cond=_copy(p.x0_cond, keep),
            x0_guided=_copy(p.x0_guided, keep),
            x_next=_copy(step.x_next, keep),
        )
