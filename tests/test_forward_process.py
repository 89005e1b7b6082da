"""The forward process: closed form against simulation, statistics within tolerance."""

import pytest
import torch

from core.diffusion import (
    make_schedule,
    q_posterior,
    q_sample,
    score_from_eps,
    simulate_chain,
    split_output,
    training_target,
)


def test_q_sample_mean_and_variance():
    s = make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((200_000, 1), 0.7, dtype=torch.float64)
    for t in [0, 100, 600]:
        eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
        xt = q_sample(s, x0, t, eps)
        a = float(s.alphas_cumprod[t])
        assert abs(float(xt.mean()) - a**0.5 * 0.7) < 5e-3
        assert abs(float(xt.var()) - (1 - a)) < 5e-3 + 0.02 * (1 - a)


def test_same_noise_reused_across_timesteps():
    s = make_schedule("cosine", 100)
    x0, eps = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    a = q_sample(s, x0, 10, eps)
    b = q_sample(s, x0, torch.full((4,), 10), eps)
    torch.testing.assert_close(a, b)
    # recovering x_0 from x_t with the true ε is exact
    torch.testing.assert_close(split_output(eps, a, 10, s, "eps").pred_x0, x0, atol=1e-5, rtol=1e-5)


def test_markov_chain_marginal_matches_closed_form():
    s = make_schedule("linear", 200)
    g = torch.Generator().manual_seed(1)
    x0 = torch.full((100_000, 1), -0.5, dtype=torch.float64)
    out = simulate_chain(s, x0, generator=g, timesteps=[20, 199])
    assert set(out) == {20, 199}
    for t, xt in out.items():
        a = float(s.alphas_cumprod[t])
        assert abs(float(xt.mean()) - a**0.5 * -0.5) < 0.01
        assert abs(float(xt.var()) - (1 - a)) < 0.01


def test_chain_is_reproducible():
    s = make_schedule("linear", 50)
    x0 = torch.randn(2, 1, 4, 4)
    a = simulate_chain(s, x0, torch.Generator().manual_seed(3))
    b = simulate_chain(s, x0, torch.Generator().manual_seed(3))
    assert len(a) == 50 and all(torch.equal(a[t], b[t]) for t in a)


def test_posterior_mean_matches_bayes_in_one_dimension():
    # For a point mass x_0, q(x_{t-1}|x_t,x_0) ∝ q(x_t|x_{t-1}) q(x_{t-1}|x_0): product of Gaussians.
    s = make_schedule("linear", 1000)
    t, x0, xt = 400, torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[1.1]], dtype=torch.float64)
    a_prev, alpha, beta = float(s.alphas_cumprod[t - 1]), float(s.alphas[t]), float(s.betas[t])
    prec = alpha / beta + 1 / (1 - a_prev)
    mean = (alpha**0.5 * 1.1 / beta + a_prev**0.5 * 0.3 / (1 - a_prev)) / prec
    m, v = q_posterior(s, x0, xt, t)
    assert abs(float(m) - mean) < 1e-10 and abs(float(v) - 1 / prec) < 1e-10


@pytest.mark.parametrize("kind", ["eps", "x0", "v"])
def test_parameterisations_round_trip(kind):
    s = make_schedule("cosine", 1000)
    x0, eps, t = torch.randn(3, 2), torch.randn(3, 2), torch.tensor([5, 500, 990])
    xt = q_sample(s, x0, t, eps)
    d = split_output(training_target(kind, x0, eps, t, s), xt, t, s, kind)
    torch.testing.assert_close(d.pred_x0, x0, atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(d.pred_eps, eps, atol=2e-4, rtol=1e-4)
    score = score_from_eps(eps, t, s)
    a = s.sqrt_one_minus_alphas_cumprod[t].float().unsqueeze(1)
    torch.testing.assert_close(score, -eps / a)


def test_bad_input():
    s = make_schedule("linear", 100)
    with pytest.raises(ValueError):
        q_sample(s, torch.zeros(2, 3), 100, torch.zeros(2, 3))
    with pytest.raises(ValueError):
        q_sample(s, torch.zeros(2, 3), 5, torch.zeros(2, 4))
    with pytest.raises(ValueError):
        split_output(torch.zeros(1, 2), torch.zeros(1, 2), 3, s, "score")
