"""Noise schedules: how much noise the forward process adds at each step.

A schedule is a pure function of its settings. ``make_schedule`` returns one frozen
``NoiseSchedule`` holding every per-timestep quantity the rest of the library needs, so views,
samplers and the training loop never recompute them.

Timesteps are 0-indexed as in DDPM code and ``diffusers``: ``t`` runs over ``0 … T-1`` and
``alphas_cumprod[t]`` is ᾱ_t after ``t + 1`` noising steps (``ᾱ`` of the clean image is 1).

References
----------
- linear: Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models" (β from 1e-4 to 0.02).
- cosine: Nichol & Dhariwal 2021, "Improved DDPM", eq. 17 (offset s = 0.008, β clipped at 0.999).
- sigmoid: Jabri, Fleet & Chen 2022, "Scalable Adaptive Computation for Iterative Generation".
- quadratic / scaled_linear: β linear in √β, as in Stable Diffusion's "scaled_linear".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

SCHEDULE_KINDS = ("linear", "cosine", "sigmoid", "quadratic")
MIN_TIMESTEPS = 10
MAX_TIMESTEPS = 4000


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """Every per-timestep quantity of a discrete variance-preserving diffusion (all float64, shape (T,))."""

    kind: str
    num_timesteps: int
    betas: torch.Tensor  # β_t, the variance added at step t
    alphas: torch.Tensor  # α_t = 1 − β_t
    alphas_cumprod: torch.Tensor  # ᾱ_t = ∏_{s≤t} α_s
    alphas_cumprod_prev: torch.Tensor  # ᾱ_{t−1}, with ᾱ_{−1} = 1
    sqrt_alphas_cumprod: torch.Tensor  # √ᾱ_t, the signal scale in q(x_t | x_0)
    sqrt_one_minus_alphas_cumprod: torch.Tensor  # √(1 − ᾱ_t), the noise scale in q(x_t | x_0)
    snr: torch.Tensor  # ᾱ_t / (1 − ᾱ_t)
    log_snr: torch.Tensor  # log SNR (natural log)
    sigmas: torch.Tensor  # σ_t = √((1 − ᾱ_t)/ᾱ_t): the variance-exploding view x/√ᾱ = x_0 + σ ε
    posterior_variance: torch.Tensor  # β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), DDPM eq. 7
    posterior_log_variance_clipped: torch.Tensor  # log β̃_t with β̃_0 replaced by β̃_1 (β̃_0 = 0)
    posterior_mean_coef1: torch.Tensor  # coefficient of x_0 in μ̃_t, DDPM eq. 7
    posterior_mean_coef2: torch.Tensor  # coefficient of x_t in μ̃_t, DDPM eq. 7
    beta_start: float | None = None
    beta_end: float | None = None

    @property
    def T(self) -> int:  # noqa: N802 - the papers call it T
        return self.num_timesteps

    @property
    def label(self) -> str:
        if self.kind in ("linear", "quadratic", "sigmoid") and self.beta_start is not None:
            return f"{self.kind} (T={self.T}, β {self.beta_start:g}→{self.beta_end:g})"
        return f"{self.kind} (T={self.T})"

    def at(self, t: int) -> dict[str, float]:
        """The scalar quantities at timestep ``t``, for display (SNR also in decibels)."""
        t = check_timestep(self, t)
        snr = float(self.snr[t])
        return {
            "t": t,
            "beta": float(self.betas[t]),
            "alpha": float(self.alphas[t]),
            "alpha_bar": float(self.alphas_cumprod[t]),
            "sqrt_alpha_bar": float(self.sqrt_alphas_cumprod[t]),
            "sqrt_one_minus_alpha_bar": float(self.sqrt_one_minus_alphas_cumprod[t]),
            "snr": snr,
            "snr_db": 10.0 * math.log10(snr) if snr > 0 else float("-inf"),
            "log_snr": float(self.log_snr[t]),
            "sigma": float(self.sigmas[t]),
            "posterior_variance": float(self.posterior_variance[t]),
        }

    def to_dict(self) -> dict:
        """Settings that rebuild this schedule with ``make_schedule(**d)`` (stored in checkpoints)."""
        d = {"kind": self.kind, "num_timesteps": self.num_timesteps}
        if self.beta_start is not None:
            d["beta_start"] = self.beta_start
            d["beta_end"] = self.beta_end
        return d


def check_timestep(schedule: NoiseSchedule, t: int) -> int:
    t = int(t)
    if not 0 <= t < schedule.num_timesteps:
        raise ValueError(f"Timestep {t} is outside this schedule, which runs from 0 to {schedule.num_timesteps - 1}.")
    return t


# --- β schedules: pure functions returning float64 numpy arrays of length T -------------------


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """DDPM's linear schedule (Ho et al. 2020, §4): β_t evenly spaced from beta_start to beta_end."""
    return np.linspace(beta_start, beta_end, T, dtype=np.float64)


def quadratic_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """√β evenly spaced ("scaled_linear" in Stable Diffusion): gentler at the start than linear."""
    return np.linspace(beta_start**0.5, beta_end**0.5, T, dtype=np.float64) ** 2


def sigmoid_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """β_t following a sigmoid between beta_start and beta_end (GeoDiff / Jabri et al. 2022)."""
    x = np.linspace(-6.0, 6.0, T, dtype=np.float64)
    return beta_start + (beta_end - beta_start) / (1.0 + np.exp(-x))


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Improved DDPM eq. 17: ᾱ(t) = f(t)/f(0), f(t) = cos²(((t/T) + s)/(1 + s) · π/2); β clipped at 0.999.

    Computed exactly as ``diffusers``' "squaredcos_cap_v2": β_t = 1 − ᾱ(t+1)/ᾱ(t).
    """

    def f(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    return np.array([min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)], dtype=np.float64)


def make_schedule(
    kind: str = "linear",
    num_timesteps: int = 1000,
    beta_start: float | None = None,
    beta_end: float | None = None,
) -> NoiseSchedule:
    """Build a ``NoiseSchedule`` of one of ``SCHEDULE_KINDS`` with T = ``num_timesteps`` steps.

    ``beta_start``/``beta_end`` apply to the linear, quadratic and sigmoid schedules (defaults
    1e-4 and 0.02, DDPM's values for T = 1000). The cosine schedule is defined by ᾱ instead.
    """
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"Unknown noise schedule '{kind}'. Choose one of: {', '.join(SCHEDULE_KINDS)}.")
    try:
        T = int(num_timesteps)
    except (TypeError, ValueError):
        raise ValueError(f"The number of timesteps must be a whole number, not {num_timesteps!r}.") from None
    if not MIN_TIMESTEPS <= T <= MAX_TIMESTEPS:
        raise ValueError(f"The number of timesteps T must be between {MIN_TIMESTEPS} and {MAX_TIMESTEPS}, not {T}.")
    if kind == "cosine":
        if beta_start is not None or beta_end is not None:
            raise ValueError("The cosine schedule is defined by ᾱ_t, so it takes no β range.")
        betas = cosine_beta_schedule(T)
    else:
        beta_start = 1e-4 if beta_start is None else float(beta_start)
        beta_end = 0.02 if beta_end is None else float(beta_end)
        if not (0 < beta_start < 1 and 0 < beta_end < 1):
            raise ValueError(f"β must lie strictly between 0 and 1; got β_start={beta_start}, β_end={beta_end}.")
        if beta_end < beta_start:
            raise ValueError(f"β_end ({beta_end}) must not be smaller than β_start ({beta_start}).")
        fn = {"linear": linear_beta_schedule, "quadratic": quadratic_beta_schedule, "sigmoid": sigmoid_beta_schedule}
        betas = fn[kind](T, beta_start, beta_end)
    return schedule_from_betas(betas, kind=kind, beta_start=beta_start, beta_end=beta_end)


def schedule_from_betas(betas, kind: str = "custom", beta_start=None, beta_end=None) -> NoiseSchedule:
    """Derive every quantity from β_1..β_T (DDPM eqs. 4 and 7)."""
    betas = torch.as_tensor(np.asarray(betas, dtype=np.float64))
    if betas.ndim != 1 or len(betas) < 2:
        raise ValueError("A schedule needs a one-dimensional list of at least two β values.")
    if not bool(((betas > 0) & (betas < 1)).all()):
        raise ValueError("Every β_t must lie strictly between 0 and 1.")
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    one_minus = 1.0 - alphas_cumprod
    snr = alphas_cumprod / one_minus
    posterior_variance = betas * (1.0 - alphas_cumprod_prev) / one_minus
    return NoiseSchedule(
        kind=kind,
        num_timesteps=len(betas),
        betas=betas,
        alphas=alphas,
        alphas_cumprod=alphas_cumprod,
        alphas_cumprod_prev=alphas_cumprod_prev,
        sqrt_alphas_cumprod=alphas_cumprod.sqrt(),
        sqrt_one_minus_alphas_cumprod=one_minus.sqrt(),
        snr=snr,
        log_snr=snr.log(),
        sigmas=(one_minus / alphas_cumprod).sqrt(),
        posterior_variance=posterior_variance,
        posterior_log_variance_clipped=torch.log(torch.cat([posterior_variance[1:2], posterior_variance[1:]])),
        posterior_mean_coef1=betas * alphas_cumprod_prev.sqrt() / one_minus,
        posterior_mean_coef2=(1.0 - alphas_cumprod_prev) * alphas.sqrt() / one_minus,
        beta_start=beta_start,
        beta_end=beta_end,
    )


def timestep_of_equal_snr(t: int, source: NoiseSchedule, target: NoiseSchedule) -> int:
    """The timestep of ``target`` whose log-SNR is closest to that of ``source`` at ``t``.

    Log-SNR decreases strictly with t, so a binary search on the reversed array finds it; between
    two neighbours the nearer one (in log-SNR) wins. Used by the "align schedules by SNR" view.
    """
    t = check_timestep(source, t)
    want = float(source.log_snr[t])
    descending = target.log_snr.numpy()
    i = int(np.searchsorted(-descending, -want))  # first index with log_snr <= want
    candidates = [c for c in (i - 1, i) if 0 <= c < target.num_timesteps]
    return min(candidates, key=lambda c: abs(descending[c] - want))


def extract(values: torch.Tensor, t: torch.Tensor, ndim: int, dtype=torch.float32) -> torch.Tensor:
    """Gather ``values[t]`` for a batch of timesteps and shape it to broadcast over (B, …) tensors."""
    t = torch.as_tensor(t, device=values.device).long()
    out = values[t].to(dtype)
    return out.reshape(out.shape + (1,) * (ndim - out.ndim))
