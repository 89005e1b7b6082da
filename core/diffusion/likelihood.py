"""Exact likelihood through the probability-flow ODE and the instantaneous change of variables.

Song et al. 2021 ("Score-Based Generative Modeling through SDEs", §4.3 and Appendix D.2): the
probability-flow ODE is a continuous normalising flow, so the log density of a data point is

    log p_0(x(0)) = log p_T(x(T)) + ∫_0^T ∇·f(x(t), t) dt

(Chen et al. 2018, "Neural ODEs", Theorem 1). Here the ODE is written in the variance-exploding view
y = x/√ᾱ with noise level σ = √((1−ᾱ)/ᾱ) and the variable u = log σ (Karras et al. 2022, eq. 4):

    dy/du = σ · ε̂(√ᾱ y, t(u))                      (the PF-ODE dy/dσ = ε̂, times dσ/du = σ)

integrated from the data end u_0 = log σ_{t=0} to u_1 = log σ_max with fixed-step RK4, where σ_max is the
schedule's last noise level or ``SIGMA_MAX`` = 100 if that is smaller (the cosine schedule ends at σ ≈ 2·10⁴;
from σ = 100 on the field is the identity to within 10⁻⁴, so the last decade of steps would only cost time).
At the noise end x = √ᾱ y ~ N(0, I), i.e. y ~ N(0, (1 + σ²) I), the prior (for data of unit scale the
noised data and this prior differ by O(1/σ²) = 10⁻⁴ nats at σ = 100). At the data end y = x_0 + σ_0 ε, so the
result is the log density of the data smoothed by the schedule's smallest noise σ_0 (≈ 0.006 for the cosine
schedule with T = 1000), in nats per point.

The divergence ∇·f is exact in low dimensions (one backward pass per coordinate) or Hutchinson's
unbiased estimate E_v[vᵀ (∂f/∂y) v] with Rademacher probes v held fixed along the path (Grathwohl et
al. 2019, FFJORD §2.2); with several probes the spread of their estimates is reported per point.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from core.diffusion.schedules import NoiseSchedule
from core.diffusion.score import check_score_model, log_sigma_range, model_eps_at, timestep_at_log_sigma

DIVERGENCES = ("exact", "hutchinson")
MAX_EXACT_DIM = 16  # exact divergence costs one backward pass per dimension
DEFAULT_ODE_STEPS = 32
SIGMA_MAX = 100.0  # where the ODE stops at the latest (see the module docstring)


@dataclass
class LikelihoodProgress:
    """One RK4 step of the ODE is done."""

    step: int  # 1-based
    steps: int
    nfe: int  # network evaluations so far


@dataclass
class LikelihoodResult:
    """log p(x) per point (nats) from the probability-flow ODE."""

    log_likelihood: torch.Tensor  # (N,) the estimate (mean over Hutchinson probes)
    log_likelihood_std: torch.Tensor | None  # (N,) spread of the single-probe estimates (None when exact)
    prior_log_prob: torch.Tensor  # (N,) log N(y_1; 0, (1+σ_max²) I)
    divergence_integral: torch.Tensor  # (N,) ∫ ∇·f du
    latent: torch.Tensor  # (N, d) x = √ᾱ y at σ_max, where the prior is N(0, I)
    dim: int
    nfe: int
    divergence: str
    probes: int

    @property
    def nll(self) -> float:
        """Mean negative log-likelihood in nats per point."""
        return float(-self.log_likelihood.mean())

    @property
    def bits_per_dim(self) -> float:
        return self.nll / (self.dim * math.log(2.0))


@contextmanager
def _parameters_frozen(model):
    """Gradients are wanted for the points only: skipping the weights' gradients halves the backward cost."""
    params = [p for p in model.parameters() if p.requires_grad] if isinstance(model, torch.nn.Module) else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _divergence(f: torch.Tensor, y: torch.Tensor, probes: torch.Tensor | None) -> torch.Tensor:
    """∇_y·f per point (N, 1) exactly, or Hutchinson's vᵀ(∂f/∂y)v per point and probe (N, K)."""
    if probes is None:
        parts = []
        for i in range(y.shape[1]):
            (grad,) = torch.autograd.grad(f[:, i].sum(), y, retain_graph=True)
            parts.append(grad[:, i])
        return torch.stack(parts, dim=1).sum(1, keepdim=True)
    estimates = []
    for k in range(probes.shape[0]):
        (vjp,) = torch.autograd.grad((f * probes[k]).sum(), y, retain_graph=True)
        estimates.append((vjp * probes[k]).sum(1))
    return torch.stack(estimates, dim=1)


def iterate_log_likelihood(
    model,
    x: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    steps: int = DEFAULT_ODE_STEPS,
    sigma_max: float | None = SIGMA_MAX,
    divergence: str = "exact",
    probes: int = 1,
    generator: torch.Generator | None = None,
    class_labels=None,
) -> Iterator[LikelihoodProgress | LikelihoodResult]:
    """Solve the probability-flow ODE with the log-density change, yielding progress after each of the ``steps``
    RK4 steps and the ``LikelihoodResult`` last. Close the generator to cancel."""
    check_score_model(model)
    if divergence not in DIVERGENCES:
        raise ValueError(f"Unknown divergence '{divergence}'. Choose one of: {', '.join(DIVERGENCES)}.")
    if not torch.is_tensor(x) or x.ndim != 2 or x.shape[0] < 1:
        raise ValueError("The likelihood is computed for a batch of points shaped (N, d).")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("Some of the points are NaN or infinite, so they have no likelihood.")
    steps = int(steps)
    if steps < 1:
        raise ValueError("The ODE needs at least one step.")
    n, d = x.shape
    if divergence == "exact" and d > MAX_EXACT_DIM:
        raise ValueError(
            f"The exact divergence needs one backward pass per dimension ({d} here); choose Hutchinson's estimator."
        )
    if divergence == "hutchinson" and int(probes) < 1:
        raise ValueError("Hutchinson's estimator needs at least one probe vector.")
    probe_vectors = None
    if divergence == "hutchinson":  # Rademacher ±1, fixed along the whole path (FFJORD)
        signs = torch.randint(0, 2, (int(probes), n, d), generator=generator)
        probe_vectors = (2.0 * signs - 1.0).to(x.dtype)

    def field(y: torch.Tensor, u: float) -> tuple[torch.Tensor, torch.Tensor]:
        """f = dy/du and its divergence at (y, u)."""
        sigma = math.exp(u)
        a_bar = 1.0 / (1.0 + sigma * sigma)
        t = timestep_at_log_sigma(schedule, u).expand(n)
        with torch.enable_grad(), _parameters_frozen(model):
            y = y.detach().requires_grad_(True)
            eps = model_eps_at(model, math.sqrt(a_bar) * y, t, schedule, class_labels)
            f = sigma * eps
            div = _divergence(f, y, probe_vectors)
        return f.detach(), div.detach()

    u0, u1 = log_sigma_range(schedule)
    if sigma_max is not None:
        u1 = min(u1, math.log(float(sigma_max)))
    if u1 <= u0:
        raise ValueError("σ_max must be larger than the schedule's smallest noise level.")
    h = (u1 - u0) / steps
    y = x.detach().clone()
    integral = torch.zeros(n, 1 if probe_vectors is None else probe_vectors.shape[0], dtype=x.dtype)
    nfe = 0
    for i in range(steps):
        u = u0 + i * h
        # Classic RK4 on the augmented state (y, ∫∇·f du).
        k1, d1 = field(y, u)
        k2, d2 = field(y + 0.5 * h * k1, u + 0.5 * h)
        k3, d3 = field(y + 0.5 * h * k2, u + 0.5 * h)
        k4, d4 = field(y + h * k3, u + h)
        y = y + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        integral = integral + (h / 6.0) * (d1 + 2 * d2 + 2 * d3 + d4)
        nfe += 4
        if not bool(torch.isfinite(y).all()):
            raise ValueError(
                "The probability-flow ODE left the range of finite numbers (the model's output blew up); "
                "try points closer to the data."
            )
        yield LikelihoodProgress(i + 1, steps, nfe)

    sigma1 = math.exp(u1)
    var1 = 1.0 + sigma1 * sigma1  # the prior in the y view: x = √ᾱ y ~ N(0, I)
    prior = -0.5 * (y.double() ** 2).sum(1) / var1 - 0.5 * d * math.log(2.0 * math.pi * var1)
    estimates = prior.unsqueeze(1) + integral.double()  # log p_0(x) = log p_1(y_1) + ∫ ∇·f du
    log_likelihood = estimates.mean(1)
    spread = estimates.std(1) if estimates.shape[1] > 1 else None
    yield LikelihoodResult(
        log_likelihood=log_likelihood,
        log_likelihood_std=spread,
        prior_log_prob=prior,
        divergence_integral=integral.double().mean(1),
        latent=y / math.sqrt(var1),
        dim=d,
        nfe=nfe,
        divergence=divergence,
        probes=1 if probe_vectors is None else probe_vectors.shape[0],
    )


def log_likelihood(model, x: torch.Tensor, schedule: NoiseSchedule, **options) -> LikelihoodResult:
    """``iterate_log_likelihood`` run to the end (the same options)."""
    result = None
    for event in iterate_log_likelihood(model, x, schedule, **options):
        if isinstance(event, LikelihoodResult):
            result = event
    return result


# --- the DDPM variational bound (Ho et al. 2020, eq. 5) -----------------------------------------
#
#   L = L_T + Σ_{t=1}^{T−1} L_t + L_0            (0-indexed timesteps; x at t = −1 is the clean image)
#   L_T = KL(q(x_{T−1} | x_0) ‖ N(0, I))
#   L_t = KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)),   p_θ = N(μ̃(x_t, x̂_0), σ_t² I)   (eqs. 6–8)
#   L_0 = −log p_θ(x_0 | x_{t=0}): a discretized Gaussian over the 256 bins of 8-bit data in [−1, 1] (§3.3, eq. 13)
#
# Each L_t is estimated with one x_t ~ q(x_t | x_0) per image. In bits/dim: L / (D ln 2).

VLB_VARIANCES = ("posterior", "beta")  # σ_t² = β̃_t (with β̃_0 clipped to β̃_1) or β_t


@dataclass
class VLBProgress:
    done: int  # timesteps evaluated so far
    total: int


@dataclass
class VLBResult:
    """The bound in nats per image, split into the prior term and per-timestep terms L_t."""

    timesteps: torch.Tensor  # (K,) long, increasing; 0 is the decoder term L_0
    terms: torch.Tensor  # (K,) mean over the images of L_t, nats per image
    weights: torch.Tensor  # (K,) how many timesteps each computed term stands for (all ones over all of T)
    prior: float  # L_T, nats per image
    dim: int
    images: int

    @property
    def total_nats(self) -> float:
        return self.prior + float((self.weights * self.terms).sum())

    @property
    def bits_per_dim(self) -> float:
        return self.total_nats / (self.dim * math.log(2.0))

    def terms_bits_per_dim(self) -> torch.Tensor:
        return self.terms / (self.dim * math.log(2.0))


def gaussian_kl(mean1, logvar1, mean2, logvar2) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2)) per element, nats."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """log P(bin of x) per element for 8-bit data scaled to [−1, 1] (Ho et al. 2020, eq. 13): the Gaussian's mass
    over [x − 1/255, x + 1/255], the edge bins extended to ±∞."""
    centred = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = _std_normal_cdf(inv_std * (centred + 1.0 / 255.0))
    cdf_minus = _std_normal_cdf(inv_std * (centred - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_minus = torch.log((1.0 - cdf_minus).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_minus).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_minus, log_delta))


def stratified_timesteps(
    schedule: NoiseSchedule, strata: int, generator: torch.Generator | None = None, *, exact_below: int = 1
):
    """Every t < ``exact_below`` (at least t = 0, the decoder term) and one random t in each of ``strata`` equal
    slices of the rest of 0 … T−1, with the number of timesteps each stands for: Σ weight · L_t is then an
    unbiased estimate of Σ_t L_t. L_t falls steeply over the first few dozen steps, so computing those exactly
    removes most of the estimate's variance."""
    T = schedule.num_timesteps
    exact_below = max(1, min(int(exact_below), T - 1))
    strata = max(1, min(int(strata), T - exact_below))
    edges = torch.linspace(exact_below, T, strata + 1).round().long()
    ts, weights = list(range(exact_below)), [1.0] * exact_below
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        ts.append(int(torch.randint(lo, hi, (1,), generator=generator)))
        weights.append(float(hi - lo))
    return torch.tensor(ts), torch.tensor(weights, dtype=torch.float64)


@torch.no_grad()
def iterate_vlb(
    model,
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    timesteps: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    variance: str = "posterior",
    generator: torch.Generator | None = None,
    class_labels=None,
) -> Iterator[VLBProgress | VLBResult]:
    """The DDPM bound of images ``x0`` in [−1, 1] (8-bit data), over all timesteps or the given ones with their
    ``weights``; yields progress after each timestep and the ``VLBResult`` last."""
    from core.diffusion.prediction import split_output

    check_score_model(model)
    if variance not in VLB_VARIANCES:
        raise ValueError(f"Unknown reverse variance '{variance}'. Choose one of: {', '.join(VLB_VARIANCES)}.")
    if not torch.is_tensor(x0) or x0.ndim < 2 or not bool(torch.isfinite(x0).all()):
        raise ValueError("The bound needs a batch of finite images (B, …) with values in [−1, 1].")
    if float(x0.abs().max()) > 1.0 + 1e-6:
        raise ValueError("The images must be scaled to [−1, 1] (8-bit values v become v/127.5 − 1).")
    T = schedule.num_timesteps
    ts = torch.arange(T) if timesteps is None else torch.as_tensor(timesteps).long()
    w = torch.ones(len(ts), dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    if len(w) != len(ts) or bool((ts < 0).any()) or bool((ts >= T).any()):
        raise ValueError(f"Timesteps must lie in 0…{T - 1}, one weight each.")
    b, dims = x0.shape[0], tuple(range(1, x0.ndim))
    x0 = x0.double()
    sched = {k: getattr(schedule, k).double() for k in (
        "alphas_cumprod", "betas", "posterior_variance", "posterior_log_variance_clipped",
        "posterior_mean_coef1", "posterior_mean_coef2")}  # fmt: skip
    a_last = sched["alphas_cumprod"][-1]
    prior = gaussian_kl(a_last.sqrt() * x0, torch.log(1.0 - a_last), torch.zeros(()), torch.zeros(()))
    terms = []
    for i, t in enumerate(ts.tolist()):
        eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        a = sched["alphas_cumprod"][t]
        x_t = a.sqrt() * x0 + (1.0 - a).sqrt() * eps  # DDPM eq. 4
        t_batch = torch.full((b,), t, dtype=torch.long)
        output = model(x_t.to(torch.float32), t_batch, class_labels=class_labels).double()
        pred_x0 = split_output(output, x_t, t_batch, schedule, model.prediction_type).pred_x0
        mean_model = sched["posterior_mean_coef1"][t] * pred_x0 + sched["posterior_mean_coef2"][t] * x_t  # eq. 7
        logvar = sched["posterior_log_variance_clipped"][t] if variance == "posterior" else torch.log(sched["betas"][t])
        if t == 0:
            nll = -discretized_gaussian_log_likelihood(x0, mean_model, 0.5 * logvar)
            terms.append(nll.sum(dims).mean())
        else:
            mean_true = sched["posterior_mean_coef1"][t] * x0 + sched["posterior_mean_coef2"][t] * x_t
            kl = gaussian_kl(mean_true, torch.log(sched["posterior_variance"][t]), mean_model, logvar)
            terms.append(kl.sum(dims).mean())
        yield VLBProgress(i + 1, len(ts))
    yield VLBResult(
        timesteps=ts,
        terms=torch.stack(terms),
        weights=w,
        prior=float(prior.sum(dims).mean()),
        dim=int(x0[0].numel()),
        images=b,
    )


def variational_bound(model, x0: torch.Tensor, schedule: NoiseSchedule, **options) -> VLBResult:
    """``iterate_vlb`` run to the end (the same options)."""
    result = None
    for event in iterate_vlb(model, x0, schedule, **options):
        if isinstance(event, VLBResult):
            result = event
    return result
