"""Flow matching / rectified flow: learn the velocity of straight paths from noise to data.

Flow matching (Lipman et al. 2023, "Flow Matching for Generative Modeling") and rectified flow
(Liu, Gong & Liu 2023, "Flow Straight and Fast") join a data point x_0 and a noise draw ε by the
straight line (Lipman et al. eq. 20 with σ_min = 0; Liu et al. eq. 1)::

    x_t = (1 − t) x_0 + t ε,        t ∈ [0, 1]          (t = 0: data, t = 1: noise)

whose velocity dx_t/dt = ε − x_0 is constant along the line. A network v_θ(x_t, t) is trained to
regress it (the conditional flow-matching loss, Lipman et al. eq. 23; Liu et al. eq. 1)::

    L(θ) = E_{t, x_0, ε} ‖ v_θ(x_t, t) − (ε − x_0) ‖²

and the learned ODE dx/dt = v_θ(x, t) is integrated from t = 1 (noise) down to t = 0 (data) with
Euler or Heun. Where two lines cross, v_θ learns their average, so the ODE's paths bend; reflow
(Liu et al. §2.2, "Reflow") retrains on the pairs (ε, x̂_0) that the ODE itself produced. Those pairs
no longer cross, and the new paths are straighter: fewer steps suffice.

**DDIM is Euler on this ODE.** A variance-preserving diffusion x_t = α x_0 + σ ε (α = √ᾱ_t,
σ = √(1−ᾱ_t)) becomes a straight-path interpolation after the change of variables::

    z = x_t / (α + σ),     s = σ / (α + σ)     ⇒     z = (1 − s) x_0 + s ε

With the denoiser's x̂_0 and ε̂, the velocity in these coordinates is v = ε̂ − x̂_0, and one Euler
step z' = z + (s' − s) v equals (1 − s') x̂_0 + s' ε̂, which is DDIM eq. 12 (η = 0) divided by
(α' + σ'). ``DiffusionVelocity`` wraps a diffusion denoiser as this velocity field; the test suite
checks that Euler on it reproduces ``sample_ddim`` step for step.

A velocity model is called as ``model(x, t)`` with t a float64 tensor (B,) in [0, 1].
``VelocityNetwork`` adapts a network of the denoiser contract (timesteps in [0, T)) to this call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core.diffusion.samplers import Callback, SamplerStep, SamplingCancelled, denoise, make_timesteps, sample_ddim
from core.diffusion.schedules import NoiseSchedule

FLOW_TIME_SCALE = 1000.0  # a network sees t·1000, the range its sinusoidal time embedding was made for


class VelocityNetwork(torch.nn.Module):
    """A denoiser-shaped network (``net(x, timesteps)``) used as a velocity field v(x, t), t ∈ [0, 1]."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net
        self.prediction_type = "velocity"  # v = ε − x_0 on the straight path, not diffusion's v
        self.num_classes = 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(x, t.to(torch.float32) * FLOW_TIME_SCALE)


# --- the objective ------------------------------------------------------------------------------


def interpolate(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 − t) x_0 + t ε (Liu et al. 2023, eq. 1); ``t`` has shape (B,)."""
    t = t.to(x0.dtype).reshape((-1,) + (1,) * (x0.ndim - 1))
    return (1.0 - t) * x0 + t * eps


def velocity_target(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """dx_t/dt = ε − x_0, the same at every t of the straight path."""
    return eps - x0


def flow_matching_loss(model, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Conditional flow-matching loss (Lipman et al. 2023, eq. 23; σ_min = 0): mean ‖v_θ(x_t, t) − (ε − x_0)‖².

    With independent (x_0, ε) this trains 1-rectified flow; with pairs (x̂_0, ε) from a trained ODE it is
    one round of reflow (Liu et al. 2023, Alg. 1).
    """
    if x0.shape != eps.shape:
        raise ValueError(f"Data and noise must have the same shape, not {tuple(x0.shape)} and {tuple(eps.shape)}.")
    x_t = interpolate(x0, eps, t)
    return (model(x_t, t) - velocity_target(x0, eps)).square().mean()


def sample_flow_times(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training times t ~ U[0, 1] (Lipman et al. 2023, eq. 23)."""
    return torch.rand(batch, generator=generator, dtype=torch.float64)


# --- sampling the ODE ---------------------------------------------------------------------------


def flow_time_grid(steps: int) -> list[float]:
    """Uniform times 1 = t_0 > t_1 > … > t_n = 0 for ``steps`` steps."""
    try:
        steps = int(steps)
    except (TypeError, ValueError):
        raise ValueError(f"The number of steps must be a whole number, not {steps!r}.") from None
    if steps < 1:
        raise ValueError(f"The number of steps must be at least 1, not {steps}.")
    return [1.0 - k / steps for k in range(steps)] + [0.0]


def _check_times(times: Sequence[float]) -> list[float]:
    times = [float(t) for t in times]
    if len(times) < 2 or any(b >= a for a, b in zip(times, times[1:], strict=False)):
        raise ValueError("The ODE times must decrease, from the noise end (t ≤ 1) to the data end (t = 0).")
    if times[0] > 1.0 or times[-1] < 0.0:
        raise ValueError("The ODE times must lie between 0 (data) and 1 (noise).")
    return times


def _velocity(model, x: torch.Tensor, t: float) -> torch.Tensor:
    return model(x, torch.full((x.shape[0],), t, dtype=torch.float64, device=x.device))


def _report(callback: Callback | None, index, n, t, t_next, x, v, x_next) -> None:
    if callback is None:
        return
    # On the straight path x_0 = x_t − t v and ε = x_t + (1 − t) v (solve x_t = (1−t)x_0 + tε, v = ε − x_0).
    step = SamplerStep(
        index,
        n,
        int(round(t * FLOW_TIME_SCALE)),
        -1 if t_next <= 0.0 else int(round(t_next * FLOW_TIME_SCALE)),
        x,
        x - t * v,
        x + (1.0 - t) * v,
        x_next,
    )
    if callback(step):
        raise SamplingCancelled(f"Sampling stopped at step {index + 1} of {n}.")


def _start(x_1: torch.Tensor) -> None:
    if not torch.is_tensor(x_1) or x_1.ndim < 2:
        raise ValueError("The starting noise must be a batch tensor of shape (B, …).")
    if not bool(torch.isfinite(x_1).all()):
        raise ValueError("The starting noise contains NaN or infinite values.")


@torch.no_grad()
def sample_flow_euler(
    model, x_1, schedule=None, steps=10, *, generator=None, callback=None, cond=None, clip_x0=None, times=None
):
    """Euler's method on dx/dt = v_θ(x, t) from t = 1 to 0: x_{t'} = x_t + (t' − t) v_θ(x_t, t).

    Same signature and callback as the diffusion samplers; the straight path needs no noise schedule, so
    ``schedule`` is ignored. ``times`` overrides the uniform grid (a decreasing list ending at 0).
    The callback's ``t`` is the flow time × 1000 (−1 at the data end), its x̂_0 and ε̂ those of the straight path.
    """
    _start(x_1)
    times = _check_times(flow_time_grid(steps) if times is None else times)
    x, n = x_1, len(times) - 1
    for i in range(n):
        t, t_next = times[i], times[i + 1]
        v = _velocity(model, x, t)
        x_next = x + (t_next - t) * v
        _report(callback, i, n, t, t_next, x, v, x_next)
        x = x_next
    return x


@torch.no_grad()
def sample_flow_heun(
    model, x_1, schedule=None, steps=5, *, generator=None, callback=None, cond=None, clip_x0=None, times=None
):
    """Heun's 2nd-order method on dx/dt = v_θ(x, t): an Euler step, then the average of both slopes.

    The velocity field is smooth at t = 0 (unlike the diffusion ODE at σ = 0), so every step is a Heun
    step: 2 evaluations per step.
    """
    _start(x_1)
    times = _check_times(flow_time_grid(steps) if times is None else times)
    x, n = x_1, len(times) - 1
    for i in range(n):
        t, t_next = times[i], times[i + 1]
        v = _velocity(model, x, t)
        x_euler = x + (t_next - t) * v
        v_next = _velocity(model, x_euler, t_next)
        x_next = x + (t_next - t) * 0.5 * (v + v_next)
        _report(callback, i, n, t, t_next, x, v, x_next)
        x = x_next
    return x


@torch.no_grad()
def sample_flow_path(model, x_1: torch.Tensor, steps: int = 20, *, method: str = "euler") -> torch.Tensor:
    """The states of one ODE run on the uniform grid, shape (steps + 1, B, …), from noise to data."""
    sampler = {"euler": sample_flow_euler, "heun": sample_flow_heun}.get(method)
    if sampler is None:
        raise ValueError(f"Unknown ODE method '{method}'. Choose euler or heun.")
    states = [x_1]
    sampler(model, x_1, None, steps, callback=lambda s: states.append(s.x_next))
    return torch.stack(states)


# --- straightness -------------------------------------------------------------------------------


@dataclass
class PathStraightness:
    """How straight a set of ODE paths is.

    ``curvature``: Liu et al. 2023's straightness S = ∫₀¹ E ‖(x_0 − x_1) − dx_t/dt‖² dt (Def. 2.2 in their
    §2.3, the time-reversed sign does not matter), 0 exactly for straight paths at constant speed.
    ``length_ratio``: mean ‖end − start‖ / mean path length, 1 for straight paths, smaller when they bend.
    """

    curvature: float
    length_ratio: float


def path_straightness(path: torch.Tensor, times: Sequence[float]) -> PathStraightness:
    """Measure the paths ``path`` (K+1, B, …) recorded at the decreasing ``times`` (K+1 values)."""
    times = [float(t) for t in times]
    if not torch.is_tensor(path) or path.ndim < 3 or path.shape[0] != len(times) or len(times) < 2:
        raise ValueError("A path needs at least two recorded states, one per time: shape (K+1, B, …).")
    path = path.double().flatten(2)
    dt = torch.tensor([b - a for a, b in zip(times, times[1:], strict=False)], dtype=torch.float64)
    if bool((dt == 0).any()):
        raise ValueError("Two recorded states share one time; the times must be distinct.")
    span = times[-1] - times[0]
    chord = (path[-1] - path[0]) / span  # the constant velocity of the straight path
    seg = path[1:] - path[:-1]
    speeds = seg / dt.reshape(-1, 1, 1)
    deviation = (speeds - chord).square().sum(-1).mean(-1)  # E‖v − chord‖² per segment
    curvature = float((deviation * dt.abs()).sum() / abs(span))
    length = seg.norm(dim=-1).sum(0).mean()
    ratio = float((path[-1] - path[0]).norm(dim=-1).mean() / length.clamp_min(1e-12))
    return PathStraightness(curvature, ratio)


# --- reflow -------------------------------------------------------------------------------------


@torch.no_grad()
def reflow_pairs(
    model, noise: torch.Tensor, steps: int = 50, *, method: str = "heun"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The couplings (ε, x̂_0 = ODE(ε)) one reflow round trains on (Liu et al. 2023, Alg. 1, step 2)."""
    sampler = {"euler": sample_flow_euler, "heun": sample_flow_heun}.get(method)
    if sampler is None:
        raise ValueError(f"Unknown ODE method '{method}'. Choose euler or heun.")
    return noise, sampler(model, noise, None, steps)


# --- DDIM as Euler on the flow ODE --------------------------------------------------------------


def _scales(schedule: NoiseSchedule, t: int) -> tuple[float, float]:
    if t < 0:
        return 1.0, 0.0
    a = float(schedule.alphas_cumprod[t])
    return math.sqrt(a), math.sqrt(1.0 - a)


def flow_time(schedule: NoiseSchedule, t: int) -> float:
    """s = σ / (α + σ): the straight-path time of diffusion timestep t (0 at the clean end t = −1)."""
    a, s = _scales(schedule, t)
    return s / (a + s)


def to_flow_coordinates(schedule: NoiseSchedule, t: int, x_t: torch.Tensor) -> torch.Tensor:
    """z = x_t / (α_t + σ_t), a point of the straight path (1 − s) x_0 + s ε."""
    a, s = _scales(schedule, t)
    return x_t / (a + s)


def from_flow_coordinates(schedule: NoiseSchedule, t: int, z: torch.Tensor) -> torch.Tensor:
    a, s = _scales(schedule, t)
    return z * (a + s)


def ddim_flow_times(schedule: NoiseSchedule, steps: int, spacing: str = "trailing") -> list[float]:
    """The flow times DDIM with ``steps`` steps visits, ending at 0 (the clean sample)."""
    return [flow_time(schedule, t) for t in make_timesteps(schedule, steps, spacing)] + [0.0]


class DiffusionVelocity(torch.nn.Module):
    """A diffusion denoiser read as a velocity field in flow coordinates: v(z, s) = ε̂ − x̂_0 at x_t = (α+σ) z.

    The flow time s is mapped back to the nearest diffusion timestep of the schedule's grid, so the
    field is exact at the times ``ddim_flow_times`` returns (what the equivalence needs) and piecewise
    constant in between.
    """

    def __init__(self, model, schedule: NoiseSchedule, cond: dict | None = None):
        super().__init__()
        self.model = model
        self.schedule = schedule
        self.cond = cond
        self.prediction_type = "velocity"
        self.num_classes = 0
        self._grid = torch.tensor([flow_time(schedule, t) for t in range(schedule.num_timesteps)], dtype=torch.float64)

    def timestep_of(self, s: float) -> int:
        return int((self._grid - float(s)).abs().argmin())

    def forward(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        s0 = float(s.reshape(-1)[0])
        if not bool((s == s0).all()):
            raise ValueError("DiffusionVelocity evaluates one time per batch.")
        t = self.timestep_of(s0)
        pred_x0, pred_eps = denoise(self.model, from_flow_coordinates(self.schedule, t, z), t, self.schedule, self.cond)
        return pred_eps - pred_x0


@torch.no_grad()
def ddim_path_in_flow_coordinates(
    model, schedule: NoiseSchedule, noise: torch.Tensor, steps: int = 50, cond: dict | None = None
) -> tuple[torch.Tensor, list[float]]:
    """The diffusion PF-ODE path that DDIM (η = 0) takes from ``noise``, drawn in flow coordinates.

    Starts at x_T = (α_T + σ_T) ε, so that its z_T is the same ε a flow model starts from. Returns the
    states z (steps + 1, B, …) and their flow times (decreasing, ending at 0).
    """
    ts = make_timesteps(schedule, steps, "trailing")
    x_T = from_flow_coordinates(schedule, ts[0], noise)
    states = [noise]
    sample_ddim(
        model,
        x_T,
        schedule,
        steps,
        cond=cond,
        callback=lambda s: states.append(to_flow_coordinates(schedule, s.t_next, s.x_next)),
    )
    return torch.stack(states), ddim_flow_times(schedule, steps)
