"""DPM-Solver++(3M), UniPC and DEIS against the exact probability-flow ODE of Gaussian data.

The exact denoiser and ODE solution of Gaussian data are closed forms (tests/gaussian_oracle.py). On a schedule whose
log-SNR is linear in t, "linear" spacing with (T − 1)/(N − 1) whole is an exactly uniform grid in λ,
so the error of a solver of order p falls as N^−p: the measured slope is the order, and a wrong
coefficient shows as a lower slope (the published 3M coefficient below).
"""

import math

import numpy as np
import pytest
import torch
from gaussian_oracle import GaussianDenoiser, exact_ode_solution

import core.diffusion.multistep_samplers as ms
from core.diffusion import SAMPLERS, CountingDenoiser, make_schedule
from core.diffusion.multistep_samplers import deis_coefficients, order_at, sample_deis, sample_dpmpp_3m, sample_unipc
from core.diffusion.samplers import evaluations_per_run, sample_ddim, sample_dpmpp_2m
from core.diffusion.schedules import schedule_from_betas

T = 3201  # T − 1 = 3200: 20, 40, 80 and 160 steps of "linear" spacing land exactly on the λ grid
STEPS = (21, 41, 81, 161)


def _log_snr_linear_schedule(lam_min=-6.0, lam_max=4.0):
    lam = np.linspace(lam_max, lam_min, T)  # λ = log(α/σ), so ᾱ/(1 − ᾱ) = e^{2λ}
    alphas_cumprod = 1.0 / (1.0 + np.exp(-2.0 * lam))
    return schedule_from_betas(1.0 - alphas_cumprod / np.concatenate([[1.0], alphas_cumprod[:-1]]))


SCHEDULE = _log_snr_linear_schedule()


MODEL = GaussianDenoiser(SCHEDULE)
X_T = torch.randn(128, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _exact_sample(x_T):
    """The PF-ODE's solution from t = T−1 to t = 0, then the denoising step every sampler ends with."""
    return MODEL(exact_ode_solution(SCHEDULE, x_T, 0), torch.zeros(len(x_T), dtype=torch.long))


EXACT = _exact_sample(X_T)


def _measured_order(sampler, **options):
    errors = []
    for n in STEPS:
        x = sampler(MODEL, X_T, SCHEDULE, n, spacing="linear", **options)
        errors.append(float((x - EXACT).square().mean().sqrt()))
    slope = np.polyfit(np.log(np.array(STEPS[1:]) - 1), np.log(errors[1:]), 1)[0]
    return -slope, errors


@pytest.mark.parametrize(
    "sampler,options,low,high",
    [
        (sample_ddim, {}, 0.9, 1.1),  # the first-order control
        (sample_dpmpp_2m, {}, 1.85, 2.2),
        (sample_dpmpp_3m, {}, 2.8, 4.5),
        (sample_unipc, {}, 2.8, 3.5),  # UniP-2 + UniC: one order above the predictor
        (sample_unipc, {"order": 1}, 1.85, 2.2),
        (sample_deis, {}, 2.8, 4.5),
        (sample_deis, {"order": 2}, 1.85, 2.2),
    ],
    ids=["ddim", "dpmpp_2m", "dpmpp_3m", "unipc", "unipc-1", "deis", "deis-2"],
)
def test_converges_to_the_exact_ode_solution_with_its_order(sampler, options, low, high):
    order, errors = _measured_order(sampler, **options)
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False)), errors
    assert low <= order <= high, (order, errors)


def test_the_published_3m_coefficient_is_only_second_order(monkeypatch):
    # DPM-Solver's, diffusers' and k-diffusion's multistep third-order update use D2 = (D1_0 − D1_1)/(r0 + r1)
    # with the coefficient of h² x̂_0''. Written out here independently: its slope is 2, ours is 3+.
    real = ms.dpmpp_multistep_update

    def published(x, x0s, lams, alpha_t, sigma_t, sigma_s, lam_t, order):
        if order < 3:
            return real(x, x0s, lams, alpha_t, sigma_t, sigma_s, lam_t, order)
        h, h_0, h_1 = lam_t - lams[-1], lams[-1] - lams[-2], lams[-2] - lams[-3]
        r0, r1 = h_0 / h, h_1 / h
        d1_0, d1_1 = (x0s[-1] - x0s[-2]) / r0, (x0s[-2] - x0s[-3]) / r1
        d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
        d2 = (d1_0 - d1_1) / (r0 + r1)
        return (sigma_t / sigma_s * x - alpha_t * (math.exp(-h) - 1) * x0s[-1]
                + alpha_t * ((math.exp(-h) - 1) / h + 1) * d1 - alpha_t * ((math.exp(-h) - 1 + h) / h**2 - 0.5) * d2)  # fmt: skip

    monkeypatch.setattr(ms, "dpmpp_multistep_update", published)
    order, errors = _measured_order(sample_dpmpp_3m)
    assert 1.8 <= order <= 2.3, (order, errors)


def test_second_order_3m_is_2m_and_first_order_deis_is_ddim():
    s = make_schedule("cosine", 1000)
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    model = GaussianDenoiser(s)
    torch.testing.assert_close(
        sample_dpmpp_3m(model, x, s, 12, order=2, spacing="karras"), sample_dpmpp_2m(model, x, s, 12, spacing="karras")
    )
    torch.testing.assert_close(
        sample_deis(model, x, s, 12, order=1, spacing="trailing"), sample_ddim(model, x, s, 12, spacing="trailing")
    )


def _diffusers_deis_weights(rho_t, rho_s0, rho_s1, rho_s2=None):
    """The closed forms of diffusers' DEISMultistepScheduler (its ``ind_fn``), an independent oracle."""
    lg = np.log
    if rho_s2 is None:

        def ind(t, b, c):
            return t * (-lg(c) + lg(t) - 1) / (lg(b) - lg(c))

        return [ind(rho_t, rho_s0, rho_s1) - ind(rho_s0, rho_s0, rho_s1),
                ind(rho_t, rho_s1, rho_s0) - ind(rho_s0, rho_s1, rho_s0)]  # fmt: skip

    def ind3(t, b, c, d):
        num = t * (lg(c) * (lg(d) - lg(t) + 1) - lg(d) * lg(t) + lg(d) + lg(t) ** 2 - 2 * lg(t) + 2)
        return num / ((lg(b) - lg(c)) * (lg(b) - lg(d)))

    return [ind3(rho_t, rho_s0, rho_s1, rho_s2) - ind3(rho_s0, rho_s0, rho_s1, rho_s2),
            ind3(rho_t, rho_s1, rho_s2, rho_s0) - ind3(rho_s0, rho_s1, rho_s2, rho_s0),
            ind3(rho_t, rho_s2, rho_s0, rho_s1) - ind3(rho_s0, rho_s2, rho_s0, rho_s1)]  # fmt: skip


def test_deis_weights_match_the_closed_forms():
    rho_t, rho_s0, rho_s1, rho_s2 = 0.7, 1.3, 2.9, 6.0
    ours = deis_coefficients([math.log(rho_s1), math.log(rho_s0)], math.log(rho_t))
    np.testing.assert_allclose(ours[::-1], _diffusers_deis_weights(rho_t, rho_s0, rho_s1), rtol=1e-10)
    ours = deis_coefficients([math.log(rho_s2), math.log(rho_s1), math.log(rho_s0)], math.log(rho_t))
    np.testing.assert_allclose(ours[::-1], _diffusers_deis_weights(rho_t, rho_s0, rho_s1, rho_s2), rtol=1e-10)
    # The weights integrate polynomials exactly: Σ w_j = ρ_t − ρ_s (a constant ε).
    assert math.isclose(float(ours.sum()), rho_t - rho_s0, rel_tol=1e-12)


def test_orders_warm_up_and_fall_back_at_the_end():
    assert [order_at(i, 8, 3) for i in range(8)] == [1, 2, 3, 3, 3, 3, 2, 1]
    assert [order_at(i, 2, 3) for i in range(2)] == [1, 1]


@pytest.mark.parametrize("name", ["dpmpp_3m", "unipc", "deis"])
def test_one_network_call_per_step_and_bad_orders_are_refused(name):
    s = make_schedule("linear", 100)
    model = CountingDenoiser(GaussianDenoiser(s))
    SAMPLERS[name](model, torch.randn(4, 2, dtype=torch.float64), s, 9)
    assert model.evaluations == evaluations_per_run(name, 9) == 9
    with pytest.raises(ValueError, match="order must be 1, 2 or 3"):
        SAMPLERS[name](model, torch.randn(4, 2), s, 9, order=4)
