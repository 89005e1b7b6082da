"""Text-to-image sampling in latent space: DDIM with classifier-free guidance on the prompt, every step decoded.

Rombach et al. 2022 (§3.3, §4.3): the denoiser ε_θ(z_t, t, τ(y)) runs on the scaled latents of an
autoencoder, the prompt y entering through cross-attention; sampling uses classifier-free guidance
(Ho & Salimans 2022, eq. 6) with the empty prompt as the unconditional model,

    ε̃ = ε(z_t, t, τ("")) + w · (ε(z_t, t, τ(y)) − ε(z_t, t, τ(""))),

and the image is 𝒟(z_0 / s). Nothing here knows about networks or files: the denoiser comes under
the project's contract (``model(z_t, t, class_labels)``, label = index of the prompt, ``num_classes``
= the empty prompt), the decoder as ``decode(z_scaled) → images``, and the attention maps as a
function returning the last call's maps (B', L, h, w) or None. With guidance the network sees the
batch [prompts, empty prompts], so the maps of the first B rows (the prompts') are the ones kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from core.diffusion.guidance import ClassifierFreeGuidance, check_guidance_scale
from core.diffusion.samplers import ddim_step, denoise, make_timesteps


@dataclass
class TextToImageStep:
    """One DDIM step (CPU float32 copies): the latent, what it predicts, its decoding, the attention."""

    index: int
    num_steps: int
    t: int
    z_t: torch.Tensor  # (B, c, h, w) the scaled latent before the step
    pred_z0: torch.Tensor  # (B, c, h, w) ẑ_0 predicted with guidance
    decoded_x0: torch.Tensor  # (B, C, H, W) 𝒟(ẑ_0 / s)
    attention: torch.Tensor | None  # (B, L, h, w): per position, a distribution over the prompt's tokens


@dataclass
class TextToImageResult:
    """The end of a run: the final latents and their decoding."""

    z0: torch.Tensor  # (B, c, h, w)
    images: torch.Tensor  # (B, C, H, W) = decode(z0), in about [−1, 1]


@torch.no_grad()
def trace_text_to_image(
    model,
    decode: Callable[[torch.Tensor], torch.Tensor],
    z_T: torch.Tensor,
    schedule,
    steps: int,
    class_labels: torch.Tensor,
    *,
    guidance_scale: float = 3.0,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    attention: Callable[[], torch.Tensor | None] | None = None,
    decode_every: int = 1,
    spacing: str = "trailing",
) -> Iterator[TextToImageStep | TextToImageResult]:
    """Guided DDIM (Song et al. 2021, eq. 12; ``eta`` = 0 is deterministic) on latents as a generator:
    a ``TextToImageStep`` per step, then a ``TextToImageResult``.

    ``decode_every`` > 1 decodes (and yields) only every that many steps and the last one, for speed.
    """
    scale = check_guidance_scale(guidance_scale)
    if int(decode_every) < 1:
        raise ValueError("decode_every must be at least 1.")
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"η must lie between 0 (deterministic DDIM) and 1 (DDPM-like), not {eta}.")
    guided = ClassifierFreeGuidance(model, scale)
    cond = {"class_labels": class_labels}
    b = z_T.shape[0]
    ts = make_timesteps(schedule, steps, spacing)
    z, n = z_T, len(ts)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < n else -1
        pred_z0, pred_eps = denoise(guided, z, t, schedule, cond, None)
        if i % decode_every == 0 or i == n - 1:
            maps = attention() if attention is not None else None
            yield TextToImageStep(
                i,
                n,
                int(t),
                z.float().cpu().clone(),
                pred_z0.float().cpu().clone(),
                decode(pred_z0).float().cpu(),
                None if maps is None else maps[:b].float().cpu().clone(),
            )
        noise = None
        if eta > 0 and t_prev >= 0:
            noise = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
        z = ddim_step(schedule, z, pred_z0, pred_eps, t, t_prev, float(eta), noise)
    yield TextToImageResult(z.float().cpu().clone(), decode(z).float().cpu())


__all__ = ["TextToImageResult", "TextToImageStep", "trace_text_to_image"]
