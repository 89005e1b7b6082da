"""The VAE: its ELBO is below the true log-likelihood of a 2-D Gaussian (and close after training), the
importance-weighted bound lies between, it learns 8 Gaussians, and its checkpoints load only as a VAE."""

from __future__ import annotations

import math

import pytest
import torch

from core.data import PointDataset
from core.evaluation.metrics import evaluate_points
from core.io import CheckpointError, load_checkpoint
from core.io.generative_checkpoints import load_generative, save_generative
from core.models.vae import VAE, VAEConfig, elbo_terms, importance_weighted_bound
from core.training import TrainingDiverged
from core.training.events import Finished, Started
from core.training.generative import VAELatents, VAEStep
from core.training.vae import VAETrainConfig, sample_vae_noisy, train_vae

SMALL = dict(batch_size=128, model=dict(hidden_dim=64), threads=1, preview_every=0, log_every=50)
MEAN = torch.tensor([0.3, -0.2])
CHOLESKY = torch.tensor([[1.0, 0.0], [0.8, 0.5]])  # Σ = L Lᵀ


def gaussian_points(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed)) @ CHOLESKY.T + MEAN


def true_log_density(x: torch.Tensor) -> torch.Tensor:
    return torch.distributions.MultivariateNormal(MEAN, scale_tril=CHOLESKY).log_prob(x)


def finished(events) -> Finished:
    return next(e for e in events if isinstance(e, Finished))


def test_elbo_is_below_the_true_log_likelihood_of_a_gaussian_and_close_after_training():
    data = PointDataset(gaussian_points(4096, seed=0), name="gaussian")
    events = list(train_vae(VAETrainConfig(steps=300, **SMALL), data=data))
    vae = finished(events).model
    fresh = gaussian_points(20_000, seed=1)  # E_data[ELBO] ≤ E_data[log p_θ] ≤ E_data[log p_data]
    with torch.no_grad():
        recon, kl = elbo_terms(vae, fresh, torch.Generator().manual_seed(2))
        elbo = float((recon - kl).mean())
        iw = float(importance_weighted_bound(vae, fresh[:4000], 32, torch.Generator().manual_seed(3)).mean())
    truth = float(true_log_density(fresh).mean())  # −entropy = −(log 2π + ½ log det Σ + 1)
    assert truth == pytest.approx(-(math.log(2 * math.pi) + math.log(0.5) + 1), abs=0.02)
    assert elbo <= truth
    assert truth - elbo < 0.15  # it learned: within 0.15 nats of the best possible
    assert elbo - 0.01 <= iw <= float(true_log_density(fresh[:4000]).mean()) + 0.01

    untrained = VAE(VAEConfig(hidden_dim=64))
    with torch.no_grad():
        r0, k0 = elbo_terms(untrained, fresh, torch.Generator().manual_seed(2))
    assert elbo > float((r0 - k0).mean()) + 0.5


def test_vae_learns_eight_gaussians_and_reports_its_terms():
    config = VAETrainConfig(steps=300, kl_warmup_steps=100, data_limit=4096, latents_every=300, **SMALL)
    events = list(train_vae(config))
    assert isinstance(events[0], Started)
    steps = [e for e in events if isinstance(e, VAEStep)]
    assert all(e.loss == pytest.approx(e.recon + e.kl, rel=1e-4) for e in steps)
    assert steps[-1].loss < steps[0].loss
    latents = next(e for e in events if isinstance(e, VAELatents))
    assert latents.means.shape == (1000, 2) and latents.labels.shape == (1000,)
    assert latents.mapped_grid.shape == (15, 15, 2)
    before = evaluate_points(sample_vae_noisy(VAE(VAEConfig(hidden_dim=64)), 2000, seed=5), "eight_gaussians")
    after = evaluate_points(sample_vae_noisy(finished(events).model, 2000, seed=5), "eight_gaussians")
    assert after["mmd"] < before["mmd"] / 1.5  # an untrained VAE already draws a broad blob of the right spread


def test_nan_data_stops_with_an_explanation():
    data = PointDataset(torch.full((64, 2), float("nan")))
    with pytest.raises(TrainingDiverged, match="negative ELBO"):
        list(train_vae(VAETrainConfig(steps=3, **SMALL), data=data))


def test_conv_vae_round_trip_and_kind_check(tmp_path):
    torch.manual_seed(0)
    vae = VAE(VAEConfig(arch="conv", latent_dim=4, base_channels=4, image_size=32))
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        recon, kl = elbo_terms(vae, x, torch.Generator().manual_seed(0))
    assert recon.shape == (2,) and (recon < 0).all() and (kl >= 0).all()  # a probability of bins is ≤ 1
    path = save_generative(tmp_path / "v", vae)
    loaded = load_generative(path, "vae").model
    z = torch.randn(3, 4)
    with torch.no_grad():
        assert torch.equal(loaded.sample(z), vae.eval().sample(z))
    with pytest.raises(CheckpointError, match="holds a VAE, not a diffusion model"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="holds a VAE, not a GAN"):
        load_generative(path, "gan")
    with pytest.raises(ValueError, match="samples shaped"):
        vae.encode(torch.zeros(1, 1, 28, 28))
