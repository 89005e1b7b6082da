"""Consistency distillation (Song, Dhariwal, Chen & Sutskever 2023, "Consistency Models").

A consistency function maps every point of one probability-flow ODE trajectory to the trajectory's start,
the clean sample: f(x_t, t) = x_0 for all t. With it, one network call turns noise into a sample.

**Parameterisation** (their eq. 5 and Appendix C, from EDM): in the variance-exploding view y = x_t/√ᾱ_t,
with noise level σ_t = √((1−ᾱ_t)/ᾱ_t),

    f_θ(x_t, t) = c_skip(σ_t) y + c_out(σ_t) x̂_0,θ(x_t, t)
    c_skip(σ) = σ_data² / ((σ − σ_min)² + σ_data²),    c_out(σ) = 1 − c_skip(σ)

so f is exactly the identity at the smallest noise σ_min of the grid (the boundary condition f(x, ε) = x).
The paper's c_out = σ_data (σ − σ_min)/√(σ² + σ_data²) scales a raw network output F_θ (EDM's); here the
inner function is the network's own clean estimate x̂_0,θ (any prediction type), and c_out = 1 − c_skip makes
f equal to the teacher's x̂_0 wherever c_skip ≈ 0 at the start, so the student starts from the teacher. (With
EDM's c_out, f = 0.96 y + 0.20 x̂_0 at σ = 0.2: 16% too large at the start, a bias that multistep sampling
compounded: MMD² 0.05 at one step grew to 0.17 at eight.)

**Consistency distillation** (their Alg. 2): on a grid t_1 < … < t_N, draw n, noise a data point to
t_{n+1}, take one step of the teacher's ODE solver to t_n, and pull the student's output at t_{n+1}
towards the *target network*'s output (an EMA of the student, θ⁻ ← μθ⁻ + (1−μ)θ) at t_n::

    L = E ‖ f_θ(x_{t_{n+1}}, t_{n+1}) − f_θ⁻(x̂^φ_{t_n}, t_n) ‖²

The teacher's step here is DDIM (η = 0), which is Euler on the probability-flow ODE in the straight-path
coordinates (``core.diffusion.flow_matching``); the paper uses Heun. Sampling (their Alg. 1): f from pure
noise, then, for a few more steps, re-noise the estimate to a smaller t and apply f again.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.diffusion.prediction import split_output
from core.diffusion.samplers import Callback, SamplerStep, SamplingCancelled, karras_timesteps, make_timesteps
from core.diffusion.schedules import NoiseSchedule, extract

SIGMA_DATA = 1.0  # the toys are standardised to unit variance (EDM uses 0.5 for images in [−1, 1])


def consistency_grid(schedule: NoiseSchedule, n: int) -> list[int]:
    """The N timesteps t_1 < … < t_N of the discretised ODE, σ spaced as Karras et al. 2022 eq. 5 (as the paper)."""
    n = int(n)
    if not 2 <= n <= schedule.num_timesteps:
        raise ValueError(f"Consistency distillation needs between 2 and T = {schedule.num_timesteps} grid points.")
    return sorted(int(t) for t in karras_timesteps(schedule, n))


def consistency_scalings(sigma: torch.Tensor, sigma_min: float, sigma_data: float = SIGMA_DATA):
    """(c_skip, c_out): c_skip of Song et al. 2023, Appendix C, and c_out = 1 − c_skip (see the module docstring);
    c_skip(σ_min) = 1 and c_out(σ_min) = 0 exactly."""
    c_skip = sigma_data**2 / ((sigma - sigma_min) ** 2 + sigma_data**2)
    return c_skip, 1.0 - c_skip


def consistency_function(model, schedule: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, sigma_min: float):
    """f_θ(x_t, t) = c_skip y + c_out x̂_0,θ with y = x_t/√ᾱ_t (eq. 5); ``t`` is a batch of timesteps."""
    t = torch.as_tensor(t).long()
    output = model(x_t, t)
    pred_x0 = split_output(output, x_t, t, schedule, model.prediction_type).pred_x0
    a = extract(schedule.sqrt_alphas_cumprod, t, x_t.ndim, x_t.dtype)
    sigma = extract(schedule.sigmas, t, x_t.ndim, x_t.dtype)
    c_skip, c_out = consistency_scalings(sigma, sigma_min)
    return c_skip * (x_t / a) + c_out * pred_x0


@torch.no_grad()
def teacher_ode_step(teacher, schedule: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, t_prev: torch.Tensor):
    """One DDIM step (η = 0, DDIM eq. 12) of the teacher from t to t_prev, per example."""
    output = teacher(x_t, t)
    d = split_output(output, x_t, t, schedule, teacher.prediction_type)
    a_prev = extract(schedule.sqrt_alphas_cumprod, t_prev, x_t.ndim, x_t.dtype)
    s_prev = extract(schedule.sqrt_one_minus_alphas_cumprod, t_prev, x_t.ndim, x_t.dtype)
    return a_prev * d.pred_x0 + s_prev * d.pred_eps


def consistency_distillation_loss(
    student, target, teacher, schedule: NoiseSchedule, grid: list[int], x0: torch.Tensor, eps: torch.Tensor,
    index: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """Alg. 2's loss for a minibatch; ``index`` (B,) holds n ∈ [0, N−2], pairing grid[n+1] with grid[n]."""
    grid_t = torch.as_tensor(grid, dtype=torch.long)
    t_next, t_cur = grid_t[index + 1], grid_t[index]
    sigma_min = float(schedule.sigmas[grid[0]])
    a = extract(schedule.sqrt_alphas_cumprod, t_next, x0.ndim, x0.dtype)
    s = extract(schedule.sqrt_one_minus_alphas_cumprod, t_next, x0.ndim, x0.dtype)
    x_next = a * x0 + s * eps  # q_sample at t_{n+1} (DDPM eq. 4)
    x_cur = teacher_ode_step(teacher, schedule, x_next, t_next, t_cur)
    with torch.no_grad():
        goal = consistency_function(target, schedule, x_cur, t_cur, sigma_min)
    pred = consistency_function(student, schedule, x_next, t_next, sigma_min)
    return (pred - goal).square().sum(dim=tuple(range(1, x0.ndim))).mean()


@torch.no_grad()
def update_target(target: torch.nn.Module, student: torch.nn.Module, mu: float) -> None:
    """θ⁻ ← μ θ⁻ + (1 − μ) θ (Alg. 2, stop-gradient EMA)."""
    for p_t, p_s in zip(target.parameters(), student.parameters(), strict=True):
        p_t.mul_(mu).add_(p_s, alpha=1.0 - mu)


def sampling_timesteps(schedule: NoiseSchedule, steps: int) -> list[int]:
    """Where multistep consistency sampling evaluates f: T−1 first, then the trailing grid of ``steps``."""
    return make_timesteps(schedule, steps, "trailing")


@torch.no_grad()
def sample_consistency(
    model, x_T: torch.Tensor, schedule: NoiseSchedule, steps: int = 1, *, sigma_min: float, generator=None,
    callback: Callback | None = None,
) -> torch.Tensor:  # fmt: skip
    """Multistep consistency sampling (Alg. 1): x̂ = f(x_T, T−1); then re-noise x̂ to each smaller t and apply f.

    ``sigma_min`` must be the one the model was distilled with (``grid_sigma_min`` of its grid).
    """
    ts = sampling_timesteps(schedule, steps)
    x = x_T
    x0 = None
    for i, t in enumerate(ts):
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long)
        if x0 is not None:  # x_t = √ᾱ_t x̂_0 + √(1−ᾱ_t) z (the VP form of Alg. 1's x̂ + √(τ² − ε²) z)
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            a = math.sqrt(float(schedule.alphas_cumprod[t]))
            x = a * x0 + math.sqrt(1.0 - a * a) * z
        x0 = consistency_function(model, schedule, x, t_batch, sigma_min)
        if callback is not None:
            a_bar = float(schedule.alphas_cumprod[t])
            eps = (x - math.sqrt(a_bar) * x0) / math.sqrt(1.0 - a_bar)
            step = SamplerStep(i, len(ts), t, ts[i + 1] if i + 1 < len(ts) else -1, x, x0, eps, x0)
            if callback(step):
                raise SamplingCancelled(f"Sampling stopped at step {i + 1} of {len(ts)}.")
    return x0


def grid_sigma_min(schedule: NoiseSchedule, grid) -> float:
    return float(schedule.sigmas[int(np.min(grid))])
