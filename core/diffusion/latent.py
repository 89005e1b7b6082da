"""Latent diffusion's sampling loop: run any sampler on latents, decode what each step predicts.

Rombach et al. 2022, §3.2: the denoiser ε_θ(z_t, t) is trained on z = s · ℰ(x) (s the scale factor)
and a sample is x̃ = 𝒟(z_0 / s). Nothing else changes: the schedule, the samplers and guidance are
the pixel-space ones. This module keeps the maths free of networks: the decoder comes in as a
function ``decode(z_scaled) → images`` (``Autoencoder.decode_scaled``), so the reverse timeline can
show, at every step, the latent z_t and the image its prediction ẑ_0 decodes to, 𝒟(ẑ_0 / s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from core.diffusion.samplers import SAMPLERS, SamplerStep, ddim_step, denoise, make_timesteps


@dataclass
class LatentStep:
    """One sampling step in latent space, with the decoding of its prediction (CPU float32 copies)."""

    index: int
    num_steps: int
    t: int
    z_t: torch.Tensor  # (B, c, h, w) the scaled latent before the step
    pred_z0: torch.Tensor  # (B, c, h, w) ẑ_0 predicted at (z_t, t)
    decoded_x0: torch.Tensor  # (B, C, H, W) 𝒟(ẑ_0 / s): the image the step is heading for


@torch.no_grad()
def sample_latent(
    model,
    decode: Callable[[torch.Tensor], torch.Tensor],
    z_T: torch.Tensor,
    schedule,
    steps: int = 50,
    *,
    sampler: str = "ddim",
    cond: dict | None = None,
    generator: torch.Generator | None = None,
    on_step: Callable[[LatentStep], bool | None] | None = None,
    decode_every: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample scaled latents from ``z_T`` with ``sampler`` and decode them: returns (z_0, x̃ = decode(z_0)).

    ``on_step`` (optional) receives a ``LatentStep`` every ``decode_every`` steps and at the last
    one; returning True stops the run (``SamplingCancelled``, as for every sampler).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"Unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}.")
    if int(decode_every) < 1:
        raise ValueError("decode_every must be at least 1.")

    def callback(step: SamplerStep):
        if on_step is None or (step.index % decode_every and step.index != step.num_steps - 1):
            return None
        decoded = decode(step.pred_x0).float().cpu()
        return on_step(
            LatentStep(
                step.index,
                step.num_steps,
                int(step.t),
                step.x_t.float().cpu().clone(),
                step.pred_x0.float().cpu().clone(),
                decoded,
            )
        )

    z0 = SAMPLERS[sampler](model, z_T, schedule, steps, generator=generator, callback=callback, cond=cond)
    return z0, decode(z0)


@dataclass
class LatentSampled:
    """The end of a traced run: the final latents and their decoding."""

    z0: torch.Tensor  # (B, c, h, w)
    images: torch.Tensor  # (B, C, H, W) = decode(z0)


@torch.no_grad()
def trace_latent_ddim(
    model,
    decode: Callable[[torch.Tensor], torch.Tensor],
    z_T: torch.Tensor,
    schedule,
    steps: int = 50,
    *,
    cond: dict | None = None,
    spacing: str = "trailing",
) -> Iterator[LatentStep | LatentSampled]:
    """Deterministic DDIM (Song et al. 2021, eq. 12 with η = 0) on latents as a generator: a
    ``LatentStep`` per step (z_t, ẑ_0 and 𝒟(ẑ_0 / s)), then ``LatentSampled``. The same numbers as
    ``sample_latent(..., sampler="ddim")``; a generator so a GUI worker can stop it between steps.
    Latents are never clipped: unlike pixels they have no [−1, 1] range."""
    ts = make_timesteps(schedule, steps, spacing)
    z, n = z_T, len(ts)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < n else -1
        pred_z0, pred_eps = denoise(model, z, t, schedule, cond, None)
        yield LatentStep(
            i, n, int(t), z.float().cpu().clone(), pred_z0.float().cpu().clone(), decode(pred_z0).float().cpu()
        )
        z = ddim_step(schedule, z, pred_z0, pred_eps, t, t_prev, 0.0, None)
    yield LatentSampled(z.float().cpu().clone(), decode(z).float().cpu())
