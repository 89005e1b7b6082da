"""Latent diffusion's sampling loop: run any sampler on latents, decode what each step predicts.

Rombach et al. 2022, §3.2: the denoiser ε_θ(z_t, t) is trained on z = s · ℰ(x) (s the scale factor)
and a sample is x̃ = 𝒟(z_0 / s). Nothing else changes: the schedule, the samplers and guidance are
the pixel-space ones. This module keeps the maths free of networks: the decoder comes in as a
function ``decode(z_scaled) → images`` (``Autoencoder.decode_scaled``), so the reverse timeline can
show, at every step, the latent z_t and the image its prediction ẑ_0 decodes to, 𝒟(ẑ_0 / s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.diffusion.samplers import SAMPLERS, SamplerStep


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
