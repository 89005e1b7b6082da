"""The project's Fashion-MNIST classifier: the feature network behind FID, KID and class accuracy.

FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018) compare generated and real images in the
feature space of a trained classifier, usually Inception-v3 trained on ImageNet. Those weights cannot
be downloaded in an offline classroom, and ImageNet features say little about 32×32 grayscale
garments anyway, so the project trains its own small CNN on Fashion-MNIST
(``scripts/train_classifier.py``) and ships the weights in ``resources/models/``. Numbers measured
with it are comparable with each other, not with published Inception-based FIDs.

Architecture (VGG-style, with BatchNorm so that a few epochs of AdamW suffice; narrow at full
resolution so that training takes minutes on two CPU cores, ~7M multiply-adds per image)::

    32×32×1 → [conv3·BN·ReLU ×1, 16 ch] → maxpool → 16×16
            → [conv3·BN·ReLU ×2, 32 ch] → maxpool → 8×8
            → [conv3·BN·ReLU ×2, 64 ch] → maxpool → 4×4 → flatten (1024)
            → linear → BN → ReLU  = ``features`` (128-d, the analogue of Inception's pool3)
            → dropout → linear    = ``logits`` (10 classes)

The input is the project's image convention: float (B, 1, 32, 32) in [−1, 1], Fashion-MNIST padded
from 28×28 with the background value −1. 28×28 inputs are padded the same way. Everything a
generated image puts into the 2-pixel border is seen by the network, so a model that paints the
border is penalised.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

IMAGE_SIZE = 32  # the side the network sees
MNIST_SIZE = 28  # raw Fashion-MNIST side, padded to IMAGE_SIZE


@dataclass
class ClassifierConfig:
    """Shape of the feature network; stored in the weights file so the loader rebuilds it."""

    in_channels: int = 1  # grayscale
    widths: tuple[int, ...] = (16, 32, 64)  # channels of the three convolution stages
    convs_per_stage: tuple[int, ...] = (1, 2, 2)  # 3×3 convolutions before each 2× max-pool
    feature_dim: int = 128  # width of the penultimate layer = dimension of FID/KID features
    num_classes: int = 10
    dropout: float = 0.3  # before the last linear layer, during training only

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        self.convs_per_stage = tuple(int(c) for c in self.convs_per_stage)
        if len(self.widths) != len(self.convs_per_stage):
            raise ValueError("widths and convs_per_stage must have one entry per stage.")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def prepare_images(images: torch.Tensor) -> torch.Tensor:
    """Check and bring images to float32 (B, 1, 32, 32) in [−1, 1]; 28×28 images are padded with −1.

    Accepts (B, 1, H, W) or (B, H, W). Values outside [−1, 1] are clamped, exactly as when a sample is
    saved as an 8-bit image.
    """
    if not torch.is_tensor(images):
        images = torch.as_tensor(images)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(
            f"The Fashion-MNIST classifier needs grayscale images of shape (B, 1, 32, 32) or (B, 1, 28, 28); "
            f"got {tuple(images.shape)}."
        )
    side = tuple(images.shape[-2:])
    if side == (MNIST_SIZE, MNIST_SIZE):
        pad = (IMAGE_SIZE - MNIST_SIZE) // 2
        images = F.pad(images.float(), (pad, pad, pad, pad), value=-1.0)
    elif side != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"The Fashion-MNIST classifier needs 32×32 or 28×28 images; got {side[0]}×{side[1]}.")
    images = images.float()
    if not bool(torch.isfinite(images).all()):
        raise ValueError("The images contain NaN or infinite values; the sampler or model has diverged.")
    return images.clamp(-1.0, 1.0)


class FashionClassifier(nn.Module):
    """Small CNN whose penultimate layer serves as the feature space for FID/KID/precision-recall."""

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or ClassifierConfig()
        layers: list[nn.Module] = []
        channels, side = config.in_channels, IMAGE_SIZE
        for width, convs in zip(config.widths, config.convs_per_stage, strict=True):
            for _ in range(convs):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2))
            side //= 2
        self.conv = nn.Sequential(*layers)
        self.embed = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, config.feature_dim, bias=False),
            nn.BatchNorm1d(config.feature_dim),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (B, feature_dim): the space FID and KID are measured in."""
        return self.embed(self.conv(prepare_images(x)))

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (B, num_classes); softmax gives p(y | x) for accuracy and the Inception Score."""
        return self.logits_from_features(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)
