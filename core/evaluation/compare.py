"""Diffusion vs GAN vs VAE, measured on the same data with the same code (issue 14).

``measure_model(kind, model, ...)`` draws samples the way each kind of model samples and scores them
with the project's metrics, so the seed's comparison table is measured instead of asserted:

- **samples**: diffusion by DDIM (``steps`` network calls per sample), a GAN by one call G(z), a VAE
  by one decoder call (images: the decoder mean; points: z ~ N(0, I), then x ~ p(x|z), the model
  whose likelihood the ELBO bounds);
- **fidelity / diversity**: improved precision and recall (Kynkäänniemi et al. 2019) against fresh
  data (the classifier's features for images, the points themselves in 2-D), FID for images, MMD²
  for points, VEEGAN's mode count on 8 Gaussians (``core.evaluation.mode_coverage``);
- **likelihood**, where it exists: diffusion's exact log p(x) by the probability-flow ODE in 2-D and
  the DDPM variational bound for images; the VAE's ELBO and importance-weighted bound (−log p ≤ −L_K
  ≤ −ELBO); a GAN defines no density, so "cannot compute";
- **cost**: seconds per sample (measured here), parameters (all, and those sampling needs).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from core.evaluation.metrics import mmd_rbf, precision_recall
from core.evaluation.mode_coverage import ModeCoverage, mode_coverage
from core.models.registry import count_parameters

KINDS = ("diffusion", "gan", "vae")
SHIPPED = {  # the shipped Fashion-MNIST models, under resources/
    "diffusion": ("models", "fmnist_unet.safetensors"),
    "gan": ("models", "compare", "fmnist_gan.safetensors"),
    "vae": ("models", "compare", "fmnist_vae.safetensors"),
}
KIND_TITLES = {"diffusion": "Diffusion", "gan": "GAN", "vae": "VAE"}


@dataclass
class Measurement:
    """One model's row of numbers. ``nll`` is None where the model defines no likelihood (a GAN)."""

    kind: str
    num_samples: int
    parameters: int  # every trained weight (a GAN's discriminator included)
    sampling_parameters: int  # what drawing a sample needs (G; the VAE's decoder; the whole denoiser)
    seconds_per_sample: float
    network_calls_per_sample: int
    precision: float
    recall: float
    nll: float | None = None  # nats per point (2-D) or bits/dim (images); an upper bound for the VAE
    nll_note: str = "cannot compute"  # how nll was obtained, in words
    elbo_nll: float | None = None  # the VAE's −ELBO, same units
    mmd: float | None = None  # 2-D
    modes: ModeCoverage | None = None  # 8 Gaussians
    fid: float | None = None  # images
    extra: dict = field(default_factory=dict)


@torch.no_grad()
def draw_samples(kind: str, model, n: int, *, schedule=None, steps: int = 50, seed: int = 0):
    """(samples, network calls per sample) drawn as each kind samples (see the module docstring)."""
    if kind == "diffusion":
        from core.evaluation.metrics import sample_images

        samples, _ = sample_images(model, schedule, n, sampler="ddim", steps=steps, seed=seed)
        return samples, steps
    if kind == "gan":
        from core.models.gan import sample_gan

        return sample_gan(model, n, seed=seed), 1
    if kind == "vae":
        from core.models.vae import sample_vae, sample_vae_noisy

        sample = sample_vae_noisy if model.config.arch == "mlp" else sample_vae
        return sample(model, n, seed=seed), 1
    raise ValueError(f"Unknown kind of model {kind!r}: one of {', '.join(KINDS)}.")


def _sampling_parameters(kind: str, model) -> int:
    if kind == "gan":
        return count_parameters(model.generator)
    if kind == "vae":
        return count_parameters(model.decoder) + (1 if hasattr(model, "decoder_log_scale") else 0)
    return count_parameters(model)


def _timed_samples(kind, model, n, schedule, steps, seed):
    model.eval()
    start = time.perf_counter()
    samples, calls = draw_samples(kind, model, n, schedule=schedule, steps=steps, seed=seed)
    return samples, calls, (time.perf_counter() - start) / n


def measure_points(
    kind: str,
    model,
    dataset: str,
    *,
    schedule=None,
    n: int = 2000,
    likelihood_points: int = 500,
    steps: int = 50,
    seed: int = 0,
) -> Measurement:
    """Score a 2-D model of the toy ``dataset`` (a ``core.data.TOY_DATASETS`` name) against fresh points."""
    from core.data import make_toy_2d

    samples, calls, seconds = _timed_samples(kind, model, n, schedule, steps, seed)
    samples = samples.float()
    if not bool(torch.isfinite(samples).all()):
        raise ValueError(f"The {KIND_TITLES[kind]} drew NaN or infinite samples; it has diverged.")
    truth = make_toy_2d(dataset, n, seed=12345).points
    pr = precision_recall(truth.numpy(), samples.numpy(), k=3)
    result = Measurement(
        kind, n, count_parameters(model), _sampling_parameters(kind, model), seconds, calls, pr.precision, pr.recall,
        mmd=mmd_rbf(samples, truth), modes=mode_coverage(samples) if dataset == "eight_gaussians" else None,
    )  # fmt: skip
    held_out = make_toy_2d(dataset, likelihood_points, seed=777).points
    if kind == "diffusion":
        from core.diffusion.likelihood import log_likelihood

        ll = log_likelihood(model, held_out, schedule)
        result.nll, result.nll_note = ll.nll, "exact −log p(x) by the probability-flow ODE"
    elif kind == "vae":
        result.nll, result.elbo_nll = _vae_bounds(model, held_out, seed)
        result.nll_note = "upper bound −L₆₄ (importance-weighted); −ELBO is looser"
    return result


@torch.no_grad()
def _vae_bounds(vae, x: torch.Tensor, seed: int, samples: int = 64) -> tuple[float, float]:
    from core.models.vae import elbo_terms, importance_weighted_bound

    g = torch.Generator().manual_seed(seed)
    recon, kl = elbo_terms(vae, x, g)
    iw = importance_weighted_bound(vae, x, samples, g)
    return float(-iw.mean()), float((kl - recon).mean())


def measure_images(
    kind: str, model, *, schedule=None, n: int = 500, steps: int = 50, seed: int = 0, likelihood_images: int = 100
) -> Measurement:
    """Score a Fashion-MNIST model with the project's classifier features: FID, precision, recall, likelihood."""
    from core.evaluation.metrics import evaluate_images, heldout_real_images

    samples, calls, seconds = _timed_samples(kind, model, n, schedule, steps, seed)
    scores = evaluate_images(samples.clamp(-1, 1))
    result = Measurement(
        kind, n, count_parameters(model), _sampling_parameters(kind, model), seconds, calls, scores["precision"],
        scores["recall"], fid=scores["fid"], extra={"kid": scores["kid"]},
    )  # fmt: skip
    if likelihood_images:
        real, _ = heldout_real_images(likelihood_images, seed=seed)
        dims = real[0].numel() * math.log(2.0)
        if kind == "diffusion":
            from core.diffusion.likelihood import stratified_timesteps, variational_bound

            ts, w = stratified_timesteps(schedule, 50, torch.Generator().manual_seed(seed), exact_below=20)
            vlb = variational_bound(model, real, schedule, timesteps=ts, weights=w)
            result.nll, result.nll_note = vlb.total_nats / dims, "DDPM variational bound (bits/dim)"
        elif kind == "vae":
            iw, elbo = _vae_bounds(model, real, seed, samples=16)
            result.nll, result.elbo_nll = iw / dims, elbo / dims
            result.nll_note = "upper bound −L₁₆ (bits/dim); −ELBO is looser"
    return result


def slerp(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985) between two Gaussian draws, one row per weight: it keeps
    the norm a N(0, I) sample typically has, where a straight line passes through unlikely small norms."""
    a_flat, b_flat = a.reshape(-1).double(), b.reshape(-1).double()
    omega = torch.arccos((a_flat @ b_flat / (a_flat.norm() * b_flat.norm())).clamp(-1.0, 1.0))
    w = weights.double().reshape(-1, 1)
    if float(omega) < 1e-6:
        out = (1 - w) * a_flat + w * b_flat
    else:
        out = (torch.sin((1 - w) * omega) * a_flat + torch.sin(w * omega) * b_flat) / torch.sin(omega)
    return out.float().reshape(len(weights), *a.shape)


@torch.no_grad()
def interpolations(kind: str, model, schedule=None, *, count: int = 8, steps: int = 20, seed: int = 1) -> torch.Tensor:
    """``count`` samples along a path between two latents: G(z) for a GAN, the decoder mean for a VAE, and
    DDIM (η = 0, deterministic) from x_T for diffusion, whose "latent" is the starting noise (Song et al.
    2021, §5.3). Returns (count, *sample shape)."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.linspace(0.0, 1.0, count)
    if kind == "diffusion":
        from core.diffusion.samplers import sample_ddim
        from core.evaluation.metrics import _sample_shape

        shape = _sample_shape(model)
        x_T = slerp(torch.randn(shape, generator=g), torch.randn(shape, generator=g), weights)
        return sample_ddim(model, x_T, schedule, steps, clip_x0="clip" if len(shape) == 3 else None)
    z = slerp(torch.randn(model.latent_dim, generator=g), torch.randn(model.latent_dim, generator=g), weights)
    model.eval()
    return model.generate(z) if kind == "gan" else model.sample(z)


def load_shipped_models(kinds=KINDS) -> dict:
    """kind → (model, schedule or None, metadata) of the shipped Fashion-MNIST U-Net, GAN and VAE."""
    from core.io import load_denoiser
    from core.io.generative_checkpoints import load_generative
    from core.runtime.resources import resource_path

    out = {}
    for kind in kinds:
        path = resource_path(*SHIPPED[kind])
        if kind == "diffusion":
            ckpt = load_denoiser(path)
            out[kind] = (ckpt.model, ckpt.schedule, ckpt.metadata)
        else:
            ckpt = load_generative(path, kind)
            out[kind] = (ckpt.model, None, ckpt.metadata)
    return out
