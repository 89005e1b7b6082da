"""Consistency distillation: the boundary condition holds exactly, the teacher's step is DDIM's, the target
network is an EMA, and a short distillation turns the shipped toy model into a one-step sampler far better
than its own DDIM-1."""

import math

import pytest
import torch

from core.diffusion import ddim_step, denoise, make_schedule
from core.diffusion.consistency import (
    consistency_function,
    consistency_grid,
    consistency_scalings,
    teacher_ode_step,
    update_target,
)
from core.io import load_denoiser
from core.runtime.resources import resource_path
from core.training.consistency import ConsistencyConfig, ConsistencyFinished, ConsistencyStep, consistency_distill


class Noisy(torch.nn.Module):
    """Any network at all: the boundary condition must not depend on what it outputs."""

    prediction_type = "v"

    def forward(self, x, t, class_labels=None):
        return torch.sin(3 * x) + t.to(x.dtype).reshape(-1, 1) / 100


def test_the_consistency_function_is_the_identity_at_the_smallest_noise_whatever_the_network():
    schedule = make_schedule("cosine", 1000)
    grid = consistency_grid(schedule, 18)
    assert len(grid) == 18 and grid == sorted(set(grid)) and grid[-1] == 999
    sigma_min = float(schedule.sigmas[grid[0]])
    c_skip, c_out = consistency_scalings(torch.tensor([sigma_min, 1.0, 100.0], dtype=torch.float64), sigma_min)
    assert float(c_skip[0]) == 1.0 and float(c_out[0]) == 0.0
    assert float(c_skip[2]) < 1e-3 and float(c_out[2]) == pytest.approx(1.0, abs=1e-3)  # far from data: all network
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t = torch.full((32,), grid[0])
    f = consistency_function(Noisy(), schedule, x, t, sigma_min)
    torch.testing.assert_close(f, x / math.sqrt(float(schedule.alphas_cumprod[grid[0]])), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="between 2 and T"):
        consistency_grid(schedule, 1)


def test_the_teacher_step_is_ddim_and_the_target_is_an_ema():
    ckpt = load_denoiser(resource_path("models", "toy_two_moons.safetensors"))
    schedule, teacher = ckpt.schedule, ckpt.model
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    ours = teacher_ode_step(teacher, schedule, x, torch.full((16,), 600), torch.full((16,), 420))
    x0, eps = denoise(teacher, x, 600, schedule, None)
    torch.testing.assert_close(ours, ddim_step(schedule, x, x0, eps, 600, 420), rtol=1e-5, atol=1e-5)
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = a.weight.detach().clone()
    update_target(a, b, 0.9)
    torch.testing.assert_close(a.weight, 0.9 * before + 0.1 * b.weight)


def test_a_short_consistency_distillation_beats_the_teachers_one_step_ddim():
    ckpt = load_denoiser(resource_path("models", "toy_two_moons.safetensors"))
    config = ConsistencyConfig(
        steps=160, batch_size=128, learning_rate=1e-3, log_every=80, eval_points=500, nfe=(1, 2), threads=1
    )
    events = list(consistency_distill(ckpt.model, ckpt.schedule, config))
    assert [e.step for e in events if isinstance(e, ConsistencyStep)] == [80, 160]
    done = events[-1]
    assert isinstance(done, ConsistencyFinished) and done.reason == "completed"
    assert done.nfe == [1, 2] and done.student_points.shape == done.teacher_points.shape == (500, 2)
    # DDIM-1 of the teacher lands every point near the mean (MMD² ≈ 2.8); the student lands on the moons
    assert done.student_mmd[0] < 0.25 * done.teacher_mmd[0], (done.student_mmd, done.teacher_mmd)
    with pytest.raises(ValueError, match="2-D toy"):
        ConsistencyConfig(dataset="fashion_mnist")
