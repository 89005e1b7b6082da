"""A variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

An encoder q_φ(z|x) = N(μ_φ(x), diag σ²_φ(x)), a decoder p_θ(x|z), a prior p(z) = N(0, I), trained by
maximising the evidence lower bound (ELBO, Kingma & Welling eq. 3):

    log p_θ(x) ≥ ELBO(x) = E_{q_φ(z|x)}[log p_θ(x|z)] − KL(q_φ(z|x) ‖ p(z))

with z = μ + σ·ε (the reparameterisation trick, §2.4) and the KL in closed form (Appendix B).
The gap is KL(q_φ(z|x) ‖ p_θ(z|x)) ≥ 0. ``importance_weighted_bound`` (Burda et al. 2016, eq. 8)
tightens it with K samples: ELBO ≤ L_K ≤ log p_θ(x), and L_K → log p_θ(x) as K → ∞.

Two shapes of network:

- ``arch="mlp"`` for 2-D toys: MLP encoder and decoder; the decoder outputs a mean and a log-variance
  per coordinate (a continuous Gaussian density, so the bound is in nats per point and comparable with
  the diffusion model's exact log p(x) by the probability-flow ODE).
- ``arch="conv"`` for images: Conv 4×4 stride 2 ×2 → Linear → (μ, log σ²) and the mirror image for
  the decoder. p_θ(x|z) is a Gaussian with one learned scale shared by all pixels (the "σ-VAE" of
  Rybkin et al. 2021), discretised to the 256 bins of 8-bit data (Ho et al. 2020 eq. 13), so the bound
  is on the probability of the discrete image, in the same bits/dim as the diffusion VLB.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from core.diffusion.likelihood import discretized_gaussian_log_likelihood, gaussian_kl
from core.models.layers import config_from_dict

VAE_ARCHS = ("mlp", "conv")


@dataclass
class VAEConfig:
    """Everything that defines a VAE; stored in checkpoints and rebuilt with ``VAE(config)``."""

    arch: str = "mlp"  # "mlp" (2-D points) or "conv" (images)
    latent_dim: int = 2  # size of z
    data_dim: int = 2  # mlp: dimension of a point
    hidden_dim: int = 128  # mlp: width of encoder and decoder
    num_layers: int = 3  # mlp: hidden layers of each
    image_size: int = 32  # conv: 28 or 32 (a multiple of 4)
    channels: int = 1  # conv: image channels
    base_channels: int = 32  # conv: channels of the first level (the second has twice as many)

    def __post_init__(self):
        if self.arch not in VAE_ARCHS:
            raise ValueError(f"A VAE's arch must be one of {', '.join(VAE_ARCHS)}, not {self.arch!r}.")
        for name, minimum in (
            ("latent_dim", 1),
            ("data_dim", 1),
            ("hidden_dim", 1),
            ("num_layers", 1),
            ("image_size", 4),
            ("channels", 1),
            ("base_channels", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be a whole number of at least {minimum}, not {value!r}.")
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two halvings), not {self.image_size}.")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        if self.arch == "mlp":
            return (self.data_dim,)
        return (self.channels, self.image_size, self.image_size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VAEConfig:
        return config_from_dict(cls, d)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """``encode(x)`` → (μ, log σ²) of q(z|x); ``decode(z)`` → (mean, log scale) of p(x|z)."""

    kind = "vae"

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        config = config if config is not None else VAEConfig()
        if not isinstance(config, VAEConfig):
            raise ValueError(f"VAE expects a VAEConfig, not {type(config).__name__}.")
        self.config = config
        c = config
        if c.arch == "mlp":
            self.encoder = _mlp([c.data_dim] + [c.hidden_dim] * c.num_layers + [2 * c.latent_dim])
            self.decoder = _mlp([c.latent_dim] + [c.hidden_dim] * c.num_layers + [2 * c.data_dim])
        else:
            s, ch = c.image_size // 4, c.base_channels
            self.encoder = nn.Sequential(
                nn.Conv2d(c.channels, ch, 4, stride=2, padding=1),
                nn.SiLU(),
                nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1),
                nn.SiLU(),
                nn.Flatten(),
                nn.Linear(2 * ch * s * s, 2 * c.latent_dim),
            )
            self.decoder = nn.Sequential(
                nn.Linear(c.latent_dim, 2 * ch * s * s),
                nn.SiLU(),
                nn.Unflatten(1, (2 * ch, s, s)),
                nn.ConvTranspose2d(2 * ch, ch, 4, stride=2, padding=1),
                nn.SiLU(),
                nn.ConvTranspose2d(ch, c.channels, 4, stride=2, padding=1),
            )
            # One learned log σ for every pixel (σ-VAE), starting at σ = 1.
            self.decoder_log_scale = nn.Parameter(torch.zeros(()))

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _check(self, x: torch.Tensor) -> None:
        shape = self.config.sample_shape
        if not torch.is_tensor(x) or tuple(x.shape[1:]) != shape:
            raise ValueError(
                f"The VAE takes samples shaped (batch, {', '.join(map(str, shape))}), "
                f"not {tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}."
            )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ and log σ² of q(z|x), each (B, latent_dim)."""
        self._check(x)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log scale (log σ) of p(x|z), each shaped like a batch of samples."""
        if self.config.arch == "mlp":
            mean, log_var = self.decoder(z).chunk(2, dim=1)
            return mean, 0.5 * log_var.clamp(-14.0, 6.0)
        mean = self.decoder(z)
        return mean, self.decoder_log_scale.clamp(-7.0, 2.0).expand_as(mean)

    def log_likelihood_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p_θ(x|z) per example, nats: a Gaussian density for points, discretised bins for images."""
        mean, log_scale = self.decode(z)
        if self.config.arch == "mlp":
            per = -0.5 * math.log(2 * math.pi) - log_scale - 0.5 * ((x - mean) * torch.exp(-log_scale)) ** 2
        else:
            per = discretized_gaussian_log_likelihood(x, mean, log_scale)
        return per.reshape(x.shape[0], -1).sum(dim=1)

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean at z: what 'a sample of the VAE' shows (images clipped to [−1, 1])."""
        mean, _ = self.decode(z)
        return mean if self.config.arch == "mlp" else mean.clamp(-1.0, 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.sample(z)


def elbo_terms(
    model: VAE, x: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(E_q[log p(x|z)] with one reparameterised z, KL(q(z|x) ‖ N(0, I))) per example, nats.

    ELBO = reconstruction − KL (Kingma & Welling eq. 10); the KL is exact (their Appendix B).
    """
    mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=generator).to(mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation, §2.4
    recon = model.log_likelihood_given_z(x, z)
    kl = gaussian_kl(mu, logvar, torch.zeros_like(mu), torch.zeros_like(logvar)).sum(dim=1)
    return recon, kl


@torch.no_grad()
def importance_weighted_bound(
    model: VAE, x: torch.Tensor, samples: int = 64, generator: torch.Generator | None = None
) -> torch.Tensor:
    """L_K = log (1/K) Σ_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x) (Burda et al. 2016, eq. 8), per example, nats.

    K = 1 is the ELBO in expectation; L_K grows with K towards log p_θ(x).
    """
    if samples < 1:
        raise ValueError(f"The importance-weighted bound needs at least one sample, not {samples}.")
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    log_weights = []
    for _ in range(samples):
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        z = mu + std * eps
        log_q = (-0.5 * math.log(2 * math.pi) - 0.5 * logvar - 0.5 * eps**2).sum(dim=1)
        log_prior = (-0.5 * math.log(2 * math.pi) - 0.5 * z**2).sum(dim=1)
        log_weights.append(model.log_likelihood_given_z(x, z) + log_prior - log_q)
    return torch.logsumexp(torch.stack(log_weights), dim=0) - math.log(samples)


@torch.no_grad()
def sample_vae(vae: VAE, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples: the decoder's mean at z ~ N(0, I) from ``seed`` (the usual way VAE samples are shown).

    For 2-D data the full generative model also adds the decoder's noise; ``sample_vae_noisy`` does that.
    """
    vae.eval()
    z = torch.randn((n, vae.latent_dim), generator=torch.Generator().manual_seed(seed))
    return vae.sample(z)


@torch.no_grad()
def sample_vae_noisy(vae: VAE, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` draws of the VAE's model p(x) = ∫ p(x|z) p(z) dz: z ~ N(0, I), then x ~ p(x|z)."""
    vae.eval()
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, vae.latent_dim), generator=g)
    mean, log_scale = vae.decode(z)
    return mean + torch.exp(log_scale) * torch.randn(mean.shape, generator=g)
