"""core.diffusion.score and core.diffusion.sde: learned vs exact scores, Langevin, SDE vs ODE paths (no Qt)."""

from __future__ import annotations

import pytest
import torch

from core.diffusion.ideal_denoiser import IdealDenoiser
from core.diffusion.schedules import make_schedule
from core.diffusion.score import (
    GaussianMixture,
    GaussianMixtureDenoiser,
    alpha_bar_at,
    annealed_langevin_dynamics,
    ideal_score,
    langevin_dynamics,
    model_score,
    run_particles,
    score_field,
    timestep_at_log_sigma,
)
from core.diffusion.sde import reverse_sde_and_ode_paths

SCHEDULE = make_schedule("cosine", 200)


def _mixture() -> GaussianMixture:
    return GaussianMixture(torch.tensor([[1.0, 0.5], [-1.0, -0.5]]), torch.tensor([0.4, 0.6]), torch.tensor([1.0, 3.0]))


def test_ideal_denoiser_score_equals_the_analytic_score_of_the_point_mixture():
    g = torch.Generator().manual_seed(0)
    data = torch.randn(12, 2, generator=g)
    x = 2.0 * torch.randn(50, 2, generator=g)
    for t in (3, 40, 150):
        exact = ideal_score(data, x.double(), t, SCHEDULE)
        analytic = GaussianMixture.from_points(data).score(x, SCHEDULE.alphas_cumprod[t])
        torch.testing.assert_close(exact, analytic, rtol=1e-9, atol=1e-9)


def test_mixture_score_is_the_gradient_of_its_log_density():
    mixture = _mixture()
    x = torch.randn(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    a = 0.7
    (grad,) = torch.autograd.grad(mixture.log_prob(x, a).sum(), x)
    torch.testing.assert_close(mixture.score(x.detach(), a), grad)


class _AsV(torch.nn.Module):
    """The exact ε-predictor re-expressed as a v-predictor (v = √ᾱ ε − √(1−ᾱ) x_0), to check the conversions."""

    prediction_type = "v"
    num_classes = 0

    def __init__(self, inner, schedule):
        super().__init__()
        self.inner, self.schedule = inner, schedule

    def forward(self, x, t, class_labels=None):
        eps = self.inner(x, t)
        a = alpha_bar_at(self.schedule, t.double()).unsqueeze(-1).to(x.dtype)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        return a.sqrt() * eps - (1 - a).sqrt() * x0


def test_learned_score_reads_every_prediction_type_the_same():
    mixture = _mixture()
    eps_model = GaussianMixtureDenoiser(mixture, SCHEDULE)
    x = torch.randn(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for t in (5, 100):
        expected = mixture.score(x, SCHEDULE.alphas_cumprod[t])
        torch.testing.assert_close(model_score(eps_model, x, t, SCHEDULE), expected)
        torch.testing.assert_close(model_score(_AsV(eps_model, SCHEDULE), x, t, SCHEDULE), expected)


def test_continuous_time_is_exact_at_the_integers_and_inverts():
    t = torch.tensor([0.0, 17.0, 199.0])
    torch.testing.assert_close(alpha_bar_at(SCHEDULE, t), SCHEDULE.alphas_cumprod[[0, 17, 199]])
    log_sigma = 0.5 * torch.log((1 - alpha_bar_at(SCHEDULE, 88.25)) / alpha_bar_at(SCHEDULE, 88.25))
    assert float(timestep_at_log_sigma(SCHEDULE, log_sigma)) == pytest.approx(88.25, abs=1e-6)


def test_score_field_error_is_zero_when_the_model_is_the_ideal_denoiser():
    data = torch.randn(40, 2, generator=torch.Generator().manual_seed(3))
    field = score_field(IdealDenoiser(data, SCHEDULE), SCHEDULE, 60, extent=2.0, size=8, data=data)
    assert field.learned.shape == (64, 2) and field.error().shape == (8, 8)
    assert float(field.error().max()) < 1e-4
    other = score_field(IdealDenoiser(data[:20], SCHEDULE), SCHEDULE, 60, extent=2.0, size=8, data=data)
    assert float(other.error().max()) > 0.05  # half the data: a different score


def test_langevin_on_the_analytic_score_reproduces_the_mixture_moments():
    # Overlapping components: Langevin at one noise level mixes between them (for well separated modes it
    # cannot fix their weights, the very problem annealing solves: Song & Ermon 2019, §3.2.2).
    mixture = GaussianMixture(
        torch.tensor([[0.6, 0.3], [-0.6, -0.3]]), torch.tensor([0.6, 0.8]), torch.tensor([1.0, 3.0])
    )
    model = GaussianMixtureDenoiser(mixture, SCHEDULE)
    t = 2  # ᾱ ≈ 1: q_t is the mixture up to a σ² ≈ 1e-4 of extra variance
    g = torch.Generator().manual_seed(4)
    x = 3.0 * torch.randn(3000, 2, generator=g, dtype=torch.float64)
    final = run_particles(langevin_dynamics(model, x, SCHEDULE, t, step_size=0.02, steps=400, generator=g))[-1]
    torch.testing.assert_close(final.mean(0), mixture.mean(), atol=0.06, rtol=0)
    torch.testing.assert_close(torch.cov(final.T), mixture.covariance(), atol=0.08, rtol=0)


def test_annealed_langevin_follows_song_and_ermons_step_rule_and_fixes_the_mode_weights():
    mixture = _mixture()  # well separated modes with weights 1 : 3
    model = GaussianMixtureDenoiser(mixture, SCHEDULE)
    levels = [199, 170, 140, 110, 80, 60, 40, 25, 15, 10]  # L = 10 noise levels, as in the paper
    epsilon = 0.05 * float(1 - SCHEDULE.alphas_cumprod[10])  # η_L small against σ_L², as the paper's ε = 2·10⁻⁵
    g = torch.Generator().manual_seed(5)
    start = torch.randn(1500, 2, generator=g, dtype=torch.float64)
    frames = list(annealed_langevin_dynamics(model, start, SCHEDULE, levels, steps_per_level=80, epsilon=epsilon,
                                             generator=g))  # fmt: skip
    assert len(frames) == 800 and frames[-1].step_size == pytest.approx(epsilon)
    ratio = (1 - SCHEDULE.alphas_cumprod[199]) / (1 - SCHEDULE.alphas_cumprod[10])
    assert frames[0].step_size == pytest.approx(epsilon * float(ratio))
    plain = run_particles(langevin_dynamics(model, start, SCHEDULE, 10, step_size=epsilon, steps=800, generator=g))
    weight_annealed = float((frames[-1].x[:, 0] > 0).double().mean())  # true weight of the right mode: 0.25
    weight_plain = float((plain[-1][:, 0] > 0).double().mean())
    assert abs(weight_annealed - 0.25) < 0.08
    assert abs(weight_plain - 0.25) > abs(weight_annealed - 0.25) + 0.05  # one noise level cannot fix the weights


def test_bad_input_gets_a_sentence():
    mixture = _mixture()
    model = GaussianMixtureDenoiser(mixture, SCHEDULE)
    with pytest.raises(ValueError, match="clean end"):
        model_score(model, torch.zeros(3, 2), -1, SCHEDULE)
    model.prediction_type = "score"
    with pytest.raises(ValueError, match="cannot be turned into a score"):
        model_score(model, torch.zeros(3, 2), 5, SCHEDULE)
    with pytest.raises(ValueError, match="step size"):
        next(langevin_dynamics(GaussianMixtureDenoiser(mixture, SCHEDULE), torch.zeros(3, 2), SCHEDULE, 5,
                               step_size=0.0, steps=3))  # fmt: skip


def test_sde_and_ode_start_together_and_only_the_sde_is_random():
    model = GaussianMixtureDenoiser(_mixture(), SCHEDULE)
    x_T = torch.randn(500, 2, generator=torch.Generator().manual_seed(6))
    one = reverse_sde_and_ode_paths(model, x_T, SCHEDULE, 40, generator=torch.Generator().manual_seed(7))
    two = reverse_sde_and_ode_paths(model, x_T, SCHEDULE, 40, generator=torch.Generator().manual_seed(8))
    assert one.sde.shape == one.ode.shape == (41, 500, 2)
    assert one.timesteps[0] == 199 and one.timesteps[-1] == -1
    torch.testing.assert_close(one.sde[0], x_T)
    torch.testing.assert_close(one.ode, two.ode)
    assert float((one.sde[-1] - two.sde[-1]).abs().mean()) > 0.1
    mixture = _mixture()
    for end in (one.ode[-1], one.sde[-1]):  # both transport N(0, I) to the mixture
        torch.testing.assert_close(end.double().mean(0), mixture.mean(), atol=0.12, rtol=0)
