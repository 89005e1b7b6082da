"""Flow matching / rectified flow: closed-form fields, DDIM = Euler on the flow ODE, and reflow straightening."""

import dataclasses
import math

import pytest
import torch

from core.diffusion import SamplingCancelled, TrajectoryRecorder, sample_ddim
from core.diffusion.flow_matching import (
    DiffusionVelocity,
    ddim_flow_times,
    flow_matching_loss,
    flow_time_grid,
    interpolate,
    path_straightness,
    sample_flow_euler,
    sample_flow_heun,
    sample_flow_path,
    to_flow_coordinates,
)
from core.evaluation.metrics import evaluate_points
from core.io import load_denoiser
from core.runtime.resources import resource_path
from core.training.flow import FlowConfig, FlowFinished, FlowPreview, FlowStep, reflow, train_flow


class DiracVelocity(torch.nn.Module):
    """The exact flow-matching field of data concentrated at one point c: v(x, t) = (x − c) / t."""

    prediction_type = "velocity"

    def __init__(self, c):
        super().__init__()
        self.c = torch.as_tensor(c, dtype=torch.float32)

    def forward(self, x, t):
        return (x - self.c) / t.to(x.dtype)[:, None]


class GaussianVelocity(torch.nn.Module):
    """Exact E[ε − x_0 | x_t] for x_0 ~ N(μ, s² I) and independent ε (a linear regression, in closed form)."""

    prediction_type = "velocity"

    def __init__(self, mu, s):
        super().__init__()
        self.mu, self.s = torch.as_tensor(mu, dtype=torch.float64), float(s)

    def forward(self, x, t):
        t = t.to(torch.float64)[:, None]
        var = (1 - t) ** 2 * self.s**2 + t**2
        centred = x.double() - (1 - t) * self.mu
        return ((t - (1 - t) * self.s**2) * centred / var - self.mu).to(x.dtype)


def test_interpolation_ends_and_the_exact_field_has_zero_loss():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g)
    assert torch.equal(interpolate(x0, eps, torch.zeros(64)), x0)
    assert torch.equal(interpolate(x0, eps, torch.ones(64)), eps)
    c = torch.tensor([0.5, -1.0])
    t = torch.rand(64, generator=g, dtype=torch.float64) * 0.9 + 0.05
    assert flow_matching_loss(DiracVelocity(c), c.expand(64, 2), eps, t) < 1e-10
    assert flow_matching_loss(DiracVelocity(-c), c.expand(64, 2), eps, t) > 0.5
    with pytest.raises(ValueError, match="same shape"):
        flow_matching_loss(DiracVelocity(c), c.expand(64, 2), eps[:3], t)


def test_straight_field_is_solved_in_one_euler_step_and_is_perfectly_straight():
    c = torch.tensor([0.5, -1.0])
    noise = torch.randn(32, 2, generator=torch.Generator().manual_seed(1))
    for steps in (1, 3, 10):
        assert torch.allclose(sample_flow_euler(DiracVelocity(c), noise, None, steps), c.expand(32, 2), atol=1e-5)
    path = sample_flow_path(DiracVelocity(c), noise, 8)
    s = path_straightness(path, flow_time_grid(8))
    assert s.curvature < 1e-9 and s.length_ratio == pytest.approx(1.0, abs=1e-6)


def test_straightness_of_a_quarter_circle_matches_its_closed_form():
    angles = torch.linspace(0, math.pi / 2, 2001, dtype=torch.float64)
    path = torch.stack([torch.cos(angles), torch.sin(angles)], -1)[:, None, :]  # (K+1, 1, 2)
    times = torch.linspace(1, 0, 2001).tolist()
    s = path_straightness(path, times)
    assert s.length_ratio == pytest.approx(2 * math.sqrt(2) / math.pi, rel=1e-5)  # chord / arc
    # unit speed is π/2 along the arc, the chord velocity has length √2: ∫‖v − chord‖² = (π/2)² − 2
    assert s.curvature == pytest.approx((math.pi / 2) ** 2 - 2, rel=1e-4)


def test_gaussian_flow_maps_noise_to_the_data_and_heun_beats_euler():
    mu, s = torch.tensor([1.0, -0.5]), 0.3
    field = GaussianVelocity(mu, s)
    noise = torch.randn(500, 2, generator=torch.Generator().manual_seed(2))
    exact = mu + s * noise  # the ODE between two isotropic Gaussians is this linear map
    assert torch.allclose(sample_flow_heun(field, noise, None, 100), exact, atol=1e-3)
    err_euler = (sample_flow_euler(field, noise, None, 4) - exact).norm(dim=1).mean()
    err_heun = (sample_flow_heun(field, noise, None, 4) - exact).norm(dim=1).mean()
    assert err_heun < 0.2 * err_euler


def test_callback_contract_records_trajectories_and_can_cancel():
    c = torch.tensor([0.5, -1.0])
    noise = torch.randn(16, 2, generator=torch.Generator().manual_seed(3))
    seen = []
    sample_flow_euler(DiracVelocity(c), noise, None, 5, callback=seen.append)
    assert [s.index for s in seen] == list(range(5)) and seen[0].num_steps == 5
    assert seen[0].t == 1000 and seen[-1].t_next == -1
    assert all(torch.allclose(s.pred_x0, c.expand(16, 2), atol=1e-5) for s in seen)  # x_0 = x_t − t v
    assert torch.allclose(seen[0].pred_eps, noise)  # ε = x_t + (1 − t) v, at t = 1 the start itself
    recorder = TrajectoryRecorder(max_samples=8)
    sample_flow_heun(DiracVelocity(c), noise, None, 4, callback=recorder)
    assert recorder.steps_seen == 4
    with pytest.raises(SamplingCancelled):
        sample_flow_euler(DiracVelocity(c), noise, None, 5, callback=lambda s: s.index == 2)
    with pytest.raises(ValueError, match="decrease"):
        sample_flow_euler(DiracVelocity(c), noise, times=[0.0, 1.0])
    with pytest.raises(ValueError, match="at least 1"):
        sample_flow_euler(DiracVelocity(c), noise, None, 0)


@pytest.mark.parametrize("steps", [1, 7, 25])
def test_ddim_is_euler_on_the_flow_ode_after_the_change_of_variables(steps):
    ckpt = load_denoiser(resource_path("models", "toy_eight_gaussians.safetensors"))
    x_T = torch.randn(300, 2, generator=torch.Generator().manual_seed(4))
    ddim = sample_ddim(ckpt.model, x_T, ckpt.schedule, steps)
    T = ckpt.schedule.num_timesteps
    z_1 = to_flow_coordinates(ckpt.schedule, T - 1, x_T)
    times = ddim_flow_times(ckpt.schedule, steps)
    euler = sample_flow_euler(DiffusionVelocity(ckpt.model, ckpt.schedule), z_1, times=times)
    assert torch.allclose(euler, ddim, atol=2e-5)
    if steps > 1:  # a real statement: the same Euler on a uniform flow-time grid is a different sampler
        other = sample_flow_euler(DiffusionVelocity(ckpt.model, ckpt.schedule), z_1, None, steps)
        assert (other - ddim).abs().max() > 1e-2


def test_training_then_one_reflow_round_straightens_the_paths():
    torch.set_num_threads(1)
    config = FlowConfig(
        dataset="two_moons", steps=120, hidden_dim=64, data_points=5000, preview_every=60,
        preview_points=200, reflow_pairs=3000, reflow_ode_steps=20, log_every=40,
    )  # fmt: skip
    events = list(train_flow(config))
    assert [e.step for e in events if isinstance(e, FlowStep)] == [40, 80, 120]
    assert [e.step for e in events if isinstance(e, FlowPreview)] == [60, 120]
    losses = [e.loss for e in events if isinstance(e, FlowStep)]
    assert losses[-1] < losses[0]
    first = events[-1]
    assert isinstance(first, FlowFinished) and first.reason == "completed" and first.reflow_round == 0

    noise = torch.randn(800, 2, generator=torch.Generator().manual_seed(5))
    before = path_straightness(sample_flow_path(first.model, noise, 16), flow_time_grid(16))
    second = list(reflow(first.model, dataclasses.replace(config, steps=60)))[-1]
    after = path_straightness(sample_flow_path(second.model, noise, 16), flow_time_grid(16))
    assert second.reflow_round == 1
    assert after.curvature < 0.2 * before.curvature
    assert after.length_ratio > before.length_ratio
    # straighter paths are what makes few steps work: 2-step samples land nearer the data
    mmd = [
        evaluate_points(sample_flow_euler(m, noise, None, 2), "two_moons")["mmd"] for m in (first.model, second.model)
    ]
    assert mmd[1] < mmd[0]


def test_bad_flow_settings_are_explained():
    with pytest.raises(ValueError, match="2-D toy"):
        FlowConfig(dataset="fashion_mnist")
    with pytest.raises(ValueError, match="steps"):
        FlowConfig(steps=0)
