"""Learned variances (Improved DDPM): Σ_θ's endpoints, the VLB terms against torch's Gaussians, the respaced
ancestral sampler against DDPM's, and a short L_hybrid run whose learned Σ_θ bounds the data no worse than
either fixed variance."""

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from core.data import make_toy_2d
from core.diffusion import IdealDenoiser, make_schedule, sample_ddpm
from core.diffusion.learned_variance import (
    LearnedVarianceDenoiser,
    model_log_variance,
    posterior_mean,
    pred_x0_from_eps,
    respace_schedule,
    sample_ddpm_learned,
    variational_bound,
    vlb_terms,
)
from core.diffusion.prediction import split_output
from core.training.learned_variance import (
    LearnedVarianceConfig,
    VarianceFinished,
    VarianceStep,
    train_learned_variance,
)


class EpsFromIdeal(torch.nn.Module):
    """The exact denoiser of a few points, read as an ε-predictor (an oracle mean for the samplers)."""

    prediction_type = "eps"
    num_classes = 0

    def __init__(self, data, schedule):
        super().__init__()
        self.ideal, self.schedule = IdealDenoiser(data, schedule), schedule

    def forward(self, x, t, class_labels=None):
        return split_output(self.ideal(x, t), x, t, self.schedule, "x0").pred_eps


class TwoHeaded(torch.nn.Module):
    """A fixed 'network' with 2·d outputs: ε from the oracle and a chosen raw v."""

    def __init__(self, eps_model, raw_v: float):
        super().__init__()
        self.eps_model, self.raw_v = eps_model, raw_v

    def forward(self, x, t, class_labels=None):
        return torch.cat([self.eps_model(x, t), torch.full_like(x, self.raw_v)], dim=1)


def test_v_at_the_endpoints_gives_beta_and_posterior_variance_exactly():
    schedule = make_schedule("linear", 200)
    t = torch.arange(200)
    ones = torch.ones(200, 2, dtype=torch.float64)
    large = model_log_variance(schedule, t, ones, "learned").exp()[:, 0]  # raw +1: v = 1
    small = model_log_variance(schedule, t, -ones, "learned").exp()[:, 0]  # raw −1: v = 0
    torch.testing.assert_close(large, schedule.betas, rtol=1e-12, atol=0)
    torch.testing.assert_close(small[1:], schedule.posterior_variance[1:], rtol=1e-12, atol=0)
    assert small[0] == pytest.approx(float(schedule.posterior_variance[1]))  # β̃_0 = 0 is clipped to β̃_1
    middle = model_log_variance(schedule, t, torch.zeros(200, 2, dtype=torch.float64), "learned").exp()[:, 0]
    torch.testing.assert_close(middle, (schedule.betas * small).sqrt())  # v = ½: the geometric mean


def test_vlb_terms_match_a_direct_gaussian_kl_and_the_decoder_log_density():
    schedule = make_schedule("cosine", 50)
    g = torch.Generator().manual_seed(0)
    x0, x_t = torch.randn(64, 2, generator=g, dtype=torch.float64), torch.randn(64, 2, generator=g, dtype=torch.float64)
    eps_pred = torch.randn(64, 2, generator=g, dtype=torch.float64)
    t = torch.randint(0, 50, (64,), generator=g)
    t[:5] = 0
    log_var = torch.randn(64, 2, generator=g, dtype=torch.float64) - 4.0
    got = vlb_terms(schedule, x0, x_t, t, eps_pred, log_var)

    mean_p = posterior_mean(schedule, pred_x0_from_eps(schedule, x_t, t, eps_pred), x_t, t)
    std_p = (0.5 * log_var).exp()
    a_prev = schedule.alphas_cumprod_prev[t].unsqueeze(1)
    a_t, beta = schedule.alphas_cumprod[t].unsqueeze(1), schedule.betas[t].unsqueeze(1)
    mean_q = (a_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - a_prev) * x_t) / (1 - a_t)  # DDPM eq. 7
    var_q = schedule.posterior_variance[t.clamp(min=1)].unsqueeze(1)
    kl = kl_divergence(Normal(mean_q, var_q.sqrt()), Normal(mean_p, std_p)).sum(1)
    nll = -Normal(mean_p, std_p).log_prob(x0).sum(1)
    want = torch.where(t == 0, nll, kl)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert (got[t > 0] >= 0).all()


def test_respaced_ancestral_sampling_with_fixed_variance_is_ddpms_and_all_steps_respace_to_the_schedule():
    schedule = make_schedule("linear", 100)
    torch.testing.assert_close(respace_schedule(schedule, range(100)).betas, schedule.betas)
    data = torch.randn(5, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = EpsFromIdeal(data, schedule)
    noise = torch.randn(40, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for variance in ("posterior", "beta"):
        ours = sample_ddpm_learned(
            model, noise, schedule, 7, variance=variance, generator=torch.Generator().manual_seed(3)
        )
        ddpm = sample_ddpm(model, noise, schedule, 7, variance=variance, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(ours, ddpm, rtol=1e-8, atol=1e-8)
    # raw v = ±1 through the learned path equals the fixed variances
    for raw, variance in ((1.0, "beta"), (-1.0, "posterior")):
        two = LearnedVarianceDenoiser(TwoHeaded(model, raw), 2)
        a = sample_ddpm_learned(two, noise, schedule, 7, generator=torch.Generator().manual_seed(4))
        b = sample_ddpm_learned(
            model, noise, schedule, 7, variance=variance, generator=torch.Generator().manual_seed(4)
        )
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)
    with pytest.raises(ValueError, match="no learned variance"):
        sample_ddpm_learned(model, noise, schedule, 7)
    with pytest.raises(ValueError, match="Unknown variance"):
        variational_bound(model, schedule, data, ("wide",))
    with pytest.raises(ValueError, match="2-D toy"):
        LearnedVarianceConfig(dataset="fashion_mnist")


def test_a_short_hybrid_run_learns_a_variance_that_bounds_the_data_no_worse_than_either_fixed_one():
    config = LearnedVarianceConfig(
        schedule="cosine", num_timesteps=100, steps=300, hidden_dim=64, log_every=100, data_points=5000, threads=1
    )
    events = list(train_learned_variance(config))
    steps = [e for e in events if isinstance(e, VarianceStep)]
    assert [e.step for e in steps] == [100, 200, 300]
    assert steps[-1].l_simple < steps[0].l_simple
    finished = events[-1]
    assert isinstance(finished, VarianceFinished) and finished.reason == "completed"
    held_out = make_toy_2d("two_moons", 200, seed=5).points
    bits = {
        k: b.bits_per_dim
        for k, b in variational_bound(
            finished.model, finished.schedule, held_out, generator=torch.Generator().manual_seed(0)
        ).items()
    }
    # β̃_t is far too narrow for a model this coarse; Σ_θ must find at least what β_t gives
    assert bits["learned"] < bits["posterior"] - 0.5, bits
    assert bits["learned"] <= bits["beta"] + 0.01, bits
