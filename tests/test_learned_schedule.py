"""VDM's learned log-SNR schedule and the drawn one: monotone with exact endpoints, the continuous bound's
invariance to the schedule between its endpoints (VDM eq. 20), a short run whose learned schedule lowers the
spread of the bound's estimate, and control points that always give a valid discrete schedule."""

import math

import numpy as np
import pytest
import torch

from core.diffusion import make_schedule
from core.diffusion.learned_schedule import (
    LinearLogSNR,
    MonotoneLogSNR,
    alpha_sigma,
    continuous_vlb,
    gamma_as_timestep,
    knots_of,
    log_snr_schedule,
)
from core.training.learned_schedule import VDMConfig, VDMFinished, VDMStep, evaluate_vdm, train_vdm


class IdealEps(torch.nn.Module):
    """The exact ε-predictor of a few points, told the noise level as ``gamma_as_timestep(γ)``."""

    def __init__(self, data):
        super().__init__()
        self.data = data

    def forward(self, z, timestep):
        gamma = timestep / 1000.0 * 30.0 - 15.0
        alpha, sigma = alpha_sigma(gamma.reshape(-1, 1))
        d2 = (z[:, None, :] - alpha[:, None, :] * self.data[None]).square().sum(-1)
        w = torch.softmax(-d2 / (2 * sigma.square()), dim=1)
        x0 = w @ self.data
        return (z - alpha * x0) / sigma


def test_the_monotone_network_increases_and_hits_its_endpoints_exactly():
    torch.manual_seed(3)
    gamma = MonotoneLogSNR(-7.0, 5.0).double()
    t = torch.linspace(0, 1, 501, dtype=torch.float64)
    with torch.no_grad():
        values = gamma(t)
    assert float(values[0]) == pytest.approx(-7.0, abs=1e-5) and float(values[-1]) == pytest.approx(5.0, abs=1e-5)
    assert bool((values.diff() > 0).all())
    assert float(gamma_as_timestep(torch.tensor(0.0))) == pytest.approx(500.0)
    with pytest.raises(ValueError, match="increase"):
        MonotoneLogSNR(3.0, -3.0)


def test_the_continuous_bound_depends_on_the_schedule_only_through_its_endpoints():
    """VDM eq. 20: with common (ε, x) and the noise level as input, ∫ ½ γ'(t) ‖ε − ε̂‖² dt is a change of variables."""
    g = torch.Generator().manual_seed(0)
    data = torch.randn(5, 2, generator=g, dtype=torch.float64)
    x = data[torch.randint(0, 5, (8,), generator=g)]
    eps = torch.randn(8, 2, generator=g, dtype=torch.float64)
    denoiser = IdealEps(data)
    torch.manual_seed(1)
    learned = MonotoneLogSNR(-6.0, 6.0).double()
    with torch.no_grad():  # bend it well away from a straight line
        learned.w2.mul_(10.0)
        learned.w3.fill_(3.0)
    linear = LinearLogSNR(-6.0, 6.0).double()
    t = torch.linspace(0, 1, 801, dtype=torch.float64)
    integrals = []
    for schedule in (linear, learned):
        # every (t, example) pair in one batch: row k·8 + i is example i at t_k
        terms = continuous_vlb(denoiser, schedule, x.repeat(len(t), 1), eps.repeat(len(t), 1), t.repeat_interleave(8))
        diffusion = terms["diffusion"].detach().reshape(len(t), 8)
        integrals.append(torch.trapezoid(diffusion, t, dim=0))
        prior_recon, recon = (terms["prior"] + terms["recon"])[:8], terms["recon"][:8]
    torch.testing.assert_close(integrals[0], integrals[1], rtol=2e-3, atol=1e-3)
    # the two differ point by point in t: a wrong γ' weighting would not agree
    with torch.no_grad():
        assert float((linear(t) - learned(t)).abs().max()) > 1.0
    expected_recon = 0.5 * 2 * (math.log(2 * math.pi) - 6.0) + 0.5 * eps.square().sum(1)
    assert torch.isfinite(prior_recon).all() and prior_recon.shape == (8,)
    torch.testing.assert_close(recon.detach(), expected_recon)


def test_a_short_run_with_a_learned_schedule_lowers_the_spread_of_the_bound_estimate():
    results = {}
    for learned in (False, True):
        config = VDMConfig(
            learned=learned,
            steps=150,
            hidden_dim=48,
            log_every=75,
            data_points=5000,
            schedule_learning_rate=0.05,
            threads=1,
        )
        events = list(train_vdm(config))
        assert [e.step for e in events if isinstance(e, VDMStep)] == [75, 150]
        finished = events[-1]
        assert isinstance(finished, VDMFinished) and finished.reason == "completed"
        results[learned] = evaluate_vdm(finished.denoiser, finished.gamma, "two_moons", points=1000, repeats=2)
    fixed, learned = results[False], results[True]
    assert learned.estimate_std < 0.9 * fixed.estimate_std, (fixed, learned)
    # the bound itself is no worse (within two standard errors of the difference)
    assert learned.bits_per_dim < fixed.bits_per_dim + 2 * math.hypot(fixed.standard_error, learned.standard_error)
    assert np.all(np.diff(learned.log_snr) < 0)


def test_drawn_control_points_give_a_valid_monotone_schedule():
    cosine = make_schedule("cosine", 1000)
    u = np.linspace(0, 1, 6)
    drawn = log_snr_schedule(u, knots_of(cosine, u), 1000)
    assert bool(((drawn.betas > 0) & (drawn.betas < 1)).all())
    assert np.all(np.diff(drawn.log_snr.numpy()) < 0)
    mid = 500
    assert abs(float(drawn.log_snr[mid]) - float(cosine.log_snr[mid])) < 0.3  # five segments follow cosine closely
    # a point dragged above its left neighbour is pulled down to it: log-SNR never rises
    bumped = log_snr_schedule([0, 0.5, 1], [5.0, 9.0, -5.0], 100)
    assert float(bumped.log_snr.max()) <= 5.0 + 1e-9 and np.all(np.diff(bumped.log_snr.numpy()) < 0)
    with pytest.raises(ValueError, match="left to right"):
        log_snr_schedule([0, 0.6, 0.5], [1.0, 0.0, -1.0])
    with pytest.raises(ValueError, match="at least two"):
        log_snr_schedule([0.5], [1.0])
