"""Few-step quality and path straightness: a diffusion model and a flow-matching model side by side.

``compare_transport`` sends the same noise through a diffusion model's probability-flow ODE (DDIM,
η = 0, drawn in the flow coordinates z = x/(α+σ) of ``core.diffusion.flow_matching``) and through a
flow-matching ODE (Euler), measures how straight each set of paths is (Liu et al. 2023's
straightness), and scores both at 1–10 steps with the 2-D MMD of ``core.evaluation.metrics``. The
Fast sampling view and ``benchmarks/bench_fast_sampling.py`` both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.diffusion.flow_matching import (
    PathStraightness,
    ddim_path_in_flow_coordinates,
    flow_time_grid,
    path_straightness,
    sample_flow_euler,
    sample_flow_path,
)
from core.diffusion.samplers import sample_ddim
from core.diffusion.schedules import NoiseSchedule
from core.evaluation.metrics import evaluate_points

FEW_STEPS = tuple(range(1, 11))
PATH_STEPS = 40  # steps of the ODE runs that are drawn and measured for straightness


def mmd_by_steps(
    sample: Callable[[torch.Tensor, int], torch.Tensor],
    noise: torch.Tensor,
    dataset: str,
    steps: Sequence[int] = FEW_STEPS,
    seed: int = 12345,
) -> list[float]:
    """MMD² to fresh data of ``dataset`` of ``sample(noise, n)`` for each n in ``steps`` (same noise each time)."""
    return [evaluate_points(sample(noise, int(n)), dataset, seed=seed)["mmd"] for n in steps]


def ddim_sampler(model, schedule: NoiseSchedule) -> Callable[[torch.Tensor, int], torch.Tensor]:
    def sample(noise: torch.Tensor, n: int) -> torch.Tensor:
        return sample_ddim(model, noise, schedule, n)

    return sample


def flow_sampler(model) -> Callable[[torch.Tensor, int], torch.Tensor]:
    def sample(noise: torch.Tensor, n: int) -> torch.Tensor:
        return sample_flow_euler(model, noise, None, n)

    return sample


@dataclass
class TransportPaths:
    """One model's ODE paths from shared noise and how straight they are."""

    path: np.ndarray  # (PATH_STEPS + 1, B, 2) states from noise (row 0) to data (last row)
    straightness: PathStraightness


@dataclass
class FastSamplingComparison:
    steps: list[int]
    diffusion_mmd: list[float]  # DDIM with n steps (= Euler on the flow ODE in z coordinates)
    flow_mmd: list[float]  # Euler with n steps on the flow-matching ODE
    diffusion: TransportPaths
    flow: TransportPaths


@torch.no_grad()
def diffusion_paths(model, schedule: NoiseSchedule, noise: torch.Tensor, steps: int = PATH_STEPS) -> TransportPaths:
    path, times = ddim_path_in_flow_coordinates(model, schedule, noise, steps)
    return TransportPaths(path.float().numpy(), path_straightness(path, times))


@torch.no_grad()
def flow_paths(model, noise: torch.Tensor, steps: int = PATH_STEPS) -> TransportPaths:
    path = sample_flow_path(model, noise, steps)
    return TransportPaths(path.float().numpy(), path_straightness(path, flow_time_grid(steps)))


@torch.no_grad()
def compare_transport(
    diffusion_model,
    schedule: NoiseSchedule,
    flow_model,
    dataset: str,
    *,
    num_points: int = 1000,
    steps: Sequence[int] = FEW_STEPS,
    seed: int = 0,
) -> FastSamplingComparison:
    """Paths, straightness and MMD at ``steps`` for both models from the same ``num_points`` noise draws."""
    noise = torch.randn((num_points, 2), generator=torch.Generator().manual_seed(seed))
    return FastSamplingComparison(
        steps=[int(n) for n in steps],
        diffusion_mmd=mmd_by_steps(ddim_sampler(diffusion_model, schedule), noise, dataset, steps),
        flow_mmd=mmd_by_steps(flow_sampler(flow_model), noise, dataset, steps),
        diffusion=diffusion_paths(diffusion_model, schedule, noise),
        flow=flow_paths(flow_model, noise),
    )
