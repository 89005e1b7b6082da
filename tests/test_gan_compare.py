"""core.evaluation.compare: the measured table's rules (a GAN has no likelihood; each kind samples as
it should) and latent interpolation (slerp keeps a Gaussian draw's norm; DDIM from x_T is deterministic)."""

from __future__ import annotations

import math

import pytest
import torch

from core.diffusion.schedules import make_schedule
from core.evaluation.compare import draw_samples, interpolations, measure_points, slerp
from core.models.gan import GAN, GANConfig
from core.models.mlp import MLPConfig, MLPDenoiser
from core.models.vae import VAE, VAEConfig


def test_slerp_ends_at_both_latents_and_keeps_the_norm_of_gaussian_draws():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(512, generator=g), torch.randn(512, generator=g)
    path = slerp(a, b, torch.linspace(0, 1, 5))
    torch.testing.assert_close(path[0], a, atol=1e-4, rtol=0)
    torch.testing.assert_close(path[-1], b, atol=1e-4, rtol=0)
    # two draws are almost orthogonal with norms ≈ √512: the midpoint keeps the norm, a straight line loses ~1/√2
    assert float(path[2].norm()) == pytest.approx(math.sqrt(512), rel=0.08)
    assert float(((a + b) / 2).norm()) == pytest.approx(math.sqrt(512) / math.sqrt(2), rel=0.08)


def test_each_kind_samples_and_is_measured_by_its_own_rules():
    torch.manual_seed(0)
    schedule = make_schedule("cosine", 100)
    diffusion = MLPDenoiser(MLPConfig(hidden_dim=16, num_blocks=1))
    gan, vae = GAN(GANConfig(hidden_dim=16, num_layers=1)), VAE(VAEConfig(hidden_dim=16, num_layers=1))
    samples, calls = draw_samples("diffusion", diffusion, 10, schedule=schedule, steps=7)
    assert samples.shape == (10, 2) and calls == 7
    assert draw_samples("gan", gan, 10)[1] == 1 and draw_samples("vae", vae, 10)[0].shape == (10, 2)
    with pytest.raises(ValueError, match="kind of model"):
        draw_samples("flow", gan, 10)

    m_gan = measure_points("gan", gan, "eight_gaussians", n=100, likelihood_points=20)
    assert m_gan.nll is None and m_gan.nll_note == "cannot compute"
    assert m_gan.sampling_parameters < m_gan.parameters  # D is trained but not needed to sample
    m_vae = measure_points("vae", vae, "eight_gaussians", n=100, likelihood_points=50)
    assert m_vae.nll <= m_vae.elbo_nll + 1e-6  # −L_64 ≤ −ELBO
    m_diff = measure_points("diffusion", diffusion, "eight_gaussians", schedule=schedule, n=100, likelihood_points=20)
    assert math.isfinite(m_diff.nll) and "exact" in m_diff.nll_note and m_diff.network_calls_per_sample == 50


def test_ddim_interpolation_is_deterministic_and_gan_paths_start_at_g_of_z():
    torch.manual_seed(0)
    schedule = make_schedule("cosine", 100)
    diffusion = MLPDenoiser(MLPConfig(hidden_dim=16, num_blocks=1))
    first = interpolations("diffusion", diffusion, schedule, count=4, steps=5)
    again = interpolations("diffusion", diffusion, schedule, count=4, steps=5)
    assert first.shape == (4, 2) and torch.equal(first, again)
    gan = GAN(GANConfig(latent_dim=3, hidden_dim=16, num_layers=1))
    path = interpolations("gan", gan, count=3, seed=1)
    g = torch.Generator().manual_seed(1)
    z0 = torch.randn(3, generator=g)
    torch.testing.assert_close(path[0], gan.generate(z0[None])[0].detach(), atol=1e-4, rtol=0)
