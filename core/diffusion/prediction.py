"""What a denoiser predicts, and the one place that converts between ε, x_0, v and the score.

With x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4), writing a = √ᾱ_t and s = √(1−ᾱ_t) (a² + s² = 1):

- ε-prediction (Ho et al. 2020):   x_0 = (x_t − s ε) / a
- x_0-prediction:                  ε = (x_t − a x_0) / s
- v-prediction (Salimans & Ho 2022, "Progressive Distillation", §4): v = a ε − s x_0,
  so x_0 = a x_t − s v and ε = s x_t + a v.
- score (Song et al. 2021):       ∇_{x_t} log p(x_t) = −ε / s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.diffusion.schedules import NoiseSchedule, extract

PREDICTION_TYPES = ("eps", "x0", "v")


def check_prediction_type(kind: str) -> str:
    if kind not in PREDICTION_TYPES:
        raise ValueError(
            f"Unknown prediction type '{kind}'. A denoiser predicts one of: {', '.join(PREDICTION_TYPES)}."
        )
    return kind


@dataclass
class Denoised:
    """A network output read in every parameterisation at once."""

    pred_x0: torch.Tensor
    pred_eps: torch.Tensor


def _scales(schedule: NoiseSchedule, t, x: torch.Tensor):
    a = extract(schedule.sqrt_alphas_cumprod, t, x.ndim, x.dtype).to(x.device)
    s = extract(schedule.sqrt_one_minus_alphas_cumprod, t, x.ndim, x.dtype).to(x.device)
    return a, s


def split_output(output: torch.Tensor, x_t: torch.Tensor, t, schedule: NoiseSchedule, prediction_type: str) -> Denoised:
    """Read a network output of ``prediction_type`` as both the predicted x_0 and the predicted ε."""
    a, s = _scales(schedule, t, x_t)
    return split_output_scaled(output, x_t, a, s, prediction_type)


def split_output_scaled(output: torch.Tensor, x_t: torch.Tensor, a, s, prediction_type: str) -> Denoised:
    """``split_output`` with the scales a = √ᾱ and s = √(1−ᾱ) given directly (any noise level, also between
    the schedule's integer timesteps, as the probability-flow ODE needs)."""
    if prediction_type == "eps":
        return Denoised(pred_x0=(x_t - s * output) / a, pred_eps=output)
    if prediction_type == "x0":
        return Denoised(pred_x0=output, pred_eps=(x_t - a * output) / s)
    if prediction_type == "v":
        return Denoised(pred_x0=a * x_t - s * output, pred_eps=s * x_t + a * output)
    raise ValueError(check_prediction_type(prediction_type))


def eps_from_x0(x0: torch.Tensor, x_t: torch.Tensor, t, schedule: NoiseSchedule) -> torch.Tensor:
    """ε implied by a clean estimate x_0 at x_t (DDIM eq. 12 solved for ε)."""
    a, s = _scales(schedule, t, x_t)
    return (x_t - a * x0) / s


def training_target(
    prediction_type: str, x0: torch.Tensor, eps: torch.Tensor, t, schedule: NoiseSchedule
) -> torch.Tensor:
    """What the network should output for a training example (x_0, ε, t)."""
    if prediction_type == "eps":
        return eps
    if prediction_type == "x0":
        return x0
    if prediction_type == "v":
        a, s = _scales(schedule, t, x0)
        return a * eps - s * x0
    raise ValueError(check_prediction_type(prediction_type))


def score_from_eps(eps: torch.Tensor, t, schedule: NoiseSchedule) -> torch.Tensor:
    """∇_{x_t} log q(x_t) = −ε / √(1−ᾱ_t) (Song et al. 2021, "Score-Based Generative Modeling through SDEs")."""
    _, s = _scales(schedule, t, eps)
    return -eps / s


def eps_from_score(score: torch.Tensor, t, schedule: NoiseSchedule) -> torch.Tensor:
    _, s = _scales(schedule, t, score)
    return -score * s


def clip_x0(pred_x0: torch.Tensor, mode: str | float | None) -> torch.Tensor:
    """Keep x̂_0 in the data range.

    ``None``/"none": unchanged; "clip": clamp to [−1, 1]; a float p in (0, 1): dynamic thresholding
    (Saharia et al. 2022, Imagen §2.3): per sample, s = max(1, p-th quantile of |x̂_0|), x̂_0 ← clamp(x̂_0, −s, s)/s.
    """
    if mode is None or mode == "none" or mode is False:
        return pred_x0
    if mode == "clip" or mode is True:
        return pred_x0.clamp(-1.0, 1.0)
    p = float(mode)
    if not 0.0 < p < 1.0:
        raise ValueError("Dynamic thresholding needs a percentile between 0 and 1, for example 0.995.")
    flat = pred_x0.reshape(pred_x0.shape[0], -1).abs()
    scale = torch.quantile(flat.float(), p, dim=1).clamp(min=1.0).to(pred_x0.dtype)
    scale = scale.reshape((-1,) + (1,) * (pred_x0.ndim - 1))
    return pred_x0.clamp(-scale, scale) / scale
