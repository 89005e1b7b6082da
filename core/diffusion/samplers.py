"""Samplers: turn noise into data by running the learned reverse process.

Every sampler has the same signature (k-diffusion's ``sample_euler`` is the model)::

    sample_xxx(model, x_T, schedule, steps, *, generator=None, callback=None, cond=None,
               clip_x0=None, spacing=..., **options) -> x_0

- ``model(x_t, t, **cond)`` is a denoiser that declares ``model.prediction_type`` ("eps", "x0", "v").
- ``steps`` is the number of sampling steps: the number of timesteps visited (``make_timesteps`` returns
  exactly that many), the number of callbacks and what the app's progress bar and timeline count.
  The NFE (network function evaluations) is the number of denoiser calls, ``evaluations_per_run``:
  one per step, two for Heun (but the last). ``spacing`` picks which of the T timesteps are visited.
- ``callback(SamplerStep)`` is called once per step with the same fields for every sampler (what the
  app's reverse timeline records). Returning ``True`` asks the sampler to stop: it raises
  ``SamplingCancelled`` (cooperative cancellation, checked between steps).
- ``clip_x0``: None, "clip" (clamp x̂_0 to [−1, 1]) or a percentile for dynamic thresholding.

Each sampler walks a decreasing list of timesteps t_0 > t_1 > … > t_{n−1} and ends at "t = −1",
where ᾱ = 1 and x is the clean sample. Two views of the same diffusion are used:
the variance-preserving x_t = √ᾱ x_0 + √(1−ᾱ) ε and the variance-exploding y = x_t/√ᾱ = x_0 + σ ε with
σ = √((1−ᾱ)/ᾱ), in which the probability-flow ODE is simply dy/dσ = ε̂ (Karras et al. 2022, eq. 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core.diffusion.prediction import clip_x0 as apply_clip
from core.diffusion.prediction import split_output
from core.diffusion.schedules import NoiseSchedule

SPACINGS = ("linear", "leading", "trailing", "karras")


class SamplingCancelled(Exception):
    """Raised when the per-step callback asks the sampler to stop."""


@dataclass
class SamplerStep:
    """What one sampling step saw and produced (passed to the callback)."""

    index: int  # 0-based step number
    num_steps: int  # total number of steps of this run
    t: int  # timestep the network was evaluated at
    t_next: int  # timestep reached by this step (−1 means the clean sample)
    x_t: torch.Tensor  # the state before the step
    pred_x0: torch.Tensor  # x̂_0 predicted at (x_t, t)
    pred_eps: torch.Tensor  # ε̂ predicted at (x_t, t)
    x_next: torch.Tensor  # the state after the step


Callback = Callable[[SamplerStep], "bool | None"]


# --- timesteps ---------------------------------------------------------------------------------


KARRAS_RHO = 7.0  # Karras et al. 2022, eq. 5: ρ = 7 puts more steps at low noise
BETA_CAP = 0.999  # Improved DDPM clips β at 0.999 (Nichol & Dhariwal 2021, §3.2)


def make_timesteps(schedule: NoiseSchedule, steps: int, spacing: str = "trailing") -> list[int]:
    """The ``steps`` strictly decreasing timesteps a sampler visits: one network call per step (two for Heun).

    linear / leading / trailing follow Lin et al. 2024 ("Common Diffusion Noise Schedules and Sample
    Steps are Flawed", Table 2); "trailing" always starts at t = T−1, the pure-noise end. "karras"
    spaces σ by Karras et al. 2022 eq. 5 (ρ = 7), see ``karras_timesteps``. Every spacing returns
    exactly ``steps`` distinct timesteps: what the user asks for is what runs.
    """
    T = schedule.num_timesteps
    try:
        steps = int(steps)
    except (TypeError, ValueError):
        raise ValueError(f"The number of sampling steps must be a whole number, not {steps!r}.") from None
    if not 1 <= steps <= T:
        raise ValueError(f"The number of sampling steps must be between 1 and T = {T}, not {steps}.")
    if spacing == "linear":
        ts = np.linspace(0, T - 1, steps).round().astype(np.int64)[::-1]
    elif spacing == "leading":
        ts = (np.arange(steps) * (T // steps)).astype(np.int64)[::-1]
    elif spacing == "trailing":
        # round(T − i·T/S) − 1 for i < S; np.arange(T, 0, −T/S) can overshoot by one float ulp and add a step.
        ts = np.round(T - np.arange(steps) * (T / steps)).astype(np.int64) - 1
    elif spacing == "karras":
        ts = karras_timesteps(schedule, steps)
    else:
        raise ValueError(f"Unknown timestep spacing '{spacing}'. Choose one of: {', '.join(SPACINGS)}.")
    ts = [int(t) for t in ts]
    if len(ts) != steps or any(a <= b for a, b in zip(ts, ts[1:], strict=False)) or ts[-1] < 0:
        raise RuntimeError(f"{spacing} spacing made {ts} for {steps} steps: a bug in make_timesteps.")
    return ts


def karras_timesteps(schedule: NoiseSchedule, steps: int, rho: float = KARRAS_RHO) -> np.ndarray:
    """Timesteps whose σ follow Karras et al. 2022 eq. 5 (σ_i^(1/ρ) linear in i), ``steps`` of them.

    σ_max is σ at the last timestep whose β the schedule did not clip: the cosine schedule clips
    β_{T−1} at 0.999, which makes σ jump thirty-fold in its last step (≈ 642 at T−2, ≈ 2·10⁴ at T−1);
    from that σ_max most of the ramp would fall between the last two timesteps. The first step is
    still T−1, where the starting noise x_T lives. Each σ is rounded to the nearest timestep in
    log σ; where two land on one timestep (the top of the schedule has few timesteps per octave of σ)
    the later one moves to the next free timestep below, so exactly ``steps`` distinct timesteps remain.
    """
    T = schedule.num_timesteps
    sig = schedule.sigmas.numpy()
    top = T - 2 if T > 1 and float(schedule.betas[-1]) >= BETA_CAP else T - 1
    ramp = np.linspace(0.0, 1.0, steps)
    hi, lo = sig[top] ** (1 / rho), sig[0] ** (1 / rho)
    wanted = (hi + ramp * (lo - hi)) ** rho
    nearest = np.abs(np.log(sig[None, : top + 1]) - np.log(wanted)[:, None]).argmin(axis=1)
    ts = np.empty(steps, dtype=np.int64)
    previous = T  # so that the first step may be T−1
    for i, t in enumerate(nearest):
        t = T - 1 if i == 0 else min(int(t), previous - 1)
        ts[i] = previous = max(t, steps - 1 - i)  # leave one timestep for each step still to come
    return ts


def _alpha_bar(schedule: NoiseSchedule, t: int) -> float:
    """ᾱ_t, with ᾱ_{−1} = 1 for the clean end of the chain."""
    return 1.0 if t < 0 else float(schedule.alphas_cumprod[t])


# --- the network call ---------------------------------------------------------------------------


def denoise(model, x: torch.Tensor, t: int, schedule: NoiseSchedule, cond: dict | None, clip_x0=None):
    """Evaluate the denoiser once and return (x̂_0, ε̂), with x̂_0 clipped and ε̂ made consistent with it."""
    t_batch = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)
    output = model(x, t_batch, **(cond or {}))
    d = split_output(output, x, t_batch, schedule, model.prediction_type)
    if clip_x0 is None or clip_x0 == "none":
        return d.pred_x0, d.pred_eps
    pred_x0 = apply_clip(d.pred_x0, clip_x0)
    a = _alpha_bar(schedule, t)
    pred_eps = (x - math.sqrt(a) * pred_x0) / math.sqrt(1.0 - a)
    return pred_x0, pred_eps


def _noise_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def _report(callback, index, n, t, t_next, x, pred_x0, pred_eps, x_next):
    if callback is not None and callback(SamplerStep(index, n, t, t_next, x, pred_x0, pred_eps, x_next)):
        raise SamplingCancelled(f"Sampling stopped at step {index + 1} of {n}.")


def _check_start(x_T: torch.Tensor):
    if not torch.is_tensor(x_T) or x_T.ndim < 2:
        raise ValueError("The starting noise must be a batch tensor of shape (B, …).")
    if not bool(torch.isfinite(x_T).all()):
        raise ValueError("The starting noise contains NaN or infinite values.")


# --- single steps (shared by the samplers and checked against diffusers) -------------------------


def ddpm_step(schedule, x_t, pred_x0, t: int, t_prev: int, variance: str = "posterior", noise=None):
    """One ancestral step x_t → x_{t_prev} from the posterior q(x_{t_prev} | x_t, x̂_0) (DDPM eqs. 6–7).

    Works for any subset of timesteps (Nichol & Dhariwal 2021, §4: β'_t = 1 − ᾱ_t/ᾱ_{t_prev}).
    ``variance`` is "posterior" (σ² = β̃_t, "fixed_small") or "beta" (σ² = β_t, "fixed_large").
    No noise is added on the final step to the clean sample.
    """
    a_t, a_prev = _alpha_bar(schedule, t), _alpha_bar(schedule, t_prev)
    beta = 1.0 - a_t / a_prev
    coef_x0 = math.sqrt(a_prev) * beta / (1.0 - a_t)
    coef_xt = math.sqrt(1.0 - beta) * (1.0 - a_prev) / (1.0 - a_t)
    mean = coef_x0 * pred_x0 + coef_xt * x_t
    if t_prev < 0 or noise is None:
        return mean
    if variance == "posterior":
        var = max(beta * (1.0 - a_prev) / (1.0 - a_t), 1e-20)
    elif variance == "beta":
        var = beta
    else:
        raise ValueError("The DDPM variance must be 'posterior' (β̃_t) or 'beta' (β_t).")
    return mean + math.sqrt(var) * noise


def ddim_step(schedule, x_t, pred_x0, pred_eps, t: int, t_prev: int, eta: float = 0.0, noise=None):
    """DDIM eq. 12: x_prev = √ᾱ_prev x̂_0 + √(1−ᾱ_prev−σ²) ε̂ + σ z with σ = η √(β̃) (eq. 16)."""
    a_t, a_prev = _alpha_bar(schedule, t), _alpha_bar(schedule, t_prev)
    sigma = eta * math.sqrt((1.0 - a_prev) / (1.0 - a_t)) * math.sqrt(1.0 - a_t / a_prev)
    x_prev = math.sqrt(a_prev) * pred_x0 + math.sqrt(max(1.0 - a_prev - sigma**2, 0.0)) * pred_eps
    if sigma > 0 and noise is not None:
        x_prev = x_prev + sigma * noise
    return x_prev


# --- samplers -----------------------------------------------------------------------------------


@torch.no_grad()
def sample_ddpm(
    model,
    x_T,
    schedule,
    steps=None,
    *,
    generator=None,
    callback=None,
    cond=None,
    clip_x0=None,
    spacing="trailing",
    variance="posterior",
):
    """DDPM ancestral sampling (Ho et al. 2020, Alg. 2) over all T steps or any subset of them."""
    _check_start(x_T)
    ts = make_timesteps(schedule, schedule.num_timesteps if steps is None else steps, spacing)
    x, n = x_T, len(ts)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < n else -1
        pred_x0, pred_eps = denoise(model, x, t, schedule, cond, clip_x0)
        noise = _noise_like(x, generator) if t_prev >= 0 else None
        x_next = ddpm_step(schedule, x, pred_x0, t, t_prev, variance, noise)
        _report(callback, i, n, t, t_prev, x, pred_x0, pred_eps, x_next)
        x = x_next
    return x


@torch.no_grad()
def sample_ddim(
    model,
    x_T,
    schedule,
    steps=50,
    *,
    generator=None,
    callback=None,
    cond=None,
    clip_x0=None,
    spacing="trailing",
    eta=0.0,
):
    """DDIM (Song, Meng & Ermon 2021): deterministic for η = 0, DDPM-like for η = 1."""
    _check_start(x_T)
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"DDIM's η must lie between 0 (deterministic) and 1 (as random as DDPM), not {eta}.")
    ts = make_timesteps(schedule, steps, spacing)
    x, n = x_T, len(ts)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < n else -1
        pred_x0, pred_eps = denoise(model, x, t, schedule, cond, clip_x0)
        noise = _noise_like(x, generator) if (eta > 0 and t_prev >= 0) else None
        x_next = ddim_step(schedule, x, pred_x0, pred_eps, t, t_prev, float(eta), noise)
        _report(callback, i, n, t, t_prev, x, pred_x0, pred_eps, x_next)
        x = x_next
    return x


def _sigma(schedule, t: int) -> float:
    return 0.0 if t < 0 else float(schedule.sigmas[t])


@torch.no_grad()
def sample_euler(
    model, x_T, schedule, steps=50, *, generator=None, callback=None, cond=None, clip_x0=None, spacing="karras"
):
    """Euler's method on the probability-flow ODE dy/dσ = ε̂ with y = x/√ᾱ (Karras et al. 2022, Alg. 1 without
    the Heun correction). On the same timesteps it is exactly DDIM with η = 0 (Song et al. 2021, §4.3)."""
    _check_start(x_T)
    ts = make_timesteps(schedule, steps, spacing)
    x, n = x_T, len(ts)
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < n else -1
        pred_x0, pred_eps = denoise(model, x, t, schedule, cond, clip_x0)
        s, s_next = _sigma(schedule, t), _sigma(schedule, t_next)
        y_next = x / math.sqrt(_alpha_bar(schedule, t)) + (s_next - s) * pred_eps
        x_next = math.sqrt(_alpha_bar(schedule, t_next)) * y_next
        _report(callback, i, n, t, t_next, x, pred_x0, pred_eps, x_next)
        x = x_next
    return x


@torch.no_grad()
def sample_heun(
    model, x_T, schedule, steps=25, *, generator=None, callback=None, cond=None, clip_x0=None, spacing="karras"
):
    """Heun's 2nd-order method on the probability-flow ODE (Karras et al. 2022, Alg. 1): an Euler step, then the
    average of the slopes at both ends. The last step, to σ = 0, is a plain Euler step. 2n − 1 evaluations."""
    _check_start(x_T)
    ts = make_timesteps(schedule, steps, spacing)
    x, n = x_T, len(ts)
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < n else -1
        pred_x0, pred_eps = denoise(model, x, t, schedule, cond, clip_x0)
        s, s_next = _sigma(schedule, t), _sigma(schedule, t_next)
        y = x / math.sqrt(_alpha_bar(schedule, t))
        y_next = y + (s_next - s) * pred_eps
        if t_next >= 0:
            x_euler = math.sqrt(_alpha_bar(schedule, t_next)) * y_next
            _, eps_next = denoise(model, x_euler, t_next, schedule, cond, clip_x0)
            y_next = y + (s_next - s) * 0.5 * (pred_eps + eps_next)
        x_next = math.sqrt(_alpha_bar(schedule, t_next)) * y_next
        _report(callback, i, n, t, t_next, x, pred_x0, pred_eps, x_next)
        x = x_next
    return x


@torch.no_grad()
def sample_dpmpp_2m(
    model, x_T, schedule, steps=20, *, generator=None, callback=None, cond=None, clip_x0=None, spacing="karras"
):
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Alg. 2): a multistep 2nd-order solver in
    λ = log(α/σ) that reuses the previous x̂_0, so it costs one evaluation per step."""
    _check_start(x_T)
    ts = make_timesteps(schedule, steps, spacing)
    x, n = x_T, len(ts)
    old_x0, h_last = None, None
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < n else -1
        pred_x0, pred_eps = denoise(model, x, t, schedule, cond, clip_x0)
        a_t, a_next = _alpha_bar(schedule, t), _alpha_bar(schedule, t_next)
        if t_next < 0:
            x_next = pred_x0  # σ_next = 0: the ODE solution is the denoised estimate
        else:
            alpha_t, sigma_t = math.sqrt(a_t), math.sqrt(1.0 - a_t)
            alpha_n, sigma_n = math.sqrt(a_next), math.sqrt(1.0 - a_next)
            h = math.log(alpha_n / sigma_n) - math.log(alpha_t / sigma_t)
            if old_x0 is None:
                d = pred_x0
            else:
                r = h_last / h
                d = (1.0 + 1.0 / (2.0 * r)) * pred_x0 - (1.0 / (2.0 * r)) * old_x0
            x_next = (sigma_n / sigma_t) * x - alpha_n * math.expm1(-h) * d
            h_last = h
        old_x0 = pred_x0
        _report(callback, i, n, t, t_next, x, pred_x0, pred_eps, x_next)
        x = x_next
    return x


def euler_maruyama_step(schedule, x_t, pred_eps, t: int, t_next: int, noise=None):
    """One Euler–Maruyama step of the variance-preserving reverse-time SDE (Song et al. 2021, eq. 6).

    The VP SDE has drift f = −½β x and diffusion g = √β (Song et al. 2021, eq. 11), so its reverse is
    dx = [−½β x − β ∇log p_t(x)] dt + √β dw̄. Over a step t → t_next the integral of β dt is the
    β of the DDPM chain that visits only these timesteps, β' = 1 − ᾱ_t/ᾱ_next (Nichol & Dhariwal 2021,
    §4), and the score is ∇log p_t = −ε̂/√(1 − ᾱ_t):

        x_next = (1 + β'/2) x_t − β' ε̂/√(1 − ᾱ_t) + √β' z.

    Why the VP form and not the σ (VE) form y' = y − ((σ² − σ'²)/σ) ε̂ + √(σ² − σ'²) z: both are
    first-order, but the VE noise term is ≈ σ instead of σ' when σ' ≪ σ. On the cosine schedule the
    first of 200 steps goes from σ ≈ 2·10⁴ to σ ≈ 128, which left x_t about 160 times larger than
    any x_t the network was trained on (and still four times too large at t = 800); its predictions
    there were the broken fragments. In the VP form the state stays at unit scale: the worst step
    (β' → 1, pure noise) leaves x_t with variance 1.25 instead of 1, and later steps correct it.
    """
    a_t, a_next = _alpha_bar(schedule, t), _alpha_bar(schedule, t_next)
    beta = 1.0 - a_t / a_next
    score = -pred_eps / math.sqrt(1.0 - a_t)
    x_next = (1.0 + 0.5 * beta) * x_t + beta * score
    if noise is not None:
        x_next = x_next + math.sqrt(beta) * noise
    return x_next


@torch.no_grad()
def sample_euler_maruyama(
    model, x_T, schedule, steps=200, *, generator=None, callback=None, cond=None, clip_x0=None, spacing="trailing"
):
    """Euler–Maruyama on the reverse-time SDE (Song et al. 2021, eq. 6) of the variance-preserving
    diffusion, see ``euler_maruyama_step``. The last step returns x̂_0 (the noise-free denoising step
    that ends Song et al.'s samplers). First order in the step size, so it needs many more steps
    than the ODE samplers for the same quality."""
    _check_start(x_T)
    ts = make_timesteps(schedule, steps, spacing)
    x, n = x_T, len(ts)
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < n else -1
        pred_x0, pred_eps = denoise(model, x, t, schedule, cond, clip_x0)
        if t_next < 0:
            x_next = pred_x0
        else:
            x_next = euler_maruyama_step(schedule, x, pred_eps, t, t_next, _noise_like(x, generator))
        _report(callback, i, n, t, t_next, x, pred_x0, pred_eps, x_next)
        x = x_next
    return x


# The multistep exponential integrators live in their own module, which imports the helpers above
# (core/diffusion/__init__.py imports this module first, so the helpers exist when it runs).
from core.diffusion.multistep_samplers import sample_deis, sample_dpmpp_3m, sample_unipc  # noqa: E402

SAMPLERS: dict[str, Callable] = {
    "ddpm": sample_ddpm,
    "ddim": sample_ddim,
    "euler": sample_euler,
    "heun": sample_heun,
    "dpmpp_2m": sample_dpmpp_2m,
    "dpmpp_3m": sample_dpmpp_3m,
    "unipc": sample_unipc,
    "deis": sample_deis,
    "euler_maruyama": sample_euler_maruyama,
}

SAMPLER_LABELS = {
    "ddpm": "DDPM (ancestral)",
    "ddim": "DDIM",
    "euler": "Euler (probability-flow ODE)",
    "heun": "Heun (2nd-order ODE)",
    "dpmpp_2m": "DPM-Solver++(2M)",
    "dpmpp_3m": "DPM-Solver++(3M)",
    "unipc": "UniPC (bh2 + UniC corrector)",
    "deis": "DEIS (3rd-order exponential integrator)",
    "euler_maruyama": "Euler–Maruyama (reverse SDE)",
}

DEFAULT_STEPS = {
    "ddpm": 1000, "ddim": 50, "euler": 50, "heun": 25, "dpmpp_2m": 20, "dpmpp_3m": 20, "unipc": 20, "deis": 20,
    "euler_maruyama": 200,
}  # fmt: skip


def evaluations_per_run(name: str, steps: int) -> int:
    """The NFE of a run of ``steps`` steps: one network evaluation per step, Heun two per step but the last.

    Exact because every spacing visits exactly ``steps`` timesteps (``make_timesteps``); guidance
    doubles the batch of each evaluation, not their number."""
    return 2 * steps - 1 if name == "heun" else steps


def evaluations_after(name: str, done: int, steps: int) -> int:
    """The NFE spent once ``done`` of a run's ``steps`` steps are finished (Heun: two per step, but the
    last step is a single Euler evaluation)."""
    if done >= steps:
        return evaluations_per_run(name, steps)
    return 2 * done if name == "heun" else done


def get_sampler(name: str) -> Callable:
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"Unknown sampler '{name}'. Choose one of: {', '.join(SAMPLERS)}.") from None


class CountingDenoiser(torch.nn.Module):
    """Wraps a denoiser and counts its evaluations (the "NFE" the compare view shows)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.prediction_type = model.prediction_type
        self.num_classes = getattr(model, "num_classes", 0)
        self.evaluations = 0

    def forward(self, x, t, **cond):
        self.evaluations += 1
        return self.model(x, t, **cond)
