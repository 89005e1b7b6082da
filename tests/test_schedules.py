"""Noise schedules: closed-form facts and the diffusers oracle."""

import math

import numpy as np
import pytest
import torch

from core.diffusion import SCHEDULE_KINDS, make_schedule, timestep_of_equal_snr

diffusers = pytest.importorskip("diffusers")


@pytest.mark.parametrize("kind", SCHEDULE_KINDS)
@pytest.mark.parametrize("T", [10, 1000, 4000])
def test_alpha_bar_strictly_decreasing_and_in_range(kind, T):
    s = make_schedule(kind, T)
    ab = s.alphas_cumprod
    assert bool((ab[1:] < ab[:-1]).all())
    assert 0 < float(ab[-1]) < float(ab[0]) < 1
    assert bool((s.log_snr[1:] < s.log_snr[:-1]).all())


def test_quantities_are_consistent():
    s = make_schedule("linear", 1000)
    ab = s.alphas_cumprod
    torch.testing.assert_close(s.sqrt_alphas_cumprod**2 + s.sqrt_one_minus_alphas_cumprod**2, torch.ones_like(ab))
    torch.testing.assert_close(s.snr, ab / (1 - ab))
    torch.testing.assert_close(s.sigmas**2, 1 / s.snr)
    # β̃_1 (index 0) is 0: x_0 is known exactly given x_1 and x_0.
    assert float(s.posterior_variance[0]) == 0.0
    t = 500
    expected = s.betas[t] * (1 - ab[t - 1]) / (1 - ab[t])
    assert math.isclose(float(s.posterior_variance[t]), float(expected), rel_tol=1e-12)
    assert math.isclose(float(s.betas[0]), 1e-4) and math.isclose(float(s.betas[-1]), 0.02)


def test_cosine_endpoints():
    s = make_schedule("cosine", 1000)
    f0 = math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    f1 = math.cos((1 / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2
    assert math.isclose(float(s.alphas_cumprod[0]), f1 / f0, rel_tol=1e-12)
    assert float(s.alphas_cumprod[-1]) < 1e-4  # nearly pure noise at the end
    assert float(s.betas.max()) <= 0.999


@pytest.mark.parametrize(
    "kind,hf", [("linear", "linear"), ("cosine", "squaredcos_cap_v2"), ("quadratic", "scaled_linear")]
)
@pytest.mark.parametrize("T", [50, 1000])
def test_alphas_cumprod_match_diffusers(kind, hf, T):
    ref = diffusers.DDPMScheduler(num_train_timesteps=T, beta_schedule=hf, beta_start=1e-4, beta_end=0.02)
    ours = make_schedule(kind, T).alphas_cumprod
    np.testing.assert_allclose(ours.numpy(), ref.alphas_cumprod.double().numpy(), atol=1e-6)


def test_sigmoid_matches_diffusers_shape():
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="sigmoid", beta_start=1e-4, beta_end=0.02)
    np.testing.assert_allclose(make_schedule("sigmoid", 1000).betas.numpy(), ref.betas.double().numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "bad",
    [
        dict(kind="nope"),
        dict(num_timesteps=5),
        dict(num_timesteps=5000),
        dict(beta_start=0.1, beta_end=0.01),
        dict(beta_start=0.0),
        dict(kind="cosine", beta_start=1e-4),
    ],
)
def test_bad_settings_raise_clear_errors(bad):
    with pytest.raises(ValueError):
        make_schedule(**bad)


def test_equal_snr_alignment():
    lin, cos = make_schedule("linear", 1000), make_schedule("cosine", 1000)
    for t in [0, 10, 250, 500, 999]:
        u = timestep_of_equal_snr(t, lin, cos)
        # no other timestep of the cosine schedule is closer in log-SNR
        gaps = (cos.log_snr - lin.log_snr[t]).abs()
        assert math.isclose(float(gaps[u]), float(gaps.min()))
    assert timestep_of_equal_snr(321, lin, lin) == 321
    # the cosine schedule destroys information more slowly at first: equal SNR comes later
    assert timestep_of_equal_snr(300, lin, cos) > 300


def test_at_reports_display_numbers():
    s = make_schedule("linear", 1000)
    info = s.at(999)
    assert info["snr_db"] < -30 and math.isclose(info["alpha_bar"], float(s.alphas_cumprod[999]))
    with pytest.raises(ValueError):
        s.at(1000)
