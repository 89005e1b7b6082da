"""The KL-regularised autoencoder of latent diffusion, small enough to train on a classroom CPU.

Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models", §3.1 and
Appendix G: an encoder ℰ maps an image x (H×W×C) to a latent z = ℰ(x) (h×w×c, downsampled by
f = H/h), a decoder 𝒟 maps it back, x̃ = 𝒟(z). The "KL-reg." variant makes the encoder output a
diagonal Gaussian q(z|x) = N(μ(x), σ²(x)) and adds a *small* KL penalty towards N(0, I), so the
latent space stays tame without the blur of a full VAE (the paper weighs it by about 10⁻⁶; we use
per-element averages, so our weight is larger for the same effect). Diffusion then runs on z scaled
by one number, the *scale factor* 1/std(z), so the latents the U-Net sees have unit variance
(Stable Diffusion's 0.18215 is exactly this, measured on its first training batch; §4.3.2).

Here: 32×32×C → 8×8×4 (f = 4), two stride-2 convolutions down and two nearest-neighbour upsamplings
up, one residual block per level. Fashion-MNIST is padded to 32×32 (background −1) as everywhere in
the project, so the same network serves shapes (C = 3) and Fashion-MNIST (C = 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from core.models.layers import config_from_dict


@dataclass
class AutoencoderConfig:
    """Everything that defines an autoencoder; stored in its file and rebuilt with ``Autoencoder(config)``."""

    in_channels: int = 3  # image channels: 3 for the coloured shapes, 1 for Fashion-MNIST
    image_size: int = 32  # side of the (square) images
    latent_channels: int = 4  # c of the latent h×w×c (Stable Diffusion also uses 4)
    channels: tuple[int, ...] = (16, 32, 64)  # width at each level; len − 1 stride-2 steps, so f = 2^(len−1)
    num_groups: int = 8  # GroupNorm groups; must divide every width

    def __post_init__(self):
        if isinstance(self.channels, list):
            self.channels = tuple(self.channels)
        for name in ("in_channels", "image_size", "latent_channels", "num_groups"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}.")
        if not isinstance(self.channels, tuple) or not self.channels:
            raise ValueError("channels must be a non-empty list of widths, e.g. (16, 32, 64).")
        for width in self.channels:
            if isinstance(width, bool) or not isinstance(width, int) or width < 1 or width % self.num_groups:
                raise ValueError(f"every width must be a positive multiple of num_groups ({self.num_groups}).")
        if self.image_size % self.downsample_factor:
            raise ValueError(
                f"image_size {self.image_size} cannot be halved {len(self.channels) - 1} times; "
                f"it must be a multiple of {self.downsample_factor}."
            )

    @property
    def downsample_factor(self) -> int:
        """f = H / h (the paper's downsampling factor)."""
        return 2 ** (len(self.channels) - 1)

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(c, h, w) of one latent."""
        side = self.image_size // self.downsample_factor
        return (self.latent_channels, side, side)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> AutoencoderConfig:
        return config_from_dict(cls, d)


@dataclass
class DiagonalGaussian:
    """The encoder's posterior q(z|x) = N(mean, exp(logvar)), per latent element."""

    mean: torch.Tensor  # (B, c, h, w)
    logvar: torch.Tensor  # (B, c, h, w), clamped to [−30, 20] as in the LDM code

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = μ + σ·ε, ε ~ N(0, I) (the reparameterisation trick, Kingma & Welling 2014)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        return self.mean


def kl_to_standard_normal(posterior: DiagonalGaussian) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) per example, summed over latent elements (Kingma & Welling 2014, App. B):

    KL = ½ Σ (μ² + σ² − 1 − log σ²)
    """
    mean, logvar = posterior.mean, posterior.logvar
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1)


class _ResBlock(nn.Module):
    """GN → SiLU → conv3×3 → GN → SiLU → conv3×3, plus the input (no time embedding: not a denoiser)."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.GroupNorm(groups, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(groups, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class Autoencoder(nn.Module):
    """ℰ and 𝒟 of a KL-regularised autoencoder (see the module docstring).

    ``encode(x)`` → ``DiagonalGaussian`` over latents (B, c, h, w); ``decode(z)`` → images (B, C, H, W)
    in about [−1, 1]; ``forward(x)`` → (reconstruction from a posterior sample, posterior).
    ``scale_factor`` (a buffer, 1 until measured) is 1/std of the dataset's latent means: diffusion
    runs on ``z · scale_factor``.
    """

    def __init__(self, config: AutoencoderConfig | None = None):
        super().__init__()
        self.config = config = config or AutoencoderConfig()
        widths, groups = config.channels, config.num_groups
        enc: list[nn.Module] = [nn.Conv2d(config.in_channels, widths[0], 3, padding=1)]
        for i, width in enumerate(widths):
            if i > 0:
                enc.append(nn.Conv2d(widths[i - 1], width, 3, stride=2, padding=1))  # halve the side
            enc.append(_ResBlock(width, groups))
        enc += [
            nn.GroupNorm(groups, widths[-1]),
            nn.SiLU(),
            nn.Conv2d(widths[-1], 2 * config.latent_channels, 3, padding=1),
        ]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv2d(config.latent_channels, widths[-1], 3, padding=1)]
        for i in range(len(widths) - 1, -1, -1):
            dec.append(_ResBlock(widths[i], groups))
            if i > 0:
                dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(widths[i], widths[i - 1], 3, padding=1)]
        dec += [nn.GroupNorm(groups, widths[0]), nn.SiLU(), nn.Conv2d(widths[0], config.in_channels, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)
        self.register_buffer("scale_factor", torch.ones(()))

    def _check_images(self, x: torch.Tensor) -> None:
        c, s = self.config.in_channels, self.config.image_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise ValueError(
                f"This autoencoder takes images of {c} channel(s) at {s}×{s} pixels, shaped (B, {c}, {s}, {s}); "
                f"got a tensor shaped {tuple(x.shape)}."
            )

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        self._check_images(x)
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return DiagonalGaussian(mean, logvar.clamp(-30.0, 20.0))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 4 or tuple(z.shape[1:]) != self.config.latent_shape:
            raise ValueError(
                f"This decoder takes latents shaped (B, {', '.join(map(str, self.config.latent_shape))}); "
                f"got {tuple(z.shape)}."
            )
        return self.decoder(z)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        posterior = self.encode(x)
        return self.decode(posterior.sample(generator)), posterior

    # Diffusion works on scaled latents: z_diffusion = scale_factor · ℰ(x).mean, and back by dividing.
    def encode_scaled(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x).mode() * self.scale_factor

    def decode_scaled(self, z_scaled: torch.Tensor) -> torch.Tensor:
        return self.decode(z_scaled / self.scale_factor)


@torch.no_grad()
def measure_scale_factor(model: Autoencoder, images: torch.Tensor, batch_size: int = 256) -> float:
    """1 / std of the latent means of ``images`` (all elements pooled), as Stable Diffusion's scale factor."""
    means = torch.cat([model.encode(images[i : i + batch_size]).mode() for i in range(0, len(images), batch_size)])
    std = float(means.float().std())
    if not std > 0:
        raise ValueError("The latents of these images have no spread, so no scale factor can be measured.")
    return 1.0 / std


@dataclass
class Reconstruction:
    """One pass through the autoencoder, everything the Latent diffusion view shows (CPU float32)."""

    latent: torch.Tensor  # (B, c, h, w) the scaled latent s · μ(x) that diffusion works on
    reconstruction: torch.Tensor  # (B, C, H, W) 𝒟(μ(x))
    error_map: torch.Tensor  # (B, H, W) |x − 𝒟(μ(x))| averaged over channels
    mse: torch.Tensor  # (B,) mean squared error per pixel
    psnr_db: torch.Tensor  # (B,) 10 log₁₀(2² / MSE): the peak-to-peak range of [−1, 1] is 2


@torch.no_grad()
def reconstruct(model: Autoencoder, x: torch.Tensor) -> Reconstruction:
    """Encode ``x`` to its posterior mean, decode it, and measure what was lost."""
    mean = model.encode(x).mode()
    x_rec = model.decode(mean)
    diff = x_rec - x
    mse = diff.pow(2).flatten(1).mean(1)
    return Reconstruction(
        (mean * model.scale_factor).float(),
        x_rec.float(),
        diff.abs().mean(1).float(),
        mse.float(),
        (10.0 * torch.log10(4.0 / mse.clamp_min(1e-12))).float(),
    )
