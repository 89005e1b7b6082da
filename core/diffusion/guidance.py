"""Guidance: steer a class-conditional denoiser towards its class.

Classifier-free guidance (Ho & Salimans 2022): one network trained with the class label dropped to
a "no class" entry some of the time predicts both ε(x_t, c) and ε(x_t, ∅). Sampling uses

    ε̃ = ε(x_t, ∅) + w · (ε(x_t, c) − ε(x_t, ∅))

(the ``diffusers`` convention: w = 1 is the plain conditional model, w = 0 the unconditional one,
w > 1 trades diversity for fidelity to the class). Every conversion in ``core.diffusion.prediction`` is affine
in the network output at a fixed x_t, so mixing x_0- or v-outputs the same way is the same guidance.

Guidance interval (Kynkäänniemi et al. 2024, "Applying Guidance in a Limited Interval Improves Sample
and Distribution Quality", eq. 5): guide only while t lies in [t_lo, t_hi]; outside it the sampler
uses the plain conditional prediction (w = 1). ``cfg_components`` takes one guided prediction apart
into ε_u, ε_c, their difference and ε̃, with the x̂_0 each implies (what the Guidance view shows).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.diffusion.prediction import split_output
from core.diffusion.schedules import NoiseSchedule

MAX_GUIDANCE_SCALE = 50.0


def check_guidance_scale(scale) -> float:
    """A guidance scale as a float in [0, MAX_GUIDANCE_SCALE] (ValueError in words otherwise)."""
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"The guidance scale must be a number, not {scale!r}.") from None
    if not 0.0 <= scale <= MAX_GUIDANCE_SCALE:  # also rejects NaN
        raise ValueError(f"The guidance scale must be between 0 and {MAX_GUIDANCE_SCALE:g}, not {scale}.")
    return scale


def check_guidance_interval(interval, num_timesteps: int | None = None) -> tuple[int, int] | None:
    """``None`` (guide at every t) or a pair of timesteps (t_lo, t_hi) with 0 ≤ t_lo ≤ t_hi (< T)."""
    if interval is None:
        return None
    try:
        t_lo, t_hi = (int(v) for v in interval)
    except (TypeError, ValueError):
        raise ValueError(f"The guidance interval must be two timesteps (t_lo, t_hi), not {interval!r}.") from None
    if not 0 <= t_lo <= t_hi:
        raise ValueError(f"The guidance interval needs 0 ≤ t_lo ≤ t_hi; got t_lo = {t_lo}, t_hi = {t_hi}.")
    if num_timesteps is not None and t_hi >= num_timesteps:
        raise ValueError(f"The guidance interval must end below T = {num_timesteps}; got t_hi = {t_hi}.")
    return t_lo, t_hi


def guidance_active(t: torch.Tensor, interval: tuple[int, int] | None) -> torch.Tensor:
    """Boolean mask (B,): is guidance applied at each sample's timestep? (Kynkäänniemi et al. 2024)"""
    t = torch.as_tensor(t)
    if interval is None:
        return torch.ones(t.shape, dtype=torch.bool, device=t.device)
    return (t >= interval[0]) & (t <= interval[1])


def effective_scale(scale, t: torch.Tensor, interval: tuple[int, int] | None) -> torch.Tensor:
    """The weight w used at each sample's timestep: ``scale`` inside the interval, 1 (conditional) outside."""
    t = torch.as_tensor(t)
    w = torch.as_tensor(scale, dtype=torch.float32, device=t.device).expand(t.shape)
    return torch.where(guidance_active(t, interval), w, torch.ones_like(w))


@dataclass
class GuidedPrediction:
    """One classifier-free-guided prediction taken apart (all tensors shaped like x_t).

    ε_u = ε(x_t, ∅), ε_c = ε(x_t, c), ε̃ = ε_u + w (ε_c − ε_u) (Ho & Salimans 2022, eq. 6), and the
    x̂_0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t each implies (DDPM eq. 15). Because that map is affine in ε,
    x̂_0 of ε̃ is the same mixture of x̂_0(ε_u) and x̂_0(ε_c), and the x̂_0 difference is −√(1−ᾱ)/√ᾱ times
    the ε difference.
    """

    eps_uncond: torch.Tensor
    eps_cond: torch.Tensor
    eps_guided: torch.Tensor
    x0_uncond: torch.Tensor
    x0_cond: torch.Tensor
    x0_guided: torch.Tensor
    scale: torch.Tensor  # (B,) the w actually used (1 outside the guidance interval)

    @property
    def eps_difference(self) -> torch.Tensor:
        return self.eps_cond - self.eps_uncond

    @property
    def x0_difference(self) -> torch.Tensor:
        return self.x0_cond - self.x0_uncond


def cfg_components(
    model: nn.Module,
    x_t: torch.Tensor,
    t: torch.Tensor,
    class_labels: torch.Tensor,
    schedule: NoiseSchedule,
    scale,
    interval: tuple[int, int] | None = None,
) -> GuidedPrediction:
    """Evaluate ε(x_t, ∅) and ε(x_t, c) in one batched call and combine them with weight ``scale``.

    ``scale`` is a float or a (B,) tensor (one w per sample, as the guidance sweep uses); outside
    ``interval`` the weight is 1. Works for ε-, x_0- and v-prediction models (read through
    ``split_output``).
    """
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if num_classes <= 0:
        raise ValueError("Guidance needs a class-conditional model; this one was trained without classes.")
    t = torch.as_tensor(t, device=x_t.device)
    if t.ndim == 0:
        t = t.expand(x_t.shape[0])
    labels = torch.as_tensor(class_labels, device=x_t.device).long()
    null = torch.full_like(labels, num_classes)
    out = model(torch.cat([x_t, x_t]), torch.cat([t, t]), class_labels=torch.cat([labels, null]))
    t2 = torch.cat([t, t])
    both = split_output(out, torch.cat([x_t, x_t]), t2, schedule, model.prediction_type)
    eps_c, eps_u = both.pred_eps.chunk(2)
    x0_c, x0_u = both.pred_x0.chunk(2)
    w = effective_scale(scale, t, interval).to(x_t.dtype)
    wb = w.reshape((-1,) + (1,) * (x_t.ndim - 1))
    return GuidedPrediction(
        eps_uncond=eps_u,
        eps_cond=eps_c,
        eps_guided=eps_u + wb * (eps_c - eps_u),  # Ho & Salimans 2022, eq. 6 (diffusers' w)
        x0_uncond=x0_u,
        x0_cond=x0_c,
        x0_guided=x0_u + wb * (x0_c - x0_u),  # the same mixture: x̂_0 is affine in ε at fixed x_t
        scale=w,
    )


class ClassifierFreeGuidance(nn.Module):
    """Wrap a conditional denoiser so any sampler samples with guidance scale ``scale``."""

    def __init__(self, model: nn.Module, scale: float, interval: tuple[int, int] | None = None):
        super().__init__()
        num_classes = int(getattr(model, "num_classes", 0) or 0)
        if num_classes <= 0:
            raise ValueError("Guidance needs a class-conditional model; this one was trained without classes.")
        self.model = model
        self.scale = check_guidance_scale(scale)
        self.interval = check_guidance_interval(interval)  # None: guide at every t
        self.prediction_type = model.prediction_type
        self.num_classes = num_classes

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        if class_labels is None:
            return self.model(x_t, t, class_labels=None)
        if self.interval is not None:
            active = guidance_active(t, self.interval)
            if not bool(active.any()):
                return self.model(x_t, t, class_labels=class_labels)  # outside the interval: w = 1
            if not bool(active.all()):
                w = effective_scale(self.scale, t, self.interval).to(x_t.dtype).reshape((-1,) + (1,) * (x_t.ndim - 1))
                null = torch.full_like(class_labels, self.num_classes)
                out = self.model(torch.cat([x_t, x_t]), torch.cat([t, t]), class_labels=torch.cat([class_labels, null]))
                cond, uncond = out.chunk(2)
                return uncond + w * (cond - uncond)
        if self.scale == 1.0:
            return self.model(x_t, t, class_labels=class_labels)
        null = torch.full_like(class_labels, self.num_classes)
        if self.scale == 0.0:
            return self.model(x_t, t, class_labels=null)
        out = self.model(torch.cat([x_t, x_t]), torch.cat([t, t]), class_labels=torch.cat([class_labels, null]))
        cond, uncond = out.chunk(2)
        return uncond + self.scale * (cond - uncond)
