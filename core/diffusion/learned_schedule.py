"""Noise schedules defined by log-SNR: a learned one (Kingma et al. 2021, "Variational Diffusion Models")
and one drawn by hand from a few control points.

VDM writes the forward process with the log signal-to-noise ratio λ(t) = log SNR(t) = log(α_t²/σ_t²) and
its negative γ(t) = −λ(t), a monotonically increasing function of t ∈ [0, 1] (VDM §3.2, eq. 2–3)::

    α_t² = sigmoid(−γ(t)),   σ_t² = sigmoid(γ(t)),   z_t = α_t x + σ_t ε      (variance preserving)

**Learned schedule** (VDM §5 and Appendix H): γ_η(t) = γ_0 + (γ_1 − γ_0) · (γ̃(t) − γ̃(0)) / (γ̃(1) − γ̃(0)),
with γ̃ a monotone network l1(t) + l3(sigmoid(l2(l1(t)))) whose weights are kept positive, and the endpoints
γ_0 = γ(0), γ_1 = γ(1) learnable scalars. ``MonotoneLogSNR`` is that network.

**The continuous-time VLB** (VDM eq. 17, with T → ∞)::

    −log p(x) ≤ L_prior + L_recon + L_∞,    L_∞ = ½ E_{ε, t~U(0,1)} [ γ'(t) ‖ε − ε̂(z_t; t)‖² ]

L_prior = KL(q(z_1 | x) ‖ N(0, I)); the toys here are continuous 2-D points, so the decoder is Gaussian,
p(x | z_0) = N(z_0/α_0, σ_0²/α_0² I), and L_recon = E −log p(x | z_0) = d/2 (log 2π + γ_0) + ½‖ε‖².

VDM's eq. 20 (§5.1): substituting v = γ(t), L_∞ = ½ ∫_{γ_0}^{γ_1} E‖ε − ε̂(z_v; v)‖² dv depends on the
schedule only through its endpoints, if the network is told the noise level (here: it sees γ_t, not t).
What the shape of γ in between changes is the **variance** of the one-sample Monte Carlo estimate; VDM
(§5.2, Appendix I.2) trains the endpoints on the VLB and the shape η on the estimate's variance
E[L²] (whose gradient is that of the variance, E[L] not depending on η): ``split_schedule_parameters``.

**Drawn schedule**: ``log_snr_schedule`` turns control points (t/T, log-SNR) into a discrete
``NoiseSchedule`` (monotone enforced), for the Schedules view's editor.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from torch import nn

from core.diffusion.schedules import MAX_TIMESTEPS, MIN_TIMESTEPS, NoiseSchedule, schedule_from_betas

GAMMA_MIN, GAMMA_MAX = -15.0, 15.0  # the γ range a denoiser is told (as its "timestep" input, rescaled)
TIME_SCALE = 1000.0  # γ ∈ [GAMMA_MIN, GAMMA_MAX] maps to [0, 1000], the range of the sinusoidal embedding
MIN_LOG_SNR_DROP = 1e-3  # a drawn schedule's log-SNR falls at least this much per step (β_t > 0)
MAX_BETA = 0.999  # as Improved DDPM clips β


# --- the learned γ_η(t) -----------------------------------------------------------------------------


class MonotoneLogSNR(nn.Module):
    """γ_η(t) = −log SNR(t), increasing in t ∈ [0, 1], with learnable endpoints (VDM Appendix H)."""

    def __init__(self, gamma_0: float = -10.0, gamma_1: float = 10.0, hidden: int = 64):
        super().__init__()
        if not gamma_0 < gamma_1:
            raise ValueError(f"γ must increase from t = 0 to t = 1: γ_0 = {gamma_0} is not below γ_1 = {gamma_1}.")
        self.gamma_0 = nn.Parameter(torch.tensor(float(gamma_0)))
        self.gamma_1 = nn.Parameter(torch.tensor(float(gamma_1)))
        # raw weights; softplus keeps the effective ones positive, so each layer is increasing in its input
        self.w1 = nn.Parameter(torch.tensor([[1.0]]))
        self.b1 = nn.Parameter(torch.zeros(1))
        self.w2 = nn.Parameter(torch.randn(hidden, 1) * 0.5)
        self.b2 = nn.Parameter(torch.randn(hidden) * 0.5)
        self.w3 = nn.Parameter(torch.randn(1, hidden) * 0.1 - 3.0)

    def shape_parameters(self) -> list[nn.Parameter]:
        """η: the parameters of γ̃ that set the shape between the endpoints."""
        return [self.w1, self.b1, self.w2, self.b2, self.w3]

    def endpoint_parameters(self) -> list[nn.Parameter]:
        return [self.gamma_0, self.gamma_1]

    def gamma_tilde(self, t: torch.Tensor) -> torch.Tensor:
        """The unnormalised monotone network l1(t) + l3(sigmoid(l2(l1(t))))."""
        h = F.linear(t.reshape(-1, 1), F.softplus(self.w1), self.b1)
        g = torch.sigmoid(F.linear(h, F.softplus(self.w2), self.b2))
        return (h + F.linear(g, F.softplus(self.w3))).reshape(t.shape)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """γ(t) for t of any shape (float), exactly γ_0 at t = 0 and γ_1 at t = 1."""
        ends = self.gamma_tilde(torch.tensor([0.0, 1.0], dtype=t.dtype))
        unit = (self.gamma_tilde(t) - ends[0]) / (ends[1] - ends[0])
        return self.gamma_0.to(t.dtype) + (self.gamma_1 - self.gamma_0).to(t.dtype) * unit


class LinearLogSNR(nn.Module):
    """γ(t) = γ_0 + (γ_1 − γ_0) t with fixed endpoints: VDM's fixed baseline (no parameters)."""

    def __init__(self, gamma_0: float = -10.0, gamma_1: float = 10.0):
        super().__init__()
        self.register_buffer("gamma_0", torch.tensor(float(gamma_0)))
        self.register_buffer("gamma_1", torch.tensor(float(gamma_1)))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.gamma_0.to(t.dtype) + (self.gamma_1 - self.gamma_0).to(t.dtype) * t


def split_schedule_parameters(gamma: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(endpoints, shape): VDM trains the endpoints on the VLB and the shape on the estimate's variance."""
    if isinstance(gamma, MonotoneLogSNR):
        return gamma.endpoint_parameters(), gamma.shape_parameters()
    return [], []


def alpha_sigma(gamma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """α = √sigmoid(−γ), σ = √sigmoid(γ) (VDM eq. 3)."""
    return torch.sigmoid(-gamma).sqrt(), torch.sigmoid(gamma).sqrt()


def gamma_as_timestep(gamma: torch.Tensor) -> torch.Tensor:
    """What a denoiser of the project's contract is given instead of t: γ rescaled to [0, 1000]."""
    return (gamma.clamp(GAMMA_MIN, GAMMA_MAX) - GAMMA_MIN) / (GAMMA_MAX - GAMMA_MIN) * TIME_SCALE


def stratified_times(batch: int, generator: torch.Generator | None = None, dtype=torch.float32) -> torch.Tensor:
    """VDM's low-discrepancy sampler (Appendix I.1): t_i = (u + i/k) mod 1, one uniform u per batch."""
    u = torch.rand((), generator=generator, dtype=dtype)
    return torch.remainder(u + torch.arange(batch, dtype=dtype) / batch, 1.0)


# --- the continuous-time VLB -------------------------------------------------------------------------


def continuous_vlb(
    denoiser, gamma_fn, x: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, *, create_graph: bool = True
) -> dict[str, torch.Tensor]:
    """The per-example terms of VDM's continuous-time bound (nats, summed over dimensions).

    ``denoiser(z, timestep)`` predicts ε with ``timestep = gamma_as_timestep(γ_t)``; ``gamma_fn(t)`` gives γ.
    Returns {"diffusion": L_∞ estimate from the drawn t, "prior": L_prior, "recon": L_recon, "total": sum}.
    """
    d = x[0].numel()
    t = t.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        gamma_t = gamma_fn(t)
        (dgamma_dt,) = torch.autograd.grad(gamma_t.sum(), t, create_graph=create_graph)
    shape = (-1,) + (1,) * (x.ndim - 1)
    alpha, sigma = alpha_sigma(gamma_t.reshape(shape))
    z_t = alpha * x + sigma * eps
    eps_hat = denoiser(z_t, gamma_as_timestep(gamma_t))
    mse = (eps - eps_hat).square().reshape(x.shape[0], -1).sum(1)
    diffusion = 0.5 * dgamma_dt * mse  # VDM eq. 17, one sample of t
    ends = gamma_fn(torch.tensor([0.0, 1.0], dtype=x.dtype))
    a1, s1 = alpha_sigma(ends[1])
    flat = x.reshape(x.shape[0], -1)
    prior = 0.5 * ((a1 * flat).square() + s1.square() - 2.0 * torch.log(s1) - 1.0).sum(1)  # KL(N(α₁x, σ₁²) ‖ N(0,1))
    recon = 0.5 * d * (math.log(2.0 * math.pi) + ends[0]) + 0.5 * eps.reshape(x.shape[0], -1).square().sum(1)
    return {"diffusion": diffusion, "prior": prior, "recon": recon, "total": diffusion + prior + recon}


# --- a schedule drawn from control points --------------------------------------------------------------


def monotone_knots(log_snr) -> np.ndarray:
    """Make control-point values non-increasing from left to right (each is at most the one before it)."""
    return np.minimum.accumulate(np.asarray(log_snr, dtype=np.float64))


def log_snr_schedule(knots_u, knots_log_snr, num_timesteps: int = 1000) -> NoiseSchedule:
    """A discrete schedule whose log-SNR follows the control points (u = t/T in [0, 1], log-SNR), linearly between.

    Monotone is enforced: the values are made non-increasing (``monotone_knots``) and every step then lowers
    log-SNR by at least ``MIN_LOG_SNR_DROP``, so each β_t = 1 − ᾱ_t/ᾱ_{t−1} (DDPM eq. 4) is positive;
    ᾱ_t = sigmoid(log-SNR_t) (VDM eq. 3). β is capped at 0.999 as in Improved DDPM.
    """
    u = np.asarray(knots_u, dtype=np.float64)
    values = np.asarray(knots_log_snr, dtype=np.float64)
    if u.ndim != 1 or u.shape != values.shape or len(u) < 2:
        raise ValueError("A drawn schedule needs at least two control points, each a (t/T, log-SNR) pair.")
    if not np.all(np.isfinite(u)) or not np.all(np.isfinite(values)):
        raise ValueError("Every control point needs a finite position and log-SNR.")
    if np.any(np.diff(u) <= 0) or u[0] < 0 or u[-1] > 1:
        raise ValueError("Control points must lie left to right between t/T = 0 and 1, none on top of another.")
    T = int(num_timesteps)
    if not MIN_TIMESTEPS <= T <= MAX_TIMESTEPS:
        raise ValueError(f"The number of timesteps T must be between {MIN_TIMESTEPS} and {MAX_TIMESTEPS}, not {T}.")
    grid = (np.arange(T) + 1.0) / T  # ᾱ_t after t + 1 of T steps, as make_schedule counts them
    lam = np.interp(grid, u, monotone_knots(values))
    ramp = MIN_LOG_SNR_DROP * np.arange(T)
    lam = np.minimum.accumulate(lam + ramp) - ramp  # λ_t ≤ λ_{t−1} − drop, unchanged where it already falls faster
    a_bar = 1.0 / (1.0 + np.exp(-lam))
    prev = np.concatenate([[1.0], a_bar[:-1]])
    betas = np.clip(1.0 - a_bar / prev, 1e-12, MAX_BETA)
    return schedule_from_betas(betas, kind="drawn log-SNR")


def knots_of(schedule: NoiseSchedule, positions) -> np.ndarray:
    """The log-SNR of ``schedule`` at the given t/T positions (to start the editor from a known schedule)."""
    grid = (np.arange(schedule.num_timesteps) + 1.0) / schedule.num_timesteps
    return np.interp(np.asarray(positions, dtype=np.float64), grid, schedule.log_snr.numpy())


@torch.no_grad()
def log_snr_at(gamma: nn.Module, positions) -> np.ndarray:
    """λ(t) = −γ(t) of a (learned) schedule at t = ``positions`` in [0, 1]: control points for the drawn schedule."""
    t = torch.as_tensor(np.asarray(positions, dtype=np.float64), dtype=torch.float32)
    return (-gamma(t)).double().numpy()
