"""core.diffusion.likelihood: the probability-flow ODE likelihood against densities known in closed form."""

from __future__ import annotations

import math

import pytest
import torch

from core.diffusion.ideal_denoiser import IdealDenoiser
from core.diffusion.likelihood import (
    LikelihoodProgress,
    LikelihoodResult,
    iterate_log_likelihood,
    log_likelihood,
    stratified_timesteps,
    variational_bound,
)
from core.diffusion.schedules import make_schedule
from core.diffusion.score import GaussianMixture, GaussianMixtureDenoiser

SCHEDULE = make_schedule("cosine", 1000)
SIGMA_0 = float(SCHEDULE.sigmas[0])  # the ODE starts at the schedule's smallest noise level


def _smoothed(mixture: GaussianMixture) -> GaussianMixture:
    """The mixture convolved with N(0, σ_0² I): the density the ODE measures."""
    return GaussianMixture(mixture.means, (mixture.stds**2 + SIGMA_0**2).sqrt(), mixture.weights)


def test_standard_gaussian_nll_matches_the_closed_form_within_one_percent():
    gaussian = GaussianMixture(torch.zeros(1, 2), torch.ones(1), torch.ones(1))
    x = gaussian.sample(300, torch.Generator().manual_seed(0)).float()
    result = log_likelihood(GaussianMixtureDenoiser(gaussian, SCHEDULE), x, SCHEDULE)
    exact = _smoothed(gaussian).log_prob(x)
    assert result.nll == pytest.approx(float(-exact.mean()), rel=0.01)
    assert float((result.log_likelihood - exact).abs().max()) < 0.05
    assert result.bits_per_dim == pytest.approx(result.nll / (2 * math.log(2)))
    assert result.nfe == 4 * 32 and result.log_likelihood_std is None


def test_mixture_log_density_matches_point_by_point():
    mixture = GaussianMixture(
        torch.tensor([[1.0, 1.0], [-1.0, 0.0], [0.0, -1.5]]),
        torch.tensor([0.3, 0.5, 0.2]),
        torch.tensor([1.0, 2.0, 1.0]),
    )
    x = torch.cat([mixture.sample(150, torch.Generator().manual_seed(1)), torch.tensor([[3.0, 3.0]])]).float()
    result = log_likelihood(GaussianMixtureDenoiser(mixture, SCHEDULE), x, SCHEDULE)
    exact = _smoothed(mixture).log_prob(x)
    assert result.nll == pytest.approx(float(-exact.mean()), rel=0.01)
    torch.testing.assert_close(result.log_likelihood, exact, atol=0.08, rtol=0)  # also the far-away point


def test_hutchinson_is_unbiased_and_reports_its_spread():
    mixture = GaussianMixture(torch.tensor([[0.7, 0.7], [-0.7, -0.7]]), torch.tensor([0.3, 0.3]), torch.ones(2))
    model = GaussianMixtureDenoiser(mixture, SCHEDULE)
    x = mixture.sample(100, torch.Generator().manual_seed(2)).float()
    exact = log_likelihood(model, x, SCHEDULE, steps=16)
    g = torch.Generator().manual_seed(3)
    estimate = log_likelihood(model, x, SCHEDULE, steps=16, divergence="hutchinson", probes=4, generator=g)
    assert estimate.probes == 4 and estimate.log_likelihood_std is not None
    assert float(estimate.log_likelihood_std.mean()) > 0.01  # the mixture's Jacobian is not a multiple of I
    standard_error = float(estimate.log_likelihood_std.pow(2).mean().div(4 * 100).sqrt())
    assert abs(estimate.nll - exact.nll) < 4 * standard_error + 1e-3


def test_progress_then_result_and_bad_input():
    model = GaussianMixtureDenoiser(GaussianMixture(torch.zeros(1, 2), torch.ones(1), torch.ones(1)), SCHEDULE)
    events = list(iterate_log_likelihood(model, torch.zeros(4, 2), SCHEDULE, steps=3))
    assert [type(e) for e in events] == [LikelihoodProgress] * 3 + [LikelihoodResult]
    assert events[-2].step == events[-2].steps == 3
    with pytest.raises(ValueError, match="NaN or infinite"):
        log_likelihood(model, torch.tensor([[float("nan"), 0.0]]), SCHEDULE)
    with pytest.raises(ValueError, match="Unknown divergence"):
        log_likelihood(model, torch.zeros(2, 2), SCHEDULE, divergence="guess")
    with pytest.raises(ValueError, match="Hutchinson"):
        log_likelihood(model, torch.zeros(2, 20), SCHEDULE)


# --- the DDPM variational bound ----------------------------------------------------------------


def _eight_bit_points(n: int, dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, dim), generator=g).double() / 127.5 - 1.0


class _MeanDenoiser(torch.nn.Module):
    """Predicts the data mean for every input: a poor model whose bound must be far worse."""

    prediction_type = "x0"
    num_classes = 0

    def __init__(self, data):
        super().__init__()
        self.mean = data.mean(0)

    def forward(self, x, t, class_labels=None):
        return self.mean.expand(x.shape[0], -1).to(x.dtype)


def test_vlb_terms_sum_to_the_total_and_bound_the_ideal_model():
    data = _eight_bit_points(16, 4, 0)
    schedule = make_schedule("linear", 1000)
    result = variational_bound(
        IdealDenoiser(data, schedule), data, schedule, generator=torch.Generator().manual_seed(1)
    )
    assert result.timesteps.tolist() == list(range(1000)) and result.images == 16 and result.dim == 4
    assert result.total_nats == pytest.approx(result.prior + float(result.terms.sum()))
    assert result.bits_per_dim == pytest.approx(result.total_nats / (4 * math.log(2)))
    # The model's probabilities of 16 distinct points sum to ≤ 1, so their mean −log p, and the bound above it,
    # is ≥ log 16. With the exact denoiser the KL terms carry exactly the log 16 nats needed to pick one point.
    assert result.total_nats >= math.log(16)
    assert float(result.terms[1:].sum()) == pytest.approx(math.log(16), abs=0.1)
    poor = variational_bound(_MeanDenoiser(data), data, schedule, generator=torch.Generator().manual_seed(1))
    assert poor.total_nats > 100 * result.total_nats


def test_stratified_timesteps_estimate_the_full_bound():
    data = _eight_bit_points(16, 4, 2)
    schedule = make_schedule("linear", 200)
    model = IdealDenoiser(data, schedule)
    full = variational_bound(model, data, schedule, generator=torch.Generator().manual_seed(3))
    ts, weights = stratified_timesteps(schedule, 20, torch.Generator().manual_seed(4))
    assert ts[0] == 0 and len(ts) == 21 and float(weights.sum()) == 200
    assert bool((ts[1:] >= 1).all()) and bool((ts[1:].diff() > 0).all())
    ts_exact, weights_exact = stratified_timesteps(schedule, 10, torch.Generator().manual_seed(4), exact_below=30)
    assert ts_exact[:30].tolist() == list(range(30)) and float(weights_exact.sum()) == 200
    estimate = variational_bound(model, data, schedule, timesteps=ts, weights=weights,
                                 generator=torch.Generator().manual_seed(5))  # fmt: skip
    assert estimate.total_nats == pytest.approx(full.total_nats, rel=0.15)
    with pytest.raises(ValueError, match=r"\[−1, 1\]"):
        variational_bound(model, 2 * data + 3, schedule)
