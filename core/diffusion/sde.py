"""Stochastic vs deterministic transport: the reverse SDE and the probability-flow ODE from the same starts.

Song et al. 2021 ("Score-Based Generative Modeling through SDEs") show that the reverse-time SDE
(eq. 6) dx = [f − g² ∇log p_t] dt + g dw̄ and the probability-flow ODE (eq. 13)
dx = [f − ½ g² ∇log p_t] dt have the same marginals p_t. Started from the same noise, the SDE's
paths wander (fresh noise every step) while the ODE's are smooth and deterministic, a one-to-one
map from noise to data. Both are integrated here by the samplers of ``samplers.py`` (Euler–Maruyama
for the SDE, Euler or Heun for the ODE, in the σ view of Karras et al. 2022) and recorded step by step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.diffusion.samplers import SamplerStep, sample_euler, sample_euler_maruyama, sample_heun
from core.diffusion.schedules import NoiseSchedule

ODE_SOLVERS = {"euler": sample_euler, "heun": sample_heun}


@dataclass
class TransportPaths:
    """Positions along both paths: (steps + 1, N, d) each, the first row being the shared start x_T."""

    timesteps: list[int]  # the timesteps visited, then −1 (the clean end)
    sde: torch.Tensor
    ode: torch.Tensor


class _PathRecorder:
    def __init__(self, start: torch.Tensor):
        self.positions = [start.detach().clone()]
        self.timesteps: list[int] = []

    def __call__(self, step: SamplerStep) -> None:
        if not self.timesteps:
            self.timesteps.append(step.t)
        self.timesteps.append(step.t_next)
        self.positions.append(step.x_next.detach().clone())


@torch.no_grad()
def reverse_sde_and_ode_paths(
    model,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    steps: int = 100,
    *,
    ode_solver: str = "heun",
    generator: torch.Generator | None = None,
    cond: dict | None = None,
) -> TransportPaths:
    """Integrate the reverse SDE (Euler–Maruyama) and the probability-flow ODE from the same x_T over the same
    ``steps`` timesteps ("trailing" spacing, so both start at t = T−1) and return every intermediate state."""
    if ode_solver not in ODE_SOLVERS:
        raise ValueError(f"Unknown ODE solver '{ode_solver}'. Choose one of: {', '.join(ODE_SOLVERS)}.")
    sde, ode = _PathRecorder(x_T), _PathRecorder(x_T)
    sample_euler_maruyama(
        model, x_T.clone(), schedule, steps, generator=generator, callback=sde, cond=cond, spacing="trailing"
    )
    ODE_SOLVERS[ode_solver](model, x_T.clone(), schedule, steps, callback=ode, cond=cond, spacing="trailing")
    return TransportPaths(sde.timesteps, torch.stack(sde.positions), torch.stack(ode.positions))
