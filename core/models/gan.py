"""A generative adversarial network: a generator G(z) and a discriminator D(x) in one module.

Goodfellow et al. 2014 ("Generative Adversarial Nets") train G to fool D; here two shapes of network:

- ``arch="mlp"`` for 2-D toys, as in GAN Lab (Kahng et al. 2019) and the unrolled-GAN / VEEGAN
  8-Gaussians experiments: G and D are a few fully connected ReLU / LeakyReLU layers.
- ``arch="dcgan"`` for images, after Radford et al. 2016 (DCGAN, §3 "architecture guidelines"):
  G = Linear(z) → (C₀, s/4, s/4) → [ConvTranspose 4×4 stride 2, BatchNorm, ReLU] × 2 → tanh;
  D = [Conv 4×4 stride 2, LeakyReLU 0.2] × 2 → Linear → one logit. (28 → 7, 32 → 8 at the bottom.)

``spectral_norm=True`` divides every weight of D by its largest singular value (Miyato et al. 2018,
"Spectral Normalization for GANs", eq. 8, one power iteration per forward pass), which bounds D's
Lipschitz constant: the usual stability switch, with R1 (in core/training/gan.py) the other one.
D outputs a logit; D's probability that x is real is sigmoid(logit).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from core.models.layers import config_from_dict

GAN_ARCHS = ("mlp", "dcgan")


def _check_whole(config, names_minimums) -> None:
    for name, minimum in names_minimums:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be a whole number of at least {minimum}, not {value!r}.")


@dataclass
class GANConfig:
    """Everything that defines a GAN; stored in checkpoints and rebuilt with ``GAN(config)``."""

    arch: str = "mlp"  # "mlp" (2-D points) or "dcgan" (images)
    latent_dim: int = 2  # size of z ~ N(0, I); 2 for the toys, so a latent grid can be drawn
    data_dim: int = 2  # mlp: dimension of a point
    hidden_dim: int = 128  # mlp: width of G and D
    num_layers: int = 3  # mlp: hidden layers of G and of D
    image_size: int = 32  # dcgan: 28 or 32 (any multiple of 4)
    channels: int = 1  # dcgan: image channels
    base_channels: int = 64  # dcgan: channels of the 2nd level (the 1st has twice as many)
    spectral_norm: bool = False  # spectral normalisation of every layer of D (Miyato et al. 2018)

    def __post_init__(self):
        if self.arch not in GAN_ARCHS:
            raise ValueError(f"A GAN's arch must be one of {', '.join(GAN_ARCHS)}, not {self.arch!r}.")
        _check_whole(
            self,
            (("latent_dim", 1), ("data_dim", 1), ("hidden_dim", 1), ("num_layers", 1), ("image_size", 4),
             ("channels", 1), ("base_channels", 1)),
        )  # fmt: skip
        if self.image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4 (two halvings), not {self.image_size}.")
        if not isinstance(self.spectral_norm, bool):
            raise ValueError(f"spectral_norm must be true or false, not {self.spectral_norm!r}.")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (data_dim,) or (channels, image_size, image_size)."""
        if self.arch == "mlp":
            return (self.data_dim,)
        return (self.channels, self.image_size, self.image_size)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GANConfig:
        return config_from_dict(cls, d)


def _mlp(sizes: list[int], activation) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class _Reshape(nn.Module):
    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


def _generator(c: GANConfig) -> nn.Module:
    if c.arch == "mlp":
        return _mlp([c.latent_dim] + [c.hidden_dim] * c.num_layers + [c.data_dim], nn.ReLU)
    s, ch = c.image_size // 4, c.base_channels
    return nn.Sequential(
        nn.Linear(c.latent_dim, 2 * ch * s * s),
        _Reshape(2 * ch, s, s),
        nn.BatchNorm2d(2 * ch),
        nn.ReLU(),
        nn.ConvTranspose2d(2 * ch, ch, 4, stride=2, padding=1),  # s → 2s
        nn.BatchNorm2d(ch),
        nn.ReLU(),
        nn.ConvTranspose2d(ch, c.channels, 4, stride=2, padding=1),  # 2s → 4s
        nn.Tanh(),  # images in [−1, 1], as the data
    )


def _discriminator(c: GANConfig) -> nn.Module:
    if c.arch == "mlp":
        net = _mlp([c.data_dim] + [c.hidden_dim] * c.num_layers + [1], lambda: nn.LeakyReLU(0.2))
    else:
        s, ch = c.image_size // 4, c.base_channels
        net = nn.Sequential(
            nn.Conv2d(c.channels, ch, 4, stride=2, padding=1),  # 4s → 2s
            nn.LeakyReLU(0.2),
            nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1),  # 2s → s
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * ch * s * s, 1),
        )
    if c.spectral_norm:
        for module in net.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                _spectral_norm(module)
    return net


class GAN(nn.Module):
    """``generator(z)`` → samples; ``discriminator(x)`` → one logit per sample (real if > 0)."""

    kind = "gan"

    def __init__(self, config: GANConfig | None = None):
        super().__init__()
        config = config if config is not None else GANConfig()
        if not isinstance(config, GANConfig):
            raise ValueError(f"GAN expects a GANConfig, not {type(config).__name__}.")
        self.config = config
        self.generator = _generator(config)
        self.discriminator = _discriminator(config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), shape (n, latent_dim), on the CPU (move it where the model is)."""
        return torch.randn((n, self.config.latent_dim), generator=generator)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z): (B, latent_dim) → samples (B, *sample_shape)."""
        if not torch.is_tensor(z) or z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(
                f"The generator takes latents shaped (batch, {self.config.latent_dim}), "
                f"not {tuple(z.shape) if torch.is_tensor(z) else type(z).__name__}."
            )
        return self.generator(z)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """D's logit for each sample, shape (B,)."""
        shape = self.config.sample_shape
        if not torch.is_tensor(x) or tuple(x.shape[1:]) != shape:
            raise ValueError(
                f"The discriminator takes samples shaped (batch, {', '.join(map(str, shape))}), "
                f"not {tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}."
            )
        return self.discriminator(x).reshape(-1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generate(z)


@torch.no_grad()
def sample_gan(gan: GAN, n: int, seed: int = 0, batch_size: int = 500) -> torch.Tensor:
    """``n`` samples G(z), z ~ N(0, I) drawn from ``seed`` (eval mode: BatchNorm's running statistics)."""
    gan.eval()
    g = torch.Generator().manual_seed(seed)
    return torch.cat([gan.generate(gan.sample_latents(min(batch_size, n - i), g)) for i in range(0, n, batch_size)])
