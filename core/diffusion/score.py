"""Scores: the gradient of the log density of the noised data, learned and exact, and Langevin dynamics.

With x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4) the score of the noised distribution is
(Song et al. 2021, "Score-Based Generative Modeling through SDEs", and Vincent 2011)::

    ∇_x log q_t(x) = −E[ε | x_t = x] / √(1−ᾱ_t) = (√ᾱ_t E[x_0 | x_t = x] − x) / (1−ᾱ_t)

so an ε-predicting network gives the *learned* score s_θ(x, t) = −ε̂_θ(x, t)/√(1−ᾱ_t), and the ideal
denoiser of a finite training set (``ideal_denoiser.py``) gives the *exact* score of that set noised.
For a Gaussian mixture Σ π_k N(μ_k, s_k² I) everything is closed form: q_t is again a mixture,
Σ π_k N(√ᾱ μ_k, (ᾱ s_k² + 1 − ᾱ) I), with the responsibility-weighted score below.

Langevin dynamics (Welling & Teh 2011; Song & Ermon 2019, "Generative Modeling by Estimating Gradients
of the Data Distribution", eq. 4) draws from a density p using only its score:
x ← x + (η/2) ∇log p(x) + √η z. Annealed Langevin (Song & Ermon 2019, Alg. 1) runs it at decreasing
noise levels σ_1 > … > σ_L with step η_i = η σ_i²/σ_L².

Continuous time: the probability-flow ODE and the likelihood need the noise level between the
schedule's integer timesteps. ``alpha_bar_at`` interpolates log SNR linearly in t (exact at the integers),
and the networks take the fractional timestep through their sinusoidal embedding.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from core.diffusion.ideal_denoiser import IdealDenoiser
from core.diffusion.prediction import (
    PREDICTION_TYPES,
    eps_from_x0,
    score_from_eps,
    split_output,
    split_output_scaled,
)
from core.diffusion.schedules import NoiseSchedule

# --- the denoiser, read as a score -------------------------------------------------------------


def check_score_model(model) -> None:
    """A model gives a score only when it declares what it predicts (ε, x_0 or v)."""
    kind = getattr(model, "prediction_type", None)
    if kind not in PREDICTION_TYPES:
        raise ValueError(
            f"This model predicts {kind!r}, which cannot be turned into a score: a score needs a model that "
            f"predicts one of {', '.join(PREDICTION_TYPES)}."
        )


def check_score_timestep(schedule: NoiseSchedule, t) -> int:
    """The score exists for 0 ≤ t < T; at the clean end (σ → 0) it is infinite, which the message says."""
    t = int(t)
    if t < 0:
        raise ValueError(
            "The score is not defined at the clean end (t < 0, no noise): the data is a thin set there and the "
            "gradient of its log density is infinite. Choose t ≥ 0."
        )
    if t >= schedule.num_timesteps:
        raise ValueError(f"Timestep {t} is outside this schedule, which runs from 0 to {schedule.num_timesteps - 1}.")
    if float(schedule.alphas_cumprod[t]) >= 1.0:
        raise ValueError(f"At t = {t} this schedule adds no noise yet (ᾱ_t = 1), so the score is infinite there.")
    return t


def _check_finite(value: torch.Tensor, what: str) -> torch.Tensor:
    bad = int((~torch.isfinite(value)).any(dim=-1).sum()) if value.ndim > 1 else int((~torch.isfinite(value)).sum())
    if bad:
        raise ValueError(
            f"The {what} is not a finite number at {bad} of {value.shape[0]} points (the model gave NaN or ∞ there); "
            "nothing was drawn. Try points closer to the data or a larger t."
        )
    return value


@torch.no_grad()
def model_score(model, x: torch.Tensor, t: int, schedule: NoiseSchedule, class_labels=None) -> torch.Tensor:
    """s(x, t) = −ε̂(x, t)/√(1−ᾱ_t) for any denoiser (a network, the ideal denoiser, a mixture) at timestep t."""
    check_score_model(model)
    t = check_score_timestep(schedule, t)
    t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    output = model(x, t_batch, class_labels=class_labels)
    eps = split_output(output, x, t_batch, schedule, model.prediction_type).pred_eps
    return _check_finite(score_from_eps(eps, t_batch, schedule), "score")


@torch.no_grad()
def ideal_score(data: torch.Tensor | IdealDenoiser, x: torch.Tensor, t: int, schedule: NoiseSchedule) -> torch.Tensor:
    """The exact score of a finite training set noised to t: (√ᾱ_t E[x_0|x] − x)/(1−ᾱ_t) (Karras et al. 2022, B.3)."""
    denoiser = data if isinstance(data, IdealDenoiser) else IdealDenoiser(data, schedule)
    t = check_score_timestep(schedule, t)
    t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    x0 = denoiser(x.double(), t_batch).double()
    eps = eps_from_x0(x0, x.double(), t_batch, schedule)
    return score_from_eps(eps, t_batch, schedule).to(x.dtype)


# --- continuous time ---------------------------------------------------------------------------


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation (numpy.interp) for increasing ``xp``, clamped at the ends."""
    x = x.to(xp.dtype).clamp(xp[0], xp[-1])
    i = torch.searchsorted(xp, x, right=True).clamp(1, xp.shape[0] - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    w = (x - x0) / (x1 - x0)
    return f0 + w * (f1 - f0)


def alpha_bar_at(schedule: NoiseSchedule, t) -> torch.Tensor:
    """ᾱ at a fractional timestep t ∈ [0, T−1]: log SNR interpolated linearly between integers (float64)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    grid = torch.arange(schedule.num_timesteps, dtype=torch.float64)
    return torch.sigmoid(_interp(t, grid, schedule.log_snr.double()))


def log_sigma_range(schedule: NoiseSchedule) -> tuple[float, float]:
    """log σ at t = 0 and t = T−1, σ = √((1−ᾱ)/ᾱ) (the variance-exploding noise level)."""
    log_sigma = -0.5 * schedule.log_snr.double()
    return float(log_sigma[0]), float(log_sigma[-1])


def timestep_at_log_sigma(schedule: NoiseSchedule, log_sigma) -> torch.Tensor:
    """The fractional timestep whose noise level is σ = exp(log_sigma) (inverse of ``alpha_bar_at``)."""
    log_sigma_grid = -0.5 * schedule.log_snr.double()  # increasing in t
    grid = torch.arange(schedule.num_timesteps, dtype=torch.float64)
    return _interp(torch.as_tensor(log_sigma, dtype=torch.float64), log_sigma_grid, grid)


def model_eps_at(model, x: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule, class_labels=None) -> torch.Tensor:
    """ε̂(x, t) at fractional timesteps t (B,), read from any prediction type (gradients flow through x)."""
    check_score_model(model)
    a_bar = alpha_bar_at(schedule, t).to(x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    output = model(x, t.to(x.dtype), class_labels=class_labels)
    return split_output_scaled(output, x, a_bar.sqrt(), (1.0 - a_bar).sqrt(), model.prediction_type).pred_eps


# --- the plane: a grid of points and the field on it --------------------------------------------


def grid_points(extent: float, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` evenly spaced coordinates over [−extent, extent] and the size² points (x fastest), float32."""
    if size < 2 or extent <= 0:
        raise ValueError("A grid needs at least 2 points per side and a positive extent.")
    axis = torch.linspace(-extent, extent, size)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return axis, torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


@dataclass
class ScoreField:
    """The score at timestep t on a size × size grid (rows are y, columns x; points in that order)."""

    t: int
    sigma: float  # √(1−ᾱ_t): the noise scale in x_t; score × sigma = −ε̂ is O(1) at every t
    axis: torch.Tensor  # (size,)
    points: torch.Tensor  # (size², 2)
    learned: torch.Tensor  # (size², 2)
    exact: torch.Tensor | None = None  # (size², 2) the ideal denoiser's score when training data was given

    def error(self) -> torch.Tensor:
        """‖s_θ − s*‖·√(1−ᾱ_t) = ‖ε̂_θ − ε*‖ per grid point: the error in units of the noise (size, size)."""
        if self.exact is None:
            raise ValueError("There is no exact score to compare with: give the training data.")
        size = self.axis.shape[0]
        return ((self.learned - self.exact).norm(dim=1) * self.sigma).reshape(size, size)


def score_field(
    model,
    schedule: NoiseSchedule,
    t: int,
    *,
    extent: float = 3.0,
    size: int = 32,
    data: torch.Tensor | IdealDenoiser | None = None,
    class_labels=None,
) -> ScoreField:
    """The learned score (and the exact one of ``data``, when given) on a grid over [−extent, extent]²."""
    t = check_score_timestep(schedule, t)
    axis, points = grid_points(extent, size)
    learned = model_score(model, points, t, schedule, class_labels)
    exact = None if data is None else ideal_score(data, points, t, schedule)
    sigma = float(schedule.sqrt_one_minus_alphas_cumprod[t])
    return ScoreField(t, sigma, axis, points, learned, exact)


def outside_data_range(points: torch.Tensor, data: torch.Tensor, margin: float = 1.0) -> int:
    """How many points lie more than ``margin`` outside the box around the data (where no model was trained)."""
    lo = data.min(dim=0).values - margin
    hi = data.max(dim=0).values + margin
    return int(((points < lo) | (points > hi)).any(dim=1).sum())


# --- Gaussian mixtures: the closed form --------------------------------------------------------


@dataclass(eq=False)
class GaussianMixture:
    """Σ_k π_k N(μ_k, s_k² I) in d dimensions (float64). s_k = 0 gives the training set itself."""

    means: torch.Tensor  # (K, d)
    stds: torch.Tensor  # (K,)
    weights: torch.Tensor  # (K,), normalised on construction

    def __post_init__(self) -> None:
        self.means = torch.as_tensor(self.means, dtype=torch.float64)
        if self.means.ndim != 2 or self.means.shape[0] < 1:
            raise ValueError("A Gaussian mixture needs its component means as a (K, d) array.")
        k = self.means.shape[0]
        self.stds = torch.as_tensor(self.stds, dtype=torch.float64).expand(k).clone()
        self.weights = torch.as_tensor(self.weights, dtype=torch.float64).expand(k).clone()
        if bool((self.stds < 0).any()) or bool((self.weights <= 0).any()):
            raise ValueError("Mixture components need standard deviations ≥ 0 and positive weights.")
        self.weights = self.weights / self.weights.sum()

    @classmethod
    def from_points(cls, points: torch.Tensor) -> GaussianMixture:
        """The empirical distribution of a training set: what the ideal denoiser denoises towards."""
        return cls(points, torch.zeros(points.shape[0]), torch.ones(points.shape[0]))

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def mean(self) -> torch.Tensor:
        return self.weights @ self.means

    def covariance(self) -> torch.Tensor:
        """Σ_k π_k (s_k² I + μ_k μ_kᵀ) − m mᵀ."""
        m = self.mean()
        second = (self.weights * self.stds**2).sum() * torch.eye(self.dim, dtype=torch.float64)
        second = second + torch.einsum("k,ki,kj->ij", self.weights, self.means, self.means)
        return second - torch.outer(m, m)

    def _components(self, x: torch.Tensor, alpha_bar) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Means (B|1, K, d), variances (B|1, K) of q_t's components and their log densities at x (B, K)."""
        a = torch.as_tensor(alpha_bar, dtype=torch.float64).reshape(-1, 1)  # (B or 1, 1)
        means = a.sqrt().unsqueeze(-1) * self.means.unsqueeze(0)
        var = a * self.stds**2 + (1.0 - a)
        if bool((var <= 0).any()):
            raise ValueError("A mixture of points has no density without noise: use ᾱ < 1 (t ≥ 0).")
        x = x.double()
        sq = ((x.unsqueeze(1) - means) ** 2).sum(-1)
        log_n = -0.5 * sq / var - 0.5 * self.dim * torch.log(2.0 * math.pi * var)
        return means, var, self.weights.log() + log_n

    def log_prob(self, x: torch.Tensor, alpha_bar=1.0) -> torch.Tensor:
        """log q_t(x) with q_t = Σ π_k N(√ᾱ μ_k, (ᾱ s_k² + 1 − ᾱ) I) (ᾱ = 1: the mixture itself)."""
        return torch.logsumexp(self._components(x, alpha_bar)[2], dim=1)

    def score(self, x: torch.Tensor, alpha_bar) -> torch.Tensor:
        """∇ log q_t(x) = Σ_k r_k(x) (√ᾱ μ_k − x)/v_k, r_k the posterior responsibilities (float64)."""
        means, var, log_joint = self._components(x, alpha_bar)
        r = torch.softmax(log_joint, dim=1)
        return ((r / var).unsqueeze(-1) * (means - x.double().unsqueeze(1))).sum(1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        return self.means[k] + self.stds[k].unsqueeze(-1) * z


class GaussianMixtureDenoiser(torch.nn.Module):
    """The exact ε-predictor of a Gaussian mixture, at any (also fractional) timestep: ε = −√(1−ᾱ) ∇log q_t."""

    prediction_type = "eps"

    def __init__(self, mixture: GaussianMixture, schedule: NoiseSchedule):
        super().__init__()
        self.mixture = mixture
        self.schedule = schedule
        self.num_classes = 0

    def forward(self, x_t: torch.Tensor, t, class_labels=None) -> torch.Tensor:
        a = alpha_bar_at(self.schedule, torch.as_tensor(t).detach().double()).expand(x_t.shape[0])
        score = self.mixture.score(x_t, a)
        return (-(1.0 - a).sqrt().unsqueeze(-1) * score).to(x_t.dtype)


# --- Langevin dynamics -------------------------------------------------------------------------


@dataclass
class ParticleFrame:
    """The particles after one Langevin step (what the animation draws)."""

    index: int  # 0-based step over the whole run
    num_steps: int
    t: int  # the noise level (timestep) whose score moved the particles
    step_size: float  # η of this step
    x: torch.Tensor  # (N, d) positions


def _check_langevin(x: torch.Tensor, step_size: float, steps: int) -> None:
    if not torch.is_tensor(x) or x.ndim != 2:
        raise ValueError("Langevin dynamics moves a batch of points shaped (N, d).")
    if not float(step_size) > 0:
        raise ValueError(f"The Langevin step size must be a positive number, not {step_size}.")
    if int(steps) < 1:
        raise ValueError("Langevin dynamics needs at least one step.")


@torch.no_grad()
def langevin_dynamics(
    model,
    x: torch.Tensor,
    schedule: NoiseSchedule,
    t: int,
    *,
    step_size: float,
    steps: int,
    generator: torch.Generator | None = None,
    class_labels=None,
) -> Iterator[ParticleFrame]:
    """Langevin dynamics on q_t at one fixed noise level t: x ← x + (η/2) s(x, t) + √η z (Song & Ermon 2019,
    eq. 4). For small η and many steps the particles are distributed as q_t. Yields every step."""
    _check_langevin(x, step_size, steps)
    t = check_score_timestep(schedule, t)
    eta = float(step_size)
    for i in range(int(steps)):
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        x = x + 0.5 * eta * model_score(model, x, t, schedule, class_labels) + math.sqrt(eta) * z
        yield ParticleFrame(i, int(steps), t, eta, x)


@torch.no_grad()
def annealed_langevin_dynamics(
    model,
    x: torch.Tensor,
    schedule: NoiseSchedule,
    timesteps: list[int],
    *,
    steps_per_level: int,
    epsilon: float,
    generator: torch.Generator | None = None,
    class_labels=None,
) -> Iterator[ParticleFrame]:
    """Annealed Langevin dynamics (Song & Ermon 2019, Alg. 1) over decreasing noise levels ``timesteps``:
    at level i, ``steps_per_level`` Langevin steps with η_i = ε σ_i²/σ_L², σ_i = √(1−ᾱ_{t_i})."""
    if len(timesteps) < 1 or any(b >= a for a, b in zip(timesteps, timesteps[1:], strict=False)):
        raise ValueError("Annealed Langevin needs its noise levels as strictly decreasing timesteps.")
    _check_langevin(x, epsilon, steps_per_level)
    ts = [check_score_timestep(schedule, t) for t in timesteps]
    var_last = 1.0 - float(schedule.alphas_cumprod[ts[-1]])
    n = len(ts) * int(steps_per_level)
    index = 0
    for t in ts:
        eta = float(epsilon) * (1.0 - float(schedule.alphas_cumprod[t])) / var_last  # Alg. 1, line 3
        for _ in range(int(steps_per_level)):
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x = x + 0.5 * eta * model_score(model, x, t, schedule, class_labels) + math.sqrt(eta) * z
            yield ParticleFrame(index, n, t, eta, x)
            index += 1


def run_particles(frames: Iterator[ParticleFrame], keep_every: int = 1) -> torch.Tensor:
    """Drain a Langevin generator into an array of positions (F, N, d), keeping every ``keep_every``-th step."""
    kept = [frame.x.clone() for frame in frames if frame.index % keep_every == 0 or frame.index == frame.num_steps - 1]
    if not kept:
        raise ValueError("The Langevin run produced no steps.")
    return torch.stack(kept)
