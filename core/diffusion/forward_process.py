"""The forward (noising) process q of DDPM (Ho et al. 2020, §2).

- ``q_sample``: jump straight to x_t with q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I) (eq. 4), with the
  caller's ε so that the same noise can be reused across timesteps and across schedules.
- ``simulate_chain``: run the Markov chain x_{t} = √α_t x_{t−1} + √β_t z_t step by step (eq. 2).
  Its marginal at t equals q(x_t | x_0), which the tests check.
- ``q_posterior``: the Gaussian q(x_{t−1} | x_t, x_0) with mean μ̃_t and variance β̃_t (eqs. 6–7).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from core.diffusion.schedules import NoiseSchedule, check_timestep, extract


def _as_timesteps(t, batch: int, device) -> torch.Tensor:
    t = torch.as_tensor(t, device=device).long()
    return t.expand(batch) if t.ndim == 0 else t


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4). ``t`` is an int or a (B,) tensor of timesteps."""
    if noise.shape != x0.shape:
        raise ValueError(f"The noise must have the same shape as the image: {tuple(noise.shape)} vs {tuple(x0.shape)}.")
    t = _as_timesteps(t, x0.shape[0], x0.device)
    if bool((t < 0).any()) or bool((t >= schedule.num_timesteps).any()):
        raise ValueError(f"Timesteps must lie in 0…{schedule.num_timesteps - 1}.")
    a = extract(schedule.sqrt_alphas_cumprod, t, x0.ndim, x0.dtype).to(x0.device)
    s = extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0.ndim, x0.dtype).to(x0.device)
    return a * x0 + s * noise


def signal_part(schedule: NoiseSchedule, x0: torch.Tensor, t: int) -> torch.Tensor:
    """√ᾱ_t x_0: what is left of the image inside x_t."""
    return float(schedule.sqrt_alphas_cumprod[check_timestep(schedule, t)]) * x0


def q_posterior(schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean μ̃_t(x_t, x_0) and variance β̃_t of q(x_{t−1} | x_t, x_0) (DDPM eq. 7)."""
    t = _as_timesteps(t, x_t.shape[0], x_t.device)
    c1 = extract(schedule.posterior_mean_coef1, t, x_t.ndim, x_t.dtype).to(x_t.device)
    c2 = extract(schedule.posterior_mean_coef2, t, x_t.ndim, x_t.dtype).to(x_t.device)
    var = extract(schedule.posterior_variance, t, x_t.ndim, x_t.dtype).to(x_t.device)
    return c1 * x0 + c2 * x_t, var.expand_as(x_t)


def simulate_chain(
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    generator: torch.Generator | None = None,
    timesteps: Iterable[int] | None = None,
) -> dict[int, torch.Tensor]:
    """Simulate x_0 → x_1 → … step by step (DDPM eq. 2) with fresh Gaussian noise at each step.

    Returns ``{t: x_t}`` for the requested ``timesteps`` (all T of them when None). Memory holds only
    the requested states; the simulation runs up to the largest one requested.
    """
    wanted = (
        set(range(schedule.num_timesteps)) if timesteps is None else {check_timestep(schedule, t) for t in timesteps}
    )
    out: dict[int, torch.Tensor] = {}
    if not wanted:
        return out
    sqrt_alphas = schedule.alphas.sqrt().tolist()
    sqrt_betas = schedule.betas.sqrt().tolist()
    x = x0
    for t in range(max(wanted) + 1):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = sqrt_alphas[t] * x + sqrt_betas[t] * z
        if t in wanted:
            out[t] = x
    return out
