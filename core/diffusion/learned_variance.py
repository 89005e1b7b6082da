"""Learned reverse-process variances (Nichol & Dhariwal 2021, "Improved Denoising Diffusion Probabilistic Models").

DDPM fixes the variance of each reverse step p_θ(x_{t−1} | x_t) = N(μ_θ(x_t, t), Σ) to β_t or to the
posterior variance β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) (DDPM eq. 7). Improved DDPM lets the network
choose between the two, per dimension, with a second output v (their eq. 15)::

    Σ_θ(x_t, t) = exp(v log β_t + (1 − v) log β̃_t)

The raw second output lies near [−1, 1]; as in their code v = (raw + 1)/2, so a zero-initialised head
starts half-way. v is not constrained to [0, 1]; in practice it stays there.

The variance does not appear in L_simple = E‖ε − ε̂‖² (DDPM eq. 14), so it is trained with the
variational bound L_vlb = L_0 + L_1 + … + L_T (DDPM eq. 5; Improved DDPM eqs. 4–6)::

    L_t     = KL( q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t) )        two Gaussians, in closed form
    L_0     = −log p_θ(x_0 | x_1)                                     the decoder
    L_T     = KL( q(x_T | x_0) ‖ N(0, I) )                            no parameters

and the hybrid objective L_hybrid = L_simple + λ L_vlb with λ = 0.001 (their eq. 16), where the mean in
L_vlb is held fixed (stop-gradient on ε̂), so L_vlb trains only Σ_θ and L_simple stays the main source of
the mean. L_vlb is estimated from one uniformly drawn t as T · L_t in bits per dimension, which is what
their code does (``vb * num_timesteps / 1000`` with λ = 0.001 folded in for T = 1000).

Timesteps are 0-indexed (``core.diffusion.schedules``): the decoder term is the code's t = 0. The toys
here are continuous 2-D points, so L_0 is the continuous Gaussian negative log-density of x_0 (their
discretised decoder is for 8-bit images); VLB values are nats per point or bits per dimension.

**Fewer steps with the learned Σ** (their §4): for a subsequence S of timesteps, the respaced process has
β'_i = 1 − ᾱ_{S_i} / ᾱ_{S_{i−1}} and β̃'_i from those, and Σ_θ interpolates between *the respaced* β'_i and
β̃'_i with the same v; ``respace_schedule`` builds that process and ``sample_ddpm_learned`` samples it.

Only the maths is here; training on 2-D toys is ``core.training.learned_variance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.diffusion.samplers import Callback, SamplerStep, SamplingCancelled, make_timesteps
from core.diffusion.schedules import NoiseSchedule, extract, schedule_from_betas

HYBRID_LAMBDA = 0.001  # λ of L_hybrid (Improved DDPM eq. 16)
VARIANCE_KINDS = ("learned", "posterior", "beta")  # Σ_θ, β̃_t ("fixed small"), β_t ("fixed large")
LOG2 = math.log(2.0)


class LearnedVarianceDenoiser(torch.nn.Module):
    """A network whose output has 2·d channels, read as ε̂ (first d) and the raw variance output (last d).

    Called as ``model(x_t, t, class_labels)`` it returns ε̂ only (``prediction_type = "eps"``), so every
    sampler of the project can use its mean; ``eps_and_v`` gives both halves.
    """

    def __init__(self, net: torch.nn.Module, data_dim: int):
        super().__init__()
        self.net = net
        self.data_dim = int(data_dim)
        self.prediction_type = "eps"
        self.num_classes = getattr(net, "num_classes", 0)

    def eps_and_v(self, x: torch.Tensor, t, class_labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(x, t, class_labels)
        if out.shape[1] != 2 * self.data_dim:
            raise ValueError(f"A learned-variance network outputs 2·{self.data_dim} channels, not {out.shape[1]}.")
        return out[:, : self.data_dim], out[:, self.data_dim :]

    def forward(self, x: torch.Tensor, t, class_labels=None) -> torch.Tensor:
        return self.eps_and_v(x, t, class_labels)[0]


# --- Σ_θ -------------------------------------------------------------------------------------------


def interpolation_weight(raw_v: torch.Tensor) -> torch.Tensor:
    """v = (raw + 1)/2: the network's raw output −1 means β̃_t, +1 means β_t (Improved DDPM code)."""
    return (raw_v + 1.0) / 2.0


def learned_log_variance(log_beta, log_beta_tilde, v: torch.Tensor) -> torch.Tensor:
    """log Σ_θ = v log β_t + (1 − v) log β̃_t (Improved DDPM eq. 15); v = 1 gives β_t, v = 0 gives β̃_t."""
    return v * log_beta + (1.0 - v) * log_beta_tilde


def log_variance_bounds(schedule: NoiseSchedule, t, ndim: int, dtype=torch.float32):
    """(log β_t, log β̃_t) gathered for a batch of timesteps; β̃_0 = 0 is replaced by β̃_1, as in DDPM's code."""
    log_beta = extract(schedule.betas.log(), t, ndim, dtype)
    log_tilde = extract(schedule.posterior_log_variance_clipped, t, ndim, dtype)
    return log_beta, log_tilde


def model_log_variance(schedule: NoiseSchedule, t, raw_v: torch.Tensor, kind: str = "learned") -> torch.Tensor:
    """log Σ of the reverse step at ``t``: learned from ``raw_v``, or fixed at β̃_t / β_t (shaped like raw_v)."""
    log_beta, log_tilde = log_variance_bounds(schedule, t, raw_v.ndim, raw_v.dtype)
    if kind == "learned":
        return learned_log_variance(log_beta, log_tilde, interpolation_weight(raw_v))
    if kind == "posterior":
        return log_tilde.expand_as(raw_v)
    if kind == "beta":
        return log_beta.expand_as(raw_v)
    raise ValueError(f"Unknown variance '{kind}'. Choose one of: {', '.join(VARIANCE_KINDS)}.")


# --- the variational bound ----------------------------------------------------------------------------


def normal_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)) per dimension, in nats (the closed form for Gaussians)."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def gaussian_nll(x, mean, logvar) -> torch.Tensor:
    """−log N(x; mean, e^logvar) per dimension, in nats (the continuous decoder L_0 for 2-D points)."""
    return 0.5 * (math.log(2.0 * math.pi) + logvar + (x - mean) ** 2 * torch.exp(-logvar))


def posterior_mean(schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t) -> torch.Tensor:
    """μ̃_t(x_t, x_0) = coef1 x_0 + coef2 x_t (DDPM eq. 7)."""
    c1 = extract(schedule.posterior_mean_coef1, t, x_t.ndim, x_t.dtype)
    c2 = extract(schedule.posterior_mean_coef2, t, x_t.ndim, x_t.dtype)
    return c1 * x0 + c2 * x_t


def pred_x0_from_eps(schedule: NoiseSchedule, x_t: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
    a = extract(schedule.sqrt_alphas_cumprod, t, x_t.ndim, x_t.dtype)
    s = extract(schedule.sqrt_one_minus_alphas_cumprod, t, x_t.ndim, x_t.dtype)
    return (x_t - s * eps) / a


def vlb_terms(
    schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, eps_pred: torch.Tensor,
    log_variance: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """L_t per example (nats, summed over dimensions): the KL to the posterior for t ≥ 1, the decoder NLL at t = 0.

    ``eps_pred`` gives the model's mean μ_θ = μ̃_t(x_t, x̂_0(ε̂)) (DDPM eq. 11); ``log_variance`` its log Σ.
    """
    t = torch.as_tensor(t).long()
    mean_model = posterior_mean(schedule, pred_x0_from_eps(schedule, x_t, t, eps_pred), x_t, t)
    true_mean = posterior_mean(schedule, x0, x_t, t)
    true_logvar = extract(schedule.posterior_log_variance_clipped, t, x_t.ndim, x_t.dtype)
    kl = normal_kl(true_mean, true_logvar, mean_model, log_variance)
    decoder = gaussian_nll(x0, mean_model, log_variance)
    dims = tuple(range(1, x0.ndim))
    is_first = (t == 0).reshape((-1,) + (1,) * (x0.ndim - 1))
    return torch.where(is_first, decoder, kl).sum(dim=dims)


def prior_kl(schedule: NoiseSchedule, x0: torch.Tensor) -> torch.Tensor:
    """L_T = KL(q(x_T | x_0) ‖ N(0, I)) per example, in nats: the part of the bound no network can change."""
    last = schedule.num_timesteps - 1
    a_bar = float(schedule.alphas_cumprod[last])
    mean = math.sqrt(a_bar) * x0
    logvar = torch.full_like(x0, math.log(1.0 - a_bar))
    return normal_kl(mean, logvar, torch.zeros_like(x0), torch.zeros_like(x0)).sum(dim=tuple(range(1, x0.ndim)))


def hybrid_loss(
    model: LearnedVarianceDenoiser, schedule: NoiseSchedule, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
    lam: float = HYBRID_LAMBDA, class_labels=None,
) -> tuple[torch.Tensor, float, float]:  # fmt: skip
    """L_hybrid = L_simple + λ L_vlb (Improved DDPM eq. 16) for one minibatch; returns (loss, L_simple, L_t).

    L_vlb ≈ T · L_t in bits per dimension from the drawn t, with the mean held fixed (ε̂ detached, §3.1).
    """
    a = extract(schedule.sqrt_alphas_cumprod, t, x0.ndim, x0.dtype)
    s = extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0.ndim, x0.dtype)
    x_t = a * x0 + s * eps  # q_sample (DDPM eq. 4)
    eps_pred, raw_v = model.eps_and_v(x_t, t, class_labels)
    l_simple = (eps_pred - eps).square().mean()
    log_var = model_log_variance(schedule, t, raw_v, "learned")
    l_t = vlb_terms(schedule, x0, x_t, t, eps_pred.detach(), log_var) / (x0[0].numel() * LOG2)
    l_vlb = schedule.num_timesteps * l_t.mean()
    return l_simple + lam * l_vlb, float(l_simple.detach()), float(l_t.detach().mean())


@dataclass
class VariationalBound:
    """The full bound of a model on some data: −log p(x_0) ≤ total (nats per point)."""

    total: float  # L_0 + … + L_T, nats per point
    bits_per_dim: float
    per_timestep: torch.Tensor  # (T,) mean L_t, nats per point; entry 0 is the decoder term
    prior: float  # L_T, nats per point


def _eps_and_raw_v(model, x_t: torch.Tensor, t_batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(ε̂, raw v) of a learned-variance model; a plain ε-model gets raw v = 0 (only fixed variances use it)."""
    if hasattr(model, "eps_and_v"):
        return model.eps_and_v(x_t, t_batch)
    eps_pred = model(x_t, t_batch)
    return eps_pred, torch.zeros_like(eps_pred)


def _check_variances(model, variances) -> tuple[str, ...]:
    variances = tuple(variances)
    for kind in variances:
        if kind not in VARIANCE_KINDS:
            raise ValueError(f"Unknown variance '{kind}'. Choose one of: {', '.join(VARIANCE_KINDS)}.")
    if "learned" in variances and not hasattr(model, "eps_and_v"):
        raise ValueError("This model has no learned variance; evaluate it with a fixed one (β̃_t or β_t).")
    return variances


@torch.no_grad()
def variational_bound(
    model, schedule: NoiseSchedule, x0: torch.Tensor, variances=VARIANCE_KINDS, *, generator=None
) -> dict[str, VariationalBound]:
    """Every term of L_vlb of ``model`` on the points ``x0``, for each reverse variance in ``variances``.

    One fresh x_t per point and timestep, shared by all variances (one network call per t): "learned"
    (needs a ``LearnedVarianceDenoiser``), "posterior" (β̃_t) or "beta" (β_t).
    """
    variances = _check_variances(model, variances)
    n = x0.shape[0]
    per_t = {kind: torch.zeros(schedule.num_timesteps, dtype=torch.float64) for kind in variances}
    for t in range(schedule.num_timesteps):
        t_batch = torch.full((n,), t, dtype=torch.long)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        x_t = float(schedule.sqrt_alphas_cumprod[t]) * x0 + float(schedule.sqrt_one_minus_alphas_cumprod[t]) * eps
        eps_pred, raw_v = _eps_and_raw_v(model, x_t, t_batch)
        for kind in variances:
            log_var = model_log_variance(schedule, t_batch, raw_v, kind)
            per_t[kind][t] = vlb_terms(schedule, x0, x_t, t_batch, eps_pred, log_var).double().mean()
    prior = float(prior_kl(schedule, x0).double().mean())
    dims = x0[0].numel() * LOG2
    out = {}
    for kind in variances:
        total = float(per_t[kind].sum()) + prior
        out[kind] = VariationalBound(total, total / dims, per_t[kind], prior)
    return out


@torch.no_grad()
def reverse_std(
    model: LearnedVarianceDenoiser, schedule: NoiseSchedule, x0: torch.Tensor, timesteps=None, *, generator=None
) -> torch.Tensor:
    """The learned σ_t = √Σ_θ at ``timesteps`` (default: all), averaged over x_t ~ q(x_t | x_0) of the points."""
    timesteps = range(schedule.num_timesteps) if timesteps is None else [int(t) for t in timesteps]
    out = []
    for t in timesteps:
        t_batch = torch.full((x0.shape[0],), t, dtype=torch.long)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        x_t = float(schedule.sqrt_alphas_cumprod[t]) * x0 + float(schedule.sqrt_one_minus_alphas_cumprod[t]) * eps
        _, raw_v = model.eps_and_v(x_t, t_batch)
        out.append(float(torch.exp(0.5 * model_log_variance(schedule, t_batch, raw_v)).double().mean()))
    return torch.tensor(out, dtype=torch.float64)


# --- sampling with fewer steps ------------------------------------------------------------------------


def respace_schedule(schedule: NoiseSchedule, timesteps) -> NoiseSchedule:
    """The process that visits only ``timesteps`` (any order): β'_i = 1 − ᾱ_{S_i}/ᾱ_{S_{i−1}} (Improved DDPM §4)."""
    kept = sorted({int(t) for t in timesteps})
    if len(kept) < 2:
        raise ValueError("A respaced process needs at least two timesteps.")
    a_bar = schedule.alphas_cumprod[kept]
    prev = torch.cat([torch.ones(1, dtype=a_bar.dtype), a_bar[:-1]])
    return schedule_from_betas(1.0 - a_bar / prev, kind=f"{schedule.kind} respaced to {len(kept)}")


@torch.no_grad()
def sample_ddpm_learned(
    model, x_T: torch.Tensor, schedule: NoiseSchedule, steps: int | None = None, *, variance: str = "learned",
    generator=None, callback: Callback | None = None, spacing: str = "trailing", clip: float | None = None,
) -> torch.Tensor:  # fmt: skip
    """DDPM ancestral sampling with Σ_θ (or fixed β̃ / β) on ``steps`` respaced timesteps.

    Each step draws x_{i−1} ~ N(μ_θ, Σ) in the respaced process, whose β'_i and β̃'_i bound the learned
    variance; with all T steps it is DDPM's Alg. 2 with Σ_θ. No noise is added on the step to x_0.
    ``clip`` bounds x̂_0 to [−clip, clip] (Improved DDPM clips images to [−1, 1]); near t = T an ε-model's
    x̂_0 = (x_t − √(1−ᾱ) ε̂)/√ᾱ multiplies any error of ε̂ by 1/√ᾱ, which the clip keeps in the data's range.
    """
    (variance,) = _check_variances(model, (variance,))
    ts = make_timesteps(schedule, schedule.num_timesteps if steps is None else steps, spacing)
    if len(ts) < 2:
        raise ValueError("Ancestral sampling with a learned variance needs at least two steps.")
    spaced = respace_schedule(schedule, ts)
    order = sorted(ts)
    x, n = x_T, len(ts)
    for i, t in enumerate(ts):
        k = order.index(t)  # index of t in the respaced process
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long)
        k_batch = torch.full((x.shape[0],), k, dtype=torch.long)
        eps_pred, raw_v = _eps_and_raw_v(model, x, t_batch)
        pred_x0 = pred_x0_from_eps(schedule, x, t_batch, eps_pred)
        if clip is not None:
            pred_x0 = pred_x0.clamp(-float(clip), float(clip))
        mean = posterior_mean(spaced, pred_x0, x, k_batch)
        if k == 0:
            x_next = mean
        else:
            log_var = model_log_variance(spaced, k_batch, raw_v, variance)
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x_next = mean + torch.exp(0.5 * log_var) * noise
        t_prev = ts[i + 1] if i + 1 < n else -1
        if callback is not None and callback(SamplerStep(i, n, t, t_prev, x, pred_x0, eps_pred, x_next)):
            raise SamplingCancelled(f"Sampling stopped at step {i + 1} of {n}.")
        x = x_next
    return x
